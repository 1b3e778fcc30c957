"""Where events go: stdout or a file (appended, reopened on SIGHUP for logrotate),
as aligned text (here) or JSON lines (jsonlines.py), written once per batch."""

from __future__ import annotations

import os
import stat
import sys
import time

from ..core.kernel.errors import BPFError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from .rotation import Rotation, Rotator


class Output:
    """A line-oriented destination: stdout, or FILE opened for append (see
    files.py for how it is opened safely).

    Writes go straight to the file descriptor, one write per batch, looping
    on short writes: a TextIOWrapper over an unbuffered stream (python -u,
    PYTHONUNBUFFERED) drops the rest of a write that a signal cut short.

    A write that fails (full disk, quota, I/O error, /dev/full) never stops
    the monitor: what was written of the batch is cut back to its last whole
    line (a line is written whole or not at all), the unwritten lines wait in
    a bounded backlog and go out first once writing works again, lines that
    do not fit the backlog are counted in ``lost_lines``, and a warning goes
    to stderr at most every WARN_EVERY seconds.
    """

    BACKLOG_BYTES = 4 << 20
    WARN_EVERY = 10.0

    def __init__(self, path: str | None = None, *, group: int | None = None,
                 rotation: Rotation | None = None) -> None:
        self.path, self.group = path, group
        self.lost_lines = 0  # lines that could not be written, ever
        self.failed_writes = 0
        self._backlog: list[bytes] = []
        self._backlog_size = 0
        self._failing: str | None = None  # the error while writes fail
        self._last_warn = 0.0
        self._fd, self.fresh = self._open()
        self._rotator: Rotator | None = None
        if rotation is not None and path is not None and stat.S_ISREG(os.fstat(self._fd).st_mode):
            from .rotation import Rotator  # lazy: only --rotate-size/--rotate-every

            self._rotator = Rotator(path, rotation, os.fstat(self._fd).st_size)

    def _open(self) -> tuple[int, bool]:
        if self.path is None:
            if sys.stdout is None:
                raise BPFError("standard output is closed: give --output FILE")
            sys.stdout.flush()
            try:
                fd = sys.stdout.fileno()
                os.fstat(fd)
            except (OSError, ValueError):
                raise BPFError("standard output is closed: give --output FILE") from None
            return fd, True
        from .files import open_output  # lazy: only an --output file (see __init__)

        return open_output(self.path, group=self.group)

    def write(self, text: str) -> bool:
        """Write whole lines; False when some could not be written (yet)."""
        data = text.encode("utf-8", "backslashreplace")
        if self._backlog:
            data = b"".join(self._backlog) + data
            self._backlog.clear()
            self._backlog_size = 0
        view, start = memoryview(data), 0
        while start < len(data):
            end, done = self._chunk_end(data, start), 0
            try:
                while start + done < end:
                    done += os.write(self._fd, view[start + done:end])
            except OSError as exc:
                self._failed(data[start:], done, exc)
                return False
            if self._failing is not None:
                self._warn(f"writing to {self._name()} again ({self.lost_lines} lines lost in all)")
                self._failing = None
            if self._rotator is not None and self._rotator.wrote(end - start):
                self._rotate()
            start = end
        return True

    def _chunk_end(self, data: bytes, start: int) -> int:
        """Where the next write stops: the end, or with rotation by size the
        last whole line that fits in the current file (at least one line), so
        a file ends near --rotate-size however many lines a batch holds."""
        rot = self._rotator
        if rot is None or rot.rule.size is None:
            return len(data)
        room = rot.rule.size - rot.written
        if len(data) - start <= room:
            return len(data)
        cut = data.rfind(b"\n", start, start + max(room, 0)) + 1
        if cut > start:
            return cut
        if rot.written > 0:  # not even the next line fits: it starts the next file
            self._rotate()
            return self._chunk_end(data, start)
        return data.find(b"\n", start) + 1 or len(data)  # a line longer than a file: whole

    def _rotate(self) -> None:
        """Built-in rotation: between two whole-line writes, so nothing splits."""
        assert self._rotator is not None
        try:
            self._rotator.rotate()
            new, self.fresh = self._open()
        except (OSError, BPFError) as exc:
            self._warn(f"cannot rotate {self.path}: {getattr(exc, 'strerror', None) or exc}; "
                       "still writing to the old file")
            self._rotator.postpone()  # try again after another file's worth, not at every line
            return
        old, self._fd = self._fd, new
        os.close(old)

    def _failed(self, data: bytes, done: int, exc: OSError) -> None:
        self.failed_writes += 1
        keep = data.rfind(b"\n", 0, done) + 1  # the whole lines that made it
        if keep < done:
            try:  # take the half line back out, where the file allows it
                os.ftruncate(self._fd, os.lseek(self._fd, 0, os.SEEK_END) - (done - keep))
            except OSError:
                keep = done  # a pipe or tty: it is out; the rest waits
        rest = data[keep:]
        room = self.BACKLOG_BYTES - self._backlog_size
        if len(rest) <= room:
            self._backlog.append(rest)
            self._backlog_size += len(rest)
        else:
            cut = rest.rfind(b"\n", 0, room) + 1
            self._backlog.append(rest[:cut])
            self._backlog_size += cut
            self.lost_lines += rest.count(b"\n", cut)
        first = self._failing is None
        self._failing = exc.strerror or str(exc)
        now = time.monotonic()
        if first or now - self._last_warn >= self.WARN_EVERY:
            self._warn(f"cannot write to {self._name()}: {self._failing} (still tracing; "
                       f"{self._backlog_size} bytes waiting, {self.lost_lines} lines lost so far)")

    def _warn(self, message: str) -> None:
        self._last_warn = time.monotonic()
        try:
            print(f"bpfkit: {message}", file=sys.stderr, flush=True)
        except (OSError, ValueError, AttributeError):
            pass  # stderr gone too: the counters still tell

    def _name(self) -> str:
        return self.path or "standard output"

    def pending_lines(self) -> int:
        return sum(chunk.count(b"\n") for chunk in self._backlog)

    def reopen(self) -> None:
        """After logrotate moved the file: continue in a new file at ``path``."""
        if self.path is None:
            return
        try:
            new, self.fresh = self._open()
        except BPFError as exc:  # keep writing where we were rather than lose events
            self._warn(f"{exc}; still writing to the old file")
            return
        old, self._fd = self._fd, new
        os.close(old)
        if self._backlog:
            self.write("")

    def close(self) -> None:
        """Flush what waits (one last try), then close; what still cannot be
        written counts as lost."""
        if self._fd < 0:
            return
        if self._backlog:
            self.write("")
            self.lost_lines += self.pending_lines()
            self._backlog.clear()
        if self.path is not None:
            os.close(self._fd)
        self._fd = -1
        if self._rotator is not None:
            self._rotator.close()


