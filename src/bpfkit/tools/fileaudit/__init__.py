"""`bpfkit fileaudit`: who changed a sensitive file, by any route, with
severity and parent process (auditd `-w PATH -p wa`, Falco's sensitive-file
rules). The kernel resolves every path and drops unwatched activity; this
module holds the watch set, the severity table and the output.

Hooks: BPF LSM + fexit, fentry + fexit, or syscall tracepoints, the best this
kernel offers per family of calls (declared in fileaudit.bpf.c; ``--hooks``
forces one kind). The output is the same whichever is kept."""

from __future__ import annotations

import errno
import os
import posixpath
from _thread import get_native_id

from ...argv import UsageError, uid
from ...output import escape
from ...runner.tool import Counter, Tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock

# The seed's trees, plus sudoers.d; ~/.ssh of every user is added at start.
DEFAULT_WATCH = ("/etc", "/root", "/usr/lib/systemd", "/var/spool/cron", "/etc/sudoers.d")

# Severity rules, first match wins; a path matches a pattern with fnmatch
# (`*` also crosses "/"). Renames and links are judged by both their paths.
HIGH = "HIGH"
MEDIUM = "MEDIUM"
LOW = "LOW"
SEVERITY_RULES: tuple[tuple[str, str], ...] = (
    # accounts and privileges
    ("/etc/passwd", HIGH), ("/etc/shadow", HIGH), ("/etc/group", HIGH), ("/etc/gshadow", HIGH),
    ("/etc/sudoers", HIGH), ("/etc/sudoers.d", HIGH), ("/etc/sudoers.d/*", HIGH),
    # ssh: daemon and client config, keys that let someone in
    ("/etc/ssh/sshd_config", HIGH), ("/etc/ssh/sshd_config.d/*", HIGH),
    ("/etc/ssh/ssh_config", HIGH), ("/etc/ssh/ssh_config.d/*", HIGH),
    ("*/.ssh/authorized_keys", HIGH), ("*/.ssh/authorized_keys2", HIGH), ("*/.ssh/config", HIGH),
    # scheduled commands
    ("/etc/crontab", HIGH), ("/etc/cron.d/*", HIGH), ("/etc/cron.hourly/*", HIGH),
    ("/etc/cron.daily/*", HIGH), ("/etc/cron.weekly/*", HIGH), ("/etc/cron.monthly/*", HIGH),
    ("/var/spool/cron/*", HIGH),
    # services that start as root
    ("/etc/systemd/*", HIGH), ("/usr/lib/systemd/system/*", HIGH), ("/lib/systemd/system/*", HIGH),
    ("/usr/lib/systemd/user/*", HIGH),
    # code every process loads, and authentication
    ("/etc/ld.so.preload", HIGH), ("/etc/pam.d/*", HIGH), ("/etc/pam.d", HIGH),
)
MEDIUM_OPS = frozenset({"DELETE", "RENAME", "CHMOD", "CHOWN"})
SEVERITIES = (LOW, MEDIUM, HIGH)

# flags of struct fileaudit_event (fileaudit.h)
PATH_RAW, NEW_RAW, PATH_CUT, NEW_CUT = 0x01, 0x02, 0x04, 0x08
PATH_WATCHED, NEW_WATCHED, TARGET_TEXT = 0x10, 0x20, 0x40

FNV_BASIS, FNV_PRIME = 14695981039346656037, 1099511628211
PATH_MAX = 4096
NO_ID = 0xFFFFFFFF


def fnv1a(data: bytes) -> int:
    """The kernel side's prefix hash (FNV-1a, 64 bits)."""
    h = FNV_BASIS
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def normalize(path: str) -> str:
    """Absolute, without ".", ".." or repeated slashes (lexically, as the
    kernel walks "..": a symlink before ".." is not followed here)."""
    out = posixpath.normpath("/" + path.lstrip("/"))
    return "/" if out in ("//", "") else out


def under(path: str, prefixes: Iterable[str]) -> bool:
    """Whether ``path`` is one of ``prefixes`` or inside one, by whole components."""
    return any(path == p or path.startswith(p + "/") or p == "/" for p in prefixes)


def severity(op: str, paths: Iterable[str]) -> str:
    # lazy: fnmatch imports re (ms of start-up); only a reported change needs it
    from fnmatch import fnmatchcase

    for path in paths:
        for pattern, level in SEVERITY_RULES:
            if fnmatchcase(path, pattern):
                return level
    return MEDIUM if op in MEDIUM_OPS else LOW


def _aliases(path: str) -> list[str]:
    """``path`` as reached through top-level symlinks too (/lib -> usr/lib on
    merged-/usr systems): a path-based call may name either."""
    out = [path]
    real = os.path.realpath(path)
    if real != path:
        out.append(real)
    try:
        entries = os.listdir("/")
    except OSError:
        return out
    for e in entries:
        link = "/" + e
        if not os.path.islink(link):
            continue
        target = os.path.realpath(link)
        for p in list(out):
            if p.startswith(target + "/"):
                out.append(link + p[len(target):])
    return out


