"""Built-in rotation of an output file, for hosts without logrotate (the way
Tetragon's export-file options work): by size and/or age, FILE -> FILE.1 ->
... -> FILE.KEEP, optionally gzip-compressed (FILE.2.gz...) in a background
thread so the monitor never waits for it.

A rotation happens between two writes, and every write is whole lines, so no
line is ever split across files; with logrotate instead, `postrotate kill
-HUP` reopens the file the same way (never copytruncate: it loses lines).
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    import threading


class Rotation:
    """When to rotate and what to keep."""

    __slots__ = ("every", "gzip", "keep", "size")

    def __init__(self, *, size: int | None = None, every: float | None = None, keep: int = 5,
                 gzip: bool = False) -> None:
        self.size, self.every, self.keep, self.gzip = size, every, keep, gzip


class Rotator:
    """The rotation state of one output file."""

    def __init__(self, path: str, rule: Rotation, current_size: int) -> None:
        self.path, self.rule = path, rule
        self.written = current_size
        self.due = time.monotonic() + rule.every if rule.every else None
        self._compressing: threading.Thread | None = None

    def wrote(self, n: int) -> bool:
        """Count ``n`` bytes written; whether the file is due to rotate."""
        self.written += n
        if self.rule.size is not None and self.written >= self.rule.size:
            return True
        return self.due is not None and time.monotonic() >= self.due

    def postpone(self) -> None:
        """A rotation failed: the next try comes after another file's worth."""
        self.written = 0
        if self.rule.every:
            self.due = time.monotonic() + self.rule.every

    def rotate(self) -> None:
        """Shift FILE.k(.gz) -> FILE.k+1(.gz), FILE -> FILE.1 (the caller then
        opens a new FILE); compress FILE.1 in the background when asked."""
        if self._compressing is not None:
            self._compressing.join()  # a shift must not race the compression of FILE.1
        keep, path = self.rule.keep, self.path
        for k in range(keep, 0, -1):
            for ext in ("", ".gz"):
                src = f"{path}.{k}{ext}"
                if not os.path.exists(src):
                    continue
                if k == keep:
                    os.unlink(src)
                else:
                    os.replace(src, f"{path}.{k + 1}{ext}")
        if keep > 0:
            os.replace(path, f"{path}.1")
        else:
            os.unlink(path)
        self.written = 0
        if self.rule.every:
            self.due = time.monotonic() + self.rule.every
        if self.rule.gzip and keep > 0:
            import threading  # lazy: only rotation with gzip runs a thread

            self._compressing = threading.Thread(target=_gzip, args=(f"{path}.1",), daemon=True)
            self._compressing.start()

    def close(self) -> None:
        if self._compressing is not None:
            self._compressing.join()


def _gzip(path: str) -> None:
    """FILE -> FILE.gz (private, like FILE), then FILE removed."""
    import gzip  # lazy: only compressed rotation needs it
    import shutil

    tmp = f"{path}.gz.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with (open(path, "rb") as src, os.fdopen(fd, "wb") as raw,
              gzip.GzipFile(fileobj=raw, mode="wb") as dst):
            shutil.copyfileobj(src, dst, 1 << 20)
        os.replace(tmp, f"{path}.gz")
        os.unlink(path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass  # the uncompressed file stays: nothing is lost


__all__ = ["Rotation", "Rotator"]
