"""The poll loop every run shares, one monitor or many: it waits on all their
readers at once, moves what arrived to the outputs, reports drops, reopens
outputs on SIGHUP and stops on SIGINT/SIGTERM or at the deadline, after one
last pass that drains what was queued."""

from __future__ import annotations

import gc
import os
import select
import sys
import time

try:
    import _signal as signal  # the C module; `signal` wraps it in enums (~4 ms)
except ImportError:  # pragma: no cover - not CPython
    import signal  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .monitor import Monitor

DROP_REPORT_EVERY = 1.0  # seconds between drop warnings on stderr


class Signals:
    """SIGINT/SIGTERM ask to stop, SIGHUP to reopen outputs. Each also writes
    to a pipe the loop waits on, so it acts at once, not at the next timeout.
    Installed before start-up: a logrotate HUP during a (re)start must not
    kill the monitor."""

    def __init__(self) -> None:
        self.stop = False
        self.reopen = False
        self._r, self._w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_fd = signal.set_wakeup_fd(self._w, warn_on_full_buffer=False)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)

    def _on_stop(self, *_: object) -> None:
        self.stop = True

    def _on_hup(self, *_: object) -> None:
        self.reopen = True

    def fileno(self) -> int:
        return self._r

    def drain(self) -> None:
        try:
            while os.read(self._r, 512):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._r)
        os.close(self._w)


def notify_ready() -> None:
    """Tell systemd (Type=notify) we are ready, when it asked."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    import socket  # lazy: only under systemd

    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        try:
            s.sendto(b"READY=1", addr)
        except OSError as exc:
            print(f"bpfkit: cannot notify systemd at {addr!r}: {exc.strerror}", file=sys.stderr)


def started() -> None:
    """Start-up is over: what it allocated lives as long as the process, so
    freeze it out of the collector's sight and collect as usual from here."""
    gc.freeze()
    gc.enable()


class Loop:
    """Runs ``monitors`` (already started) until a stop signal or ``duration``."""

    def __init__(self, monitors: list[Monitor], signals: Signals, *, interval: float,
                 duration: float | None, reopen: Callable[[], None],
                 on_drops: Callable[[Monitor, str, str, int, int], None]) -> None:
        self.monitors, self.signals = monitors, signals
        self.interval, self.duration = interval, duration
        self._reopen, self._on_drops = reopen, on_drops
        self._ep = select.epoll()
        self._ep.register(signals.fileno(), select.EPOLLIN)
        for m in monitors:
            for fd in m.fds():
                self._ep.register(fd, select.EPOLLIN)

    def run(self) -> None:
        sig, interval = self.signals, self.interval
        deadline = time.monotonic() + self.duration if self.duration is not None else None
        last_report = 0.0
        try:
            while True:
                now = time.monotonic()
                # Decide once per pass: a signal that lands while this pass writes
                # still gets the final drain on the next pass.
                last_pass = sig.stop or (deadline is not None and now >= deadline)
                if not last_pass:
                    wait = interval if deadline is None else min(interval, deadline - now)
                    for m in self.monitors:  # a periodic report due sooner
                        if m.next_report is not None:
                            wait = min(wait, m.next_report - now)
                    try:
                        self._ep.poll(max(wait, 0.0))
                    except InterruptedError:  # pragma: no cover - PEP 475 retries
                        pass
                    sig.drain()
                if sig.reopen:
                    sig.reopen = False
                    self._reopen()
                now = time.monotonic()
                for m in self.monitors:
                    m.pump()
                    m.tick(now, final=last_pass)
                if last_pass or time.monotonic() - last_report >= DROP_REPORT_EVERY:
                    for m in self.monitors:
                        for ring, transport, new, total in m.new_drops():
                            self._on_drops(m, ring, transport, new, total)
                            last_report = time.monotonic()
                if last_pass:
                    return
        finally:
            self._ep.close()


__all__ = ["Loop", "Signals", "notify_ready", "started"]
