"""Parser for raw BTF (the kernel's BPF Type Format).

Reads the bytes of an object's .BTF (as libbpf hands them over) into plain
records. Turning those into Python encoders/decoders is ``types.py``'s job.
"""

from __future__ import annotations

import struct

BTF_MAGIC = 0xEB9F


class Kind:
    """BTF_KIND_* values (plain ints: an IntEnum costs milliseconds of import)."""

    VOID = 0
    INT = 1
    PTR = 2
    ARRAY = 3
    STRUCT = 4
    UNION = 5
    ENUM = 6
    FWD = 7
    TYPEDEF = 8
    VOLATILE = 9
    CONST = 10
    RESTRICT = 11
    FUNC = 12
    FUNC_PROTO = 13
    VAR = 14
    DATASEC = 15
    FLOAT = 16
    DECL_TAG = 17
    TYPE_TAG = 18
    ENUM64 = 19


KIND_NAMES = {v: k for k, v in vars(Kind).items() if k.isupper()}
INT_SIGNED, INT_CHAR, INT_BOOL = 1, 2, 4
MODIFIERS = {Kind.TYPEDEF, Kind.VOLATILE, Kind.CONST, Kind.RESTRICT, Kind.TYPE_TAG}


class Member:
    __slots__ = ("bit_offset", "bitfield_size", "name", "type_id")

    def __init__(self, name: str, type_id: int, bit_offset: int, bitfield_size: int = 0) -> None:
        self.name, self.type_id, self.bit_offset = name, type_id, bit_offset
        self.bitfield_size = bitfield_size  # 0: not a bitfield


class SecVar:
    __slots__ = ("offset", "size", "type_id")

    def __init__(self, type_id: int, offset: int, size: int) -> None:
        self.type_id, self.offset, self.size = type_id, offset, size  # type_id: a VAR


class BtfType:
    """One BTF type; which fields matter depends on ``kind``."""

    __slots__ = (
        "bits",
        "elem",
        "encoding",
        "id",
        "int_offset",
        "kind",
        "members",
        "name",
        "nelems",
        "params",
        "ref",
        "signed",
        "size",
        "values",
        "vars",
    )

    def __init__(self, id: int, kind: int, name: str) -> None:
        self.id, self.kind, self.name = id, kind, name
        self.size = 0  # INT/FLOAT/STRUCT/UNION/ENUM/DATASEC
        self.ref = 0  # PTR/TYPEDEF/modifiers/FUNC/VAR: the referenced type
        self.encoding = self.bits = self.int_offset = 0  # INT
        self.elem = self.nelems = 0  # ARRAY
        self.members: list[Member] = []  # STRUCT/UNION
        self.values: list[tuple[str, int]] = []  # ENUM/ENUM64
        self.signed = False
        self.vars: list[SecVar] = []  # DATASEC
        self.params: list[tuple[str, int]] = []  # FUNC_PROTO (name, type_id)

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, str(self.kind)).lower()


class BTFFormatError(ValueError):
    pass


# Bytes that follow a type's 12-byte header: fixed per kind, plus per vlen item.
_EXTRA = {Kind.INT: 4, Kind.ARRAY: 12, Kind.VAR: 4, Kind.DECL_TAG: 4}
_PER_ITEM = {Kind.STRUCT: 12, Kind.UNION: 12, Kind.ENUM: 8, Kind.ENUM64: 12,
             Kind.FUNC_PROTO: 8, Kind.DATASEC: 12}
_SIZED = frozenset({Kind.INT, Kind.STRUCT, Kind.UNION, Kind.ENUM, Kind.ENUM64,
                    Kind.DATASEC, Kind.FLOAT})
# Both tables as tuples indexed by kind (0..31), for the offset walk.
_SKIP = tuple(_EXTRA.get(k, 0) for k in range(32))
_ITEM = tuple(_PER_ITEM.get(k, 0) for k in range(32))
_III = struct.Struct("<III").unpack_from


