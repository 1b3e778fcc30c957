"""`bpfkit fileopen`: every file open with its latency and result (opensnoop, production-grade)."""

from __future__ import annotations

import errno
import os

from ...core.errors import UsageError
from ...output import escape
from ...runner import Tool, pid

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject

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
    object_path = os.path.join(os.path.dirname(__file__), "fileopen.bpf.o")
    # open(2) and creat(2) exist on x86-64, not on arm64; openat2 since 5.6
    optional_programs = tuple(f"{d}_{sc}" for sc in ("open", "openat2", "creat") for d in ("enter", "exit"))

    def add_arguments(self, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("filters (in the kernel unless noted)")
        f.add_argument("--pid", type=pid, help="only this process (thread group id)")
        f.add_argument("--uid", type=int, help="only this user id")
        f.add_argument("--comm", metavar="NAME", help="only processes with this command name")
        f.add_argument("--min-lat-ms", type=float, metavar="MS", help="only opens that took at least MS")
        f.add_argument("--failed", action="store_true", help="only failed opens")
        f.add_argument("--name", metavar="SUBSTR", help="only paths containing SUBSTR (in user space)")
        p.add_argument("--timestamp", "-T", action="store_true",
                       help="add a SECONDS column: time since the start")

    def configure(self, obj: BPFObject, args: argparse.Namespace) -> None:
        ro = obj.rodata
        if args.pid is not None:
            ro.targ_tgid = args.pid
        if args.uid is not None:
            if not 0 <= args.uid < 2**32 - 1:
                raise UsageError("bpfkit fileopen: --uid must be a user id (0..4294967294)")
            ro.targ_uid = args.uid
        if args.comm is not None:
            comm = args.comm.encode()[:15]  # the kernel keeps 15 bytes of a command name
            ro.targ_comm = comm
        if args.min_lat_ms is not None:
            if args.min_lat_ms < 0:
                raise UsageError("bpfkit fileopen: --min-lat-ms cannot be negative")
            ro.min_latency_ns = int(args.min_lat_ms * 1e6)
        ro.targ_failed = bool(args.failed)

    def columns(self, args: argparse.Namespace) -> list[tuple[Any, ...]]:
        cols: list[tuple[Any, ...]] = [("TIME", 8)]
        if args.timestamp:
            cols.append(("SECONDS", -10, ".6f"))
        return [*cols, ("PID", -7), ("UID", -6), ("COMM", 16), ("LATENCY", -10, ".3f"), ("FD", -13),
                ("FILENAME", 0)]

    def keep(self, ev: Any, args: argparse.Namespace) -> bool:  # type: ignore[override]
        return args.name is None or args.name in ev.path

    def row(self, ev: Any, args: argparse.Namespace) -> tuple[Any, ...] | None:
        # Runs once per event at up to ~250k events/s: numbers go to the
        # column's format spec as they are, strings are escaped.
        path = escape(ev.path)
        if ev.truncated:
            path += "..."  # visibly cut, never silently
        ret = ev.ret
        fd = ret if ret >= 0 else fd_text(ret)
        ts = ev.ts_ns
        if args.timestamp:
            return (self.clock.hms(ts), self.clock.relative(ts), ev.pid, ev.uid, escape(ev.comm),
                    ev.latency_ns / 1e6, fd, path)
        return (self.clock.hms(ts), ev.pid, ev.uid, escape(ev.comm), ev.latency_ns / 1e6, fd, path)

    def record(self, ev: Any, args: argparse.Namespace) -> dict[str, Any] | None:
        path = ev.path
        ret = ev.ret
        return {"event": "open", "syscall": SYSCALLS[ev.syscall] if ev.syscall < 4 else ev.syscall,
                "pid": ev.pid, "tid": ev.tid, "uid": ev.uid, "comm": ev.comm,
                "latency_ns": ev.latency_ns, "ret": ret, "fd": ret if ret >= 0 else None,
                "errno": errno.errorcode.get(-ret, str(-ret)) if ret < 0 else None,
                "flags": ev.flags, "path": path, "truncated": bool(ev.truncated)}


TOOL = FileOpen()
