"""cgroup_skb.py: IP packets and bytes the processes of a cgroup send and receive.

    sudo .venv/bin/python examples/ports/cgroup_skb.py CGROUP [--seconds N] [--interval S]

CGROUP is a cgroup v2 directory (/sys/fs/cgroup/NAME), or a path relative to
the cgroup2 mount (/system.slice/ssh.service). Shows: prog.attach_cgroup(path)
and .bss counters read live while the programs run.
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.trace.names import cgroup2_root

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("cgroup")
parser.add_argument("--seconds", type=float, default=10.0)
parser.add_argument("--interval", type=float, default=1.0)
args = parser.parse_args()

path = args.cgroup
if not os.path.isdir(path) or not path.startswith(cgroup2_root()):
    path = os.path.join(cgroup2_root(), path.lstrip("/"))   # hybrid systems: /sys/fs/cgroup/unified

obj_path, _ = build(os.path.join(HERE, "cgroup_skb.bpf.c"))


def totals(bss) -> str:
    return (f"egress packets={bss.egress_packets} bytes={bss.egress_bytes} "
            f"ingress packets={bss.ingress_packets} bytes={bss.ingress_bytes}")


with BPFObject.open(obj_path) as obj:
    obj.load()
    obj.progs.count_egress.attach_cgroup(path)    # a path, or an open fd of the directory
    obj.progs.count_ingress.attach_cgroup(path)
    print(f"ready: {path}", flush=True)
    deadline = time.monotonic() + args.seconds
    try:
        while time.monotonic() < deadline:
            time.sleep(min(args.interval, max(0.0, deadline - time.monotonic())))
            print(time.strftime("%H:%M:%S"), totals(obj.bss), flush=True)   # live .bss
    except KeyboardInterrupt:
        pass
    obj.detach()
    print("total", totals(obj.bss), flush=True)
