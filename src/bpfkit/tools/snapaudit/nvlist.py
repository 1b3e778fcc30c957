"""Decoder of packed nvlists: the bytes that libzfs_core hands the kernel in `zc_nvlist_src`.

snapaudit copies those bytes out of the traced process with a BPF helper, so what arrives here
is untrusted and may be cut short: the capture has a fixed maximum size, and a hostile process
can pass any bytes at all (the kernel would reject them, but the ioctl was still attempted and
is worth reporting). Hence the contract of `decode()`:

- It raises nothing but `NvlistError` (a `ValueError`), and only for bytes that cannot be a
  packed nvlist. A buffer that merely ends early is not an error: the pairs decoded up to the
  cut are returned with `truncated=True`.
- Work is linear in the input: every pair consumes bytes, array counts are checked against the
  bytes that hold them before anything is allocated, nesting is bounded (`max_depth`) and so is
  the number of pairs (`max_pairs`; reaching it stops decoding like a cut buffer).
- Nothing is lost or invented: strings are UTF-8 decoded with 'surrogateescape' (the original
  bytes come back with `s.encode('utf-8', 'surrogateescape')`), and a pair is reported only once
  its value is complete. A nested nvlist is reported as soon as its pair record is complete and
  then holds the pairs that were complete before a cut.

Both encodings of libnvpair's `nvlist_pack()` are read: NV_ENCODE_NATIVE (what libzfs_core
and libzfs send; the in-memory nvpair records copied verbatim, host byte order, 8-byte aligned)
and NV_ENCODE_XDR (big-endian, 4-byte units; ZFS uses it on disk, e.g. for pool configs). The
rules follow openzfs module/nvpair/nvpair.c: a pair the kernel's unpacker would refuse (bad
name, size that disagrees with its value, BOOLEAN_VALUE other than 0/1, ...) is refused here
too, so what `decode()` returns is what the kernel's handler saw. The layout is described in
shared/notes/zfs.md.

Only `struct` is imported: the module sits on snapaudit's start-up path.
"""

from __future__ import annotations

import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DATA_TYPE_NAMES",
    "Decoded",
    "NvlistError",
    "decode",
    "sniff",
]

# data_type_t (include/sys/nvpair.h). DOUBLE exists only in user space builds.
BOOLEAN = 1
BYTE = 2
INT16 = 3
UINT16 = 4
INT32 = 5
UINT32 = 6
INT64 = 7
UINT64 = 8
STRING = 9
BYTE_ARRAY = 10
INT16_ARRAY = 11
UINT16_ARRAY = 12
INT32_ARRAY = 13
UINT32_ARRAY = 14
INT64_ARRAY = 15
UINT64_ARRAY = 16
STRING_ARRAY = 17
HRTIME = 18
NVLIST = 19
NVLIST_ARRAY = 20
BOOLEAN_VALUE = 21
INT8 = 22
UINT8 = 23
BOOLEAN_ARRAY = 24
INT8_ARRAY = 25
UINT8_ARRAY = 26
DOUBLE = 27

DATA_TYPE_NAMES: dict[int, str] = {
    BOOLEAN: "BOOLEAN", BYTE: "BYTE", INT16: "INT16", UINT16: "UINT16", INT32: "INT32",
    UINT32: "UINT32", INT64: "INT64", UINT64: "UINT64", STRING: "STRING", BYTE_ARRAY: "BYTE_ARRAY",
    INT16_ARRAY: "INT16_ARRAY", UINT16_ARRAY: "UINT16_ARRAY", INT32_ARRAY: "INT32_ARRAY",
    UINT32_ARRAY: "UINT32_ARRAY", INT64_ARRAY: "INT64_ARRAY", UINT64_ARRAY: "UINT64_ARRAY",
    STRING_ARRAY: "STRING_ARRAY", HRTIME: "HRTIME", NVLIST: "NVLIST", NVLIST_ARRAY: "NVLIST_ARRAY",
    BOOLEAN_VALUE: "BOOLEAN_VALUE", INT8: "INT8", UINT8: "UINT8", BOOLEAN_ARRAY: "BOOLEAN_ARRAY",
    INT8_ARRAY: "INT8_ARRAY", UINT8_ARRAY: "UINT8_ARRAY", DOUBLE: "DOUBLE",
}

