"""Where events go: stdout or a file (appended, reopened on SIGHUP for logrotate),
as aligned text or JSON lines, written once per batch."""

from __future__ import annotations

import os
import sys

from ..core.kernel.errors import BPFError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any


class Output:
    """A line-oriented destination: stdout, or FILE opened for append.

    Writes go straight to the file descriptor, one write per batch, looping
    on short writes: a TextIOWrapper over an unbuffered stream (python -u,
    PYTHONUNBUFFERED) drops the rest of a write that a signal cut short.
    """

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        self._fd = self._open()

    def _open(self) -> int:
        if self.path is None:
            sys.stdout.flush()
            return sys.stdout.fileno()
        try:
            return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise BPFError(f"cannot open {self.path} for writing: {exc.strerror}") from None

    def write(self, text: str) -> None:
        data = memoryview(text.encode("utf-8", "backslashreplace"))
        while data:
            n = os.write(self._fd, data)
            data = data[n:]

    def reopen(self) -> None:
        """After logrotate moved the file: continue in a new file at ``path``."""
        if self.path is None:
            return
        try:
            new = self._open()
        except BPFError as exc:  # keep writing where we were rather than lose events
            print(f"bpfkit: {exc}; still writing to the old file", file=sys.stderr)
            return
        old, self._fd = self._fd, new
        os.close(old)

    def close(self) -> None:
        if self.path is not None:
            os.close(self._fd)


class TextSink:
    """Aligned columns; the last column is free width.

    A column is (header, width) or (header, width, spec): negative width is
    right-aligned, spec formats a number cell printf-style (".3f"), so rows can carry
    ints and floats rather than strings made one by one. String cells must be
    escaped already.
    """

    def __init__(self, out: Output, columns: Sequence[tuple[Any, ...]]) -> None:
        self.out = out
        heads, cells = [], []
        for k, (_, width, *spec) in enumerate(columns):
            # printf-style: %-formatting a row is about twice as fast as str.format
            pad = "" if k == len(columns) - 1 else (str(-width) if width < 0 else f"-{width}")
            heads.append(f"%{pad}s")
            cells.append(f"%{pad}{spec[0] if spec else 's'}")
        self._fmt = (" ".join(cells) or "%s").__mod__
        # No columns: free-form lines, rows are (line,), and there is no header.
        self.header = " ".join(heads) % tuple(c[0] for c in columns) if columns else None

    def write_header(self) -> None:
        if self.header is not None:
            self.out.write(self.header + "\n")

    def write_rows(self, rows: Iterable[Sequence[str]]) -> None:
        text = "\n".join(map(self._fmt, rows))  # C loops only: this runs per event
        if text:
            self.out.write(text + "\n")


def _default(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    raise TypeError(f"cannot encode {type(v).__name__} as JSON")


class JsonSink:
    """One JSON object per line; ASCII-only, so valid for any bytes traced."""

    def __init__(self, out: Output) -> None:
        import json  # only JSON mode pays for it

        self.out = out
        self._dumps = json.JSONEncoder(separators=(",", ":"), default=_default).encode

    def write_header(self) -> None:
        pass

    def write_records(self, records: Iterable[dict[str, Any]]) -> None:
        dumps = self._dumps
        self.out.write("".join(dumps(r) + "\n" for r in records))
