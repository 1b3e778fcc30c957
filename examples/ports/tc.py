"""tc.py: an interface's traffic per direction and IP protocol, counted at tc's clsact hooks.

    sudo .venv/bin/python examples/ports/tc.py IFACE [--seconds N]

Shows: prog.attach_tc(iface, "ingress" | "egress"): a filter on the clsact
qdisc (made when missing and removed again at detach), or a tcx link with
libbpf 1.3+ for a SEC("tcx/...") program; struct keys and values typed from BTF.
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build

HERE = os.path.dirname(os.path.abspath(__file__))
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 256: "not-ip"}

parser = argparse.ArgumentParser()
parser.add_argument("iface")
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "tc.bpf.c"))

with BPFObject.open(obj_path) as obj:
    obj.load()
    obj.progs.tc_ingress.attach_tc(args.iface, "ingress")
    obj.progs.tc_egress.attach_tc(args.iface, "egress")
    print("ready", flush=True)
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    obj.detach()                  # removes the filters (and the qdisc, if we made it)
    rows = sorted(obj.maps.traffic.items(), key=lambda kv: (kv[0].direction, kv[0].protocol))
    for key, c in rows:
        name = PROTOCOLS.get(key.protocol, f"proto-{key.protocol}")
        print(f"{'egress' if key.direction else 'ingress'} {name} packets={c.packets} bytes={c.bytes}",
              flush=True)