# Fixed-size scalars: struct code of the native (C) representation. BOOLEAN_VALUE is a boolean_t,
# a C int. BYTE is uchar_t.
_SCALAR = {
    BOOLEAN_VALUE: "i", BYTE: "B", INT8: "b", UINT8: "B", INT16: "h", UINT16: "H", INT32: "i",
    UINT32: "I", INT64: "q", UINT64: "Q", HRTIME: "q", DOUBLE: "d",
}
# Arrays of fixed-size elements (BYTE_ARRAY is handled apart: it becomes `bytes`).
_ARRAY = {
    BOOLEAN_ARRAY: "i", INT8_ARRAY: "b", UINT8_ARRAY: "B", INT16_ARRAY: "h", UINT16_ARRAY: "H",
    INT32_ARRAY: "i", UINT32_ARRAY: "I", INT64_ARRAY: "q", UINT64_ARRAY: "Q",
}
_SIZE = {"b": 1, "B": 1, "h": 2, "H": 2, "i": 4, "I": 4, "q": 8, "Q": 8, "d": 8}

_NVPAIR_HDR = 16  # int32 nvp_size, int16 nvp_name_sz, int16 nvp_reserve, int32 nelem, int32 type
_NVLIST_T = 24  # int32 version, uint32 nvflag, uint64 priv, uint32 flag, int32 pad
_NVP_MIN = 24  # NVP_SIZE_CALC(1, 0): the smallest pair, the kernel refuses anything smaller

ENCODING_NATIVE = 0
ENCODING_XDR = 1


