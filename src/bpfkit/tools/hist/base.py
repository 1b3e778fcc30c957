"""What `bpfkit hist` and `bpfkit count` share: the engine object chosen per
run, programs switched on by the preset (ends attached before starts),
generic tracepoints attached from tracefs formats, and reports on the
runner's --interval (None: once, on exit)."""

from __future__ import annotations

import time

from ...runner.tool import Tool
from .engine import Engine

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock
    from .kernel import EventFormat


class EngineTool(Tool):
    """A tool on the engine: no ring buffer, periodic dump-and-reset reports."""

    interval_default = None
    ts_field = None
    ts_required = False

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        # None: one report when the run ends
        self.report_every = args.interval if args.interval is not None else float("inf")
        self.object_file = ""  # set by the subclass
        self.ends: tuple[str, ...] = ()
        self.starts: tuple[str, ...] = ()
        self.generic: list[tuple[EventFormat, dict[str, Any]]] = []  # (format, tp_conf)
        self.engine: Engine | None = None
        self.max_keys = getattr(args, "max_keys", None)
        self.last_report_ns = clock.start_ns

    def object_path(self) -> str:  # type: ignore[override]
        return self.object_file

    def rings(self, obj: BPFObject) -> list[str]:
        return []

    def configure(self, obj: BPFObject) -> None:
        wanted = {*self.ends, *self.starts}
        wanted.update(f"tp_slot{i}" for i in range(len(self.generic)))
        for p in obj.progs:
            p.autoload = p.name in wanted
            p.autoattach = False  # attached() attaches them, ends first
        if self.max_keys:
            for m in ("hists_a", "hists_b", "counts_a", "counts_b"):
                obj.maps[m].max_entries = self.max_keys

    def loaded(self, obj: BPFObject) -> None:
        for slot, (_, conf) in enumerate(self.generic):
            obj.maps.tp_conf[slot] = conf

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        # Ends before starts: a start seen while its end was not yet attached
        # would be reported as lost.
        slots = sorted(enumerate(self.generic), key=lambda sc: not sc[1][1]["role"] & 2)
        for slot, (fmt, _) in slots:
            links.append(obj.progs[f"tp_slot{slot}"].attach_tracepoint(fmt.category, fmt.name))
        for name in (*self.ends, *self.starts):
            p = obj.progs[name]
            if p.loaded:
                links.append(p.attach())
        self.engine = Engine(obj, hists=self.uses_hists, counts=self.uses_counts)
        self.last_report_ns = time.monotonic_ns()

    uses_hists = True
    uses_counts = False

    def row(self, ev: Any) -> None:  # no events: everything is in report()
        return None

    def record(self, ev: Any) -> None:
        return None

    def interval_seconds(self) -> float:
        now = time.monotonic_ns()
        seconds = (now - self.last_report_ns) / 1e9
        self.last_report_ns = now
        return seconds


__all__ = ["EngineTool"]
