"""xdp.py: packets an interface receives, by IP protocol, counted in XDP; UDP to one port dropped.

    sudo .venv/bin/python examples/ports/xdp.py IFACE [--drop-udp-port N] [--seconds N]

Shows: prog.attach_xdp(iface) (a link: detached when the object closes or the
process dies), what obj.attach() says about a program it cannot place, and
per-CPU array values summed with .sum().
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build

HERE = os.path.dirname(os.path.abspath(__file__))
NOT_IP = 256
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", NOT_IP: "not-ip"}

parser = argparse.ArgumentParser()
parser.add_argument("iface")
parser.add_argument("--drop-udp-port", type=int, default=0)
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "xdp.bpf.c"))

with BPFObject.open(obj_path) as obj:
    obj.rodata.drop_udp_port = args.drop_udp_port
    obj.load()
    obj.attach()                       # attaches nothing: an XDP program needs an interface...
    for name, why in obj.unattached.items():
        print(f"# {name}: {why}")      # ...and obj.unattached says so, and what to call
    obj.progs.xdp_count.attach_xdp(args.iface)
    print("ready", flush=True)
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    obj.detach()
    for proto, per_cpu in obj.maps.received.items():   # per-CPU values: one per CPU
        total = per_cpu.sum()                           # {'packets': ..., 'bytes': ...}
        if total["packets"]:
            name = PROTOCOLS.get(proto, f"proto-{proto}")
            print(f"received {name} packets={total['packets']} bytes={total['bytes']}")
    total = obj.maps.dropped[0].sum()
    print(f"dropped udp:{args.drop_udp_port} packets={total['packets']} bytes={total['bytes']}", flush=True)
