"""Python encoders/decoders for BTF types.

Every BTF type gets a ``Codec``. Decoding is compiled once per type: a single
``struct.Struct`` unpacks the whole value (padding included) and a generated
function builds the Python value from the unpacked tuple, so decoding an event
costs one C-level unpack and one tuple construction.

Values: integers -> int, enums -> IntEnum members (unknown values stay int),
``char[N]`` -> str (raw bytes via ``value._raw(name)``), other byte arrays ->
bytes, arrays -> list, structs and unions -> tuple subclasses with attribute
access and ``_asdict()``. Encoding accepts plain Python values: int, str (enum
names, strings), bytes, dicts, tuples and the decoded objects themselves.
Little-endian only, like every BPF host we target (x86-64, arm64).
"""

from __future__ import annotations

import itertools
import struct
from _operator import itemgetter  # the C module: operator.py costs ~0.3 ms to import

from .btf import BTF, INT_BOOL, INT_SIGNED, BtfType, Kind

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    import enum
    from collections.abc import Callable
    from typing import Any

_uid = itertools.count()


def _add(ns: dict[str, Any], obj: Any) -> str:
    name = f"_h{next(_uid)}"
    ns[name] = obj
    return name


def define(src: str, name: str, ns: dict[str, Any], where: str) -> Callable[..., Any]:
    """The function ``name`` that generated source ``src`` defines, with ``ns``
    as its globals; tracebacks name it ``where``. exec() of the text rather
    than compile(): the first compile() of a process builds every AST node
    type (~1.3 ms of a monitor's start), exec() of a string does not."""
    exec(src, ns)
    fn = ns[name]
    fn.__code__ = fn.__code__.replace(co_filename=where)
    return fn


class Codec:
    """Layout of one type; subclasses fill in fmt/nitems/expr/pack_into."""

    size: int = 0
    fmt: str = ""  # struct format of exactly `size` bytes, no byte-order prefix
    nitems: int = 0  # number of items `fmt` unpacks to
    name: str = ""

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        """Python expression building the value from unpacked tuple ``t`` at item k."""
        raise NotImplementedError

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        raise NotImplementedError

    # -- derived ---------------------------------------------------------
    _decoder: Callable[..., Any] | None = None

    def decoder(self) -> Callable[..., Any]:
        """``f(buf, off=0) -> value``; ``buf`` must hold ``size`` bytes at ``off``."""
        if self._decoder is None:
            ns: dict[str, Any] = {"_new": tuple.__new__,
                                  "_S": struct.Struct("<" + self.fmt)}
            body = self.top_expr(ns)
            src = f"def _dec(buf, off=0, _u=_S.unpack_from):\n    t = _u(buf, off)\n    return {body}\n"
            self._decoder = define(src, "_dec", ns, f"<bpfkit decoder {self.name}>")
        return self._decoder

    def top_expr(self, ns: dict[str, Any]) -> str:
        return self.expr(0, ns)

    def decode(self, buf: bytes | bytearray | memoryview, off: int = 0) -> Any:
        if len(buf) - off < self.size:  # short record: missing tail reads as zero
            buf = bytes(buf[off:]) + bytes(self.size - (len(buf) - off))
            off = 0
        return self.decoder()(buf, off)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray)) and not isinstance(self, (RawCodec, CharArrayCodec)):
            if len(value) != self.size:  # raw bytes stand for any type of the same size
                raise ValueError(f"{len(value)} bytes given for {self.name} of {self.size} bytes")
            return bytes(value)
        buf = bytearray(self.size)
        if value is not None:
            self.pack_into(buf, 0, value)
        return bytes(buf)


class RawCodec(Codec):
    """Bytes of a fixed size, for values without BTF."""

    def __init__(self, size: int) -> None:
        self.size, self.fmt, self.nitems, self.name = size, f"{size}s", 1, f"bytes[{size}]"

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        return f"t[{k}]"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        data = bytes(value)
        if len(data) > self.size:
            raise ValueError(f"{len(data)} bytes do not fit in {self.size}")
        buf[off:off + len(data)] = data


