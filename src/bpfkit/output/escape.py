"""Escaping of untrusted strings (comm, paths, DNS names) for text output.

A file name may hold a newline or an ANSI escape: printed raw, it could forge a
log line or hide one. Unicode has more ways to do the same: U+2028/U+2029 break
lines in Unicode-aware readers, and bidi controls (U+202E RLO...) reorder what
follows on screen. All of these, and the backslash, become visible escapes, so
each event stays on one line and reads back unambiguously.

Names are any bytes, not necessarily UTF-8: bpfkit decodes them with
surrogateescape, and a byte that is not UTF-8 prints as ``\\xHH`` while a file
literally named ``\\xff`` prints as ``\\\\xff``. To get the original bytes back
from text: replace ``\\\\`` by a backslash, ``\\n``/``\\r``/``\\t`` by their
characters, ``\\xHH`` by the byte HH and ``\\uHHHH`` by that character (UTF-8).
JSON output carries FIELD_b64 with the exact bytes instead.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_TABLE: dict[int, str] = {c: _NAMED.get(chr(c), f"\\x{c:02x}")
                          for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_TABLE[ord("\\")] = "\\\\"
# bytes that are not UTF-8, as surrogateescape decoded them: \xHH, the byte itself
_TABLE.update({0xDC00 + b: f"\\x{b:02x}" for b in range(0x80, 0x100)})
# line and paragraph separators, bidi controls, zero-width and byte-order marks
_TABLE.update({c: f"\\u{c:04x}" for c in (0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029,
                                        *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)})
ELLIPSIS = "\u2026"


def escape(s: str) -> str:
    """``s`` with control characters and backslashes escaped (fast when clean)."""
    # isprintable() is False for every character the table escapes (one C
    # loop); strings it rejects for other reasons come back from translate as they were.
    if s.isprintable() and "\\" not in s:
        return s
    return s.translate(_TABLE)


def fit(s: str, width: int) -> str:
    """An escaped string cut to ``width`` for a fixed text column: the last
    visible character is "…", never the middle of an escape; a literal "…"
    is escaped so a cut stays recognisable. JSON output keeps the whole value."""
    if ELLIPSIS in s:
        s = s.replace(ELLIPSIS, "\\u2026")
    if len(s) <= width:
        return s
    i = 0
    while True:  # walk whole characters and escapes until the next would not fit
        step = _ESCAPE_LEN.get(s[i + 1: i + 2], 2) if s[i] == "\\" else 1
        if i + step > width - 1:
            return s[:i] + ELLIPSIS
        i += step


_ESCAPE_LEN = {"x": 4, "u": 6}


__all__ = ["escape", "fit"]
