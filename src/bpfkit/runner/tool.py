"""What a monitor declares: its options, its program's configuration, and how
one event becomes a text row and a JSON record.

A tool is a class; the runner makes one instance per run with the parsed
options, and the constructor checks them (raising UsageError) before
anything is opened, loaded or written. Everything else (the poll loop,
signals, drops, output) is the runner's.
"""

from __future__ import annotations

import os
import sys

from ..argv import UsageError

TYPE_CHECKING = False  # typing: imported only for type checkers (start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from typing import Any, ClassVar

    from ..core.object import BPFObject
    from .clock import Clock
    from .metrics import Metric


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
        """The tool's own counters and histograms (runner.metrics), kept up to
        date by observe(); the agent exports them. Labels must be bounded."""
        return []

    def observe(self, ev: Any) -> None:
        """Count one event into metrics() (called per event only when metrics are on)."""


__all__ = ["Tool"]