_INT_FMT = {(1, False): "B", (1, True): "b", (2, False): "H", (2, True): "h",
            (4, False): "I", (4, True): "i", (8, False): "Q", (8, True): "q"}


class IntCodec(Codec):
    def __init__(self, size: int, signed: bool, name: str = "int") -> None:
        self.size, self.signed, self.name, self.nitems = size, signed, name, 1
        self.fmt = _INT_FMT.get((size, signed), f"{size}s")
        self._wide = self.fmt.endswith("s")  # __int128 and odd sizes
        self.lo = -(1 << (size * 8 - 1)) if signed else 0
        self.hi = (1 << (size * 8 - 1)) - 1 if signed else (1 << (size * 8)) - 1

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        if self._wide:
            return f"int.from_bytes(t[{k}], 'little', signed={self.signed})"
        return f"t[{k}]"

    def to_int(self, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, bool):
                return int(value)
            raise TypeError(f"{self.name} needs an int, got {type(value).__name__}")
        if not self.lo <= value <= self.hi:
            raise ValueError(f"{value} does not fit in {self.name} ({self.lo}..{self.hi})")
        return value

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        v = self.to_int(value)
        buf[off:off + self.size] = v.to_bytes(self.size, "little", signed=self.signed)


class BoolCodec(IntCodec):
    def __init__(self, size: int) -> None:
        super().__init__(size, False, "bool")

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        return f"(t[{k}] != 0)"


class FloatCodec(Codec):
    def __init__(self, size: int) -> None:
        self.size, self.nitems = size, 1
        self.name = {2: "_Float16", 4: "float", 8: "double"}.get(size, "float")
        self.fmt = {2: "e", 4: "f", 8: "d"}.get(size, f"{size}s")

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        return f"t[{k}]"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        struct.pack_into("<" + self.fmt, buf, off, float(value))


class PtrCodec(IntCodec):
    def __init__(self, name: str) -> None:
        super().__init__(8, False, name)


class EnumCodec(IntCodec):
    def __init__(self, t: BtfType) -> None:
        super().__init__(t.size, t.signed, f"enum {t.name or '(anon)'}")
        self.by_name = dict(t.values)
        members = [(n, v) for n, v in t.values if not (n.startswith("_") and n.endswith("_"))]
        import enum  # only objects with enums pay for it

        self.enum: type[enum.IntEnum] | None = None
        try:
            if members:
                self.enum = enum.IntEnum(t.name or "anon_enum", members)  # type: ignore[misc]
        except (ValueError, TypeError):
            self.enum = None
        self.lookup = {int(m): m for m in self.enum} if self.enum else {}

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        if not self.lookup:
            return f"t[{k}]"
        get = _add(ns, self.lookup.get)
        return f"{get}(t[{k}], t[{k}])"

    def to_int(self, value: Any) -> int:
        if isinstance(value, str):
            if value not in self.by_name:
                raise ValueError(f"{value!r} is not a member of {self.name} "
                                 f"({', '.join(self.by_name)})")
            value = self.by_name[value]
        return super().to_int(int(value))


def _cstr(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


class CharArrayCodec(Codec):
    """``char[N]``: a NUL-terminated string (str); bytes stay reachable."""

    def __init__(self, n: int) -> None:
        self.size, self.fmt, self.nitems, self.name = n, f"{n}s", 1, f"char[{n}]"

    def raw_expr(self, k: int) -> str:
        return f"t[{k}].partition(b'\\0')[0]"

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        return f"{_add(ns, _cstr)}({self.raw_expr(k)})"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        data = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)
        if len(data) > self.size:
            raise ValueError(f"{len(data)} bytes do not fit in {self.name}")
        buf[off:off + self.size] = data.ljust(self.size, b"\0")


