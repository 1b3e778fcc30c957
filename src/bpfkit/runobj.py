"""`bpfkit run OBJ`: load and attach any compiled object, stream its ring buffers as JSON lines."""

from __future__ import annotations

import argparse
import select
import sys
import time
from typing import Any

from .core.errors import BPFError, BPFNameError
from .core.maps import RingBufMap
from .core.object import BPFObject
from .output import JsonSink, Output
from .runner import started


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("object", metavar="FILE.bpf.o")
    p.add_argument("--set", dest="assign", action="append", default=[], metavar="NAME=VALUE",
                   help="set a .rodata/.bss/.data global before load (repeatable)")
    p.add_argument("--prog", action="append", default=[], metavar="NAME",
                   help="load and attach only these programs (repeatable; default: all)")
    p.add_argument("--ring", action="append", default=[], metavar="MAP",
                   help="ring buffer(s) to read (default: all)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    p.add_argument("--verbose", "-v", action="store_true", help="print the verifier log on rejection")


def parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text


def _assign(obj: BPFObject, spec: str) -> None:
    name, sep, value = spec.partition("=")
    if not sep or not name:
        raise BPFError(f"--set needs NAME=VALUE, got {spec!r}")
    known: list[str] = []
    for section in (".rodata", ".bss", ".data"):
        try:
            sec = obj.section(section)
        except BPFNameError:
            continue
        if name in sec.names():
            setattr(sec, name, parse_value(value))
            return
        known += sec.names()
    raise BPFError(f"--set: no global named {name!r} (this object has: {', '.join(known) or 'none'})")


def run(args: argparse.Namespace) -> int:
    with BPFObject.open(args.object) as obj:
        for spec in args.assign:
            _assign(obj, spec)
        if args.prog:
            wanted = set(args.prog)
            for name in wanted:
                obj.progs[name]  # unknown names fail here, listing the real ones
            for p in obj.progs:
                p.autoload = p.name in wanted
        obj.load()
        obj.attach()
        names = args.ring or [m.name for m in obj.maps if isinstance(m, RingBufMap)]
        readers = [obj.ring_buffer(n) for n in names]
        print(f"running {obj.name}: {len(obj.progs)} program(s) attached. Ctrl+C to stop.",
              file=sys.stderr, flush=True)
        started()  # the CLI turned the collector off for start-up
        deadline = time.monotonic() + args.duration if args.duration else None
        sink = JsonSink(Output())
        try:
            while deadline is None or time.monotonic() < deadline:
                wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - time.monotonic()))
                if readers:
                    select.select(readers, [], [], wait)
                else:
                    time.sleep(wait)
                for rb in readers:
                    sink.write_records({"ring": rb.name, **(ev._asdict() if hasattr(ev, "_asdict")
                                                           else {"data": bytes(ev)})}
                                       for ev in rb.read_available())
        except KeyboardInterrupt:
            pass
        for rb in readers:
            print(f"{rb.name}: events: {rb.events}, dropped: {rb.dropped}", file=sys.stderr)
    return 0
