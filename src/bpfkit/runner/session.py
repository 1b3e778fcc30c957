"""A run of one monitor or many in one process: start them, open their
outputs, say READY once all are attached, run the one loop, report drops and
output errors, and end with each monitor's counts.

`bpfkit <tool>` is a session of one monitor; `bpfkit agent` a session of all
of them. A monitor that cannot start on this kernel (its hooks are missing)
stops the session only if it is required; otherwise it is reported, kept as
down (bpfkit_monitor_up 0) and the others run.
"""

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

from ..core.kernel.errors import BPFError
from ..output import Output
from .monitor import Monitor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..output.rotation import Rotation


# -- the loop --------------------------------------------------------------------------------------
# The poll loop every run shares, one monitor or many: it waits on all their
# readers at once, moves what arrived to the outputs, reports drops, reopens
# outputs on SIGHUP and stops on SIGINT/SIGTERM or at the deadline, after one
# last pass that drains what was queued.

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


# -- the session -----------------------------------------------------------------------------------
def say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError, AttributeError):
        pass  # stderr closed: the exit status and the output still tell


class Entry:
    """A monitor of the session and where its events go."""

    __slots__ = ("json", "monitor", "open_output", "output", "prefix", "required")

    def __init__(self, monitor: Monitor, open_output: Callable[[], Output], *, json: bool,
                 prefix: str = "", required: bool = True) -> None:
        self.monitor, self.open_output, self.json = monitor, open_output, json
        self.prefix, self.required = prefix, required
        self.output: Output | None = None


class Session:
    def __init__(self, signals: Signals, *, host: str | None = None, agent: bool = False) -> None:
        self.signals = signals
        self.entries: list[Entry] = []
        self.host = host or os.uname().nodename
        self.agent = agent
        self.on_started: list[Callable[[Session], None]] = []

    def add(self, monitor: Monitor, open_output: Callable[[], Output], *, json: bool, prefix: str = "",
            required: bool = True) -> None:
        self.entries.append(Entry(monitor, open_output, json=json, prefix=prefix, required=required))

    def add_failed(self, name: str, error: str) -> None:
        """A monitor that could not even be set up here (e.g. no ZFS device):
        reported, and down in the metrics."""
        say(f"bpfkit agent: {name} not started: {error}")
        self.entries.append(Entry(Unavailable(name, error), lambda: Output(None),  # type: ignore[arg-type]
                                  json=False, required=False))

    @property
    def running(self) -> list[Monitor]:
        return [e.monitor for e in self.entries if e.monitor.error is None]

    # -- start -----------------------------------------------------------------------------------
    def _start_all(self) -> list[tuple[Entry, BaseException | None]]:
        """Start every monitor; several at once in threads, so their loads
        (the verifier runs in the kernel, outside the GIL) use every CPU."""
        todo = [e for e in self.entries if e.monitor.error is None]

        def one(e: Entry) -> tuple[Entry, BaseException | None]:
            try:
                e.monitor.start()
            except BaseException as exc:  # reported per monitor below
                return e, exc
            return e, None

        if len(todo) < 2:
            return [one(e) for e in todo]
        from concurrent.futures import ThreadPoolExecutor  # lazy: only sessions of several monitors

        with ThreadPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 2)) as pool:
            return list(pool.map(one, todo))

    def start(self, *, verbose: bool = False) -> None:
        results = self._start_all()
        fatal = next((exc for e, exc in results if exc is not None
                      and (e.required or not isinstance(exc, BPFError))), None)
        if fatal is not None:
            raise fatal
        for e, exc in results:
            if exc is not None:
                m = e.monitor
                m.error = str(exc).splitlines()[0]
                m.close()
                say(f"bpfkit agent: {m.name} not started: {m.error}")
        if not self.running:
            raise BPFError("no monitor could start on this kernel (see above)")
        for e in self.entries:
            if e.monitor.error is not None:
                continue
            e.output = e.open_output()
            envelope = {"host": self.host, "monitor": e.monitor.name, "tool": e.monitor.name}
            sink = e.monitor.open_output(e.output, json=e.json, prefix=e.prefix, envelope=envelope)
            if verbose:
                for line in e.monitor.describe():
                    say(line)
            sink.write_header()
        for e in self.entries:
            if e.monitor.error is None and e.monitor.tool.banner and not self.agent:
                say(e.monitor.tool.banner)
        if self.agent:
            names = ", ".join(m.name for m in self.running)
            say(f"bpfkit agent: running {names}. Ctrl+C to stop.")
        for hook in self.on_started:
            hook(self)
        notify_ready()
        started()

    # -- run ---------------------------------------------------------------------------------------
    def run(self, *, interval: float, duration: float | None) -> None:
        def on_drops(m: Monitor, ring: str, transport: str, new: int, total: int) -> None:
            say(f"bpfkit {m.name}: {new} events dropped ({transport} full; {total} in all): "
                "raise --ring-buffer-kb")
            m.write_lost(ring, new, total)

        Loop(self.running, self.signals, interval=interval, duration=duration, reopen=self.reopen,
             on_drops=on_drops).run()

    def reopen(self) -> None:
        seen = set()
        for e in self.entries:
            if e.output is not None and id(e.output) not in seen:
                seen.add(id(e.output))
                e.output.reopen()

    def finish(self) -> None:
        """Counts and summaries on stderr, outputs closed (their losses said)."""
        for e in self.entries:
            m = e.monitor
            if m.error is not None:
                continue
            label = f"{m.name}: " if self.agent else ""
            for line in [*m.counts(), *m.tool.summary()]:
                say(label + line)
        closed = set()
        for e in self.entries:
            out = e.output
            if out is None or id(out) in closed:
                continue
            closed.add(id(out))
            out.close()
            if out.lost_lines:
                say(f"output errors: {out.lost_lines} lines could not be written to "
                    f"{out.path or 'standard output'}")

    def close(self) -> None:
        for e in self.entries:
            e.monitor.close()
            if e.output is not None:
                try:
                    e.output.close()
                except OSError:
                    pass
        self.signals.close()


class Unavailable:
    """Stands for a monitor that never got as far as a Monitor."""

    def __init__(self, name: str, error: str) -> None:
        self.name, self.error = name, error
        self.obj, self.readers, self.by_kind = None, [], None

    def close(self) -> None:
        pass


def shared_output(outputs: dict[str | None, Output], path: str | None, group: int | None,
                  rotation: Rotation | None = None) -> Output:
    """One Output per destination path (monitors writing to one file share it)."""
    if path not in outputs:
        outputs[path] = Output(path, group=group, rotation=rotation if path else None)
    return outputs[path]


__all__ = ["Entry", "Loop", "Session", "Signals", "notify_ready", "say", "shared_output", "started"]
