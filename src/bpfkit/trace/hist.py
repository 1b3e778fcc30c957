"""Histograms from bucket counts, printed as libbpf-tools and bpftrace print them,
and percentiles estimated from the buckets.

A histogram is a list of counts, one per bucket (a BPF map's ``slots[]``). Which
values a bucket holds depends on how the BPF side numbered them, so every
function takes the numbering (``slots=``) as one of four objects:

==============================  ====================================================
``LOG2``                        libbpf-tools' ``log2l()`` (bits.bpf.h): bucket 0 holds
                                0 and 1, bucket i holds [2^i, 2^(i+1))
``HIST``                        bpftrace's ``hist()``: 0 holds negatives, 1 holds 0,
                                2 holds 1, bucket i >= 3 holds [2^(i-2), 2^(i-1))
``Linear(base, step)``          libbpf-tools' linear buckets: i holds
                                [base + i*step, base + (i+1)*step)
``Lhist(min, max, step)``       bpftrace's ``lhist()``: 0 holds (..., min), i in 1..n
                                holds [min + (i-1)*step, min + i*step), n+1 holds
                                [max, ...), n = (max - min) // step
==============================  ====================================================

Each has ``slot(value)`` (the bucket a value goes to, as the BPF side computes it),
``bounds(i)`` and ``label(i)``.

Layouts:

- ``log2_hist_text`` / ``linear_hist_text`` (and ``print_*``) are byte for byte
  libbpf-tools' ``print_log2_hist`` / ``print_linear_hist`` (trace_helpers.c):
  ``     usecs               : count    distribution`` and ``*`` bars of 40.
- ``hist_text`` / ``hist_map_text`` are bpftrace's (``@usecs[comm]: `` then
  ``[2, 4)                12 |@@@@@@    |``): label left in 16, count right in 8,
  ``@`` bars of 52 computed in single precision as bpftrace does, labels with
  bpftrace's K/M/G/T/P/E suffixes (log2) and K/M (lhist). They print any of the
  four numberings; with ``HIST`` and ``Lhist`` the text is bpftrace's own
  (checked against bpftrace 0.17; P and E are 0.20's, 0.17 says 1024T).
  ``HIST.slot()`` is the true log2: bpftrace 0.17's BPF side puts every value
  from 2^32 up into [2G, 4G).

Differences from the C, on purpose: counts above 2^32/40 get correct ``*`` bars
(libbpf-tools' ``unsigned int`` product overflows there) and print as the
unsigned numbers they are (``%-8d`` shows them negative); log2 bucket 63's
edges print as 2^63 -> 2^64-1 (the C shifts past 64 bits there); keys of
``hist_map_text`` are escaped like all of bpfkit's text output.
"""

from __future__ import annotations

from struct import Struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import IO

BAR_WIDTH = 52      # bpftrace's
STARS = 40          # libbpf-tools'
_F32 = Struct("f")
_HIST_SUFFIXES = ("", "K", "M", "G", "T", "P", "E")


class Log2:
    """libbpf-tools' log2 buckets (``log2l(v)``: bucket 0 holds 0 and 1)."""

    __slots__ = ()

    def slot(self, value: int) -> int:
        return max(int(value).bit_length() - 1, 0)

    def bounds(self, i: int) -> tuple[int | None, int | None]:
        """[low, high) of bucket ``i``; None for an open end."""
        return (0 if i == 0 else 1 << i), 1 << (i + 1)

    def label(self, i: int) -> str:
        return f"[{0 if i == 0 else _power_label(i)}, {_power_label(i + 1)})"

    def __repr__(self) -> str:
        return "LOG2"


class Hist:
    """bpftrace's ``hist()`` buckets: (..., 0), [0], [1], [2, 4), [4, 8)..."""

    __slots__ = ()

    def slot(self, value: int) -> int:
        value = int(value)
        if value < 0:
            return 0
        if value == 0:
            return 1
        return value.bit_length() + 1

    def bounds(self, i: int) -> tuple[int | None, int | None]:
        if i == 0:
            return None, 0
        if i == 1:
            return 0, 1
        return 1 << (i - 2), 1 << (i - 1)

    def label(self, i: int) -> str:
        if i == 0:
            return "(..., 0)"
        if i in (1, 2):
            return f"[{i - 1}]"
        return f"[{_power_label(i - 2)}, {_power_label(i - 1)})"

    def __repr__(self) -> str:
        return "HIST"


