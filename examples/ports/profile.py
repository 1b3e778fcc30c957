"""profile.py: sample on-CPU stacks on every CPU (libbpf-tools' profile, ported).

    sudo .venv/bin/python examples/ports/profile.py [-p PID] [-F HZ] [--seconds N] [--folded]

Shows: SEC("perf_event") attached with prog.attach_perf_event() (one cpu-clock
event per CPU), a STACK_TRACE map sized from Python before load, and stacks
symbolised with bpfkit.trace (kernel: /proc/kallsyms, user: the ELF files).
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.output.escape import escape
from bpfkit.trace.ksyms import kernel_symbols
from bpfkit.trace.usyms import UserSymbols

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("-p", "--pid", type=int, default=0, help="only this process")
parser.add_argument("-F", "--frequency", type=int, default=49, help="samples per second per CPU")
parser.add_argument("--seconds", type=float, default=5.0)
parser.add_argument("--max-depth", type=int, default=127, help="frames kept per stack")
parser.add_argument("--folded", action="store_true",
                    help="one line per stack: comm;outermost;...;innermost COUNT (flame graphs)")
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "profile.bpf.c"))

with BPFObject.open(obj_path) as obj:
    obj.rodata.target_pid = args.pid
    # Before load, maps are MapSpecs: size the stack map as libbpf-tools does.
    obj.maps.stacks.value_size = args.max_depth * 8   # one u64 address per frame
    obj.maps.stacks.max_entries = 16384
    obj.load()
    # A cpu-clock event per online CPU, each running the program at -F Hz.
    links = obj.progs.on_sample.attach_perf_event("cpu-clock", freq=args.frequency)
    print(f"ready: sampling {len(links)} CPUs at {args.frequency} Hz", flush=True)
    try:
        time.sleep(args.seconds)
    except KeyboardInterrupt:
        pass
    obj.detach()

    ksyms, usyms = kernel_symbols(), UserSymbols()
    samples = sorted(obj.maps.counts.items(), key=lambda kv: kv[1])
    for key, count in samples:
        # stack(id): the addresses, innermost first ([] for an id < 0: no such stack)
        kernel = [ksyms.lookup(a) for a in obj.maps.stacks.stack(key.kernel_stack)]
        user = usyms.stack(key.pid, obj.maps.stacks.stack(key.user_stack))
        comm = escape(key.comm)
        if args.folded:  # names only, outermost first, kernel frames marked _[k]
            frames = [f.name or "[unknown]" for f in reversed(user)]
            frames += [f"{k.name if k else '[unknown]'}_[k]" for k in reversed(kernel)]
            print(";".join([comm, *frames]), count)
            continue
        for k in kernel:
            print(f"    {k or '[unknown]'}")
        if kernel and user:
            print("    --")
        for f in user:
            print(f"    {f}")
        print(f"    -                {comm} ({key.pid})\n        {count}\n")
    print(f"samples {sum(c for _, c in samples)}", flush=True)
