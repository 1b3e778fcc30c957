"""What the kernel says about its BPF objects, known only by fd or id: map and
program info, fds from ids, and the raw BTF the kernel keeps for a map."""

from __future__ import annotations

import ctypes
import os
import struct

from . import libbpf
from .errors import error_for
from .uapi import MapType

lib = libbpf.lib

# struct bpf_map_info (include/uapi/linux/bpf.h), up to btf_value_type_id.
_MAP_INFO = struct.Struct("<6I16sIIQQIII")
# struct bpf_prog_info: type, id, tag[8], jited_prog_len, xlated_prog_len, ... name[16] at 64
_PROG_INFO_HEAD = struct.Struct("<II")
_PROG_NAME_OFF = 64
_PROG_RUN_STATS, _PROG_RUN_STATS_OFF = struct.Struct("<QQ"), 192  # run_time_ns, run_cnt


def enable_run_stats() -> int:
    """Turn on BPF program run statistics (BPF_ENABLE_STATS, BPF_STATS_RUN_TIME)
    for as long as the returned fd is open: no lasting sysctl change. -1
    when the kernel refuses."""
    fd = lib.bpf_enable_stats(0)
    return fd if fd >= 0 else -1


def _info(fd: int, size: int) -> bytes:
    buf = ctypes.create_string_buffer(size)
    n = ctypes.c_uint32(size)
    ret = lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(n))
    if ret < 0:
        raise error_for(-ret, f"cannot read the kernel's info of fd {fd}: {libbpf.strerror(-ret)}")
    return buf.raw


class MapInfo:
    """What the kernel says about a map: its type, sizes, flags and BTF ids."""

    __slots__ = ("btf_id", "btf_key_type_id", "btf_value_type_id", "id", "key_size",
                 "map_flags", "max_entries", "name", "type", "value_size")

    def __init__(self, type: int, key_size: int, value_size: int, max_entries: int, map_flags: int,
                 name: str, *, id: int = 0, btf_id: int = 0, btf_key_type_id: int = 0,
                 btf_value_type_id: int = 0) -> None:
        self.type, self.key_size, self.value_size = type, key_size, value_size
        self.max_entries, self.map_flags, self.name = max_entries, map_flags, name
        self.id, self.btf_id = id, btf_id
        self.btf_key_type_id, self.btf_value_type_id = btf_key_type_id, btf_value_type_id

    @classmethod
    def of_fd(cls, fd: int) -> MapInfo:
        (mtype, mid, key_size, value_size, max_entries, flags, name, _, _, _, _, btf_id,
         kid, vid) = _MAP_INFO.unpack_from(_info(fd, 88))
        return cls(mtype, key_size, value_size, max_entries, flags,
                   name.rstrip(b"\0").decode(errors="replace"), id=mid, btf_id=btf_id,
                   btf_key_type_id=kid, btf_value_type_id=vid)

    def differences(self, other: MapInfo) -> list[str]:
        """'field: mine (pinned) != other's (object)' for every definition field that differs."""
        out = []
        for field in ("type", "key_size", "value_size", "max_entries", "map_flags"):
            h, w = getattr(self, field), getattr(other, field)
            if h != w:
                if field == "type":
                    h, w = MapType.name(h), MapType.name(w)
                out.append(f"{field} {h} (pinned) != {w} (object)")
        return out


class ProgInfo:
    """A program's type, id and name, as the kernel reports them, and its run
    statistics (run_time_ns, run_cnt: counted while BPF stats are enabled)."""

    __slots__ = ("id", "name", "run_cnt", "run_time_ns", "type")

    def __init__(self, fd: int) -> None:
        raw = _info(fd, 256)
        self.type, self.id = _PROG_INFO_HEAD.unpack_from(raw)
        self.name = raw[_PROG_NAME_OFF:_PROG_NAME_OFF + 16].rstrip(b"\0").decode(errors="replace")
        self.run_time_ns, self.run_cnt = _PROG_RUN_STATS.unpack_from(raw, _PROG_RUN_STATS_OFF)


def fd_kind(fd: int) -> str | None:
    """'map', 'prog', 'link' or 'btf' for a BPF object's fd, else None."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    kind = target.removeprefix("anon_inode:bpf-")
    return kind if kind != target else None


def prog_id(fd: int) -> int:
    return ProgInfo(fd).id


def map_id(fd: int) -> int:
    return MapInfo.of_fd(fd).id


def map_fd_by_id(map_id: int) -> int:
    """A new fd of the map with this id (the caller owns it)."""
    fd = lib.bpf_map_get_fd_by_id(map_id)
    if fd < 0:
        raise error_for(-fd, f"no map with id {map_id}: {libbpf.strerror(-fd)}")
    return fd


def kernel_btf_bytes(btf_id: int) -> bytes | None:
    """The raw BTF the kernel keeps under ``btf_id`` (a map's or program's), or None."""
    if not btf_id:
        return None
    ptr = lib.btf__load_from_kernel_by_id(btf_id)
    if not ptr:
        return None
    try:
        size = ctypes.c_uint32()
        raw = lib.btf__raw_data(ptr, ctypes.byref(size))
        return ctypes.string_at(raw, size.value)
    finally:
        lib.btf__free(ptr)


__all__ = ["MapInfo", "ProgInfo", "fd_kind", "kernel_btf_bytes", "map_fd_by_id", "map_id", "prog_id"]
