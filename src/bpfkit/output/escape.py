"""Escaping of untrusted strings (comm, paths, DNS names) for text output.

A file name may hold a newline or an ANSI escape: printed raw, it could forge a
log line or hide one. Control characters (C0, DEL, C1) and the backslash become
visible escapes, so each event stays on one line and reads back unambiguously.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}
_TABLE = {c: _NAMED.get(chr(c), f"\\x{c:02x}") for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}
_TABLE[ord("\\")] = "\\\\"


def escape(s: str) -> str:
    """``s`` with control characters and backslashes escaped (fast when clean)."""
    # isprintable() is False for every control character (one C loop); strings
    # it rejects for other reasons (e.g. U+00A0) come back from translate as they were.
    if s.isprintable() and "\\" not in s:
        return s
    return s.translate(_TABLE)
