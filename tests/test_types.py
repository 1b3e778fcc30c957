"""BTF parsing and codecs on hand-built BTF: layouts the kernel side really uses."""

from __future__ import annotations

import struct

import pytest
from btf_builder import BtfBuilder

from bpfkit.core.codecs.btf import BTF, Kind
from bpfkit.core.codecs.types import StructValue, TypeRegistry


@pytest.fixture
def b() -> BtfBuilder:
    return BtfBuilder()


def registry(b: BtfBuilder) -> TypeRegistry:
    return TypeRegistry(BTF(b.raw()))


def test_parses_kinds_and_names(b: BtfBuilder) -> None:
    u32 = b.int_("unsigned int", 4)
    td = b.typedef("__u32", u32)
    s = b.composite("pair", 8, [("a", td, 0), ("b", u32, 32)])
    btf = BTF(b.raw())
    assert btf[s].kind == Kind.STRUCT and btf[s].name == "pair"
    assert [m.name for m in btf[s].members] == ["a", "b"]
    assert btf.resolve(td).name == "unsigned int"
    assert btf.find(Kind.STRUCT, "pair").id == s


def test_padding_and_alignment(b: BtfBuilder) -> None:
    u8, u16, u64 = b.int_("u8", 1), b.int_("u16", 2), b.int_("u64", 8)
    s = b.composite("padded", 24, [("a", u8, 0), ("b", u64, 64), ("c", u16, 128)])
    c = registry(b).codec(s)
    raw = struct.pack("<B7xQH6x", 7, 2**64 - 1, 513)
    v = c.decode(raw)
    assert (v.a, v.b, v.c) == (7, 2**64 - 1, 513)
    assert c.encode({"a": 7, "b": 2**64 - 1, "c": 513}) == raw
    assert c.encode(v) == raw
    assert c.encode(raw) == raw  # raw bytes of the right size stand for the value
    with pytest.raises(ValueError, match="3 bytes given"):
        c.encode(b"abc")


def test_nested_union_and_struct(b: BtfBuilder) -> None:
    u8, u32 = b.int_("u8", 1), b.int_("u32", 4)
    arr4 = b.array(u8, 4)
    un = b.composite("tag", 4, [("as_u32", u32, 0), ("bytes", arr4, 0)], union=True)
    inner = b.composite("inner", 8, [("x", u32, 0), ("y", u32, 32)])
    outer = b.composite("outer", 16, [("t", un, 0), ("in", inner, 32), ("z", u32, 96)])
    c = registry(b).codec(outer)
    raw = struct.pack("<IIII", 0x04030201, 5, 6, 7)
    v = c.decode(raw)
    assert v.t.as_u32 == 0x04030201 and v.t.bytes == b"\x01\x02\x03\x04"
    assert getattr(v, "in").y == 6 and v.z == 7
    assert v._asdict() == {"t": {"as_u32": 0x04030201, "bytes": b"\x01\x02\x03\x04"},
                           "in": {"x": 5, "y": 6}, "z": 7}
    assert c.encode({"t": {"as_u32": 0x04030201}, "in": {"x": 5, "y": 6}, "z": 7}) == raw


def test_anonymous_members_are_flattened(b: BtfBuilder) -> None:
    u16, u32 = b.int_("u16", 2), b.int_("u32", 4)
    anon_u = b.composite("", 4, [("whole", u32, 0), ("half", u16, 0)], union=True)
    s = b.composite("s", 8, [("", anon_u, 0), ("after", u32, 32)])
    v = registry(b).codec(s).decode(struct.pack("<II", 0x00020001, 9))
    assert (v.whole, v.half, v.after) == (0x00020001, 1, 9)


