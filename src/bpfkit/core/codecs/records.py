"""Decoders of event records, compiled once per event type.

A record is the bytes one event occupies in a ring or perf buffer. Its type
is a struct, possibly ending in a flexible array (``char path[];``): then the
record is the struct's fixed part plus a variable-length tail, and the last
field takes the tail. A record shorter than the struct (a program that sent
fewer bytes) decodes with the missing part read as zero.

Two shapes:
- ``record_decoder(codec)``: a function ``raw -> value`` for one record.
- ``compile_loop(source, codec, ...)``: a reader's own loop (the ring protocol
  is the reader's business) with the decoding of each record generated into
  it, so a batch costs one struct unpack and one tuple build per event and no
  Python call. The loop's source marks where with a line holding ``{DECODE}``.
"""

from __future__ import annotations

import struct

from .types import Codec, CompositeCodec, define

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

DECODE = "{DECODE}"


def _namespace(codec: Codec | None) -> dict[str, Any]:
    return {"_new": tuple.__new__,
            "_S": struct.Struct("<" + (codec.fmt if codec is not None else "")),
            "_slow": codec.decode if codec is not None else None}


def _flex(codec: Codec) -> tuple[int, int] | None:
    """(index of the flexible array field, its offset) when ``codec`` ends in one."""
    if isinstance(codec, CompositeCodec) and codec.flex is not None:
        return codec.flex, codec.flex_offset
    return None


def _build(codec: Codec, ns: dict[str, Any], buf: str, start: str, end: str) -> str:
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
            f"    {into}({_build(codec, ns, buf, start, end)})",
            "else:  # shorter than the struct: the missing part reads as zero",
            f"    {into}(_slow({buf}[{start}: {end}]))"]


def compile_loop(source: str, codec: Codec | None, *, buf: str, start: str, length: str,
                 into: str, name: str, consts: dict[str, Any] | None = None) -> Callable[..., Any]:
    """Compile ``source`` (one function definition, named ``name``) with the
    decoding of one record put where its ``{DECODE}`` line stands. The record
    is ``buf[start:start+length]`` (names or expressions of the loop), and the
    decoded value is passed to ``into``. ``consts`` are extra globals of the
    loop; the struct's unpacker is available as ``_S.unpack_from``."""
    ns = _namespace(codec)
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
    ns = _namespace(codec)
    src = ("def dec(raw, _u=_S.unpack_from):\n"
           f"    if len(raw) < {codec.size}:\n        return _slow(raw)\n"
           f"    t = _u(raw, 0)\n    return {_build(codec, ns, 'raw', '0', 'len(raw)')}\n")
    return define(src, "dec", ns, "<bpfkit record decoder>")


__all__ = ["compile_loop", "record_decoder"]
