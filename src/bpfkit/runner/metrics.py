"""Counters and histograms a tool keeps as it goes, cheap enough to touch per
event, that the agent's metrics endpoint reads at scrape time.

No Prometheus import here: `bpfkit agent --metrics` turns these into
prometheus_client families in a custom collector (lazily imported). Labels
are tuples of strings in the order the metric declares; a tool must never use
an unbounded value (a pid, a path, a DNS name) as a label.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


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


__all__ = ["Counter", "Gauge", "Histogram", "Metric", "find"]