def test_bitfields(b: BtfBuilder) -> None:
    u32, s32 = b.int_("u32", 4), b.int_("int", 4, signed=True)
    s = b.composite("flags", 8, [("small", u32, 0, 3), ("big", u32, 3, 29), ("neg", s32, 32, 4),
                                 ("pos", u32, 36, 4)])
    c = registry(b).codec(s)
    word = 5 | (123456 << 3)
    raw = struct.pack("<II", word, 0b1001_1110)  # neg = 0b1110 = -2, pos = 0b1001 = 9
    v = c.decode(raw)
    assert (v.small, v.big, v.neg, v.pos) == (5, 123456, -2, 9)
    assert c.encode({"small": 5, "big": 123456, "neg": -2, "pos": 9}) == raw


def test_zero_length_array_and_flexible_tail(b: BtfBuilder) -> None:
    u32, u8 = b.int_("u32", 4), b.int_("u8", 1)
    empty = b.array(u32, 0)
    tail = b.array(u8, 0)
    s = b.composite("hdr", 4, [("len", u32, 0), ("items", empty, 32), ("data", tail, 32)])
    v = registry(b).codec(s).decode(struct.pack("<I", 3))
    assert v.len == 3 and v.items == [] and v.data == b""


def test_char_arrays_are_strings_with_bytes_kept(b: BtfBuilder) -> None:
    char = b.int_("char", 1, signed=True, char=True)
    comm = b.array(char, 16)
    u32 = b.int_("u32", 4)
    s = b.composite("ev", 20, [("pid", u32, 0), ("comm", comm, 32)])
    c = registry(b).codec(s)
    v = c.decode(struct.pack("<I16s", 42, b"bash\0junk"))
    assert v.comm == "bash" and v._raw("comm") == b"bash\0junk" + bytes(7)  # all 16 bytes
    bad = c.decode(struct.pack("<I16s", 1, b"\xff\xfeok"))
    # bytes that are not UTF-8 are kept exactly (surrogateescape): text output
    # shows them as \xHH, JSON adds comm_b64 (tests/test_output.py)
    assert bad.comm == "\udcff\udcfeok" and bad.comm.encode("utf-8", "surrogateescape") == b"\xff\xfeok"
    with pytest.raises(ValueError, match="do not fit"):
        c.encode({"comm": "x" * 17})


def test_enums_decode_to_members_and_accept_names(b: BtfBuilder) -> None:
    e = b.enum("color", 4, [("RED", 1), ("GREEN", 2)])
    c = registry(b).codec(e)
    assert c.decode(struct.pack("<I", 2)).name == "GREEN"
    assert c.decode(struct.pack("<I", 9)) == 9  # unknown values stay ints
    assert c.encode("RED") == struct.pack("<I", 1)
    with pytest.raises(ValueError, match="not a member"):
        c.encode("BLUE")


def test_arrays_of_ints_and_structs(b: BtfBuilder) -> None:
    u16 = b.int_("u16", 2)
    pair = b.composite("p", 4, [("a", u16, 0), ("b", u16, 16)])
    a_int, a_pair = b.array(u16, 3), b.array(pair, 100)
    s = b.composite("s", 408, [("nums", a_int, 0), ("pairs", a_pair, 64)])
    c = registry(b).codec(s)
    raw = struct.pack("<3H2x", 1, 2, 3) + b"".join(struct.pack("<HH", i, i * 2) for i in range(100))
    v = c.decode(raw)
    assert v.nums == [1, 2, 3] and v.pairs[99] == (99, 198) and v.pairs[5].b == 10
    assert c.encode(v._asdict()) == raw


def test_integer_ranges_are_checked(b: BtfBuilder) -> None:
    u8 = b.int_("u8", 1)
    c = registry(b).codec(u8)
    with pytest.raises(ValueError, match="does not fit"):
        c.encode(256)
    with pytest.raises(TypeError):
        c.encode("1")


def test_short_record_reads_missing_tail_as_zero(b: BtfBuilder) -> None:
    u32 = b.int_("u32", 4)
    s = b.composite("s", 8, [("a", u32, 0), ("b", u32, 32)])
    v = registry(b).codec(s).decode(struct.pack("<I", 7))
    assert (v.a, v.b) == (7, 0)
    assert isinstance(v, StructValue) and tuple(v) == (7, 0)