class BytesCodec(RawCodec):
    """``unsigned char[N]`` / ``__u8[N]``: bytes (addresses, hashes)."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.name = f"__u8[{n}]"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        super().pack_into(buf, off, bytes(value))


_PLAIN = (IntCodec, FloatCodec)
_MAX_INLINE_ITEMS = 64


class ArrayCodec(Codec):
    def __init__(self, elem: Codec, n: int) -> None:
        self.elem, self.n, self.size = elem, n, elem.size * n
        self.name = f"{elem.name}[{n}]"
        plain = type(elem) in (IntCodec, FloatCodec, PtrCodec) and not getattr(elem, "_wide", False)
        if plain:
            self.mode, self.fmt, self.nitems = "slice", f"{n}{elem.fmt}", n
        elif n * elem.nitems <= _MAX_INLINE_ITEMS:
            self.mode, self.fmt, self.nitems = "inline", elem.fmt * n, elem.nitems * n
        else:
            self.mode, self.fmt, self.nitems = "blob", f"{self.size}s", 1

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        if self.mode == "slice":
            return f"list(t[{k}:{k + self.n}])"
        if self.mode == "inline":
            return "[" + ", ".join(self.elem.expr(k + i * self.elem.nitems, ns)
                                   for i in range(self.n)) + "]"
        dec, esz, n = self.elem.decoder(), self.elem.size, self.n
        fn = _add(ns, lambda b: [dec(b, i * esz) for i in range(n)])
        return f"{fn}(t[{k}])"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        items = list(value)
        if len(items) > self.n:
            raise ValueError(f"{len(items)} items do not fit in {self.name}")
        for i, v in enumerate(items):
            self.elem.pack_into(buf, off + i * self.elem.size, v)


# --- structs and unions --------------------------------------------------------


class StructValue(tuple):
    """Base of generated struct/union classes: a tuple with named fields."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _strs: frozenset[int] = frozenset()

    def _asdict(self) -> dict[str, Any]:
        """The value as plain dicts/lists/str/int/bytes, e.g. for JSON."""
        return {f: _plain(getattr(self, f)) for f in self._fields}

    def _raw(self, name: str) -> Any:
        """The stored value of a field: all N bytes of a ``char[N]`` field
        (the attribute stops at the first NUL; argv-style data does not)."""
        return self[self._fields.index(name)]

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({inner})"


def _plain(v: Any) -> Any:
    if isinstance(v, StructValue):
        return v._asdict()
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v


def _make_class(name: str, fields: list[str], strs: set[int]) -> type[StructValue]:
    attrs: dict[str, Any] = {"__slots__": (), "_fields": tuple(fields), "_strs": frozenset(strs)}
    for i, f in enumerate(fields):
        if i in strs:
            # the tuple keeps all N bytes (NUL-separated argv, "\0\0x"); the
            # attribute is the C string, up to the first NUL
            attrs[f] = property(lambda s, i=i: s[i].partition(b"\0")[0].decode("utf-8", "surrogateescape"))
        else:
            attrs[f] = property(itemgetter(i))
    return type(name or "anon", (StructValue,), attrs)


class _Leaf:
    __slots__ = ("bit_off", "bits", "codec", "end", "name", "start")

    def __init__(self, name: str, codec: Codec, bit_off: int, bits: int) -> None:
        self.name, self.codec, self.bit_off, self.bits = name, codec, bit_off, bits
        self.start = bit_off // 8
        self.end = (bit_off + bits + 7) // 8 if bits else self.start + codec.size