class TextSink:
    """Aligned columns; the last column is free width.

    A column is (header, width) or (header, width, spec): negative width is
    right-aligned, spec formats a number cell printf-style (".3f"), so rows can carry
    ints and floats rather than strings made one by one. String cells must be
    escaped already.
    """

    def __init__(self, out: Output, columns: Sequence[tuple[Any, ...]], *, prefix: str = "") -> None:
        self.out = out
        heads, cells = [], []
        for k, (_, width, *spec) in enumerate(columns):
            # printf-style: %-formatting a row is about twice as fast as str.format
            pad = "" if k == len(columns) - 1 else (str(-width) if width < 0 else f"-{width}")
            heads.append(f"%{pad}s")
            cells.append(f"%{pad}{spec[0] if spec else 's'}")
        # a prefix ("[fileopen] " in the agent) is part of the format: no per-row work
        self._fmt = (prefix.replace("%", "%%") + (" ".join(cells) or "%s")).__mod__
        # No columns: free-form lines, rows are (line,), and there is no header.
        self.header = prefix + " ".join(heads) % tuple(c[0] for c in columns) if columns else None

    def write_header(self) -> None:
        """The column header, unless the file already has lines (a restart
        appending to its log must not repeat it mid-file)."""
        if self.header is not None and self.out.fresh:
            self.out.write(self.header + "\n")

    def write_rows(self, rows: Iterable[Sequence[str]]) -> None:
        text = "\n".join(map(self._fmt, rows))  # C loops only: this runs per event
        if text:
            self.out.write(text + "\n")


__all__ = ["Output", "TextSink"]
