"""syslat.py: syscall latency histograms, one per syscall, printed as bpftrace prints them.

    sudo .venv/bin/python examples/ports/syslat.py [-p PID] [--seconds N] [--syscall NAME ...]

Shows: tp_btf programs, a hash of per-syscall histograms (struct hist
{ __u32 slots[27]; } values typed from BTF), and bpfkit.trace: syscall names
for this architecture and bpftrace's histogram layout.
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.trace.hist import LOG2, hist_map_text
from bpfkit.trace.names import syscall_name

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("-p", "--pid", type=int, default=0, help="only this process")
parser.add_argument("--seconds", type=float, default=10.0)
parser.add_argument("--syscall", action="append", default=[], help="only these syscalls (repeatable)")
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "syslat.bpf.c"))

with BPFObject.open(obj_path) as obj:
    obj.rodata.target_pid = args.pid
    obj.load()
    obj.attach()                                 # tp_btf: attached by their SEC() names
    print("ready", flush=True)
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    obj.detach()
    hists = {syscall_name(nr): list(h.slots) for nr, h in obj.maps.hists.items()}
    if args.syscall:
        hists = {name: slots for name, slots in hists.items() if name in args.syscall}
    # slots numbered as libbpf-tools' log2l(); printed as bpftrace's hist()
    print(hist_map_text("@usecs", hists, slots=LOG2), end="", flush=True)