def _sign_extend(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


class CompositeCodec(Codec):
    """A struct or union. Members that overlap (union members, bitfields that
    share bytes) are unpacked as one byte blob and decoded from it."""

    def __init__(self, name: str, size: int, leaves: list[_Leaf]) -> None:
        self.name, self.size = name, size
        self.leaves = leaves
        self.fields = [lf.name for lf in leaves]
        strs = {i for i, lf in enumerate(leaves) if isinstance(lf.codec, CharArrayCodec) and not lf.bits}
        self.cls = _make_class(name.split(" ")[-1], self.fields, strs)
        # A trailing flexible array (`char path[];`) makes a variable-length
        # record: ring buffer readers hand it the bytes past the struct.
        last = leaves[-1] if leaves else None
        self.flex: int | None = (len(leaves) - 1 if last is not None and not last.bits
                                 and last.codec.size == 0
                                 and isinstance(last.codec, (CharArrayCodec, RawCodec)) else None)
        self.flex_offset = last.start if self.flex is not None else size
        self._plan()

    def _plan(self) -> None:
        order = sorted(range(len(self.leaves)), key=lambda i: (self.leaves[i].start, self.leaves[i].end))
        clusters: list[list[int]] = []
        end = -1
        for i in order:
            lf = self.leaves[i]
            if clusters and lf.start < end:
                clusters[-1].append(i)
                end = max(end, lf.end)
            else:
                clusters.append([i])
                end = lf.end
        fmt, cursor, nitems = [], 0, 0
        self._items: list[tuple[list[int], int, bool, int]] = []  # (leaves, item index, blob, blob start)
        for cl in clusters:
            start = min(self.leaves[i].start for i in cl)
            stop = max(self.leaves[i].end for i in cl)
            if start > cursor:
                fmt.append(f"{start - cursor}x")
            blob = len(cl) > 1 or self.leaves[cl[0]].bits > 0
            if blob:
                fmt.append(f"{stop - start}s")
                self._items.append((cl, nitems, True, start))
                nitems += 1
            else:
                c = self.leaves[cl[0]].codec
                fmt.append(c.fmt)
                self._items.append((cl, nitems, False, start))
                nitems += c.nitems
            cursor = max(cursor, stop)
        if self.size > cursor:
            fmt.append(f"{self.size - cursor}x")
        self.fmt, self.nitems = "".join(fmt), nitems

    def expr(self, k: int, ns: dict[str, Any], tail: str | None = None) -> str:
        """``tail``: expression for the flexible array's bytes (variable-length records)."""
        exprs: list[str] = [""] * len(self.leaves)
        for cl, item, blob, bstart in self._items:
            for i in cl:
                lf = self.leaves[i]
                if not blob:
                    c = lf.codec
                    exprs[i] = f"t[{k + item}]" if isinstance(c, CharArrayCodec) else c.expr(k + item, ns)
                elif lf.bits:
                    shift, mask = lf.bit_off - bstart * 8, (1 << lf.bits) - 1
                    e = f"((int.from_bytes(t[{k + item}], 'little') >> {shift}) & {mask})"
                    if getattr(lf.codec, "signed", False):
                        e = f"{_add(ns, _sign_extend)}({e}, {lf.bits})"
                    exprs[i] = e
                else:
                    rel = lf.start - bstart
                    if isinstance(lf.codec, CharArrayCodec):
                        n = lf.codec.size
                        exprs[i] = f"t[{k + item}][{rel}:{rel + n}]"
                    else:
                        exprs[i] = f"{_add(ns, lf.codec.decoder())}(t[{k + item}], {rel})"
        if tail is not None and self.flex is not None:
            exprs[self.flex] = tail
        cls = _add(ns, self.cls)
        inner = ", ".join(exprs) + ("," if len(exprs) == 1 else "")
        return f"_new({cls}, ({inner}))"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        if isinstance(value, dict):
            unknown = set(value) - set(self.fields)
            if unknown:
                raise ValueError(f"{self.name} has no field {sorted(unknown)[0]!r} "
                                 f"(fields: {', '.join(self.fields)})")
            items = [(i, value[f]) for i, f in enumerate(self.fields) if f in value]
        elif isinstance(value, (tuple, list)):
            if len(value) > len(self.fields):
                raise ValueError(f"{len(value)} values for {len(self.fields)} fields of {self.name}")
            items = list(enumerate(value))  # a decoded value's char fields hold bytes
        else:
            raise TypeError(f"{self.name} needs a dict or tuple, got {type(value).__name__}")
        for i, v in items:
            if v is None:
                continue
            lf = self.leaves[i]
            if lf.bits:
                n = lf.end - lf.start
                cur = int.from_bytes(buf[off + lf.start: off + lf.end], "little")
                shift, mask = lf.bit_off - lf.start * 8, (1 << lf.bits) - 1
                iv = lf.codec.to_int(v) if isinstance(lf.codec, IntCodec) else int(v)
                cur = (cur & ~(mask << shift)) | ((iv & mask) << shift)
                buf[off + lf.start: off + lf.end] = cur.to_bytes(n, "little")
            else:
                lf.codec.pack_into(buf, off + lf.start, v)


class VoidCodec(Codec):
    name = "void"

    def expr(self, k: int, ns: dict[str, Any]) -> str:
        return "None"

    def pack_into(self, buf: bytearray, off: int, value: Any) -> None:
        pass


class TypeRegistry:
    """Codecs for the types of one BTF, built on demand and cached."""

    def __init__(self, btf: BTF) -> None:
        self.btf = btf
        self._cache: dict[int, Codec] = {}

    def codec(self, type_id: int) -> Codec:
        c = self._cache.get(type_id)
        if c is None:
            c = self._cache[type_id] = self._build(type_id)
        return c

    def struct(self, name: str) -> Codec | None:
        t = self.btf.find(Kind.STRUCT, name) or self.btf.find(Kind.UNION, name)
        if t is None:
            td = self.btf.find(Kind.TYPEDEF, name)
            if td is None:
                return None
            return self.codec(td.id)
        return self.codec(t.id)

    def _build(self, type_id: int) -> Codec:
        btf = self.btf
        t = btf.resolve(type_id)
        k = t.kind
        if k == Kind.INT:
            if t.encoding & INT_BOOL:
                return BoolCodec(t.size)
            return IntCodec(t.size, bool(t.encoding & INT_SIGNED), t.name)
        if k in (Kind.ENUM, Kind.ENUM64):
            return EnumCodec(t)
        if k == Kind.FLOAT:
            return FloatCodec(t.size)
        if k == Kind.PTR:
            return PtrCodec(btf.type_name(t.id))
        if k == Kind.ARRAY:
            et = btf.resolve(t.elem)
            if et.kind == Kind.INT and et.size == 1 and not et.encoding & INT_BOOL:
                return CharArrayCodec(t.nelems) if et.name == "char" else BytesCodec(t.nelems)
            return ArrayCodec(self.codec(t.elem), t.nelems)
        if k in (Kind.STRUCT, Kind.UNION):
            leaves: list[_Leaf] = []
            self._flatten(t, 0, leaves)
            seen: dict[str, int] = {}
            for lf in leaves:  # anonymous members may repeat a name
                if lf.name in seen:
                    seen[lf.name] += 1
                    lf.name = f"{lf.name}_{seen[lf.name]}"
                else:
                    seen[lf.name] = 0
            return CompositeCodec(btf.type_name(t.id), t.size, leaves)
        if k == Kind.VAR:
            return self.codec(t.ref)
        c = VoidCodec()
        c.size = btf.size_of(t.id) if k == Kind.DATASEC else 0
        return c

    def _flatten(self, t: BtfType, base_bits: int, out: list[_Leaf]) -> None:
        for i, m in enumerate(t.members):
            mt = self.btf.resolve(m.type_id)
            if not m.name and mt.kind in (Kind.STRUCT, Kind.UNION):
                self._flatten(mt, base_bits + m.bit_offset, out)
                continue
            off, bits = base_bits + m.bit_offset, m.bitfield_size
            if not bits and mt.kind == Kind.INT and 0 < mt.bits < mt.size * 8:
                off, bits = off + mt.int_offset, mt.bits  # pre-kind_flag bitfield encoding
            out.append(_Leaf(m.name or f"_{i}", self.codec(m.type_id), off, bits))


# -- event records ---------------------------------------------------------------------------------
# Decoders of event records, compiled once per event type.
#
# A record is the bytes one event occupies in a ring or perf buffer. Its type
# is a struct, possibly ending in a flexible array (``char path[];``): then the
# record is the struct's fixed part plus a variable-length tail, and the last
# field takes the tail. A record shorter than the struct (a program that sent
# fewer bytes) decodes with the missing part read as zero.
#
# Two shapes:
# - ``record_decoder(codec)``: a function ``raw -> value`` for one record.
# - ``compile_loop(source, codec, ...)``: a reader's own loop (the ring protocol
#   is the reader's business) with the decoding of each record generated into
#   it, so a batch costs one struct unpack and one tuple build per event and no
#   Python call. The loop's source marks where with a line holding ``{DECODE}``.

DECODE = "{DECODE}"


def _record_namespace(codec: Codec | None) -> dict[str, Any]:
    return {"_new": tuple.__new__,
            "_S": struct.Struct("<" + (codec.fmt if codec is not None else "")),
            "_slow": codec.decode if codec is not None else None}


def _flex(codec: Codec) -> tuple[int, int] | None:
    """(index of the flexible array field, its offset) when ``codec`` ends in one."""
    if isinstance(codec, CompositeCodec) and codec.flex is not None:
        return codec.flex, codec.flex_offset
    return None


def _record_expr(codec: Codec, ns: dict[str, Any], buf: str, start: str, end: str) -> str:
    """Expression of the value, given ``t`` = the struct unpacked at ``start``."""
    flex = _flex(codec)
    if flex is None:
        return codec.top_expr(ns)
    assert isinstance(codec, CompositeCodec)
    return codec.expr(0, ns, tail=f"{buf}[{start} + {flex[1]}: {end}]")


def _statements(codec: Codec | None, ns: dict[str, Any], buf: str, start: str, length: str,
                into: str) -> list[str]:
    """Lines that decode the record ``buf[start:start+length]`` and pass it to ``into``."""
    end = f"{start} + {length}"
    if codec is None:
        return [f"{into}(bytes({buf}[{start}: {end}]))"]
    return [f"if {length} >= {codec.size}:",
            f"    t = _u({buf}, {start})",
            f"    {into}({_record_expr(codec, ns, buf, start, end)})",
            "else:  # shorter than the struct: the missing part reads as zero",
            f"    {into}(_slow({buf}[{start}: {end}]))"]


def compile_loop(source: str, codec: Codec | None, *, buf: str, start: str, length: str,
                 into: str, name: str, consts: dict[str, Any] | None = None) -> Callable[..., Any]:
    """Compile ``source`` (one function definition, named ``name``) with the
    decoding of one record put where its ``{DECODE}`` line stands. The record
    is ``buf[start:start+length]`` (names or expressions of the loop), and the
    decoded value is passed to ``into``. ``consts`` are extra globals of the
    loop; the struct's unpacker is available as ``_S.unpack_from``."""
    ns = _record_namespace(codec)
    ns.update(consts or {})
    lines = []
    for line in source.splitlines():
        if line.strip() == DECODE:
            indent = line[:len(line) - len(line.lstrip())]
            lines += [indent + s for s in _statements(codec, ns, buf, start, length, into)]
        else:
            lines.append(line)
    return define("\n".join(lines) + "\n", name, ns, f"<bpfkit {name}>")


def record_decoder(codec: Codec | None) -> Callable[[Any], Any]:
    """``f(record) -> event`` for one whole record (perf samples)."""
    if codec is None:
        return bytes
    if _flex(codec) is None:
        return codec.decode
    ns = _record_namespace(codec)
    src = ("def dec(raw, _u=_S.unpack_from):\n"
           f"    if len(raw) < {codec.size}:\n        return _slow(raw)\n"
           f"    t = _u(raw, 0)\n    return {_record_expr(codec, ns, 'raw', '0', 'len(raw)')}\n")
    return define(src, "dec", ns, "<bpfkit record decoder>")
