"""Kernel time -> wall-clock time, for the TIME column and the JSON ``ts``."""

from __future__ import annotations

import time


class Clock:
    """Kernel CLOCK_MONOTONIC ns (bpf_ktime_get_ns) -> wall-clock time, computed once."""

    def __init__(self) -> None:
        self.offset = time.time() - time.monotonic()
        self.start_ns = time.monotonic_ns()
        self._sec, self._sec_iso = -1, ""
        self._hsec, self._hms = -1, ""

    def wall(self, ktime_ns: int) -> float:
        return ktime_ns / 1e9 + self.offset

    def iso(self, ktime_ns: int) -> str:
        """RFC 3339 UTC with microseconds; the date part is formatted once per second."""
        us = int(self.wall(ktime_ns) * 1e6)
        sec = us // 1_000_000
        if sec != self._sec:
            self._sec = sec
            self._sec_iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
        return f"{self._sec_iso}.{us % 1_000_000:06d}Z"

    def now_iso(self) -> str:
        return self.iso(time.monotonic_ns())

    def hms(self, ktime_ns: int) -> str:
        """Local HH:MM:SS, the text TIME column; formatted once per second."""
        sec = int(ktime_ns / 1e9 + self.offset)
        if sec != self._hsec:
            self._hsec, self._hms = sec, time.strftime("%H:%M:%S", time.localtime(sec))
        return self._hms

    def relative(self, ktime_ns: int) -> float:
        return (ktime_ns - self.start_ns) / 1e9


__all__ = ["Clock"]
