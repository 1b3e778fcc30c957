"""The JSON-lines sink: one JSON object per line, valid for any bytes traced.

Apart from sinks.py (text) so that a monitor printing text does not import it.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from .sinks import Output


def _default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    raise TypeError(f"cannot encode {type(v).__name__} as JSON")


def _raw(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A record whose strings carried bytes that are not UTF-8 (decoded with
    surrogateescape): each such string becomes valid text (U+FFFD for the
    bad bytes) and gains a FIELD_b64 twin holding its exact bytes."""
    import base64  # lazy: only names that are not UTF-8 need it

    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(k, str) and not _utf8(k):  # a name used as a key (holds, props)
            clean = _raw(k).decode("utf-8", "replace")
            out.setdefault("_keys_b64", {})[clean] = base64.b64encode(_raw(k)).decode()
            k = clean
        if isinstance(v, str) and not _utf8(v):
            out[k] = _raw(v).decode("utf-8", "replace")
            out[f"{k}_b64"] = base64.b64encode(_raw(v)).decode()
        elif isinstance(v, dict):
            out[k] = _clean(v)
        elif isinstance(v, list) and any(isinstance(x, str) and not _utf8(x) for x in v):
            out[k] = [_raw(x).decode("utf-8", "replace") if isinstance(x, str) else x for x in v]
            out[f"{k}_b64"] = [base64.b64encode(_raw(x)).decode() if isinstance(x, str) and not _utf8(x)
                               else None for x in v]
        elif isinstance(v, list):
            out[k] = [_clean(x) if isinstance(x, dict) else x for x in v]
        else:
            out[k] = v
    return out


def _utf8(s: str) -> bool:
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class JsonSink:
    """One JSON object per line; ASCII-only, so valid for any bytes traced.

    A string holding bytes that are not UTF-8 (a file name is any bytes) is
    written as valid text with U+FFFD in their place, plus a FIELD_b64 field
    with the exact bytes: nothing ambiguous, nothing lost.
    """

    def __init__(self, out: Output) -> None:
        import json  # lazy: only JSON mode pays for it

        self.out = out
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=_default).encode

    def write_header(self) -> None:
        pass

    def write_records(self, records: Iterable[dict[str, Any]]) -> None:
        dumps = self._dumps
        recs = list(records)
        text = "".join(dumps(r) + "\n" for r in recs)
        # ASCII JSON spells an undecodable byte as \udcXX: one C-level search
        # per batch finds the rare batch that needs the slow path.
        if "\\udc" in text:
            text = "".join(dumps(_clean(r)) + "\n" for r in recs)
        if text:
            self.out.write(text)


__all__ = ["JsonSink"]
