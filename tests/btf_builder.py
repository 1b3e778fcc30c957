"""Builds raw BTF blobs by hand, for unit tests of the BTF parser and codecs."""

from __future__ import annotations

import struct

INT, PTR, ARRAY, STRUCT, UNION, ENUM, TYPEDEF, VOLATILE, CONST = 1, 2, 3, 4, 5, 6, 8, 9, 10


class BtfBuilder:
    def __init__(self) -> None:
        self._types: list[bytes] = []
        self._strs = bytearray(b"\0")

    def _s(self, name: str) -> int:
        if not name:
            return 0
        off = len(self._strs)
        self._strs += name.encode() + b"\0"
        return off

    def _add(self, name: str, kind: int, vlen: int, size_or_type: int, extra: bytes = b"",
             kflag: bool = False) -> int:
        info = (kind << 24) | vlen | (int(kflag) << 31)
        self._types.append(struct.pack("<III", self._s(name), info, size_or_type) + extra)
        return len(self._types)

    def int_(self, name: str, size: int, signed: bool = False, char: bool = False,
             boolean: bool = False) -> int:
        enc = (1 if signed else 0) | (2 if char else 0) | (4 if boolean else 0)
        return self._add(name, INT, 0, size, struct.pack("<I", (enc << 24) | (size * 8)))

    def ptr(self, ref: int) -> int:
        return self._add("", PTR, 0, ref)

    def typedef(self, name: str, ref: int) -> int:
        return self._add(name, TYPEDEF, 0, ref)

    def const(self, ref: int) -> int:
        return self._add("", CONST, 0, ref)

    def array(self, elem: int, n: int, index: int = 0) -> int:
        return self._add("", ARRAY, 0, 0, struct.pack("<III", elem, index or elem, n))

    def enum(self, name: str, size: int, values: list[tuple[str, int]]) -> int:
        extra = b"".join(struct.pack("<Ii", self._s(n), v) for n, v in values)
        return self._add(name, ENUM, len(values), size, extra)

    def composite(self, name: str, size: int, members: list[tuple], union: bool = False) -> int:
        """members: (name, type_id, bit_offset[, bitfield_size])."""
        kflag = any(len(m) > 3 and m[3] for m in members)
        extra = b""
        for m in members:
            off = m[2] | ((m[3] if len(m) > 3 else 0) << 24) if kflag else m[2]
            extra += struct.pack("<III", self._s(m[0]), m[1], off)
        return self._add(name, UNION if union else STRUCT, len(members), size, extra, kflag)

    def raw(self) -> bytes:
        types = b"".join(self._types)
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(types), len(types), len(self._strs))
        return hdr + types + bytes(self._strs)