def default_watch() -> list[str]:
    import pwd  # lazy: only the default watch set reads the user database

    homes = sorted({pw.pw_dir for pw in pwd.getpwall() if pw.pw_dir.startswith("/")})
    return [*DEFAULT_WATCH, *(normalize(h) + "/.ssh" for h in homes if normalize(h) != "/")]


def watch_set(paths: Iterable[str]) -> list[str]:
    """The prefixes to hash into the kernel: normalised, with aliases, unique."""
    out: list[str] = []
    for p in paths:
        for a in _aliases(normalize(os.path.abspath(p))):
            if a not in out:
                out.append(a)
    return out


def result_text(result: int) -> str:
    return "0" if result >= 0 else errno.errorcode.get(-result, str(-result))


def syscall_name(sc: Any) -> str | None:
    """enum fileaudit_syscall -> "openat"; None for 0: a change the LSM/fexit
    hooks saw outside a syscall they know (io_uring, the kernel's own opens)."""
    name = getattr(sc, "name", None)
    return name.removeprefix("FS_").lower() if name else None


class FileAudit(Tool):
    name = "fileaudit"
    help = "audit changes to sensitive files (writes, creates, renames, deletes, chmod, chown, links)"
    banner = "Auditing file changes. Ctrl+C to stop."
    # --hooks (fileaudit.bpf.c's BPFKIT_HOOKS): LSM hook or fentry before the
    # change, fexit after it; else the syscall tracepoints
    hook_kinds = {"lsm": frozenset({"lsm", "fexit"}), "fentry": frozenset({"fentry", "fexit"}),
                  "syscalls": frozenset({"tracepoint"})}

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("what to audit (filters run in the kernel unless noted)")
        f.add_argument("--watch", action="append", metavar="PATH",
                       help="a tree to watch, by whole path components (repeatable; replaces the "
                            "default: /etc, /root, /usr/lib/systemd, /var/spool/cron, ~/.ssh of "
                            "every user)")
        f.add_argument("--uid", type=uid, help="only changes made by this user id")
        f.add_argument("--exclude-comm", action="append", metavar="NAME",
                       help="ignore processes with this command name (repeatable)")
        f.add_argument("--attempts", action="store_true",
                       help="also report calls that failed, with the errno")
        f.add_argument("--min-severity", choices=("low", "medium", "high"), default="low",
                       help="only changes of this severity or more (in user space)")
        cls.add_hooks_argument(p)

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        for w in args.watch or ():
            if not w.strip():
                raise UsageError("--watch needs a path")
            if len(os.fsencode(w)) >= PATH_MAX:
                raise UsageError(f"--watch: a path of {len(os.fsencode(w))} bytes is longer than "
                                 f"the kernel's PATH_MAX ({PATH_MAX})")
        self.watched = watch_set(args.watch or default_watch())
        self.min_level = SEVERITIES.index(args.min_severity.upper())
        self.exclude = [c.encode(errors="surrogateescape")[:15] for c in args.exclude_comm or ()]
        self.m_changes = Counter("bpfkit_fileaudit_changes_total",
                                 "changes to watched files, by operation, severity and result",
                                 ["op", "severity", "result"])

    def configure(self, obj: BPFObject) -> None:
        args, ro = self.args, obj.rodata
        if args.uid is not None:
            ro.targ_uid = args.uid
        ro.attempts = bool(args.attempts)
        ro.exclude_comms = bool(self.exclude)
        if len(self.watched) > obj.maps.watched.max_entries:
            raise UsageError(f"at most {obj.maps.watched.max_entries} watched paths")
        ro.max_prefix_len = max(len(os.fsencode(p)) for p in self.watched) if "/" not in self.watched else 0
        # the pid namespace mark_tid is numbered in (the kernel's dev_t of nsfs)
        ns = os.stat("/proc/self/ns/pid")
        ro.pidns_dev, ro.pidns_ino = os.major(ns.st_dev) << 20 | os.minor(ns.st_dev), ns.st_ino

    def loaded(self, obj: BPFObject) -> None:
        watched = obj.maps.watched
        for p in self.watched:
            watched[fnv1a(b"" if p == "/" else os.fsencode(p))] = 1
        for comm in self.exclude:
            obj.maps.excluded[comm] = 1
        if any(p.loaded and p.kind == "fexit" for p in obj.progs):
            self._number_syscalls(obj)

    @staticmethod
    def _number_syscalls(obj: BPFObject) -> None:
        """The LSM/fentry/fexit hooks run inside a syscall they know by number:
        syscall_ids maps this architecture's numbers to enum fileaudit_syscall
        (names from the object's BTF, numbers from bpfkit's syscall table)."""
        # lazy: the table is parsed only when these hooks were kept
        from ...core.codecs.btf import Kind
        from ...trace.names import SyscallTable

        enum = obj.btf.find(Kind.ENUM, "fileaudit_syscall")
        table = SyscallTable(tracefs=None)
        ids = obj.maps.syscall_ids
        for name, value in enum.values if enum else ():
            call = name.removeprefix("FS_").lower()
            if call in table and table.nr(call) < ids.max_entries:
                ids[table.nr(call)] = value

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        # Watched by inode too (see `marks` in fileaudit.bpf.c): open each
        # watched path with O_PATH while mark_tid names this thread, and
        # fexit_open marks the inode the kernel resolved. Before the banner: a
        # test or service that waits for it sees every mark in place.
        if not obj.progs.fexit_open.loaded:
            return
        obj.bss.mark_tid = get_native_id()  # as our pid namespace numbers it
        try:
            for p in self.watched:
                try:
                    os.close(os.open(p, os.O_PATH))
                except OSError:  # not there (yet): watched by its path alone
                    pass
        finally:
            obj.bss.mark_tid = 0
        # directories judged unwatched before their tree was marked: judge again
        obj.bss.tree_gen += 1

    # -- one event -------------------------------------------------------------------
    def _paths(self, ev: Any) -> tuple[str, str | None]:
        raw, n1, n2 = ev.paths, ev.path_len, ev.new_path_len
        path = raw[:n1].decode("utf-8", "surrogateescape")
        new = raw[n1 + 1: n1 + 1 + n2].decode("utf-8", "surrogateescape") if n2 or ev.op.name in (
            "FA_RENAME", "FA_LINK", "FA_SYMLINK") else None
        if ev.flags & PATH_RAW:
            path = normalize(path)
        if new is not None and ev.flags & NEW_RAW:
            new = normalize(new)
        return path, new

    def _judge(self, ev: Any) -> tuple[str, str, str | None, str] | None:
        """(op, path, new_path, severity), or None when user space filters it out."""
        path, new = self._paths(ev)
        flags = ev.flags
        watched = bool(flags & (PATH_WATCHED | NEW_WATCHED))
        if not watched:  # a path with "."/".." the kernel could not judge
            candidates = [new] if new is not None else []
            if not flags & TARGET_TEXT:
                candidates.append(path)
            if not any(under(c, self.watched) for c in candidates):
                return None
        op = ev.op.name.removeprefix("FA_")
        level = severity(op, [path, new] if new is not None else [path])
        if SEVERITIES.index(level) < self.min_level:
            return None
        return op, path, new, level

    def event_kind(self, ev: Any) -> str:
        return ev.op.name.removeprefix("FA_").lower()

    def metrics(self) -> list[Any]:
        return [self.m_changes]

    def observe(self, ev: Any) -> None:
        j = self._judge(ev)
        if j is not None:
            self.m_changes.inc((j[0].lower(), j[3].lower(), "ok" if ev.result >= 0 else "failed"))

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        j = self._judge(ev)
        if j is None:
            return None
        op, path, new, level = j
        target = escape(path) + ("..." if ev.flags & PATH_CUT else "")
        if new is not None:
            target += " => " + escape(new) + ("..." if ev.flags & NEW_CUT else "")
        extra = ""
        if op in ("CHMOD", "MKDIR") or (op == "CREATE" and ev.mode):
            extra = f" mode={ev.mode & 0o7777:04o}"
        elif op == "CHOWN":
            extra = (f" owner={ev.owner if ev.owner != NO_ID else '-'}"
                     f" group={ev.group if ev.group != NO_ID else '-'}")
        if ev.result < 0:
            extra += f" (failed: {result_text(ev.result)})"
        line = (f"[{level:<6}] {self.clock.hms(ev.ts_ns)} {op:<8} pid={ev.pid} uid={ev.uid} "
                f"{escape(ev.comm)} (parent: {escape(ev.pcomm)} pid={ev.ppid}) {target}{extra}")
        return (line,)

    def record(self, ev: Any) -> dict[str, Any] | None:
        j = self._judge(ev)
        if j is None:
            return None
        op, path, new, level = j
        rec: dict[str, Any] = {
            "op": op, "severity": level, "path": path, "pid": ev.pid, "tid": ev.tid,
            "ppid": ev.ppid, "uid": ev.uid, "gid": ev.gid, "comm": ev.comm, "parent_comm": ev.pcomm,
            "syscall": syscall_name(ev.syscall),
            "result": 0 if ev.result >= 0 else -ev.result,
            "errno": None if ev.result >= 0 else result_text(ev.result),
        }
        if new is not None:
            rec["new_path"] = new
        if ev.flags & TARGET_TEXT:
            rec["target_is_text"] = True  # a symlink target as written, not resolved
        if ev.flags & (PATH_CUT | NEW_CUT):
            rec["truncated"] = True
        if op in ("CHMOD", "MKDIR", "CREATE"):
            rec["mode"] = ev.mode & 0o7777
        if op == "CHOWN":
            rec["owner"] = None if ev.owner == NO_ID else ev.owner
            rec["group"] = None if ev.group == NO_ID else ev.group
        return rec


TOOL = FileAudit
