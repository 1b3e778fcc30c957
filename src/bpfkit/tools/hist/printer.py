"""The engine's buckets, printed and summarised by bpfkit.trace.hist (the one
bpftrace-layout printer of the project).

The kernel side keeps SLOTS counters per histogram. Log2 histograms number
them as bpftrace's hist() does: (..., 0), [0], [1], [2, 4), ... Linear ones
(``--linear STEP``) as its lhist(v, 0, LINEAR_STEPS * STEP, STEP): (..., 0),
LINEAR_STEPS buckets, then [LINEAR_STEPS * STEP, ...).
"""

from __future__ import annotations

from ...trace.hist import HIST, Lhist, hist_lines, hist_text
from ...trace.hist import percentile as _percentile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from ...trace.hist import Slots

SLOTS = 66
LINEAR_STEPS = 64


def numbering(step: int = 0) -> Slots:
    """The bucket numbering of a histogram: log2 (step 0) or linear."""
    return Lhist(0, LINEAR_STEPS * step, step) if step else HIST


def log2_slot(v: int) -> int:
    """The log2 bucket of value ``v`` (as the kernel side computes it)."""
    return HIST.slot(v)


def linear_slot(v: int, step: int) -> int:
    return numbering(step).slot(v)


def bounds(slot: int, step: int = 0) -> tuple[float, float]:
    """[low, high) of a bucket; -inf / inf for the open ends."""
    lo, hi = numbering(step).bounds(slot)
    return (float("-inf") if lo is None else lo), (float("inf") if hi is None else hi)


def label(slot: int, step: int = 0) -> str:
    """bpftrace's text for a bucket: [0], [1], [2, 4), [1K, 2K), [10, 20), [640, ...)."""
    return numbering(step).label(slot)


def histogram_lines(slots: Sequence[int], step: int = 0) -> list[str]:
    return hist_lines(slots, numbering(step))


def block(name: str, slots: Sequence[int], step: int = 0) -> str:
    """One histogram as bpftrace prints it: '@name[key]: ' and its lines."""
    return hist_text(slots, numbering(step), name)


def percentile(slots: Sequence[int], q: float, step: int = 0) -> float | None:
    """The q-quantile (0..1) estimated from the buckets (see trace.hist.percentile)."""
    return _percentile(slots, q * 100, numbering(step))


def add_into(total: list[int], slots: Sequence[int]) -> None:
    for i, c in enumerate(slots):
        if c:
            total[i] += c


def number(v: float | None) -> str:
    """A value for the summary lines: integers plain, others with 3 significant digits."""
    if v is None:
        return "-"
    if v == int(v) or v >= 1000:
        return f"{v:.0f}"
    return f"{v:.3g}"


__all__ = ["LINEAR_STEPS", "SLOTS", "add_into", "block", "bounds", "histogram_lines", "label", "linear_slot",
           "log2_slot", "number", "numbering", "percentile"]
