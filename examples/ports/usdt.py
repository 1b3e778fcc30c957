"""usdt.py: print every firing of USDT probe bpfkit:tick in a binary, with its arguments.

    sudo .venv/bin/python examples/ports/usdt.py BINARY [-p PID] [--seconds N]

Shows: prog.attach_usdt(binary, provider, name) for a SEC("usdt") program
written with BPF_USDT(); a plain BPF ring buffer (not BPFKIT_RINGBUF), whose
reader cannot know how many events the kernel dropped: rb.dropped is None.
The probe comes from a C program built with <sys/sdt.h> (Debian: systemtap-sdt-dev):

    DTRACE_PROBE3(bpfkit, tick, seq, value, msg);
"""

import argparse
import os
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.output.escape import escape

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("binary", help="the program (or library) with the probe")
parser.add_argument("-p", "--pid", type=int, default=-1, help="only this process (default: all)")
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "usdt.bpf.c"), keep_types=["struct event"])

with BPFObject.open(obj_path) as obj:
    obj.load()
    # libbpf reads the probe's note, places a uprobe at it (and bumps its
    # semaphore if it has one) and tells BPF_USDT() where each argument lives.
    obj.progs.on_tick.attach_usdt(os.path.abspath(args.binary), "bpfkit", "tick", pid=args.pid)
    with obj.ring_buffer("events", "event") as events:
        print("ready", flush=True)
        deadline = time.monotonic() + args.seconds
        try:
            while time.monotonic() < deadline:
                for ev in events.poll(timeout=0.1):
                    print(f"pid={ev.pid} seq={ev.seq} value={ev.value} msg={escape(ev.msg)}", flush=True)
        except KeyboardInterrupt:
            pass
        for ev in events.poll(timeout=0):   # what came in last
            print(f"pid={ev.pid} seq={ev.seq} value={ev.value} msg={escape(ev.msg)}", flush=True)
        # A plain ring buffer keeps no drop count: unknown is None, not 0.
        print(f"dropped {events.dropped}", flush=True)
