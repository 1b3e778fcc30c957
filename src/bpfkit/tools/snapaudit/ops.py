"""What one ZFS ioctl asked for, from the bytes snapaudit's BPF program captured: the operation,
every dataset / snapshot / bookmark name, the severity, and how it reads as text.

Pure logic on plain values (no kernel, no BPF): `interpret()` takes the zfs_cmd_t strings, the
scalars and the decoded input nvlist and returns the JSON record of the call. Where each
operation keeps its names is shared/notes/zfs.md section 4 (openzfs 2.1 to master).

Only `errno` is imported: the module is on snapaudit's start-up path.
"""

from __future__ import annotations

import errno

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ZFS_IOC_FIRST = 0x5A00

# ioctl number -> (zfs_ioc_t name without ZFS_IOC_, the operation reported). Linux numbers
# (ZFS_IOC_FIRST + enum index), identical from openzfs 0.8 to master.
IOCTLS: dict[int, tuple[str, str]] = {
    0x5A17: ("CREATE", "CREATE"),
    0x5A18: ("DESTROY", "DESTROY"),
    0x5A19: ("ROLLBACK", "ROLLBACK"),
    0x5A1A: ("RENAME", "RENAME"),
    0x5A1B: ("RECV", "RECEIVE"),
    0x5A22: ("PROMOTE", "PROMOTE"),
    0x5A23: ("SNAPSHOT", "SNAPSHOT"),
    0x5A30: ("HOLD", "HOLD"),
    0x5A31: ("RELEASE", "RELEASE"),
    0x5A37: ("TMP_SNAPSHOT", "SNAPSHOT"),
    0x5A3B: ("DESTROY_SNAPS", "DESTROY"),
    0x5A3F: ("LOG_HISTORY", "HISTORY"),
    0x5A42: ("CLONE", "CLONE"),
    0x5A43: ("BOOKMARK", "BOOKMARK"),
    0x5A45: ("DESTROY_BOOKMARKS", "DESTROY_BOOKMARK"),
    0x5A46: ("RECV_NEW", "RECEIVE"),
    0x5A48: ("CHANNEL_PROGRAM", "PROGRAM"),
    0x5A51: ("REDACT", "REDACT"),
}
LOG_HISTORY = 0x5A3F

# Operations, in the order help lists them.
OPS = ("SNAPSHOT", "DESTROY", "ROLLBACK", "RENAME", "CLONE", "PROMOTE", "HOLD", "RELEASE", "BOOKMARK",
       "DESTROY_BOOKMARK", "RECEIVE", "PROGRAM", "CREATE", "REDACT", "HISTORY")

HIGH, MEDIUM, LOW = "HIGH", "MEDIUM", "LOW"
SEVERITIES = (LOW, MEDIUM, HIGH)
# Severity per operation (one table, like fileaudit's SEVERITY_RULES): what cannot be undone
# is HIGH. A forced receive (`zfs receive -F`) may roll back and destroy snapshots: HIGH too.
SEVERITY: dict[str, str] = {
    "DESTROY": HIGH, "ROLLBACK": HIGH, "PROGRAM": HIGH,  # a channel program can destroy anything
    "RENAME": MEDIUM, "PROMOTE": MEDIUM, "RELEASE": MEDIUM,  # a release may end a deferred destroy
    "DESTROY_BOOKMARK": MEDIUM,
    "SNAPSHOT": LOW, "HOLD": LOW, "BOOKMARK": LOW, "CLONE": LOW, "RECEIVE": LOW, "CREATE": LOW,
    "REDACT": LOW, "HISTORY": LOW,
}
FORCED_RECEIVE = HIGH

