"""Kernel BPF objects known only by fd, id or pinned path: their info, and
maps typed from the BTF the kernel keeps for them."""

from __future__ import annotations

import ctypes
import os
import struct

from . import libbpf, system
from .btf import BTF
from .errors import BPFError
from .maps import Map, MapType, make_map_class
from .types import TypeRegistry

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

lib = libbpf.lib

# struct bpf_map_info (include/uapi/linux/bpf.h), up to btf_value_type_id.
_MAP_INFO = struct.Struct("<6I16sIIQQIII")
_PROG_INFO_HEAD = struct.Struct("<II")  # type, id


def _info(fd: int, size: int) -> bytes:
    buf = ctypes.create_string_buffer(size)
    n = ctypes.c_uint32(size)
    ret = lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(n))
    if ret < 0:
        raise BPFError(f"cannot read the kernel's info of fd {fd}: {libbpf.strerror(-ret)}")
    return buf.raw


class MapInfo:
    """What the kernel says about a map: its type, sizes, flags and BTF ids."""

    __slots__ = ("btf_id", "btf_key_type_id", "btf_value_type_id", "id", "key_size",
                 "map_flags", "max_entries", "name", "type", "value_size")

    def __init__(self, fd: int) -> None:
        (self.type, self.id, self.key_size, self.value_size, self.max_entries, self.map_flags,
         name, _, _, _, _, self.btf_id, self.btf_key_type_id,
         self.btf_value_type_id) = _MAP_INFO.unpack_from(_info(fd, 88))
        self.name = name.rstrip(b"\0").decode(errors="replace")

    def differences(self, *, type: int, key_size: int, value_size: int, max_entries: int,
                    map_flags: int) -> list[str]:
        """'field: have (kernel) vs want' for every field that differs."""
        want = {"type": type, "key_size": key_size, "value_size": value_size,
                "max_entries": max_entries, "map_flags": map_flags}
        out = []
        for field, w in want.items():
            h = getattr(self, field)
            if h != w:
                if field == "type":
                    h, w = MapType.name(h), MapType.name(w)
                out.append(f"{field} {h} (pinned) != {w} (object)")
        return out


def prog_id(fd: int) -> int:
    return _PROG_INFO_HEAD.unpack_from(_info(fd, 256))[1]


def map_id(fd: int) -> int:
    return MapInfo(fd).id


class _KernelTypes:
    """What a Map needs of its owner: a type registry and 'loaded'."""

    loaded = True

    def __init__(self, btf_id: int) -> None:
        self.types: Any = None
        if btf_id:
            ptr = lib.btf__load_from_kernel_by_id(btf_id)
            if ptr:
                try:
                    size = ctypes.c_uint32()
                    raw = lib.btf__raw_data(ptr, ctypes.byref(size))
                    # Map BTF is split BTF only for kernel module types; ours is standalone.
                    self.types = TypeRegistry(BTF(ctypes.string_at(raw, size.value)))
                finally:
                    lib.btf__free(ptr)


class KernelMap(Map):
    """A map opened by fd (a pinned path, an id, an inner map): typed from the
    BTF the kernel keeps for it, raw bytes when it has none. Owns its fd."""

    def __init__(self, fd: int, label: str | None = None) -> None:
        self._kfd: int | None = fd
        info = MapInfo(fd)
        self._obj = _KernelTypes(info.btf_id)  # type: ignore[assignment]
        self._ptr = 0
        self.name = info.name
        self.label = label or info.name
        self.id = info.id
        self._max_entries = info.max_entries
        self._batch_ok = True
        types = self._obj.types
        self._setup(info.type, info.key_size, info.value_size,
                    info.btf_key_type_id if types else 0,
                    info.btf_value_type_id if types else 0, types)

    def _describe(self) -> None:  # already described from the kernel's info
        pass

    @property
    def fd(self) -> int:
        if self._kfd is None:
            raise BPFError(f"map {self.label} is closed")
        return self._kfd

    @property
    def max_entries(self) -> int:
        return self._max_entries

    def close(self) -> None:
        if self._kfd is not None:
            os.close(self._kfd)
            self._kfd = None

    def __enter__(self) -> KernelMap:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def kernel_map(fd: int, label: str | None = None) -> KernelMap:
    """A KernelMap of the right class for its type (array, queue, LPM...)."""
    mtype = MapInfo(fd).type
    base = make_map_class(mtype)
    cls = type(f"Kernel{base.__name__}", (KernelMap, base), {}) if base is not Map else KernelMap
    return cls(fd, label)


def load_pinned_map(path: str | os.PathLike[str]) -> KernelMap:
    """Open the map pinned at ``path`` (by this or any other process)."""
    system.require_privileges()
    path = os.fspath(path)
    fd = lib.bpf_obj_get(path.encode())
    if fd < 0:
        err = -fd
        if not os.path.exists(path):
            raise BPFError(f"nothing is pinned at {path}")
        raise BPFError(f"cannot open the pinned object {path}: {libbpf.strerror(err)}")
    try:
        return kernel_map(fd, path)
    except BPFError:
        os.close(fd)
        raise BPFError(f"{path} is not a pinned map") from None


def map_by_id(map_id: int) -> KernelMap:
    fd = lib.bpf_map_get_fd_by_id(map_id)
    if fd < 0:
        raise BPFError(f"no map with id {map_id}: {libbpf.strerror(-fd)}")
    return kernel_map(fd)


def pin_fd(fd: int, path: str | os.PathLike[str], what: str) -> str:
    """Pin an object at ``path`` under bpffs, mounting bpffs when it is missing."""
    path = os.path.abspath(os.fspath(path))
    system.ensure_bpffs()
    if not path.startswith(system.BPFFS + "/"):
        raise BPFError(f"cannot pin {what} at {path}: pins live under {system.BPFFS}")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ret = lib.bpf_obj_pin(fd, path.encode())
    if ret < 0:
        hint = " (something is already pinned there: unpin it first)" if -ret == 17 else ""
        raise BPFError(f"cannot pin {what} at {path}: {libbpf.strerror(-ret)}{hint}")
    return path


def unpin(path: str | os.PathLike[str]) -> bool:
    """Remove a pin; False when nothing was pinned there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


__all__ = ["KernelMap", "MapInfo", "kernel_map", "load_pinned_map", "map_by_id", "pin_fd",
           "prog_id", "unpin"]