class BTF:
    """All types of one BTF blob; ``btf[0]`` is void.

    Types are decoded on first use. A CO-RE object's BTF carries every kernel
    type its programs touch (1,000-1,500 for a tool that reads sockets or
    tasks), and a Python record per type cost such a tool 5-8 ms of start-up,
    while opening it looks at a few dozen: the event, the maps, the globals.
    Opening walks the type section once for where each record starts.
    """

    def __init__(self, raw: bytes) -> None:
        if len(raw) < 24:
            raise BTFFormatError("BTF too short")
        magic, _version, _flags, hdr_len = struct.unpack_from("<HBBI", raw, 0)
        if magic != BTF_MAGIC:
            raise BTFFormatError(f"bad BTF magic {magic:#x} (big-endian BTF is not supported)")
        type_off, type_len, str_off, str_len = struct.unpack_from("<4I", raw, 8)
        self._strings = raw[hdr_len + str_off: hdr_len + str_off + str_len]
        data = raw[hdr_len + type_off: hdr_len + type_off + type_len]
        if len(data) % 4:
            raise BTFFormatError("BTF type section is not a whole number of 32-bit words")
        self._data = data
        # Records are whole 32-bit words; native order is little-endian, as is
        # the only BTF accepted above (x86-64 and arm64).
        self._words = memoryview(data).cast("I")
        self._offsets = self._walk()  # [type id] -> word index of its record; [0] unused
        self._types: list[BtfType | None] = [None] * len(self._offsets)
        self._types[0] = BtfType(0, Kind.VOID, "void")
        self._named: dict[tuple[int, int], int] | None = None  # (kind, name offset) -> id

    def _walk(self) -> list[int]:
        words, skip, item = self._words, _SKIP, _ITEM
        offsets = [0]
        add = offsets.append
        i, n = 0, len(words)
        try:
            while i < n:
                add(i)
                info = words[i + 1]
                kind = (info >> 24) & 0x1F
                i += (12 + skip[kind] + item[kind] * (info & 0xFFFF)) >> 2
        except IndexError:
            i = -1
        if i != n:
            raise BTFFormatError("BTF type section ends inside a type")
        return offsets

    def __len__(self) -> int:
        return len(self._offsets)

    def _str(self, off: int) -> str:
        end = self._strings.index(b"\0", off)
        return self._strings[off:end].decode()

    def _decode(self, type_id: int) -> BtfType:
        data, pos = self._data, self._offsets[type_id] * 4
        name_off, info, size_or_type = _III(data, pos)
        pos += 12
        vlen = info & 0xFFFF
        kind = (info >> 24) & 0x1F
        kflag = bool(info >> 31)
        t = BtfType(type_id, kind, self._str(name_off))
        if kind in _SIZED:
            t.size = size_or_type
        else:
            t.ref = size_or_type
        if kind == Kind.INT:
            v = self._words[pos >> 2]
            t.encoding, t.int_offset, t.bits = (v >> 24) & 0xF, (v >> 16) & 0xFF, v & 0xFF
        elif kind == Kind.ARRAY:
            t.elem, _index, t.nelems = _III(data, pos)
        elif kind in (Kind.STRUCT, Kind.UNION):
            for _ in range(vlen):
                m_name, m_type, m_off = _III(data, pos)
                pos += 12
                if kflag:
                    t.members.append(Member(self._str(m_name), m_type, m_off & 0xFFFFFF, m_off >> 24))
                else:
                    t.members.append(Member(self._str(m_name), m_type, m_off))
        elif kind == Kind.ENUM:
            t.signed = kflag
            for _ in range(vlen):
                e_name, val = struct.unpack_from("<Ii" if kflag else "<II", data, pos)
                pos += 8
                t.values.append((self._str(e_name), val))
        elif kind == Kind.ENUM64:
            t.signed = kflag
            for _ in range(vlen):
                e_name, lo, hi = _III(data, pos)
                pos += 12
                val = (hi << 32) | lo
                if kflag and val >> 63:
                    val -= 1 << 64
                t.values.append((self._str(e_name), val))
        elif kind == Kind.FUNC_PROTO:
            for _ in range(vlen):
                p_name, p_type = struct.unpack_from("<II", data, pos)
                pos += 8
                t.params.append((self._str(p_name), p_type))
        elif kind == Kind.DATASEC:
            for _ in range(vlen):
                t.vars.append(SecVar(*_III(data, pos)))
                pos += 12
        self._types[type_id] = t
        return t

    def __getitem__(self, type_id: int) -> BtfType:
        t = self._types[type_id]  # IndexError for an id past the last type
        return t if t is not None else self._decode(type_id)

    def find(self, kind: int, name: str) -> BtfType | None:
        """The first type of ``kind`` named ``name``, or None."""
        if not name or "\0" in name:  # no BTF name is empty or holds a NUL
            return None
        if self._named is None:
            words = self._words
            named: dict[tuple[int, int], int] = {}
            for tid, i in enumerate(self._offsets[1:], 1):
                if words[i]:
                    named.setdefault(((words[i + 1] >> 24) & 0x1F, words[i]), tid)
            self._named = named
        # The name is looked for in the string section rather than decoded for
        # every type: each place "name\0" occurs is an offset that reads as the
        # name (the tail of a longer string included, as a name may point there).
        try:
            needle = name.encode() + b"\0"
        except UnicodeEncodeError:  # a name from argv that is not UTF-8: no BTF name is
            return None
        strings = self._strings
        best = None
        at = strings.find(needle)
        while at >= 0:
            tid = self._named.get((kind, at))
            if tid is not None and (best is None or tid < best):
                best = tid
            at = strings.find(needle, at + 1)
        return self[best] if best is not None else None

    def resolve(self, type_id: int) -> BtfType:
        """Skip typedefs and const/volatile/restrict/type_tag modifiers."""
        t = self[type_id]
        while t.kind in MODIFIERS:
            t = self[t.ref]
        return t

    def size_of(self, type_id: int) -> int:
        t = self.resolve(type_id)
        if t.kind == Kind.ARRAY:
            return t.nelems * self.size_of(t.elem)
        if t.kind == Kind.PTR:
            return 8
        if t.kind == Kind.VAR:
            return self.size_of(t.ref)
        return t.size

    def type_name(self, type_id: int) -> str:
        """C-ish spelling of a type, for messages."""
        t = self[type_id]
        if t.kind in (Kind.STRUCT, Kind.UNION):
            return f"{t.kind_name} {t.name or '(anon)'}"
        if t.kind in (Kind.ENUM, Kind.ENUM64):
            return f"enum {t.name or '(anon)'}"
        if t.kind == Kind.PTR:
            return self.type_name(t.ref) + " *"
        if t.kind == Kind.ARRAY:
            return f"{self.type_name(t.elem)}[{t.nelems}]"
        if t.kind in (Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPE_TAG):
            return f"{t.kind_name} {self.type_name(t.ref)}"
        return t.name or t.kind_name

    def datasecs(self) -> dict[str, BtfType]:
        words = self._words
        return {t.name: t for t in (self[tid] for tid, i in enumerate(self._offsets[1:], 1)
                                    if (words[i + 1] >> 24) & 0x1F == Kind.DATASEC)}
