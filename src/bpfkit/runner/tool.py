"""What a monitor is made of: the Tool it subclasses (its options, its
program's configuration, how one event becomes a text row and a JSON
record), the Clock that dates its events and the metrics it keeps.

A tool is a class; the runner makes one instance per run with the parsed
options, and the constructor checks them (raising UsageError) before
anything is opened, loaded or written. Everything else (the poll loop,
signals, drops, output) is the runner's.
"""

from __future__ import annotations

import os
import sys
import time

from ..argv import UsageError

TYPE_CHECKING = False  # typing: imported only for type checkers (start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Sequence
    from typing import Any, ClassVar

    from ..core.object import BPFObject


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


# Counters and histograms a tool keeps as it goes, cheap enough to touch per
# event, that the agent's metrics endpoint reads at scrape time.
#
# No Prometheus import here: `bpfkit agent --metrics` turns these into
# prometheus_client families in a custom collector (lazily imported). Labels
# are tuples of strings in the order the metric declares; a tool must never use
# an unbounded value (a pid, a path, a DNS name) as a label.


class Counter:
    """A monotonically increasing count per label set."""

    kind = "counter"
    __slots__ = ("help", "labels", "name", "values")

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...] = (), by: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + by

    def get(self, labels: tuple[str, ...] = ()) -> float:
        return self.values.get(labels, 0)


class Gauge(Counter):
    """A value that goes up and down (set, not added)."""

    kind = "gauge"
    __slots__ = ()

    def set(self, value: float, labels: tuple[str, ...] = ()) -> None:
        self.values[labels] = value


class Histogram:
    """Observations in fixed upper bounds (``le``), with their count and exact sum."""

    kind = "histogram"
    __slots__ = ("bounds", "help", "labels", "name", "series")

    def __init__(self, name: str, help: str, bounds: Sequence[float], labels: Sequence[str] = ()) -> None:
        self.name, self.help, self.labels = name, help, tuple(labels)
        self.bounds = tuple(sorted(bounds))
        # label set -> [bucket counts (non-cumulative, one per bound, then +Inf), sum]
        self.series: dict[tuple[str, ...], list] = {}

    def observe(self, value: float, labels: tuple[str, ...] = ()) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [[0] * (len(self.bounds) + 1), 0.0]
        counts = s[0]
        for i, b in enumerate(self.bounds):
            if value <= b:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        s[1] += value

    def add_buckets(self, counts: Sequence[int], total: float, labels: tuple[str, ...] = ()) -> None:
        """Merge already-bucketed observations (from an in-kernel histogram)."""
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [[0] * (len(self.bounds) + 1), 0.0]
        for i, c in enumerate(counts):
            s[0][i] += c
        s[1] += total

    def cumulative(self, labels: tuple[str, ...] = ()) -> tuple[list[tuple[float, int]], int, float]:
        """([(le, cumulative count)... (+inf, count)], count, sum) for one label set."""
        counts, total = self.series.get(labels, [[0] * (len(self.bounds) + 1), 0.0])
        out, running = [], 0
        for b, c in zip((*self.bounds, float("inf")), counts, strict=True):
            running += c
            out.append((b, running))
        return out, running, total


Metric = Counter | Gauge | Histogram


def find(metrics: Iterable[Metric], name: str) -> Metric | None:
    return next((m for m in metrics if m.name == name), None)


