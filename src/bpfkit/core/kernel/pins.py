"""Pins: kernel BPF objects kept alive by a path under bpffs (/sys/fs/bpf)."""

from __future__ import annotations

import errno as E
import os

from . import libbpf, system
from .errors import BPFError, error_for


def pin_fd(fd: int, path: str | os.PathLike[str], what: str) -> str:
    """Pin an object at ``path`` under bpffs, mounting bpffs when it is missing."""
    path = os.path.abspath(os.fspath(path))
    system.ensure_bpffs()
    if not path.startswith(system.BPFFS + "/"):
        raise BPFError(f"cannot pin {what} at {path}: pins live under {system.BPFFS}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ret = libbpf.lib.bpf_obj_pin(fd, os.fsencode(path))
    if ret < 0:
        hint = " (something is already pinned there: unpin it first)" if -ret == E.EEXIST else ""
        raise error_for(-ret, f"cannot pin {what} at {path}: {libbpf.strerror(-ret)}{hint}")
    return path


def unpin(path: str | os.PathLike[str]) -> bool:
    """Remove a pin; False when nothing was pinned there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def open_pinned(path: str | os.PathLike[str]) -> int:
    """A new fd of the object pinned at ``path`` (the caller owns it)."""
    path = os.fspath(path)
    fd = libbpf.lib.bpf_obj_get(os.fsencode(path))
    if fd < 0:
        if not os.path.exists(path):
            raise BPFError(f"nothing is pinned at {path}", errno=E.ENOENT)
        raise error_for(-fd, f"cannot open the pinned object {path}: {libbpf.strerror(-fd)}")
    return fd


__all__ = ["open_pinned", "pin_fd", "unpin"]
