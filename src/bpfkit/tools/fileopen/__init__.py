"""`bpfkit fileopen`: every file open with its latency and result (opensnoop, production-grade)."""

from __future__ import annotations

import errno

from ...argv import milliseconds, pid, uid
from ...output import escape, fit
from ...runner.tool import Histogram, Tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock

SYSCALLS = ("open", "openat", "openat2", "creat")


def fd_text(ret: int) -> str:
    """The FD column: the descriptor, or -ERRNO by name for a failed open."""
    if ret >= 0:
        return str(ret)
    return "-" + errno.errorcode.get(-ret, str(-ret))


class FileOpen(Tool):
    name = "fileopen"
    help = "trace file opens (open, openat, openat2, creat) with latency and result"
    banner = "Tracing file opens. Ctrl+C to stop."

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("filters (in the kernel unless noted)")
        f.add_argument("--pid", type=pid, help="only this process (thread group id)")
        f.add_argument("--uid", type=uid, help="only this user id")
        f.add_argument("--comm", metavar="NAME", help="only processes with this command name")
        f.add_argument("--min-lat-ms", type=milliseconds, metavar="MS",
                       help="only opens that took at least MS")
        f.add_argument("--failed", action="store_true", help="only failed opens")
        f.add_argument("--name", metavar="SUBSTR", help="only paths containing SUBSTR (in user space)")
        p.add_argument("--timestamp", "-T", action="store_true",
                       help="add a SECONDS column: time since the start")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        # the kernel keeps 15 bytes of a command name
        self.comm = args.comm.encode(errors="surrogateescape")[:15] if args.comm is not None else None
        self.name_filter = args.name
        if args.name is None:
            self.keep = None  # no per-event filter call at all
        self.timestamp = args.timestamp
        self.m_latency = Histogram("bpfkit_fileopen_latency_seconds", "time from open entry to return",
                                   [1e-6 * 2**i for i in range(0, 24, 2)], ["result"])

    def configure(self, obj: BPFObject) -> None:
        args, ro = self.args, obj.rodata
        if args.pid is not None:
            ro.targ_tgid = args.pid
        if args.uid is not None:
            ro.targ_uid = args.uid
        if self.comm is not None:
            ro.targ_comm = self.comm
        if args.min_lat_ms is not None:
            ro.min_latency_ns = int(args.min_lat_ms * 1e6)
        ro.targ_failed = bool(args.failed)

    def columns(self) -> list[tuple[Any, ...]]:
        cols: list[tuple[Any, ...]] = [("TIME", 8)]
        if self.timestamp:
            cols.append(("SECONDS", -10, ".6f"))
        return [*cols, ("PID", -7), ("UID", -6), ("COMM", 16), ("LATENCY", -10, ".3f"), ("FD", -13),
                ("FILENAME", 0)]

    def event_kind(self, ev: Any) -> str:
        return "open" if ev.ret >= 0 else "open-failed"

    def metrics(self) -> list[Any]:
        return [self.m_latency]

    def observe(self, ev: Any) -> None:
        self.m_latency.observe(ev.latency_ns / 1e9, ("ok" if ev.ret >= 0 else "failed",))

    def keep(self, ev: Any) -> bool:  # type: ignore[override]
        return self.name_filter is None or self.name_filter in ev.path

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        # Runs once per event at up to ~250k events/s: numbers go to the
        # column's format spec as they are, strings are escaped.
        path = escape(ev.path)
        if ev.truncated:
            path += "..."  # visibly cut, never silently
        ret = ev.ret
        fd = ret if ret >= 0 else fd_text(ret)
        ts = ev.ts_ns
        if self.timestamp:
            return (self.clock.hms(ts), self.clock.relative(ts), ev.pid, ev.uid, fit(escape(ev.comm), 16),
                    ev.latency_ns / 1e6, fd, path)
        return (self.clock.hms(ts), ev.pid, ev.uid, fit(escape(ev.comm), 16), ev.latency_ns / 1e6, fd, path)

    def record(self, ev: Any) -> dict[str, Any] | None:
        path = ev.path
        ret = ev.ret
        return {"event": "open", "syscall": SYSCALLS[ev.syscall] if ev.syscall < 4 else ev.syscall,
                "pid": ev.pid, "tid": ev.tid, "uid": ev.uid, "comm": ev.comm,
                "latency_ns": ev.latency_ns, "ret": ret, "fd": ret if ret >= 0 else None,
                "errno": errno.errorcode.get(-ret, str(-ret)) if ret < 0 else None,
                "flags": ev.flags, "path": path, "truncated": bool(ev.truncated)}


TOOL = FileOpen