# zfs_errno_t (openzfs include/sys/fs/zfs.h; appended to over time, never renumbered).
ZFS_ERRNO = {1024 + i: "ZFS_ERR_" + n for i, n in enumerate((
    "CHECKPOINT_EXISTS", "DISCARDING_CHECKPOINT", "NO_CHECKPOINT", "DEVRM_IN_PROGRESS", "VDEV_TOO_BIG",
    "IOC_CMD_UNAVAIL", "IOC_ARG_UNAVAIL", "IOC_ARG_REQUIRED", "IOC_ARG_BADTYPE", "WRONG_PARENT",
    "FROM_IVSET_GUID_MISSING", "FROM_IVSET_GUID_MISMATCH", "SPILL_BLOCK_FLAG_MISSING",
    "UNKNOWN_SEND_STREAM_FEATURE", "EXPORT_IN_PROGRESS", "BOOKMARK_SOURCE_NOT_ANCESTOR",
    "STREAM_TRUNCATED", "STREAM_LARGE_BLOCK_MISMATCH", "RESILVER_IN_PROGRESS", "REBUILD_IN_PROGRESS",
    "BADPROP", "VDEV_NOTSUP", "NOT_USER_NAMESPACE", "RESUME_EXISTS", "CRYPTO_NOTSUP",
    "RAIDZ_EXPAND_IN_PROGRESS", "ASHIFT_MISMATCH", "STREAM_LARGE_MICROZAP", "TOO_MANY_SITOUTS",
    "NO_USER_NS_SUPPORT"))}

REDACTED = "[redacted]"
# dmu_objset_type_t
OBJSET_TYPES = {2: "filesystem", 3: "volume"}


def op_names(text: str) -> list[str]:
    """'destroy,rollback' or 'destroy-bookmark' -> operation names; ValueError for unknown ones."""
    out = []
    for part in text.split(","):
        op = part.strip().upper().replace("-", "_")
        if op not in SEVERITY:
            raise ValueError(part.strip())
        out.append(op)
    return out


def ioctls_of(ops: list[str]) -> list[int]:
    return [cmd for cmd, (_, op) in IOCTLS.items() if op in ops]


def errno_name(result: int) -> str | None:
    """-25 -> 'ENOTTY', -1030 -> 'ZFS_ERR_IOC_ARG_UNAVAIL', 0 -> None."""
    if result >= 0:
        return None
    err = -result
    return errno.errorcode.get(err) or ZFS_ERRNO.get(err) or f"E{err}"


def pool_of(name: str) -> str:
    """The pool a dataset, snapshot or bookmark name belongs to (its first component)."""
    for i, c in enumerate(name):
        if c in "/@#":
            return name[:i]
    return name


def text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def argv_of(raw: bytes) -> list[str]:
    """The command line as the kernel keeps it (NUL-separated, NUL-terminated) -> arguments."""
    if not raw:
        return []
    parts = raw.split(b"\0")
    if parts[-1] == b"":
        parts.pop()
    return [text(p) for p in parts]


def redact(v: Any) -> Any:
    """Key material never leaves this function: `hidden_args` (wrapping keys, ZPOOL_HIDDEN_ARGS)
    and any `wkeydata` keep their names, lose their values."""
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if k == "hidden_args" and isinstance(x, dict):
                out[k] = dict.fromkeys(x, REDACTED)
            elif k in ("hidden_args", "wkeydata"):
                out[k] = REDACTED
            else:
                out[k] = redact(x)
        return out
    if isinstance(v, list):
        return [redact(x) for x in v]
    return v


def _keys(v: Any) -> list[str]:
    return list(v) if isinstance(v, dict) else []


