"""The BTF parser: types decoded on first use must be the types libbpf sees.

The shipped tools' objects carry 100 to 1,600 types (a CO-RE object keeps every
kernel type its programs touch); libbpf parses the same bytes with its own code,
so it is the oracle for where each record starts and what find() returns.
"""

from __future__ import annotations

import ctypes
import struct
from pathlib import Path

import pytest
from btf_builder import STRUCT, TYPEDEF, BtfBuilder

from bpfkit.core.codecs.btf import BTF, BTFFormatError, Kind

ROOT = Path(__file__).resolve().parent.parent
OBJECTS = [*sorted((ROOT / "src" / "bpfkit" / "tools").glob("*/*.bpf.o")), ROOT / "examples" / "hello.bpf.o"]


def _libbpf() -> ctypes.CDLL:
    lib = ctypes.CDLL("libbpf.so.1")
    P = ctypes.c_void_p
    for name, res, args in [
        ("btf__parse_elf", P, [ctypes.c_char_p, P]),
        ("btf__raw_data", P, [P, ctypes.POINTER(ctypes.c_uint32)]),
        ("btf__type_cnt", ctypes.c_uint32, [P]),
        ("btf__type_by_id", P, [P, ctypes.c_uint32]),
        ("btf__name_by_offset", ctypes.c_char_p, [P, ctypes.c_uint32]),
        ("btf__find_by_name_kind", ctypes.c_int32, [P, ctypes.c_char_p, ctypes.c_uint32]),
        ("btf__free", None, [P]),
    ]:
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


@pytest.mark.parametrize("path", OBJECTS, ids=lambda p: p.name)
def test_every_type_matches_libbpf(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} not built (make build)")
    lib = _libbpf()
    handle = lib.btf__parse_elf(str(path).encode(), None)
    assert handle, f"libbpf cannot parse {path}"
    try:
        size = ctypes.c_uint32()
        btf = BTF(ctypes.string_at(lib.btf__raw_data(handle, ctypes.byref(size)), size.value))
        count = lib.btf__type_cnt(handle)
        assert len(btf) == count
        for tid in range(1, count):
            header = ctypes.string_at(lib.btf__type_by_id(handle, tid), 12)
            name_off, info, size_or_type = struct.unpack("<III", header)
            t = btf[tid]
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            assert (t.id, t.kind) == (tid, kind)
            assert t.name == (lib.btf__name_by_offset(handle, name_off) or b"").decode()
            assert size_or_type in (t.size, t.ref)
            assert vlen == {Kind.STRUCT: len(t.members), Kind.UNION: len(t.members), Kind.ENUM: len(t.values),
                            Kind.ENUM64: len(t.values), Kind.FUNC_PROTO: len(t.params),
                            Kind.DATASEC: len(t.vars)}.get(kind, vlen)
            if t.name:  # libbpf's find returns the first type of that kind and name, as ours must
                assert btf.find(kind, t.name).id == lib.btf__find_by_name_kind(handle, t.name.encode(), kind)
    finally:
        lib.btf__free(handle)


def test_find_first_of_kind_and_name() -> None:
    b = BtfBuilder()
    u32 = b.int_("unsigned int", 4)
    first = b.composite("pair", 4, [("a", u32, 0)])
    second = b.composite("pair", 4, [("b", u32, 0)])  # the builder stores "pair" again
    alias = b.typedef("pair", first)
    btf = BTF(b.raw())
    assert btf.find(Kind.STRUCT, "pair").id == first != second
    assert btf.find(Kind.TYPEDEF, "pair").id == alias
    assert btf.find(Kind.STRUCT, "pai") is None and btf.find(Kind.STRUCT, "air") is None
    assert btf.find(Kind.UNION, "pair") is None and btf.find(Kind.STRUCT, "") is None
    assert btf.find(Kind.STRUCT, "unsigned int\0pair") is None  # two strings side by side are no name
    assert btf.find(Kind.STRUCT, "pair\udcff") is None  # argv's undecodable byte: no BTF name


def test_name_may_point_into_a_longer_string() -> None:
    b = BtfBuilder()
    u32 = b.int_("unsigned int", 4)
    b.composite("old_pair", 4, [("a", u32, 0)])
    raw = bytearray(b.raw())
    # A typedef whose name is the tail "pair" of "old_pair": legal BTF, which
    # a string-table lookup must not miss.
    tail = bytes(raw).index(b"old_pair\0") - 24 - struct.unpack_from("<I", raw, 12)[0] + 4
    b._types.append(struct.pack("<III", tail, TYPEDEF << 24, 2))
    btf = BTF(b.raw())
    assert btf[3].name == "pair" and btf.find(Kind.TYPEDEF, "pair").id == 3
    assert btf.find(STRUCT, "old_pair").id == 2


def test_truncated_type_section_is_a_format_error() -> None:
    b = BtfBuilder()
    u32 = b.int_("unsigned int", 4)
    b.composite("pair", 8, [("a", u32, 0), ("b", u32, 32)])
    raw = b.raw()
    type_len = struct.unpack_from("<I", raw, 12)[0]
    cut = raw[:24] + raw[24:24 + type_len - 12] + raw[24 + type_len:]
    str_len = struct.unpack_from("<I", raw, 20)[0]
    cut = cut[:12] + struct.pack("<III", type_len - 12, type_len - 12, str_len) + cut[24:]
    with pytest.raises(BTFFormatError, match="ends inside a type"):
        BTF(cut)


def test_opening_a_core_object_decodes_only_what_it_uses() -> None:
    """tcptrack's BTF holds ~1,350 types, mostly kernel ones for CO-RE; opening
    it (maps, globals, the event) needs a few dozen, and only those are decoded."""
    from bpfkit.core.object import BPFObject

    path = ROOT / "src" / "bpfkit" / "tools" / "tcptrack" / "tcptrack.bpf.o"
    if not path.exists():
        pytest.skip(f"{path} not built (make build)")
    with BPFObject.open(str(path)) as obj:
        assert obj.rodata is not None  # globals typed from their DATASEC
        assert obj.types.struct("tcptrack_event") is not None  # the ring's records
        decoded = sum(t is not None for t in obj.btf._types)
        assert len(obj.btf) > 1000 and decoded < len(obj.btf) // 10, (decoded, len(obj.btf))
