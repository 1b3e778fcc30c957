"""`bpfkit snapaudit`: who created, destroyed, renamed, rolled back, held, received or
programmed which ZFS snapshot, with the kernel's answer, from the ioctls themselves.

The BPF side (snapaudit.bpf.c) follows every ZFS ioctl of the operations asked for on the ZFS
control device and sends one record per call at its exit (plus chunk records for long nvlists,
and one record when a process that made calls exits). This module decodes the captured
zfs_cmd_t strings and packed nvlist (nvlist.py), says what the call did (ops.py), joins the
`zfs` command line the CLI logs afterwards (history.py) and writes text or JSON.
"""

from __future__ import annotations

import os
import stat
import sys
import time

from ...argv import UsageError, seconds, uid
from ...core.kernel.errors import BPFError
from ...output import escape
from ...runner.tool import Counter, Gauge, Tool
from . import nvlist
from .history import HistoryJoin
from .ops import (
    IOCTLS,
    LOG_HISTORY,
    OPS,
    SEVERITIES,
    argv_of,
    errno_name,
    interpret,
    ioctls_of,
    name_text,
    op_names,
    pool_of,
    quote,
    target_text,
    text,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock, Metric

DEFAULT_DEVICE = "/dev/zfs"
NV_CAP_KB = 64           # SA_NV_CAP / 1024 (snapaudit.h)
HISTORY_WAIT = 5.0       # seconds a call waits for its zfs command line (at most)
NO_ID = 0xFFFFFFFF

# kind of struct snapaudit_event (snapaudit.h)
SA_CALL, SA_CHUNK_REC, SA_PROC_EXIT = 1, 2, 3
SA_COMPAT = 0x0800
# flags (snapaudit.h) -> the note that says what was cut or missed
FLAG_NOTES = (
    (0x0001, "name_cut"), (0x0002, "value_cut"), (0x0004, "string_cut"), (0x0008, "exit_name_cut"),
    (0x0010, "cmdline_cut"), (0x0020, "nvlist_cut"), (0x0040, "nvlist_fault"), (0x0080, "read_fault"),
    (0x0100, "late"), (0x0200, "chunk_lost"),
)
NOT_CAPTURED = ("nvlist_fault", "read_fault", "chunk_lost", "nvlist_invalid")
# .bss counters of snapaudit.bpf.c -> what the summary calls them
KERNEL_COUNTERS = (
    ("calls_full", "calls not followed (in-flight table full)"),
    ("capture_late", "calls captured at exit (no capture slot at entry)"),
    ("capture_lost", "calls reported without their nvlist (no capture slot)"),
    ("nv_cut", "nvlists longer than the capture limit"),
    ("nv_missed", "nvlist bytes beyond the capture limit"),
    ("read_faults", "user memory reads that faulted"),
    ("chunks_lost", "nvlist chunks lost (ring full)"),
)
STALE_CHUNKS_NS = 10_000_000_000  # chunks whose call record never came (ring full): dropped after 10 s


def kernel_dev(st_rdev: int) -> int:
    """The user-space dev_t of stat() -> the kernel's (MAJOR << 20 | MINOR), as inode->i_rdev holds it."""
    return (os.major(st_rdev) << 20) | os.minor(st_rdev)


def zfs_device(path: str | None) -> tuple[int, str]:
    """(kernel dev_t, description) of the ZFS control device."""
    if path is not None:
        try:
            st = os.stat(path)
        except OSError as exc:
            raise UsageError(f"--device {path}: {exc.strerror}") from None
        if not stat.S_ISCHR(st.st_mode):
            raise UsageError(f"--device {path}: not a character device")
        return kernel_dev(st.st_rdev), f"{path} ({os.major(st.st_rdev)}:{os.minor(st.st_rdev)})"
    try:
        st = os.stat(DEFAULT_DEVICE)
        if stat.S_ISCHR(st.st_mode):
            return kernel_dev(st.st_rdev), f"{DEFAULT_DEVICE} ({os.major(st.st_rdev)}:{os.minor(st.st_rdev)})"
    except OSError:
        pass
    # No node (a container, or udev not run yet): the misc device the module registered.
    try:
        with open("/proc/misc") as f:
            for line in f:
                minor, _, name = line.strip().partition(" ")
                if name == "zfs" and minor.isdigit():
                    return (10 << 20) | int(minor), f"zfs misc device (10:{minor}, from /proc/misc)"
    except OSError:
        pass
    raise BPFError(f"no ZFS control device: {DEFAULT_DEVICE} does not exist and the zfs module is not "
                   "loaded (use --device PATH to name the device)")


def uid_cell(rec: dict[str, Any]) -> str:
    """uid, or uid/loginuid when someone logged in as another user (sudo)."""
    login = rec["loginuid"]
    return f"{rec['uid']}/{login}" if login is not None and login != rec["uid"] else str(rec["uid"])


class SnapAudit(Tool):
    name = "snapaudit"
    help = ("audit ZFS snapshot operations (snapshot, destroy, rollback, rename, clone, promote, hold, "
            "release, bookmark, receive, channel programs): who, what, and the result")
    banner = "Auditing ZFS operations. Ctrl+C to stop."
    interval_help = "longest time an event waits before it is printed, after --history-wait (default 0.1)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("what to audit")
        f.add_argument("--pool", action="append", metavar="NAME",
                       help="only operations on this pool (repeatable)")
        f.add_argument("--op", action="append", metavar="OP",
                       help="only these operations (repeatable, or comma-separated; in the kernel): "
                            + ", ".join(o.lower().replace("_", "-") for o in OPS))
        f.add_argument("--uid", type=uid,
                       help="only calls whose uid, effective uid or login uid is this (in the kernel)")
        f.add_argument("--attempts", action="store_true",
                       help="also report calls that failed, with the errno (in the kernel)")
        f.add_argument("--failed", action="store_true", help="only report calls that failed")
        f.add_argument("--min-severity", choices=("low", "medium", "high"), default="low",
                       help="only operations of this severity or more")
        c = p.add_argument_group("capture")
        c.add_argument("--device", metavar="PATH",
                       help="the ZFS control device, by its device number (default /dev/zfs)")
        c.add_argument("--max-nvlist-kb", metavar="KB", default=str(NV_CAP_KB),
                       help=f"bytes of each call's nvlist captured, 1-{NV_CAP_KB} KiB (default "
                            f"{NV_CAP_KB}); longer ones are reported as truncated")
        c.add_argument("--compat", action="store_true",
                       help="also 32-bit callers (x86-64): syscall tracepoints do not see compat "
                            "syscalls, so this adds a program to every syscall of the system")
        c.add_argument("--history-wait", type=seconds, default=HISTORY_WAIT, metavar="SECONDS",
                       help="how long a call waits for the zfs command line its process logs "
                            f"(0-60, default {HISTORY_WAIT:g}; 0: report at once, command lines apart)")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        ops: list[str] = []
        for spec in args.op or ():
            try:
                ops += op_names(spec)
            except ValueError as exc:
                raise UsageError(f"--op: unknown operation {str(exc)!r} (one of "
                                 f"{', '.join(o.lower().replace('_', '-') for o in OPS)})") from None
        self.ops = frozenset(ops or OPS)
        kb = args.max_nvlist_kb
        if not (kb.isascii() and kb.isdigit() and 1 <= int(kb) <= NV_CAP_KB):
            raise UsageError(f"--max-nvlist-kb: must be 1-{NV_CAP_KB}, not {kb!r}")
        self.nv_limit = int(kb) * 1024
        if args.history_wait > 60:
            raise UsageError("--history-wait: at most 60 seconds")
        self.pools = frozenset(args.pool or ())
        for p in self.pools:
            if not p or "/" in p or "@" in p or "#" in p:
                raise UsageError(f"--pool: {p!r} is not a pool name")
        self.min_level = SEVERITIES.index(args.min_severity.upper())
        self.attempts = bool(args.attempts or args.failed)
        if args.compat and os.uname().machine != "x86_64":
            raise UsageError("--compat: only on x86-64")
        self.rdev, self.device = zfs_device(args.device)
        self.join = HistoryJoin(int(args.history_wait * 1e9))
        self.chunks: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        self.obj: BPFObject | None = None
        self.keep = self._ingest  # every event is taken in here; output leaves through report()
        self.report_every = args.interval if args.interval is not None else 0.1
        cols = self.columns()
        self._fmt = " ".join(f"%-{w}s" for _, w in cols[:-1]) + " %s"
        self.xdr = self.invalid = 0
        self.m_ops = Counter("snapaudit_operations_total",
                             "ZFS operations reported, by operation, result and severity",
                             ("op", "result", "severity"))
        self.m_kernel = Gauge("snapaudit_kernel_counters",
                              "the BPF side's counts since start: calls not followed, captured late or "
                              "without their nvlist, nvlists cut and bytes missed, read faults, chunks "
                              "lost, failed (or successful) calls left out", ("counter",))

    # -- before and after load ---------------------------------------------------------------
    def configure(self, obj: BPFObject) -> None:
        ro, args = obj.rodata, self.args
        ro.targ_rdev = self.rdev
        wanted = set(ioctls_of(list(self.ops)))
        if self.join.wait > 0:
            wanted.add(LOG_HISTORY)  # the zfs command line of the operations reported
        lo = hi = 0
        for cmd in wanted:
            n = cmd - 0x5A00
            if n < 64:
                lo |= 1 << n
            else:
                hi |= 1 << (n - 64)
        ro.ops_lo, ro.ops_hi = lo, hi
        if args.uid is not None:
            ro.targ_uid = args.uid
        ro.attempts = self.attempts
        ro.only_failed = bool(args.failed)
        ro.nv_limit = self.nv_limit
        if self.join.wait <= 0:
            obj.progs.proc_exit.autoload = False  # nothing waits for a process to end
        if not args.compat:
            obj.progs.compat_enter.autoload = obj.progs.compat_exit.autoload = False

    def loaded(self, obj: BPFObject) -> None:
        self.obj = obj

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        if self.args.verbose:
            print(f"snapaudit: ZFS control device: {self.device}", file=sys.stderr)

    # -- events in -----------------------------------------------------------------------------
    def _ingest(self, ev: Any) -> bool:
        kind = ev.kind
        if kind == SA_CALL:
            self._call(ev)
        elif kind == SA_CHUNK_REC:
            self.chunks.setdefault((ev.tid, ev.call_id), []).append((ev.nv_offset, ev.data[:ev.data_len]))
        elif kind == SA_PROC_EXIT:
            self.join.exited(ev.pid)
        return False

    def _nvlist(self, ev: Any, inline: bytes, notes: list[str]) -> tuple[dict[str, Any], Any, str | None]:
        """(values, repeated names, error) of a call's input nvlist ({} when there is none),
        noting in `notes` what is missing."""
        if ev.nv_inline:
            raw = inline
        else:
            parts = sorted(self.chunks.pop((ev.tid, ev.call_id), ()))
            buf, at = bytearray(), 0
            for off, data in parts:
                if off != at:
                    break  # a chunk went missing (ring full): keep what is contiguous
                buf += data
                at += len(data)
            raw = bytes(buf)
            if len(raw) < ev.nv_captured and "chunk_lost" not in notes:
                notes.append("chunk_lost")
        if not raw:
            return {}, None, None
        try:
            d = nvlist.decode(raw, ev.nv_size)
        except nvlist.NvlistError as exc:
            self.invalid += 1
            notes.append("nvlist_invalid")
            return {}, None, str(exc)
        if d.encoding == "xdr":
            self.xdr += 1
        if d.truncated and "nvlist_cut" not in notes:
            notes.append("nvlist_cut")
        return d.values, [list(p) for p in d.duplicates] or None, None

    def _call(self, ev: Any) -> None:
        data = ev.data
        o = 0
        fields = []
        for n in (ev.name_len, ev.value_len, ev.string_len, ev.args_len, ev.exit_len):
            fields.append(data[o:o + n])
            o += n + 1
        name_b, value_b, string_b, args_b, exit_b = fields
        inline = data[o:o + ev.nv_inline]
        notes = [note for bit, note in FLAG_NOTES if ev.flags & bit]
        nv, dups, nv_error = self._nvlist(ev, inline, notes)
        scalars = {"cookie": ev.cookie, "cookie_out": ev.cookie_out, "guid": ev.guid,
                   "objset_type": ev.objset_type, "obj_out": ev.obj_out,
                   "defer_destroy": ev.defer_destroy, "cleanup_fd": ev.cleanup_fd}
        name = text(name_b)
        core = interpret(ev.cmd, name, text(value_b), text(string_b), text(exit_b), nv, scalars, ev.result)
        result = -ev.result if ev.result < 0 else 0
        rec: dict[str, Any] = {
            "event": "zfs", "op": core.pop("op"), "severity": core.pop("severity"), "result": result,
            "errno": errno_name(ev.result), "pool": core.pop("pool"), "names": core.pop("names"),
            "ioctl": core.pop("ioctl"),
        }
        rec.update(core)
        rec.update({
            "pid": ev.pid, "tid": ev.tid, "ppid": ev.ppid, "uid": ev.uid, "euid": ev.euid,
            "loginuid": None if ev.loginuid == NO_ID else ev.loginuid, "gid": ev.gid,
            "comm": ev.comm, "parent_comm": ev.pcomm, "cgroup_id": ev.cgroup_id,
            "cmdline": argv_of(args_b), "zfs_command": None,
            "latency_ns": ev.ts_ns - ev.enter_ns, "compat": bool(ev.flags & SA_COMPAT),
            "nvlist_bytes": ev.nv_size,
        })
        if ev.nv_captured < ev.nv_size:
            rec["nvlist_captured"] = ev.nv_captured
        if dups:
            rec["nvlist_duplicates"] = dups  # repeated names: the kernel's loops see each one
        if nv_error:
            rec["nvlist_error"] = nv_error
        rec["truncated"] = any(n.endswith("_cut") or n in NOT_CAPTURED for n in notes)
        if notes:
            rec["capture"] = notes
        rec["ts_ns"] = ev.ts_ns  # taken out before output
        if ev.cmd == LOG_HISTORY:
            self.join.history(ev.ts_ns, ev.pid, rec)
        else:
            self.join.call(ev.ts_ns, ev.pid, rec)

    # -- events out ----------------------------------------------------------------------------
    def _wanted(self, rec: dict[str, Any]) -> bool:
        if rec["op"] not in self.ops:
            return False
        if SEVERITIES.index(rec["severity"]) < self.min_level:
            return False
        if self.pools:
            pools = {rec["pool"], *map(pool_of, rec["names"])}
            if not pools & self.pools:
                return False
        return True

    def _text(self, rec: dict[str, Any], ts: int) -> str:
        target = target_text(rec, escape)
        if rec["truncated"]:
            target += " (truncated: " + ", ".join(rec.get("capture", ())) + ")"
        if rec.get("zfs_command") is not None:
            target += f" zfs={quote(rec['zfs_command'], escape)}"
        elif rec["cmdline"]:
            target += f" cmd={quote(' '.join(rec['cmdline']), escape)}"
        return self._fmt % (self.clock.hms(ts), rec["severity"], rec["op"], uid_cell(rec), rec["pid"],
                            escape(rec["comm"]), rec["errno"] or "ok", target)

    def report(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        out = []
        iso = self.clock.iso
        for it in self.join.ready(time.monotonic_ns(), final):
            rec = it.rec
            ts = rec.pop("ts_ns")
            if not self._wanted(rec):
                continue
            self.m_ops.inc((rec["op"], rec["errno"] or "ok", rec["severity"]))
            out.append((self._text(rec, ts), {"ts": iso(ts), **rec}))
        if self.chunks:  # chunks whose call record was lost
            now = time.monotonic_ns()
            for key in [k for k in self.chunks if now - k[1] > STALE_CHUNKS_NS]:
                del self.chunks[key]
        self._kernel_counters()
        return out

    def _kernel_counters(self) -> dict[str, int]:
        out: dict[str, int] = {}
        if self.obj is None:
            return out
        bss = self.obj.bss
        for field, _ in (*KERNEL_COUNTERS, ("failed_skipped", ""), ("ok_skipped", "")):
            out[field] = v = getattr(bss, field)
            self.m_kernel.set(v, (field,))
        return out

    # -- text header, summary, metrics -------------------------------------------------------
    def columns(self) -> list[tuple[Any, ...]]:
        return [("TIME", 8), ("SEV", 6), ("OP", 9), ("UID", 4), ("PID", 6), ("COMM", 11),
                ("RESULT", 7), ("TARGET", 0)]

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        return None  # never called: events leave through report()

    def record(self, ev: Any) -> dict[str, Any] | None:
        return None

    def summary(self) -> Iterable[str]:
        counters = self._kernel_counters()
        lines = []
        if counters.get("failed_skipped"):
            lines.append(f"snapaudit: {counters['failed_skipped']} failed calls not reported "
                         "(--attempts reports them)")
        missed = [f"{what}: {counters[field]}" for field, what in KERNEL_COUNTERS if counters.get(field)]
        if missed:
            lines.append("snapaudit: not captured: " + "; ".join(missed))
        if self.invalid:
            lines.append(f"snapaudit: {self.invalid} calls carried bytes that are not a packed nvlist")
        if self.xdr:
            lines.append(f"snapaudit: {self.xdr} calls carried XDR-encoded nvlists")
        return lines

    def metrics(self) -> list[Metric]:
        return [self.m_ops, self.m_kernel]


TOOL = SnapAudit

__all__ = ["IOCTLS", "SnapAudit", "kernel_dev", "name_text"]