class NvlistError(ValueError):
    """The bytes are not a packed nvlist (as opposed to a valid one that was cut short).

    The only exception `decode()` raises for any input. `offset` is where in the buffer the
    decoder gave up, for messages and tests.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class Decoded:
    """What `decode()` found.

    values      the top-level nvlist: name -> value. BOOLEAN (a name with no value) -> True,
                BOOLEAN_VALUE -> bool, integers and HRTIME -> int, DOUBLE -> float, STRING -> str,
                BYTE_ARRAY -> bytes, other arrays -> list, NVLIST -> dict, NVLIST_ARRAY -> list
                of dict.
    truncated   decoding stopped before the end of the top-level list: the buffer ended (a cut
                capture) or `max_pairs` was reached (then `limited` is also True).
    encoding    'native' or 'xdr'; None only for an empty buffer.
    endian      'little' or 'big': the header's byte order flag (XDR data is big-endian
                whatever it says; the kernel refuses native data of the other byte order).
    nvflag      the top-level nvl_nvflag (1 = NV_UNIQUE_NAME, what fnvlist_alloc sets); None if
                the buffer ends before it.
    pairs       how many pairs were decoded, at every depth.
    consumed    bytes used, up to and including the top-level terminator (the whole buffer
                when truncated): bytes after it were not part of the nvlist.
    duplicates  paths (tuples of names) of names that occur more than once in one nvlist.
                Packed data may repeat a name; the kernel's lookups then find the last
                occurrence, which is the one kept in `values`, but its loops over a list (the
                snapshots to destroy, the holds to take) see every occurrence.
    limited     `max_pairs` was reached.
    """

    __slots__ = ("consumed", "duplicates", "encoding", "endian", "limited", "nvflag", "pairs",
                 "truncated", "values")

    def __init__(self, values: dict[str, Any], truncated: bool, encoding: str | None, endian: str,
                 nvflag: int | None, pairs: int, consumed: int,
                 duplicates: tuple[tuple[str, ...], ...], limited: bool) -> None:
        self.values = values
        self.truncated = truncated
        self.encoding = encoding
        self.endian = endian
        self.nvflag = nvflag
        self.pairs = pairs
        self.consumed = consumed
        self.duplicates = duplicates
        self.limited = limited

    def __repr__(self) -> str:
        return (f"Decoded(values={self.values!r}, truncated={self.truncated}, encoding={self.encoding!r},"
                f" endian={self.endian!r}, nvflag={self.nvflag}, pairs={self.pairs},"
                f" consumed={self.consumed}, duplicates={self.duplicates!r}, limited={self.limited})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decoded):
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]


class _Cut(Exception):
    """Internal: the data needed next lies beyond the end of the buffer."""


class _Limit(Exception):
    """Internal: max_pairs reached."""


def _align8(n: int) -> int:
    return (n + 7) & ~7


def _align4(n: int) -> int:
    return (n + 3) & ~3


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def sniff(buf: bytes | bytearray | memoryview) -> str | None:
    """'native', 'xdr' or None: the encoding named by the first header byte, without decoding.

    For a quick filter (e.g. counting XDR inputs) where a full decode would be wasted work.
    """
    if len(buf) < 1:
        return None
    return {ENCODING_NATIVE: "native", ENCODING_XDR: "xdr"}.get(buf[0])


def decode(buf: bytes | bytearray | memoryview, size: int | None = None, *, max_depth: int = 32,
           max_pairs: int = 65536) -> Decoded:
    """Decode a packed nvlist (the whole `nvlist_pack()` output, 4-byte header included).

    size        the length of the packed nvlist as the caller passed it (`zc_nvlist_src_size`),
                if known. Then `len(buf) < size` means a cut capture, bytes past `size` are
                ignored, and a length field pointing past the end of a complete buffer is an
                error rather than a cut. Without it, running out of bytes always counts as a cut.
    max_depth   nested nvlists deeper than this are an error. The kernel unpacks at most 20
                levels, user space at most 100.
    max_pairs   decoding stops (truncated and limited set) after this many pairs.

    Raises NvlistError, and nothing else, for bytes that are not a packed nvlist.
    """
    data = bytes(buf)
    complete = size is not None and len(data) >= size
    if size is not None:
        if size < 0:
            raise NvlistError("negative size", 0)
        data = data[:size]
    if not data:
        if complete:
            raise NvlistError("empty nvlist buffer", 0)
        return Decoded({}, True, None, "little", None, 0, 0, (), False)
    enc = data[0]
    if enc not in (ENCODING_NATIVE, ENCODING_XDR):
        raise NvlistError(f"unknown nvlist encoding {enc}", 0)
    endian = "little" if len(data) < 2 or data[1] == 1 else "big"
    if enc == ENCODING_NATIVE and len(data) >= 2 and data[1] not in (0, 1):
        raise NvlistError(f"bad byte order flag {data[1]}", 1)  # XDR ignores it, as the kernel does
    dec: _Native | _Xdr
    if enc == ENCODING_NATIVE:
        dec = _Native(data, complete, max_depth, max_pairs, "<" if endian == "little" else ">")
    else:
        dec = _Xdr(data, complete, max_depth, max_pairs)
    values: dict[str, Any] = {}
    truncated = limited = False
    consumed = len(data)
    try:
        consumed = dec.top(values)
    except _Cut:
        truncated = True
    except _Limit:
        truncated = limited = True
    except RecursionError:  # only if the caller's own stack was nearly full: treat as too deep
        raise NvlistError("nvlist nested too deeply for this stack", dec.pos) from None
    return Decoded(values, truncated, "native" if enc == ENCODING_NATIVE else "xdr", endian,
                   dec.nvflag, dec.pairs, consumed, tuple(dec.dups), limited)


class _Base:
    """State shared by both decoders: the buffer, the bounds and the bookkeeping."""

    def __init__(self, data: bytes, complete: bool, max_depth: int, max_pairs: int) -> None:
        self.data = data
        self.end = len(data)
        self.complete = complete
        self.max_depth = max_depth
        self.max_pairs = max_pairs
        self.pairs = 0
        self.pos = 0
        self.nvflag: int | None = None
        self.dups: list[tuple[str, ...]] = []

    def need(self, pos: int, n: int, what: str) -> None:
        """Bytes [pos, pos+n) must exist: a cut if the buffer may be partial, else an error."""
        if n < 0:
            raise NvlistError(f"negative length for {what}", pos)
        if pos + n > self.end:
            if self.complete:
                raise NvlistError(f"{what} runs past the end of the buffer", pos)
            raise _Cut

    def count(self) -> None:
        if self.pairs >= self.max_pairs:
            raise _Limit
        self.pairs += 1

    def store(self, out: dict[str, Any], path: tuple[str, ...], name: str, value: Any) -> None:
        if name in out:
            self.dups.append((*path, name))
            del out[name]  # the kernel's lookups find the last one: keep it, in its place
        out[name] = value

    def deeper(self, depth: int, pos: int) -> int:
        if depth + 1 > self.max_depth:
            raise NvlistError(f"nvlists nested more than {self.max_depth} deep", pos)
        return depth + 1


class _Native(_Base):
    """NV_ENCODE_NATIVE: nvpair_t records as in memory, 8-byte aligned, embedded lists inline."""

    def __init__(self, data: bytes, complete: bool, max_depth: int, max_pairs: int, order: str) -> None:
        super().__init__(data, complete, max_depth, max_pairs)
        self.o = order
        self.i32 = struct.Struct(order + "i")
        self.hdr = struct.Struct(order + "ihhii")
        self.nvl = struct.Struct(order + "iIQIi")

    def top(self, out: dict[str, Any]) -> int:
        self.need(4, 8, "nvlist header")
        _version, self.nvflag = struct.unpack_from(self.o + "iI", self.data, 4)
        # The top-level nvl_version is not checked by the kernel either (only embedded ones).
        return self.pairs_of(12, out, (), 0)

    def pairs_of(self, pos: int, out: dict[str, Any], path: tuple[str, ...], depth: int) -> int:
        """Decode pairs from pos up to a list terminator (int32 0); returns the offset after it."""
        data = self.data
        while True:
            self.pos = pos
            self.need(pos, 4, "nvpair size")
            (nvp_size,) = self.i32.unpack_from(data, pos)
            if nvp_size == 0:
                return pos + 4
            if nvp_size < _NVP_MIN:
                raise NvlistError(f"nvpair size {nvp_size} is impossible", pos)
            self.need(pos, nvp_size, "nvpair")
            self.count()
            _, name_sz, _reserve, nelem, dtype = self.hdr.unpack_from(data, pos)
            name = self.name(pos, nvp_size, name_sz)
            valoff = _align8(_NVPAIR_HDR + name_sz)
            vpos, vlen, rec_end = pos + valoff, nvp_size - valoff, pos + nvp_size
            _check_nelem(dtype, nelem, pos)
            if dtype == NVLIST:
                self.value_size(_NVLIST_T, vlen, pos)
                self.embedded_header(vpos)
                child: dict[str, Any] = {}
                self.store(out, path, name, child)
                pos = self.pairs_of(rec_end, child, (*path, name), self.deeper(depth, pos))
                continue
            if dtype == NVLIST_ARRAY:
                self.value_size(nelem * (8 + _NVLIST_T), vlen, pos)
                for i in range(nelem):
                    self.embedded_header(vpos + 8 * nelem + _NVLIST_T * i)
                items: list[dict[str, Any]] = []
                self.store(out, path, name, items)
                sub = self.deeper(depth, pos)
                pos = rec_end
                for i in range(nelem):
                    item: dict[str, Any] = {}
                    items.append(item)
                    pos = self.pairs_of(pos, item, (*path, name, str(i)), sub)
                continue
            self.store(out, path, name, self.value(dtype, nelem, vpos, vlen, rec_end, pos))
            pos = rec_end

    def name(self, pos: int, nvp_size: int, name_sz: int) -> str:
        # i_validate_nvpair_name(): 0 < name_sz, name fits, NUL-terminated, no NUL inside.
        if name_sz <= 0 or nvp_size < _align8(_NVPAIR_HDR + name_sz):
            raise NvlistError(f"nvpair name size {name_sz} does not fit the pair", pos)
        raw = self.data[pos + _NVPAIR_HDR:pos + _NVPAIR_HDR + name_sz]
        if raw[-1] != 0 or raw.index(0) != name_sz - 1:
            raise NvlistError("nvpair name is not a NUL-terminated string of its size", pos)
        return _text(raw[:-1])

    @staticmethod
    def value_size(value_sz: int, vlen: int, pos: int) -> None:
        # i_validate_nvpair(): the space after the name is exactly the aligned value size.
        if vlen != _align8(value_sz):
            raise NvlistError(f"nvpair value of {value_sz} bytes in a {vlen}-byte slot", pos)

    def embedded_header(self, at: int) -> None:
        version = self.nvl.unpack_from(self.data, at)[0]
        if version != 0:
            raise NvlistError(f"embedded nvlist version {version}", at)

    def value(self, dtype: int, nelem: int, vpos: int, vlen: int, rec_end: int, pos: int) -> Any:
        data = self.data
        if dtype == BOOLEAN:
            self.value_size(0, vlen, pos)
            return True
        code = _SCALAR.get(dtype)
        if code is not None:
            self.value_size(_SIZE[code], vlen, pos)
            (v,) = struct.unpack_from(self.o + code, data, vpos)
            if dtype == BOOLEAN_VALUE:
                return _boolean(v, pos)
            return v
        if dtype == STRING:
            raw = data[vpos:rec_end]
            n = raw.find(0)
            if n < 0:
                raise NvlistError("string value is not NUL-terminated", pos)
            self.value_size(n + 1, vlen, pos)
            return _text(raw[:n])
        if dtype == BYTE_ARRAY:
            self.value_size(nelem, vlen, pos)
            return data[vpos:vpos + nelem]
        code = _ARRAY.get(dtype)
        if code is not None:
            self.value_size(nelem * _SIZE[code], vlen, pos)
            vals = list(struct.unpack_from(f"{self.o}{nelem}{code}", data, vpos))
            return [_boolean(v, pos) for v in vals] if dtype == BOOLEAN_ARRAY else vals
        if dtype == STRING_ARRAY:
            # nelem zeroed pointer slots, then the strings back to back, each NUL-terminated.
            if 8 * nelem > vlen:
                raise NvlistError(f"{nelem} strings cannot fit {vlen} bytes", pos)
            strs, at, used = [], vpos + 8 * nelem, 8 * nelem
            for _ in range(nelem):
                n = data.find(b"\0", at, rec_end)
                if n < 0:
                    raise NvlistError("string array element is not NUL-terminated", pos)
                strs.append(_text(data[at:n]))
                used += n - at + 1
                at = n + 1
            self.value_size(used, vlen, pos)
            return strs
        raise NvlistError(f"unknown data type {dtype}", pos)  # _check_nelem caught it already


class _Xdr(_Base):
    """NV_ENCODE_XDR: big-endian 4-byte units; every embedded list has its own header."""

    def top(self, out: dict[str, Any]) -> int:
        self.need(4, 8, "nvlist header")
        _version, self.nvflag = struct.unpack_from(">iI", self.data, 4)
        return self.pairs_of(12, out, (), 0)

    def u32(self, pos: int, what: str) -> int:
        self.need(pos, 4, what)
        return struct.unpack_from(">I", self.data, pos)[0]

    def i32(self, pos: int, what: str) -> int:
        self.need(pos, 4, what)
        return struct.unpack_from(">i", self.data, pos)[0]

    def string(self, pos: int, what: str) -> tuple[bytes, int]:
        """xdr_string: length, bytes, padding to 4. C code sees it up to its first NUL."""
        n = self.u32(pos, what)
        self.need(pos + 4, _align4(n), what)
        raw = self.data[pos + 4:pos + 4 + n]
        nul = raw.find(0)
        return (raw if nul < 0 else raw[:nul]), pos + 4 + _align4(n)

    def pairs_of(self, pos: int, out: dict[str, Any], path: tuple[str, ...], depth: int) -> int:
        while True:
            self.pos = pos
            _encode_len = self.i32(pos, "nvpair encoded size")
            decode_len = self.i32(pos + 4, "nvpair decoded size")
            if decode_len == 0:
                return pos + 8
            if decode_len < _NVP_MIN:
                raise NvlistError(f"nvpair size {decode_len} is impossible", pos)
            self.count()
            start = pos
            raw_name, pos = self.string(pos + 8, "nvpair name")
            dtype = self.i32(pos, "nvpair type")
            nelem = self.i32(pos + 4, "nvpair element count")
            pos += 8
            _check_nelem(dtype, nelem, start)
            name = _text(raw_name)
            name_sz = len(raw_name) + 1
            if dtype in (NVLIST, NVLIST_ARRAY):
                n = 1 if dtype == NVLIST else nelem
                self.fits(decode_len, name_sz, n * _NVLIST_T + (0 if dtype == NVLIST else 8 * n), start)
                sub = self.deeper(depth, start)
                child: dict[str, Any] | list[dict[str, Any]] = {} if dtype == NVLIST else []
                self.store(out, path, name, child)
                for i in range(n):
                    if isinstance(child, dict):
                        item, where = child, (*path, name)
                    else:
                        item, where = {}, (*path, name, str(i))
                        child.append(item)
                    # An embedded list repeats version and nvflag; the kernel checks neither (XDR).
                    self.need(pos, 8, "embedded nvlist header")
                    pos = self.pairs_of(pos + 8, item, where, sub)
                continue
            value, pos, value_sz = self.value(dtype, nelem, pos, start)
            self.fits(decode_len, name_sz, value_sz, start)
            self.store(out, path, name, value)

    @staticmethod
    def fits(decode_len: int, name_sz: int, value_sz: int, start: int) -> None:
        """i_validate_nvpair(): the decoded size must be that of the native record."""
        if decode_len != _align8(_NVPAIR_HDR + name_sz) + _align8(value_sz):
            raise NvlistError(f"nvpair decoded size {decode_len} does not match its value", start)

    def value(self, dtype: int, nelem: int, pos: int, start: int) -> tuple[Any, int, int]:
        """Returns (value, offset after it, size of its native representation)."""
        data = self.data
        if dtype == BOOLEAN or (nelem == 0 and dtype != STRING):
            # nvs_xdr_nvp_op() writes nothing for zero elements (BOOLEAN, empty arrays).
            return (True if dtype == BOOLEAN else b"" if dtype == BYTE_ARRAY else []), pos, 0
        if dtype in (INT64, UINT64, HRTIME, DOUBLE):
            self.need(pos, 8, "value")
            code = {INT64: "q", UINT64: "Q", HRTIME: "q", DOUBLE: "d"}[dtype]
            return struct.unpack_from(">" + code, data, pos)[0], pos + 8, 8
        code = _SCALAR.get(dtype)
        if code is not None:  # 8-, 16- and 32-bit scalars travel as one 4-byte XDR int
            v = _narrow(self.i32(pos, "value"), code)
            return (_boolean(v, start) if dtype == BOOLEAN_VALUE else v), pos + 4, _SIZE[code]
        if dtype == STRING:
            raw, pos = self.string(pos, "string value")
            return _text(raw), pos, len(raw) + 1
        if dtype == BYTE_ARRAY:  # xdr_opaque: the bytes, padded, no count
            self.need(pos, _align4(nelem), "byte array")
            return data[pos:pos + nelem], pos + _align4(nelem), nelem
        code = _ARRAY.get(dtype)
        if code is not None:  # xdr_array: a count, then each element as an XDR int or hyper
            count = self.u32(pos, "array count")
            if count != nelem:
                raise NvlistError(f"array count {count} differs from nvpair nelem {nelem}", start)
            unit = 8 if _SIZE[code] == 8 else 4
            self.need(pos + 4, unit * nelem, "array")
            raw = struct.unpack_from(f">{nelem}{'q' if unit == 8 else 'i'}", data, pos + 4)
            vals = [_narrow(v, code) for v in raw] if unit == 4 else list(raw)
            if code == "Q":
                vals = [v & 0xFFFFFFFFFFFFFFFF for v in vals]
            if dtype == BOOLEAN_ARRAY:
                vals = [_boolean(v, start) for v in vals]
            return vals, pos + 4 + unit * nelem, nelem * _SIZE[code]
        if dtype == STRING_ARRAY:  # nelem xdr_strings, no count
            strs, size = [], 8 * nelem
            for _ in range(nelem):
                raw, pos = self.string(pos, "string array element")
                strs.append(_text(raw))
                size += len(raw) + 1
            return strs, pos, size
        raise NvlistError(f"unknown data type {dtype}", start)


def _narrow(v: int, code: str) -> int:
    """An XDR int cut to the C type it is decoded into (xdr_char/xdr_short keep the low bits)."""
    if code in ("b", "B"):
        v &= 0xFF
        return v - 0x100 if code == "b" and v >= 0x80 else v
    if code in ("h", "H"):
        v &= 0xFFFF
        return v - 0x10000 if code == "h" and v >= 0x8000 else v
    if code == "I":
        return v & 0xFFFFFFFF
    return v


def _boolean(v: int, pos: int) -> bool:
    if v not in (0, 1):  # i_validate_nvpair_value(): B_TRUE or B_FALSE only
        raise NvlistError(f"boolean value {v}", pos)
    return v == 1


def _check_nelem(dtype: int, nelem: int, pos: int) -> None:
    """i_validate_type_nelem(): known type; scalars have 1 element, BOOLEAN 0, arrays >= 0."""
    if dtype == BOOLEAN:
        ok = nelem == 0
    elif dtype in _SCALAR or dtype in (STRING, NVLIST):
        ok = nelem == 1
    elif dtype in _ARRAY or dtype in (BYTE_ARRAY, STRING_ARRAY, NVLIST_ARRAY):
        ok = nelem >= 0
    else:
        raise NvlistError(f"unknown data type {dtype}", pos)
    if not ok:
        raise NvlistError(f"{DATA_TYPE_NAMES[dtype]} with {nelem} elements", pos)
