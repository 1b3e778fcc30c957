"""The monitor runner, shared by every tool: open -> configure -> load -> attach
-> poll -> output, with signals, readiness, drop reporting and a summary.

A tool only declares its options, maps them to .rodata, and turns one event
into a text row and a JSON record (see ``Tool``).
"""

from __future__ import annotations

import gc
import mmap
import os
import sys
import time
from itertools import repeat

try:
    import _signal as signal  # the C module; `signal` wraps it in enums (~4 ms)
except ImportError:  # pragma: no cover - not CPython
    import signal  # type: ignore[no-redef]

from .core import system
from .core.errors import BPFError, UsageError
from .core.object import BPFObject
from .core.ringbuf import check_ring_size
from .output import JsonSink, Output, TextSink

TYPE_CHECKING = False  # typing, socket, datetime: imported only when used (start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from typing import Any

DEFAULT_RING_KB = 4096  # ~50k opens of slack; 16 MiB costs 8 ms more to allocate at start
MAX_WAKEUP_BYTES = 256 * 1024
DROP_REPORT_EVERY = 1.0  # seconds between drop warnings on stderr


class Tool:
    """What a monitor declares. Subclass and set the class attributes.

    Events must carry ``ts_ns`` (bpf_ktime_get_ns at the event): the runner
    turns it into the JSON ``ts``.
    """

    name = ""
    help = ""
    clock: Clock  # set by the runner before configure(): kernel time -> wall time
    banner = ""  # printed on stderr once every probe is attached
    object_path = ""  # the compiled NAME.bpf.o
    ring = "events"
    # Tracepoint programs this kernel may lack (open(2) on arm64, an older
    # kernel's newer syscall): switched off before load when the tracepoint
    # does not exist, rather than failing the attach.
    optional_programs: tuple[str, ...] = ()

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        pass

    def configure(self, obj: BPFObject, args: argparse.Namespace) -> None:
        """Options -> .rodata (before load), programs to skip, map sizes."""

    def loaded(self, obj: BPFObject, args: argparse.Namespace) -> None:
        """After load, before attach: fill maps the programs read from the start."""

    def columns(self, args: argparse.Namespace) -> list[tuple[Any, ...]]:
        """(header, width[, spec]) per text column; negative width: right-aligned,
        spec: format of a number cell (".3f")."""
        return []

    # Optional user-space filter, applied once per event before row/record:
    # keep(ev, args) -> bool. None: keep everything (filter in the kernel).
    keep: Callable[[Any, argparse.Namespace], bool] | None = None

    def row(self, ev: Any, args: argparse.Namespace) -> tuple[Any, ...] | None:
        """Cells for one event (escaped strings, or numbers), or None to leave it out."""
        raise NotImplementedError

    def record(self, ev: Any, args: argparse.Namespace) -> dict[str, Any] | None:
        """The JSON object for one event (without ts/tool), or None to leave it out."""
        raise NotImplementedError


def pid(text: str) -> int:
    """argparse type of --pid options: a positive process id."""
    value = int(text)
    if value <= 0:
        raise ValueError(text)
    return value


def skip_missing_tracepoints(obj: BPFObject, names: tuple[str, ...]) -> list[str]:
    """Switch off the named tracepoint programs whose tracepoint this kernel lacks."""
    skipped = []
    for name in names:
        prog = obj.progs[name]
        _, category, event = prog.section.split("/", 2)
        if not system.tracepoint_exists(category, event):
            prog.autoload = False
            skipped.append(f"{name} ({category}:{event})")
    return skipped


def started() -> None:
    """Start-up is over: what it allocated lives as long as the process, so
    freeze it out of the collector's sight and collect as usual from here."""
    gc.freeze()
    gc.enable()


def add_runner_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("output and run control")
    g.add_argument("--json", action="store_true", help="one JSON object per line")
    g.add_argument("--output", metavar="FILE", help="append to FILE (reopened on SIGHUP, for logrotate)")
    g.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    g.add_argument("--ring-buffer-kb", type=int, default=DEFAULT_RING_KB, metavar="KB",
                   help=f"ring buffer size, a power of two (default {DEFAULT_RING_KB})")
    g.add_argument("--interval", type=float, default=0.1, metavar="SECONDS",
                   help="longest time an event waits before it is printed (default 0.1)")
    g.add_argument("--perf-buffer", action="store_true",
                   help="send events through per-CPU perf buffers, as kernels before 5.8 need "
                        "(chosen by itself there)")
    g.add_argument("--verbose", "-v", action="store_true", help="say which hooks were attached")


