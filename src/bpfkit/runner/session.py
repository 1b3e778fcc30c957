"""A run of one monitor or many in one process: start them, open their
outputs, say READY once all are attached, run the one loop, report drops and
output errors, and end with each monitor's counts.

`bpfkit <tool>` is a session of one monitor; `bpfkit agent` a session of all
of them. A monitor that cannot start on this kernel (its hooks are missing)
stops the session only if it is required; otherwise it is reported, kept as
down (bpfkit_monitor_up 0) and the others run.
"""

from __future__ import annotations

import os
import sys

from ..core.kernel.errors import BPFError
from ..output import Output
from .loop import Loop, Signals, notify_ready, started
from .monitor import Monitor

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from ..output.rotation import Rotation


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


__all__ = ["Entry", "Session", "say", "shared_output"]
