"""syscount.py: syscalls per interval, the top ones by count (libbpf-tools' syscount, ported).

    sudo .venv/bin/python examples/ports/syscount.py [-p PID] [-i SECONDS] [--seconds N] [--top N]

Shows: a dump-and-reset per interval that loses no increment. The program
counts into the map that slot 0 of the ARRAY_OF_MAPS `live` holds. Each
interval Python puts the spare map in that slot (the kernel returns from that
update only once every program that could still hold the old map has
finished), then empties the map it took out with Map.pop_all(): every entry
read and removed in one step (BPF_MAP_LOOKUP_AND_DELETE_BATCH).

Why not pop_all() on the live map, as libbpf-tools' syscount reads and deletes
its live map? A program that got a pointer to an entry just before the entry
was read and removed adds its increment to a removed entry: under load a few
increments per thousand intervals are lost (and read-then-delete loses far more).
"""

import argparse
import collections
import os
import signal
import threading
import time

from bpfkit import BPFObject
from bpfkit.core.build import build
from bpfkit.trace.names import syscall_name

HERE = os.path.dirname(os.path.abspath(__file__))

parser = argparse.ArgumentParser()
parser.add_argument("-p", "--pid", type=int, default=0, help="only this process")
parser.add_argument("-i", "--interval", type=float, default=1.0, help="print every this many seconds")
parser.add_argument("--seconds", type=float, default=10.0)
parser.add_argument("--top", type=int, default=10)
args = parser.parse_args()

obj_path, _ = build(os.path.join(HERE, "syscount.bpf.c"))
totals: collections.Counter[str] = collections.Counter()
stop = threading.Event()
signal.signal(signal.SIGINT, lambda *_: stop.set())


def report(interval: list) -> None:
    interval.sort(key=lambda kv: kv[1].calls, reverse=True)
    print(f"[{time.strftime('%H:%M:%S')}] {'SYSCALL':<22}{'COUNT':>10}{'ERRORS':>8}")
    for nr, c in interval[:args.top]:
        print(f"{'':11}{syscall_name(nr):<22}{c.calls:>10}{c.errors:>8}")
    for nr, c in interval:
        totals[syscall_name(nr)] += c.calls
    print(flush=True)


with BPFObject.open(obj_path) as obj:
    obj.rodata.target_pid = args.pid
    obj.load()
    obj.attach()
    live, spare = obj.maps.counts_a, obj.maps.counts_b   # live: what slot 0 of `live` holds
    print("ready", flush=True)

    def next_interval() -> list:
        global live, spare
        obj.maps.live[0] = spare       # returns once no program can still be using `live`
        live, spare = spare, live
        return spare.pop_all()         # [(nr, counts)], the map left empty for the next swap

    deadline = time.monotonic() + args.seconds
    while not stop.wait(max(0.0, min(args.interval, deadline - time.monotonic()))) \
            and time.monotonic() < deadline:
        report(next_interval())
    obj.detach()
    report(next_interval())            # the last interval ends at the detach
    for name, n in totals.most_common():
        print(f"total {name} {n}", flush=True)
