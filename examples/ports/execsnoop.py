"""execsnoop.py: every execve() with its whole argv (libbpf-tools' execsnoop, ported).

    sudo .venv/bin/python examples/ports/execsnoop.py [--uid UID] [--seconds N]

Shows: an event struct kept in BTF at build time (--keep-type), a perf buffer
decoded by type, and all N bytes of a char[N] field with ev._raw().
"""

import argparse
import os
import shlex
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.output.escape import escape

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("--uid", type=int, default=-1, help="only this uid")
parser.add_argument("--seconds", type=float, default=10.0)
args = parser.parse_args()

# `struct event` is only a local variable in the BPF code: keep it in BTF so
# that the reader below can decode events by its name. The same on the command
# line: bpfkit build execsnoop.bpf.c --keep-type 'struct event'
obj_path, _ = build(os.path.join(HERE, "execsnoop.bpf.c"), keep_types=["struct event"])


def argv_of(ev) -> list[str]:
    # ev.args stops at the first NUL, as a C string does; _raw() gives all the
    # bytes: the arguments one after the other, each ending in its NUL.
    raw = ev._raw("args")[:ev.args_size]
    words = [w.decode(errors="surrogateescape") for w in raw.split(b"\0")[:ev.args_count]]
    return words + (["..."] if ev.truncated else [])


with BPFObject.open(obj_path) as obj:
    obj.rodata.target_uid = args.uid & 0xFFFFFFFF
    obj.load()
    obj.attach()
    with obj.perf_buffer("events", "event") as events:   # decoded as struct event
        print(f"{'PID':<8}{'PPID':<8}{'UID':<6}{'COMM':<16}ARGS", flush=True)
        deadline = time.monotonic() + args.seconds
        try:
            while time.monotonic() < deadline:
                for ev in events.poll(timeout=0.1):
                    # untrusted text: escaped, so an argument cannot forge a line
                    line = escape(shlex.join(argv_of(ev)))
                    print(f"{ev.pid:<8}{ev.ppid:<8}{ev.uid:<6}{escape(ev.comm):<16}{line}", flush=True)
        except KeyboardInterrupt:
            pass
        print(f"lost {events.lost}", flush=True)