class Clock:
    """Kernel CLOCK_MONOTONIC ns (bpf_ktime_get_ns) -> wall-clock time, computed once."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()
        self.start_ns = time.monotonic_ns()
        self._sec, self._sec_iso = -1, ""
        self._hsec, self._hms = -1, ""

    def wall(self, ktime_ns: int) -> float:
        return ktime_ns / 1e9 + self.offset

    def iso(self, ktime_ns: int) -> str:
        """RFC 3339 UTC with microseconds; the date part is formatted once per second."""
        us = int(self.wall(ktime_ns) * 1e6)
        sec = us // 1_000_000
        if sec != self._sec:
            self._sec = sec
            self._sec_iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._sec_iso}.{us % 1_000_000:06d}Z"

    def hms(self, ktime_ns: int) -> str:
        """Local HH:MM:SS, the text TIME column; formatted once per second."""
        sec = int(ktime_ns / 1e9 + self.offset)
        if sec != self._hsec:
            self._hsec, self._hms = sec, time.strftime("%H:%M:%S", time.localtime(sec))
        return self._hms

    def relative(self, ktime_ns: int) -> float:
        return (ktime_ns - self.start_ns) / 1e9


def notify_ready() -> None:
    """Tell systemd (Type=notify) we are ready, when it asked."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    import socket

    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"READY=1", addr)
        except OSError as exc:
            print(f"bpfkit: cannot notify systemd at {addr!r}: {exc.strerror}", file=sys.stderr)


class _Flags:
    stop = False
    reopen = False


def run(tool: Tool, args: argparse.Namespace) -> int:
    ring_bytes = args.ring_buffer_kb * 1024
    try:
        check_ring_size(ring_bytes)
    except BPFError as exc:
        raise UsageError(f"bpfkit {tool.name}: --ring-buffer-kb: {exc}") from None
    if args.interval <= 0:
        raise UsageError(f"bpfkit {tool.name}: --interval must be positive")
    flags = _Flags()
    clock = tool.clock = Clock()
    out = Output(args.output)
    sink: Any = JsonSink(out) if args.json else TextSink(out, tool.columns(args))
    with BPFObject.open(tool.object_path) as obj:
        obj.maps[tool.ring].max_entries = ring_bytes
        if "bpfkit_wakeup_bytes" in obj.rodata.names():
            obj.rodata.bpfkit_wakeup_bytes = min(ring_bytes // 8, MAX_WAKEUP_BYTES)
        skipped = skip_missing_tracepoints(obj, tool.optional_programs)
        if args.perf_buffer:
            obj.use_perf_buffer()
        tool.configure(obj, args)
        obj.load()
        tool.loaded(obj, args)
        links = obj.attach()
        # Perf buffers are per CPU: share the --ring-buffer-kb budget among them.
        pages = max(1, ring_bytes // mmap.PAGESIZE // max(1, os.cpu_count() or 1))
        pages = 1 << (pages.bit_length() - 1)
        rb = obj.ring_buffer(tool.ring, interval=args.interval, perf_pages=pages,
                             wakeup_bytes=min(pages * mmap.PAGESIZE // 8, MAX_WAKEUP_BYTES))
        if args.verbose:
            for name in skipped:
                print(f"{tool.name}: {name} skipped: no such tracepoint on this kernel", file=sys.stderr)
            for group, choice in obj.chosen_hooks.items():
                print(f"{tool.name}: {group}: {choice}", file=sys.stderr)
            for link in links:
                print(f"{tool.name}: {link.program.name} attached as {link.program.kind} "
                      f"{link.target}", file=sys.stderr)
        signal.signal(signal.SIGINT, lambda *_: setattr(flags, "stop", True))
        signal.signal(signal.SIGTERM, lambda *_: setattr(flags, "stop", True))
        signal.signal(signal.SIGHUP, lambda *_: setattr(flags, "reopen", True))
        print(tool.banner, file=sys.stderr, flush=True)
        sink.write_header()
        notify_ready()
        started()
        deadline = time.monotonic() + args.duration if args.duration is not None else None
        reported, last_report = 0, 0.0
        row, record, keep, name = tool.row, tool.record, tool.keep, tool.name
        while True:
            now = time.monotonic()
            # Decide once per pass: a signal that lands while this pass writes
            # must still get the final drain on the next pass.
            last_pass = flags.stop or (deadline is not None and now >= deadline)
            if last_pass:
                batch = rb.read_available()  # what is already queued still counts
            else:
                wait = args.interval if deadline is None else min(args.interval, deadline - now)
                batch = rb.poll(timeout=max(wait, 0.0))
            if flags.reopen:
                flags.reopen = False
                out.reopen()
            if batch and keep is not None:
                batch = [ev for ev in batch if keep(ev, args)]
            if batch:
                if args.json:
                    recs = []
                    for ev in batch:
                        r = record(ev, args)
                        if r is not None:
                            recs.append({"ts": clock.iso(ev.ts_ns), "tool": name, **r})
                    sink.write_records(recs)
                else:
                    sink.write_rows(filter(None, map(row, batch, repeat(args))))
            dropped = rb.dropped
            if dropped > reported and (last_pass or time.monotonic() - last_report >= DROP_REPORT_EVERY):
                print(f"bpfkit {name}: {dropped - reported} events dropped (ring buffer full; "
                      f"{dropped} in all): raise --ring-buffer-kb", file=sys.stderr, flush=True)
                if args.json:
                    sink.write_records([{"ts": clock.iso(time.monotonic_ns()), "tool": name,
                                         "event": "lost", "dropped": dropped - reported,
                                         "dropped_total": dropped}])
                reported, last_report = dropped, time.monotonic()
            if last_pass:
                break
        print(f"events: {rb.events}, dropped: {rb.dropped}", file=sys.stderr)
    out.close()
    return 0
