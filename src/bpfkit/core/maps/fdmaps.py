"""Maps whose values are other kernel objects: PROG_ARRAY (tail calls) and
ARRAY_OF_MAPS / HASH_OF_MAPS.

User space writes an fd into a slot and reads back the object's id; these
classes take and return Program and Map objects instead:
``obj.maps.progs[1] = obj.progs.handle_root``, ``obj.maps.outer[0] = obj.maps.inner``.
Turning an id back into an object is the job of the ``resolve`` function the
map was made with (the object's own programs and maps first).
"""

from __future__ import annotations

import struct

from .base import Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_U32 = struct.Struct("<I")


class _FdMap(Map):
    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._batch_ok = False  # the kernel refuses batch lookups of fd maps

    def _fd_of(self, value: Any) -> int:
        raise NotImplementedError

    def _value(self, value: Any) -> bytes:
        return _U32.pack(self._fd_of(value))

    def _decode_value(self, raw: bytes | memoryview, off: int = 0) -> Any:
        oid = _U32.unpack_from(raw, off)[0]
        return self._resolve(oid) if self._resolve is not None else oid


class ProgArrayMap(_FdMap):
    """PROG_ARRAY: slot -> program, the table bpf_tail_call() jumps through.

    A tail call to an empty slot does not jump: the caller goes on with its
    next instruction, so a program must handle that case itself.
    """

    def _fd_of(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        fd = getattr(value, "fd", None)
        if fd is None or not hasattr(value, "section"):
            raise TypeError(f"map {self.name!r} holds programs, not {type(value).__name__}")
        return fd


class MapOfMaps(_FdMap):
    """ARRAY_OF_MAPS / HASH_OF_MAPS: key -> inner map. Reading a slot gives
    the Map object (this object's own, or one opened by id and typed from the
    kernel's BTF for it), ready to read and write through."""

    def _fd_of(self, value: Any) -> int:
        if isinstance(value, int):
            return value
        if not isinstance(value, Map):
            raise TypeError(f"map {self.name!r} holds maps, not {type(value).__name__}")
        return value.fd


__all__ = ["MapOfMaps", "ProgArrayMap"]
