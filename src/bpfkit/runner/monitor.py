"""One tool, running: its object in the kernel, its event readers, and the
function that writes a batch of its events (text rows or JSON records, chosen
once, never per batch)."""

from __future__ import annotations

import mmap
import os
import time
from _operator import attrgetter  # the C module: operator.py costs ~0.3 ms to import

from ..core.kernel.errors import BPFError
from ..core.object import BPFObject
from ..output import TextSink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..output import Output
    from .tool import Tool

MAX_WAKEUP_BYTES = 256 * 1024


class Settings:
    """How a monitor runs, from the runner's options (already checked)."""

    __slots__ = ("interval", "perf_buffer", "ring_bytes", "verbose")

    def __init__(self, *, ring_bytes: int | None = None, interval: float = 0.1,
                 perf_buffer: bool = False, verbose: bool = False) -> None:
        self.ring_bytes, self.interval = ring_bytes, interval
        self.perf_buffer, self.verbose = perf_buffer, verbose


class Monitor:
    """``start()`` opens, configures, loads and attaches the tool's object and
    opens its readers; ``pump()`` moves what arrived to the output."""

    def __init__(self, tool: Tool, settings: Settings) -> None:
        self.tool, self.settings = tool, settings
        self.name = tool.name
        self.obj: BPFObject | None = None
        self.readers: list[Any] = []
        self.links: list[Any] = []
        self._write: Callable[[list[Any], str], None] | None = None
        self._ts: dict[str, Callable[[Any], int] | None] = {}
        self._write_report: Callable[[list[tuple[str, dict[str, Any]]]], None] | None = None
        self.next_report: float | None = None  # monotonic time of the next periodic report
        self.reported: dict[str, int] = {}  # ring -> drops already reported
        self.by_kind: dict[str, int] | None = None  # events by kind, when metrics are on
        self.out: Any = None
        self.sink: Any = None  # the JSON sink, for drop records (text says drops on stderr)
        self.error: str | None = None  # why it could not start (the agent runs on without it)

    # -- start ----------------------------------------------------------------------------------
    def start(self) -> None:
        tool, st = self.tool, self.settings
        src = tool.object_source()
        obj = self.obj = BPFObject.open(src, name=tool.name if isinstance(src, bytes) else None)
        rings = self.rings = tool.rings(obj)
        if st.ring_bytes is not None:
            for ring in rings:
                obj.maps[ring].max_entries = st.ring_bytes
            if ".rodata" in obj.btf.datasecs() and "bpfkit_wakeup_bytes" in obj.rodata.names():
                obj.rodata.bpfkit_wakeup_bytes = min(st.ring_bytes // 8, MAX_WAKEUP_BYTES)
        tool.declare(obj)
        if st.perf_buffer:
            obj.use_perf_buffer()
        tool.configure(obj)
        obj.load()
        tool.loaded(obj)
        self.links = obj.attach()
        tool.attached(obj, self.links)
        budget = st.ring_bytes or 4 << 20
        # Perf buffers are per CPU: share the ring budget among them.
        pages = max(1, budget // mmap.PAGESIZE // max(1, os.cpu_count() or 1))
        pages = 1 << (pages.bit_length() - 1)
        for ring in rings:
            event = tool.event_type(ring)
            self._ts[ring] = self._timestamp(ring, obj.event_codec(ring, event))
            self.readers.append(obj.ring_buffer(
                ring, event, interval=st.interval, perf_pages=pages,
                wakeup_bytes=min(pages * mmap.PAGESIZE // 8, MAX_WAKEUP_BYTES)))
            self.reported[ring] = 0

    def _timestamp(self, ring: str, codec: Any) -> Callable[[Any], int] | None:
        """The event's time stamp getter, checked against the event type now
        rather than failing on the first event."""
        field = self.tool.ts_field
        if field and field in getattr(codec, "fields", ()):
            return attrgetter(field)
        if field and self.tool.ts_required:
            raise BPFError(f"{self.name}: the events of ring {ring!r} have no field "
                           f"{field!r} for their time stamp")
        return None

    def describe(self) -> list[str]:
        """What --verbose says: hooks kept, transports, links."""
        obj = self.obj
        assert obj is not None
        out = [f"{self.name}: {choice}" if not isinstance(choice, str) else f"{self.name}: {group}: {choice}"
               for group, choice in obj.chosen_hooks.items()]
        out += [f"{self.name}: {link.program.name} attached as {link.program.kind} {link.target}"
                for link in self.links]
        return out

    # -- output ------------------------------------------------------------------------------------
    def open_output(self, out: Output, *, json: bool, prefix: str = "",
                    envelope: dict[str, Any] | None = None) -> Any:
        """Choose, once, how batches are written; returns the sink (for its
        header). Text lines get ``prefix`` (the agent's "[monitor] "); JSON
        records get ts, then ``envelope`` (host, monitor...), then the tool's fields."""
        tool = self.tool
        self.out = out
        if tool.report_every is not None:
            self.next_report = time.monotonic() + tool.report_every
        if not json:
            sink: Any = TextSink(out, tool.columns(), prefix=prefix)
            row = tool.row
            write_rows = sink.write_rows

            def write_text(batch: list[Any], ring: str) -> None:
                write_rows(filter(None, map(row, batch)))

            def write_text_report(items: list[tuple[str, dict[str, Any]]]) -> None:
                # an item with no text is for JSON only
                text = "".join(t if t.endswith("\n") else t + "\n" for t, _ in items if t)
                if prefix:
                    text = "".join(prefix + line for line in text.splitlines(keepends=True))
                out.write(text)

            self._write, self._write_report = write_text, write_text_report
            return sink
        from ..output.jsonlines import JsonSink  # lazy: only --json (see output/__init__)

        sink = JsonSink(out)
        record, clock, stamps = tool.record, tool.clock, self._ts
        iso = clock.iso
        static = dict(envelope or {"tool": tool.name})
        with_ring = tool.ring_field
        write_records = sink.write_records

        def write_json(batch: list[Any], ring: str) -> None:
            recs = []
            ts = stamps[ring]
            now = None if ts else clock.now_iso()
            for ev in batch:
                r = record(ev)
                if r is not None:
                    head = {"ts": iso(ts(ev)) if ts else now, **static}
                    if with_ring:
                        head["ring"] = ring
                    recs.append({**head, **r})
            write_records(recs)

        def write_json_report(items: list[tuple[str, dict[str, Any]]]) -> None:
            head = {"ts": clock.now_iso(), **static}
            write_records({**head, **rec} for _, rec in items if rec)

        self._write, self._write_report = write_json, write_json_report
        self.sink, self._envelope = sink, static
        return sink

    def write_lost(self, ring: str, new: int, total: int) -> None:
        """The JSON record of a drop, in the stream with the events."""
        if self.sink is not None:
            self.sink.write_records([{"ts": self.tool.clock.now_iso(), **self._envelope, "event": "lost",
                                      "ring": ring, "dropped": new, "dropped_total": total}])

    # -- running ------------------------------------------------------------------------------------
    def fds(self) -> list[int]:
        return [r.fileno() for r in self.readers]

    def pump(self) -> int:
        """Read every reader and write what it had; the number of events read."""
        keep, write, kinds = self.tool.keep, self._write, self.by_kind
        n = 0
        for reader in self.readers:
            batch = reader.read_available()
            if not batch:
                continue
            n += len(batch)
            if keep is not None:
                batch = [ev for ev in batch if keep(ev)]
            if kinds is not None:  # only with --metrics: two calls per event
                kind, observe = self.tool.event_kind, self.tool.observe
                for ev in batch:
                    k = kind(ev)
                    kinds[k] = kinds.get(k, 0) + 1
                    observe(ev)
            if batch and write is not None:
                write(batch, reader.name)
        return n

    def tick(self, now: float, *, final: bool = False) -> None:
        """Write the tool's periodic report when it is due (and at the end)."""
        every = self.tool.report_every
        if self._write_report is None or (every is None and not final):
            return
        if final or (self.next_report is not None and now >= self.next_report):
            items = self.tool.report(final)
            if items:
                self._write_report(items)
            while every is not None and self.next_report is not None and self.next_report <= now:
                self.next_report += every

    def new_drops(self) -> list[tuple[str, str, int, int]]:
        """(ring, transport, new, total) for every reader whose kernel drop count grew."""
        out = []
        for reader in self.readers:
            total = reader.dropped
            if total is not None and total > self.reported[reader.name]:
                transport = "perf buffer" if hasattr(reader, "lost_per_cpu") else "ring buffer"
                out.append((reader.name, transport, total - self.reported[reader.name], total))
                self.reported[reader.name] = total
        return out

    def counts(self) -> list[str]:
        """'events: N, dropped: M' per reader (dropped: unknown when not counted)."""
        lines = []
        for r in self.readers:
            dropped = "unknown" if r.dropped is None else r.dropped
            prefix = f"{r.name}: " if len(self.readers) > 1 else ""
            lines.append(f"{prefix}events: {r.events}, dropped: {dropped}")
        return lines

    def close(self) -> None:
        if self.obj is not None:
            self.obj.close()
            self.obj = None


__all__ = ["Monitor", "Settings"]