class Tool:
    """Subclass, set the class attributes, override what the tool needs.

    Events are decoded from the ring as the struct the program declared with
    BPFKIT_RINGBUF; ``ts_field`` names its bpf_ktime_get_ns() timestamp (the
    runner checks it exists when it opens the ring, and turns it into the
    TIME column and the JSON ``ts``).
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    banner: ClassVar[str] = ""  # printed on stderr once every probe is attached
    ring: ClassVar[str] = "events"  # the BPFKIT_RINGBUF map
    ts_field: ClassVar[str | None] = "ts_ns"
    ts_required: ClassVar[bool] = True  # False: events without the field get the time they are read
    ring_field: ClassVar[bool] = False  # JSON records say which ring they came from
    # Hook alternatives, best first (see core.hooks): group -> alternatives, each
    # a program or "a+b" programs needed together. The same as BPFKIT_HOOKS().
    hooks: ClassVar[dict[str, tuple[str, ...]]] = {}
    # --hooks CHOICE (see add_hooks_argument): the kinds of program each choice
    # keeps in every hook group (BPFObject.restrict_hooks). Best first.
    hook_kinds: ClassVar[dict[str, frozenset[str]]] = {}
    # Programs this kernel may lack the hook of (open(2) on arm64, a newer
    # syscall): each an optional group of its own, switched off when missing.
    optional_programs: ClassVar[tuple[str, ...]] = ()
    # The runner's --interval: its default and meaning for this tool (a tool
    # with periodic reports makes it the report period; None: on exit only).
    interval_default: ClassVar[float | None] = 0.1
    interval_help: ClassVar[str] = "longest time an event waits before it is printed (default 0.1)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        pass

    @classmethod
    def add_hooks_argument(cls, p: Any) -> None:
        """--hooks auto|CHOICE..., for a tool whose program declares alternatives."""
        p.add_argument("--hooks", choices=("auto", *cls.hook_kinds), default="auto",
                       help="which kind of hooks (default auto: the best this kernel offers, in "
                            "this order; --verbose says which were kept)")

    @classmethod
    def object_path(cls) -> str:
        """The compiled NAME.bpf.o next to the tool's module."""
        module = sys.modules[cls.__module__].__file__ or ""
        return os.path.join(os.path.dirname(module), f"{cls.name}.bpf.o")

    def object_source(self) -> str | bytes:
        """The object to open: its path, or its bytes when the tool runs from
        a zip archive (the single-file deploy), read through the module's loader."""
        path = self.object_path()
        if os.path.isfile(path):
            return path
        get_data = getattr(getattr(sys.modules[type(self).__module__], "__loader__", None), "get_data", None)
        if get_data is not None:
            try:
                return get_data(path)
            except OSError:
                pass
        return path  # opening it says: no such file (build it)

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        """Check the options (UsageError) and keep what the run needs."""
        self.args = args
        self.clock = clock

    # -- before and after load -------------------------------------------------------------
    def declare(self, obj: BPFObject) -> None:
        """Hook alternatives, before anything else is decided."""
        for group, alternatives in self.hooks.items():
            obj.declare_hooks(group, *alternatives)
        for name in self.optional_programs:
            obj.declare_hooks(name, name, optional=True)
        forced = getattr(self.args, "hooks", "auto")
        if forced != "auto":
            try:
                obj.restrict_hooks(self.hook_kinds[forced])
            except ValueError as e:  # the tool's hook_kinds and its object disagree
                raise UsageError(f"--hooks {forced}: {e}") from None

    def rings(self, obj: BPFObject) -> list[str]:
        """The event maps to read."""
        return [self.ring]

    def event_type(self, ring: str) -> str | None:
        """The struct events of ``ring`` decode as (None: what BPFKIT_RINGBUF declared)."""
        return None

    def configure(self, obj: BPFObject) -> None:
        """Options -> .rodata (before load), map sizes."""

    def loaded(self, obj: BPFObject) -> None:
        """After load, before attach: fill maps the programs read from the start."""

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        """After attach, before the first event is read."""

    # -- per event -----------------------------------------------------------------------------
    def columns(self) -> list[tuple[Any, ...]]:
        """(header, width[, spec]) per text column; negative width: right-aligned,
        spec: format of a number cell (".3f"). No columns: rows are (line,)."""
        return []

    # Optional user-space filter, applied once per event before row/record:
    # keep(ev) -> bool. None: keep everything (filter in the kernel).
    keep: Any = None

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        """Cells for one event (escaped strings, or numbers), or None to leave it out."""
        raise NotImplementedError

    def record(self, ev: Any) -> dict[str, Any] | None:
        """The JSON object for one event (without ts/tool), or None to leave it out."""
        raise NotImplementedError

    def event_kind(self, ev: Any) -> str:
        """What kind of event ``ev`` is, for bpfkit_events_total{event=...}
        (called per event only when metrics are on)."""
        return "event"

    def summary(self) -> Iterable[str]:
        """Lines printed on stderr when the run ends, after the event counts."""
        return ()

    # -- periodic reports and metrics ------------------------------------------------------------
    # Seconds between report() calls (set in __init__, e.g. from the tool's own
    # --interval); None: the tool only reports events.
    report_every: float | None = None

    def report(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        """What to write now (every ``report_every`` seconds, and once more,
        ``final``, when the run ends): (text block, JSON record) pairs; the
        runner writes the one the output mode calls for."""
        return []

    def metrics(self) -> list[Metric]:
        """The tool's own counters and histograms (Counter, Gauge, Histogram above), kept up to
        date by observe(); the agent exports them. Labels must be bounded."""
        return []

    def observe(self, ev: Any) -> None:
        """Count one event into metrics() (called per event only when metrics are on)."""


__all__ = ["Clock", "Counter", "Gauge", "Histogram", "Metric", "Tool", "find"]