class Linear:
    """libbpf-tools' linear buckets: bucket i holds [base + i*step, base + (i+1)*step)."""

    __slots__ = ("base", "step")

    def __init__(self, base: int, step: int) -> None:
        if step <= 0:
            raise ValueError(f"a linear histogram's step must be positive, not {step}")
        self.base, self.step = int(base), int(step)

    def slot(self, value: int) -> int:
        """The bucket of ``value``; the BPF side clamps to its last bucket itself."""
        return max((int(value) - self.base) // self.step, 0)

    def bounds(self, i: int) -> tuple[int | None, int | None]:
        return self.base + i * self.step, self.base + (i + 1) * self.step

    def label(self, i: int) -> str:
        lo, hi = self.bounds(i)
        return f"[{_number_label(lo)}, {_number_label(hi)})"

    def __repr__(self) -> str:
        return f"Linear(base={self.base}, step={self.step})"


class Lhist:
    """bpftrace's ``lhist(value, min, max, step)`` buckets."""

    __slots__ = ("buckets", "max", "min", "step")

    def __init__(self, min: int, max: int, step: int) -> None:
        if step <= 0 or max <= min:
            raise ValueError(f"lhist needs min < max and step > 0 (got {min}, {max}, {step})")
        self.min, self.max, self.step = int(min), int(max), int(step)
        self.buckets = (self.max - self.min) // self.step  # without the two open ones

    def slot(self, value: int) -> int:
        value = int(value)
        if value < self.min:
            return 0
        if value >= self.max:
            return self.buckets + 1
        return (value - self.min) // self.step + 1

    def bounds(self, i: int) -> tuple[int | None, int | None]:
        if i == 0:
            return None, self.min
        if i > self.buckets:
            return self.max, None
        return self.min + (i - 1) * self.step, self.min + i * self.step

    def label(self, i: int) -> str:
        if i == 0:
            return f"(..., {_number_label(self.min)})"
        if i > self.buckets:
            return f"[{_number_label(self.max)}, ...)"
        lo, hi = self.bounds(i)
        return f"[{_number_label(lo)}, {_number_label(hi)})"

    def __repr__(self) -> str:
        return f"Lhist(min={self.min}, max={self.max}, step={self.step})"


LOG2 = Log2()
HIST = Hist()
Slots = Log2 | Hist | Linear | Lhist


def _power_label(power: int) -> str:
    """2**power as bpftrace's hist() prints it: 512, 1K, 2M, 4G..."""
    decade = min(power // 10, len(_HIST_SUFFIXES) - 1)
    return f"{1 << (power - 10 * decade)}{_HIST_SUFFIXES[decade]}"


def _number_label(n: int) -> str:
    """A number as bpftrace's lhist() prints it: exact multiples of 1M and 1K get M and K."""
    if n and n % 1048576 == 0:
        return f"{n // 1048576}M"
    if n and n % 1024 == 0:
        return f"{n // 1024}K"
    return str(n)


def _f32(x: float) -> float:
    return _F32.unpack(_F32.pack(x))[0]


def _bar(count: int, top: int) -> str:
    # bpftrace: int bar_width = count / (float)max_value * 52, all in single
    # precision (rounding each step through a double is exact for / and *).
    return "@" * int(_f32(_f32(_f32(count) / _f32(top)) * BAR_WIDTH))


def _stars(count: int, top: int, width: int) -> str:
    n = min(count, top) * width // top
    return "*" * n + " " * (width - n) + ("+" if count > top else "")


# -- libbpf-tools' layout -----------------------------------------------------------------------------

def log2_hist_text(counts: Sequence[int], unit: str = "usecs") -> str:
    """libbpf-tools' ``print_log2_hist(counts, len, unit)`` output ('' when all are 0);
    ``counts`` in ``LOG2`` numbering."""
    used = [i for i, c in enumerate(counts) if c > 0]
    if not used:
        return ""
    top, last = max(counts), used[-1]
    narrow = last <= 32
    width, stars = (10, STARS) if narrow else (20, STARS // 2)
    lines = [f"{'':{5 if narrow else 15}}{unit:<{19 if narrow else 29}} : count    distribution"]
    for i in range(last + 1):
        low, high = (1 << (i + 1)) >> 1, (1 << (i + 1)) - 1
        if low == high:
            low -= 1
        c = counts[i]
        lines.append(f"{low:>{width}} -> {high:<{width}} : {c:<8} |{_stars(c, top, stars)}|")
    return "\n".join(lines) + "\n"


def linear_hist_text(counts: Sequence[int], base: int, step: int, unit: str = "usecs") -> str:
    """libbpf-tools' ``print_linear_hist(counts, len, base, step, unit)`` output: only
    non-empty buckets, each labelled with its low edge."""
    used = [i for i, c in enumerate(counts) if c > 0]
    if not used:
        return ""
    top = max(counts)
    lines = [f"     {unit:<13} : count     distribution"]
    for i in range(used[0], used[-1] + 1):
        c = counts[i]
        if c:
            lines.append(f"        {base + i * step:<10} : {c:<8} |{_stars(c, top, STARS)}|")
    return "\n".join(lines) + "\n"


def print_log2_hist(counts: Sequence[int], unit: str = "usecs", file: IO[str] | None = None) -> None:
    """Print as libbpf-tools' ``print_log2_hist`` does (to stdout by default)."""
    _write(log2_hist_text(counts, unit), file)


def print_linear_hist(counts: Sequence[int], base: int, step: int, unit: str = "usecs",
                      file: IO[str] | None = None) -> None:
    """Print as libbpf-tools' ``print_linear_hist`` does."""
    _write(linear_hist_text(counts, base, step, unit), file)


# -- bpftrace's layout ---------------------------------------------------------------------------------

def hist_lines(counts: Sequence[int], slots: Slots = HIST) -> list[str]:
    """bpftrace's lines for one histogram, from the first to the last non-empty bucket."""
    used = [i for i, c in enumerate(counts) if c > 0]
    if not used:
        return []
    top = max(counts)
    return [f"{slots.label(i):<16}{counts[i]:>8} |{_bar(counts[i], top):<{BAR_WIDTH}}|"
            for i in range(used[0], used[-1] + 1)]


def hist_text(counts: Sequence[int], slots: Slots = HIST, name: str | None = None) -> str:
    """One histogram as bpftrace prints it: ``name: `` (when given; e.g. ``@usecs``
    or ``@usecs[bash]``) and its lines, each ending in a newline."""
    lines = hist_lines(counts, slots)
    if name is not None:
        lines.insert(0, f"{name}: ")
    return "".join(line + "\n" for line in lines)


def _key_text(key: object) -> str:
    from ..output.escape import escape  # lazy: only keyed maps print untrusted strings

    if key is None or key == ():
        return ""
    parts = key if isinstance(key, tuple) else (key,)
    text = ", ".join(p.decode(errors="surrogateescape") if isinstance(p, bytes) else str(p)
                     for p in parts)
    return f"[{escape(text)}]"


def hist_map_text(name: str, hists: Mapping[object, Sequence[int]], slots: Slots = HIST) -> str:
    """A whole map of histograms as bpftrace prints it at exit: one block per key,
    keys ordered by their total count, smallest first (ties keep the mapping's
    order), ``@name[k1, k2]: `` per block, a blank line after each. A key is a
    scalar or a tuple (``("bash", 5)`` prints as ``[bash, 5]``)."""
    ordered = sorted(hists.items(), key=lambda kv: sum(kv[1]))
    blocks = [hist_text(counts, slots, f"{name}{_key_text(key)}") for key, counts in ordered]
    return "\n".join(blocks) + "\n"


def print_hist(counts: Sequence[int], slots: Slots = HIST, name: str | None = None,
               file: IO[str] | None = None) -> None:
    """Print one histogram in bpftrace's layout."""
    _write(hist_text(counts, slots, name), file)


def _write(text: str, file: IO[str] | None) -> None:
    if file is None:
        import sys  # lazy: sys.stdout at call time, so redirections count

        file = sys.stdout
    file.write(text)


# -- numbers from buckets ------------------------------------------------------------------------------

def percentile(counts: Sequence[int], pct: float, slots: Slots = LOG2) -> float | None:
    """The ``pct``-th percentile (0 < pct <= 100) estimated from the buckets: the
    bucket holding that rank is found exactly; inside it the value is interpolated
    linearly. A bucket of one value ([0], [1] of HIST) gives that value, an open
    one its finite edge. None when every count is 0."""
    if not 0 < pct <= 100:
        raise ValueError(f"a percentile is in (0, 100], not {pct}")
    total = sum(counts)
    if total <= 0:
        return None
    rank = total * pct / 100
    seen = 0
    for i, c in enumerate(counts):
        if c <= 0:
            continue
        if seen + c >= rank:
            lo, hi = slots.bounds(i)
            if lo is None:
                return float(hi)  # type: ignore[arg-type]
            if hi is None:
                return float(lo)
            if hi - lo == 1 and isinstance(slots, Hist):
                return float(lo)
            return lo + (hi - lo) * (rank - seen) / c
        seen += c
    return None  # not reached: the last non-empty bucket holds rank == total


def percentiles(counts: Sequence[int], pcts: Iterable[float] = (50, 90, 99),
                slots: Slots = LOG2) -> dict[float, float | None]:
    """``{50: p50, 90: p90, 99: p99}`` (or the percentiles asked for)."""
    return {p: percentile(counts, p, slots) for p in pcts}


def add_value(counts: list[int], value: int, slots: Slots = LOG2, times: int = 1) -> None:
    """Count ``value`` as the BPF side would (the list grows as needed): for tests,
    and for building a histogram in Python from raw values."""
    i = slots.slot(value)
    if i >= len(counts):
        counts.extend([0] * (i + 1 - len(counts)))
    counts[i] += times


__all__ = [
    "BAR_WIDTH", "HIST", "LOG2", "STARS", "Hist", "Lhist", "Linear", "Log2", "Slots", "add_value",
    "hist_lines", "hist_map_text", "hist_text", "linear_hist_text", "log2_hist_text", "percentile",
    "percentiles", "print_hist", "print_linear_hist", "print_log2_hist",
]