def _str(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def interpret(cmd: int, name: str, value: str, string: str, exit_str: str, nv: dict[str, Any],
              scalars: dict[str, int], result: int) -> dict[str, Any]:
    """The fields of one call: op, ioctl, severity, pool, names and what the operation adds.

    scalars: cookie, cookie_out, guid, objset_type, obj_out, defer_destroy, cleanup_fd.
    `nv` is the decoded input nvlist ({} when there was none or it could not be read).
    """
    ioctl, op = IOCTLS.get(cmd, (f"0x{cmd:x}", "UNKNOWN"))
    rec: dict[str, Any] = {"op": op, "ioctl": ioctl}
    names: list[str] = []
    pool = pool_of(name)
    severity = SEVERITY.get(op, LOW)
    if ioctl in ("SNAPSHOT", "DESTROY_SNAPS"):
        names = _keys(nv.get("snaps"))
        if ioctl == "SNAPSHOT" and isinstance(nv.get("props"), dict):
            rec["props"] = redact(nv["props"])
        if ioctl == "DESTROY_SNAPS":
            rec["deferred"] = "defer" in nv
    elif ioctl == "TMP_SNAPSHOT":
        # zc_value: the prefix asked for; at exit the kernel wrote the snapshot's real name there.
        made = exit_str if exit_str and exit_str != value else ""
        names = [made] if made else []
        rec.update(dataset=name, prefix=value, temporary=True)
    elif ioctl == "DESTROY":
        names = [name]
        rec["deferred"] = "@" in name and bool(scalars["defer_destroy"])
    elif ioctl == "ROLLBACK":
        target = _str(nv.get("target"))
        names = [name] + ([target] if target else [])
        rec["target"] = target  # None: the latest snapshot
    elif ioctl == "RENAME":
        names = [name, value]
        rec.update(new_name=value, recursive=bool(scalars["cookie"] & 1))
        if result < 0 and exit_str and exit_str != name:
            rec["failed_name"] = exit_str  # where a recursive rename stopped
    elif ioctl in ("RECV", "RECV_NEW"):
        if ioctl == "RECV":
            snap, origin, force = value, string or None, bool(scalars["guid"])
            if isinstance(nv, dict) and nv:
                rec["props"] = redact(nv)
            if result >= 0:
                rec["bytes"] = scalars["cookie_out"]
        else:
            snap, origin, force = _str(nv.get("snapname")) or "", _str(nv.get("origin")), "force" in nv
            rec["resumable"] = "resumable" in nv
            if isinstance(nv.get("props"), dict):
                rec["props"] = redact(nv["props"])
            if "hidden_args" in nv:
                rec["hidden_args"] = redact({"hidden_args": nv["hidden_args"]})["hidden_args"]
        names = [snap] if snap else []
        rec.update(origin=origin, force=force)
        if force:
            severity = FORCED_RECEIVE
    elif ioctl == "PROMOTE":
        names = [name]
        if exit_str:
            rec["conflict"] = exit_str
    elif ioctl == "CLONE":
        origin = _str(nv.get("origin"))
        names = [name] + ([origin] if origin else [])
        rec["origin"] = origin
        if isinstance(nv.get("props"), dict):
            rec["props"] = redact(nv["props"])
    elif ioctl == "CREATE":
        names = [name]
        t = nv.get("type")
        rec["type"] = OBJSET_TYPES.get(t, t) if isinstance(t, int) else None
        if isinstance(nv.get("props"), dict):
            rec["props"] = redact(nv["props"])
        if "hidden_args" in nv:
            rec["hidden_args"] = redact({"hidden_args": nv["hidden_args"]})["hidden_args"]
    elif ioctl == "HOLD":
        holds = nv.get("holds") if isinstance(nv.get("holds"), dict) else {}
        names = list(holds)
        rec["holds"] = {k: v if isinstance(v, str) else None for k, v in holds.items()}
        rec["temporary"] = isinstance(nv.get("cleanup_fd"), int) and nv["cleanup_fd"] >= 0
    elif ioctl == "RELEASE":
        names = list(nv)
        rec["holds"] = {k: _keys(v) for k, v in nv.items()}
    elif ioctl == "BOOKMARK":
        names = list(nv)
        rec["bookmarks"] = {k: v if isinstance(v, str) else None for k, v in nv.items()}
        names += [v for v in rec["bookmarks"].values() if v]
    elif ioctl == "DESTROY_BOOKMARKS":
        names = list(nv)
    elif ioctl == "REDACT":
        book = _str(nv.get("bookname"))
        fs = name.split("@", 1)[0]
        names = [name] + ([f"{fs}#{book}"] if book else [])
        rec["bookmark"] = f"{fs}#{book}" if book else None
        rec["redaction_snapshots"] = _keys(nv.get("snapnv"))
    elif ioctl == "CHANNEL_PROGRAM":
        rec["program"] = _str(nv.get("program"))
        rec["program_args"] = redact(nv.get("arg"))
        rec["sync"] = nv.get("sync") if isinstance(nv.get("sync"), bool) else True
        for k in ("instrlimit", "memlimit"):
            if isinstance(nv.get(k), int):
                rec[k] = nv[k]
    elif ioctl == "LOG_HISTORY":
        rec["message"] = _str(nv.get("message"))
        pool = ""
    rec["severity"] = severity
    rec["pool"] = pool or None
    rec["names"] = names
    return rec


# -- text ------------------------------------------------------------------------------------------

# Characters of a valid ZFS name (dataset_namecheck: [A-Za-z0-9_.: -], separators / @ #, and
# % in a `zfs destroy fs@a%b` range). Any other character gets the name quoted.
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-/@#%")


def quote(s: str, escape: Any) -> str:
    """Free text (a message, a program) as one unambiguous token: "..." with \\ and " escaped."""
    return '"' + escape(s).replace('"', '\\"') + '"'


def name_text(s: str, escape: Any) -> str:
    """A name as it prints: bare when every character is a valid ZFS name character, else
    quoted (so ", ", " -> " and " => " between names can never come from inside one)."""
    if s and _SAFE.issuperset(s):
        return s
    return quote(s, escape)


def target_text(rec: dict[str, Any], escape: Any, limit: int = 120) -> str:
    """The TARGET column: what the call named, and how."""
    def n(s: str | None) -> str:
        return name_text(s or "", escape)

    def many(xs: list[str]) -> str:
        return ", ".join(map(n, xs))

    ioctl, names = rec["ioctl"], rec["names"]
    if ioctl == "TMP_SNAPSHOT":
        out = (n(names[0]) if names else f"{n(rec['dataset'])}@{n(rec['prefix'])}-*") + " (temporary)"
    elif ioctl in ("SNAPSHOT", "DESTROY_SNAPS", "DESTROY_BOOKMARKS", "DESTROY", "CREATE", "PROMOTE"):
        out = many(names)
        if rec.get("deferred"):
            out += " (deferred)"
        if rec.get("type") == "volume":
            out += " (volume)"
        if rec.get("conflict"):
            out += f" (conflict: {n(rec['conflict'])})"
    elif ioctl == "ROLLBACK":
        out = f"{n(names[0] if names else '')} -> {n(rec['target']) if rec['target'] else 'latest snapshot'}"
    elif ioctl == "RENAME":
        out = f"{n(names[0])} => {n(names[1])}" + (" (recursive)" if rec["recursive"] else "")
        if rec.get("failed_name"):
            out += f" (failed at {n(rec['failed_name'])})"
    elif ioctl in ("RECV", "RECV_NEW"):
        out = many(names)
        if rec.get("origin"):
            out += f" from {n(rec['origin'])}"
        if rec.get("force"):
            out += " (force)"
    elif ioctl == "CLONE":
        out = f"{n(names[0] if names else '')} from {n(rec['origin'])}"
    elif ioctl in ("HOLD", "RELEASE"):
        holds = rec["holds"]
        parts = []
        for snap, tags in holds.items():
            for tag in (tags if isinstance(tags, list) else [tags]):
                parts.append(f"{n(snap)} hold={quote(tag, escape) if tag is not None else '?'}")
        out = ", ".join(parts) + (" (temporary)" if rec.get("temporary") else "")
    elif ioctl == "BOOKMARK":
        out = ", ".join(f"{n(bm)} from {n(src)}" for bm, src in rec["bookmarks"].items())
    elif ioctl == "REDACT":
        out = f"{n(rec['bookmark'])} from {n(names[0] if names else '')}"
    elif ioctl == "CHANNEL_PROGRAM":
        prog = rec.get("program") or ""
        if len(prog) > limit:
            prog = prog[:limit] + "..."
        out = f"{n(rec['pool'])} program={quote(prog, escape)}"
        if rec.get("program_args"):
            out += f" args={quote(_compact(rec['program_args'])[:limit], escape)}"
    elif ioctl == "LOG_HISTORY":
        out = quote(rec.get("message") or "", escape)
    else:
        out = many(names)
    return out


def _compact(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_compact(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_compact(x) for x in v) + "]"
    return str(v)


__all__ = ["IOCTLS", "OPS", "SEVERITIES", "SEVERITY", "ZFS_ERRNO", "argv_of", "errno_name", "interpret",
           "ioctls_of", "name_text", "op_names", "pool_of", "quote", "redact", "target_text"]
