"""hello.py: the README's first example. Streams openat() calls of one uid.

    sudo .venv/bin/python examples/hello.py [--uid UID] [--seconds N]
"""

import argparse
import os
import time

from bpfkit import BPFObject

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("--uid", type=int, default=os.getuid())
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

with BPFObject.open(os.path.join(HERE, "hello.bpf.o")) as obj:
    obj.rodata.target_uid = args.uid           # .rodata: set before load
    obj.maps.start_ts.max_entries = 65536      # resize a map before load
    obj.bss.enabled = True                     # .bss can be preset before load too
    obj.load()                                 # the verifier runs here
    obj.attach()                               # every program, by its SEC() name
    with obj.ring_buffer("events") as rb:      # events typed as struct event (BTF)
        print("ready", flush=True)
        deadline = time.monotonic() + args.seconds
        while time.monotonic() < deadline:
            for ev in rb.poll(timeout=0.1):
                print(ev.pid, ev.comm, ev.filename, flush=True)
        obj.bss.enabled = False                # live write: the program stops counting
        print("total_calls", obj.bss.total_calls, "dropped", rb.dropped)
    for uid, count in obj.maps.counts.items():  # typed keys and values
        print("uid", uid, "opens", count)
