"""Opening the file events go to, as a careful root process must.

A monitor runs as root and its --output path may sit where others can write
(/tmp), so:
- a new file is created private (0600; 0640 with a group), with O_EXCL: never
  someone else's file appearing at the last moment;
- an existing path is opened O_NOFOLLOW: a symlink an unprivileged user
  planted is refused. A symlink is followed only when it and its directory
  belong to root (or to us) and nobody else can write to the directory, so
  /dev/stdout still works;
- only regular files, character devices (/dev/null, a tty) and FIFOs are
  accepted, and no file of a pseudo-filesystem (/proc, /sys...):
  `--output /proc/sys/kernel/hostname` would rename the host.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import stat

from ..core.kernel.errors import BPFError

# statfs f_type of filesystems whose "files" are kernel knobs, not storage
_PSEUDO_FS = {0x9FA0: "proc", 0x62656572: "sysfs", 0x74726163: "tracefs", 0x64626720: "debugfs",
              0xCAFE4A11: "bpf", 0x73636673: "securityfs", 0x27E0EB: "cgroup", 0x63677270: "cgroup2",
              0x62656570: "configfs", 0x6E736673: "nsfs", 0xDE5E81E4: "efivarfs"}


_libc = ctypes.CDLL(None, use_errno=True)


class OutputError(BPFError):
    """The output cannot be opened safely."""


def _fs_type(fd: int) -> int:
    buf = ctypes.create_string_buffer(120)  # struct statfs; f_type is its first word
    if _libc.fstatfs(fd, buf) != 0:
        return 0
    return int.from_bytes(buf.raw[:8], "little")


def _trusted_link(path: str) -> bool:
    """A symlink that only root (or we) could have made: it and its directory
    are ours or root's, and the directory is not writable by group or others."""
    me = os.geteuid()
    link = os.lstat(path)
    parent = os.stat(os.path.dirname(os.path.abspath(path)) or "/")
    owners_ok = link.st_uid in (0, me) and parent.st_uid in (0, me)
    return owners_ok and not parent.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _check(fd: int, path: str) -> None:
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode):
        fs = _PSEUDO_FS.get(_fs_type(fd))
        if fs:
            raise OutputError(f"--output {path}: a file of {fs}, not a log file: refusing to write to it")
        return
    if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
        return
    kind = ("a directory" if stat.S_ISDIR(st.st_mode) else "a block device" if stat.S_ISBLK(st.st_mode)
            else "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
    raise OutputError(f"--output {path}: {kind}: refusing to write to it")


def open_output(path: str, *, group: int | None = None) -> tuple[int, bool]:
    """(fd opened for appending, whether the file is new or empty)."""
    base = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOCTTY
    mode = 0o640 if group is not None else 0o600
    fd = -1
    try:
        try:
            fd = os.open(path, base | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
            created = True
        except FileExistsError:
            created = False
            follow = os.path.islink(path) and _trusted_link(path)
            try:
                fd = os.open(path, base | (0 if follow else os.O_NOFOLLOW))
            except OSError as exc:
                if exc.errno == E.ELOOP:
                    raise OutputError(f"--output {path} is a symlink in a directory others can write "
                                      "to: refusing to follow it") from None
                raise
        _check(fd, path)
        if created:
            os.fchmod(fd, mode)  # the umask may have taken bits away, never added
            if group is not None:
                os.fchown(fd, -1, group)
        st = os.fstat(fd)
        return fd, created or not stat.S_ISREG(st.st_mode) or st.st_size == 0
    except OSError as exc:
        if fd >= 0:
            os.close(fd)
        raise OutputError(f"cannot open {path} for writing: {exc.strerror}", errno=exc.errno) from None
    except BaseException:
        if fd >= 0:
            os.close(fd)
        raise


__all__ = ["OutputError", "open_output"]
