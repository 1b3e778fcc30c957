"""`bpfkit hist`: latency histograms of spans between two kernel events,
aggregated in the kernel by one prebuilt, data-driven engine (no compiler at
run time), printed in bpftrace's layout or as JSON.

    bpfkit hist syscall --by syscall --syscall nanosleep,read
    bpfkit hist runqlat --by comm --interval 1
    bpfkit hist biolatency --by disk
    bpfkit hist tcpconnlat
    bpfkit hist wireguard [--iface wg0]
    bpfkit hist 'tp:workqueue:workqueue_queue_work -> tp:workqueue:workqueue_execute_start' --key work
"""

from __future__ import annotations

import time

from ...argv import UsageError, pid
from ...output import escape
from ...runner.tool import Histogram
from . import engine, kernel, printer
from .base import EngineTool
from .engine import BOUNDED_BY, BY, KEY_KINDS, PRESETS, UNITS, Labels, Preset, Span, parse_where, tp_conf

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock, Metric


def positive_int(text: str) -> int:
    """A count or step: 1..2^32."""
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= 1 << 32:
        import argparse  # lazy: only a bad value pays for argparse

        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 4294967296, not {text!r}")
    return int(text)


def parse_span(text: str) -> tuple[tuple[str, str], tuple[str, str]]:
    """'tp:CAT:A -> tp:CAT:B' -> ((CAT, A), (CAT, B))."""
    start, sep, end = text.partition("->")
    if not sep:
        raise UsageError(f"{text!r} is neither a preset ({', '.join(PRESETS)}) nor a span "
                         "'tp:CAT:START -> tp:CAT:END'")
    return kernel.parse_tracepoint(start), kernel.parse_tracepoint(end)


class Hist(EngineTool):
    name = "hist"
    help = "latency histograms between two kernel events, aggregated in the kernel (bpftrace layout)"
    banner = "Tracing latencies. Ctrl+C to end and print."
    interval_help = "print and reset the histograms every SECONDS (default: once, on exit)"

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("what", metavar="PRESET|SPAN",
                       help=f"a preset ({', '.join(PRESETS)}) or a span 'tp:CAT:START -> tp:CAT:END'")
        g = p.add_argument_group("histogram")
        g.add_argument("--by", metavar="KEY",
                       help="one histogram per KEY: none, comm, pid, tid, cpu, and per preset "
                            "syscall, disk, port, iface, function, peer; for spans also a field of "
                            "the start tracepoint")
        g.add_argument("--unit", choices=tuple(UNITS), default="us", help="bucket unit (default us)")
        g.add_argument("--linear", type=positive_int, metavar="STEP",
                       help="linear buckets of STEP units (64 of them, then one open bucket) "
                            "instead of log2")
        g.add_argument("--max-keys", type=positive_int, metavar="N",
                       help="histograms per interval the kernel keeps (default 10240)")
        f = p.add_argument_group("what to trace (filters in the kernel)")
        f.add_argument("--key", choices=KEY_KINDS, default=None,
                       help="span: what pairs a start with its end: the thread (tid, default), "
                            "skb, work, req (request pointer, or dev+sector) or sock pointer fields")
        f.add_argument("--where", metavar="FIELD=VALUE", help="span: only starts whose field has this value")
        f.add_argument("--syscall", action="append", metavar="NAMES",
                       help="syscall: only these syscalls (comma-separated names)")
        f.add_argument("--pid", type=pid, help="only this process (the task a span is about)")
        f.add_argument("--comm", metavar="NAME", help="only tasks of this name")
        f.add_argument("--iface", action="append", metavar="DEV",
                       help="wireguard: this device (repeatable; default every device of kind wireguard)")
        f.add_argument("--port", type=positive_int, action="append", metavar="N",
                       help="wireguard: UDP listen port (default: asked of the devices)")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        self.unit_div, self.unit_name = UNITS[args.unit]
        self.step = args.linear or 0
        if args.comm is not None and len(args.comm.encode()) > 15:
            raise UsageError("--comm: a task name has at most 15 bytes")
        self.syscalls: list[int] = []
        self.devices: Any = None
        self.wg_funcs: dict[str, int] = {}
        what = args.what.strip()
        if what in PRESETS:
            self.preset = PRESETS[what]
            if args.key is not None or args.where is not None:
                raise UsageError("--key and --where are for spans, not presets")
            self.spans = self.preset.spans
        else:
            self.preset = self._span_preset(what, args)
            self.spans = self.preset.spans
        self.object_file = self.preset.object
        self.uses_counts = bool(self.preset.counts)
        self.ends, self.starts = self.preset.ends, self.preset.starts
        # --by: one choice for the preset's first span (others keep their own)
        self.by = {s.id: s.by for s in self.spans}
        self.by_field: str | None = None
        if args.by is not None:
            first = self.spans[0]
            if args.by not in first.by_choices and not self.generic:
                raise UsageError(f"--by: {self.preset.name} histograms are by "
                                 f"{', '.join(first.by_choices)}, not {args.by!r}")
            self.by[first.id] = args.by if args.by in BY else "field"
            if self.by[first.id] == "field":
                self.by_field = args.by
        if self.preset.name == "syscall":
            for group in args.syscall or ():
                for name in filter(None, (n.strip() for n in group.split(","))):
                    nr = kernel.SYSCALLS.number(name)
                    if nr >= 1024:
                        raise UsageError(f"--syscall {name}: number {nr} is beyond the filter's 1024")
                    self.syscalls.append(nr)
        elif args.syscall:
            raise UsageError("--syscall is for the syscall preset")
        if self.preset.name == "wireguard":
            from .wireguard import Devices, worker_functions  # lazy: wireguard preset only

            self.devices = Devices(args.iface, args.port)
            self.wg_funcs = worker_functions()
        elif args.iface or args.port:
            raise UsageError("--iface and --port are for the wireguard preset")
        if self.generic:
            self._finish_generic(args)
        self.labels = {s.id: Labels(self.by[s.id], self.by_field) for s in self.spans}
        # Prometheus histograms (the agent's --metrics), kept from every report;
        # created now so that no report before the first scrape is missed
        self.metric_list: list[Metric] = []
        self._metrics: dict[int, Any] = {}
        for span in self.spans:
            label = self.by[span.id] if self.by[span.id] in BOUNDED_BY - {"none"} else None
            bounds = self._bounds()
            h = Histogram(f"bpfkit_hist_{self.preset.name}_{span.name}_seconds", span.title, bounds,
                          (label,) if label else ())
            self._metrics[span.id] = (h, label, len(bounds))
            self.metric_list.append(h)

    # -- generic spans ----------------------------------------------------------------------
    def _span_preset(self, what: str, args: argparse.Namespace) -> Preset:
        (c1, n1), (c2, n2) = parse_span(what)
        self.start_fmt = kernel.event_format(c1, n1)
        self.end_fmt = kernel.event_format(c2, n2)
        self.key = args.key or "tid"
        by_choices = ("none", "comm", "pid", "tid", "cpu")
        title = f"{self.start_fmt.label} -> {self.end_fmt.label} by {self.key}"
        self.generic = [(self.start_fmt, {})]  # filled in _finish_generic, once --by is known
        return Preset("span", title, object=engine.LITE, ends=(), starts=(), key=self.key,
                      spans=(Span(0, "span", title, "none", by_choices),))

    def _finish_generic(self, args: argparse.Namespace) -> None:
        start, end = self.start_fmt, self.end_fmt
        by = self.by[0]
        by_field = None
        if by == "field":
            by_field = start.fields.get(self.by_field or "")
            if by_field is None:
                raise UsageError(f"--by: {self.by_field!r} is none of none, comm, pid, tid, cpu or a field "
                                 f"of {start.label} ({', '.join(sorted(start.fields))})")
        where = parse_where(args.where, start)
        if start.id == end.id:
            self.generic = [(start, tp_conf(start, role=3, span=0, key=self.key, by=by, by_field=by_field,
                                            where=where))]
        else:
            self.generic = [
                (end, tp_conf(end, role=2, span=0, key=self.key, by=by, by_field=None, where={})),
                (start, tp_conf(start, role=1, span=0, key=self.key, by=by, by_field=by_field, where=where)),
            ]

    # -- before load -------------------------------------------------------------------------
    def configure(self, obj: BPFObject) -> None:
        super().configure(obj)
        args, ro = self.args, obj.rodata
        ro.unit_div = self.unit_div
        ro.linear_step = self.step
        if args.pid is not None:
            ro.targ_tgid = args.pid
        if args.comm is not None:
            ro.filter_comm = True
            ro.targ_comm = args.comm
        span_by = [0] * 8
        for sid, by in self.by.items():
            span_by[sid] = BY[by]
        ro.span_by = span_by
        if self.syscalls:
            mask = [0] * 16
            for nr in self.syscalls:
                mask[nr >> 6] |= 1 << (nr & 63)
            ro.filter_syscalls = True
            ro.syscall_mask = mask
        if self.devices is not None:
            ro.wg_port_filter = bool(self.devices.ports)
            ro.wg_fn_filter = bool(self.wg_funcs)

    def loaded(self, obj: BPFObject) -> None:
        super().loaded(obj)
        if self.devices is not None:
            for key in self.devices.map_keys():
                obj.maps.wg_ifaces[key] = 1
            for port in self.devices.ports:
                obj.maps.wg_ports[port] = 1
            for addr in self.wg_funcs.values():
                obj.maps.wg_funcs[addr] = 1

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        super().attached(obj, links)
        if self.devices is not None:
            self.wg_note = self.devices.describe()

    # -- reports -------------------------------------------------------------------------------
    def map_name(self, span: Span) -> str:
        if len(self.spans) == 1:
            return f"@{self.unit_name}"
        return f"@{span.name}_{self.unit_name}"

    def report(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        assert self.engine is not None
        hists, counts = self.engine.dump()
        seconds = self.interval_seconds()
        stats = self.engine.stats()
        opened = self.engine.open_starts()
        out: list[tuple[str, dict[str, Any]]] = []
        by_span: dict[int, list[tuple[Any, list]]] = {}
        for key, value in hists.items():
            by_span.setdefault(key.span, []).append((key, value))
        u = self.args.unit
        for span in self.spans:
            rows = by_span.get(span.id, [])
            rows.sort(key=lambda kv: kv[1][0])  # bpftrace: smallest total first
            labels = self.labels[span.id]
            name = self.map_name(span)
            self._observe(span, rows)
            for key, (count, total_ns, slots) in rows:
                text_key, fields = labels(key)
                head = f"{name}[{text_key}]" if text_key else name
                p50, p90, p99 = (printer.percentile(slots, q, self.step) for q in (0.5, 0.9, 0.99))
                summary = (f"count {count}, sum {printer.number(total_ns / self.unit_div)} {u}, "
                           f"avg {printer.number(total_ns / self.unit_div / count)} {u}, "
                           f"p50 ~{printer.number(p50)} {u}, p90 ~{printer.number(p90)} {u}, "
                           f"p99 ~{printer.number(p99)} {u}")
                text = printer.block(head, slots, self.step) + summary + "\n\n"
                buckets = []
                for i, c in enumerate(slots):
                    if c:
                        lo, hi = printer.bounds(i, self.step)
                        buckets.append({"low": lo, "high": None if hi == float("inf") else hi, "count": c})
                out.append((text, {"event": "hist", "span": span.name, "by": self.by[span.id], **fields,
                                   "unit": u, "count": count, "sum_ns": total_ns, "p50": _round(p50),
                                   "p90": _round(p90), "p99": _round(p99), "buckets": buckets,
                                   "interval_s": round(seconds, 6)}))
            um = engine.unmatched(stats[span.id], opened[span.id])
            quiet = len(self.spans) > 1 and not any(um.values())  # a span of a preset that saw nothing
            if not quiet or self.args.json:
                out.append((self._unmatched_text(span, um), {"event": "unmatched", "span": span.name, **um}))
        if self.preset.counts:
            out.extend(self._count_report(counts, seconds))
        if out:
            stamp = self.clock.hms(time.monotonic_ns())
            first_text, first_rec = out[0]
            out[0] = (f"{stamp}\n{first_text}", first_rec)
        return out

    def _unmatched_text(self, span: Span, um: dict[str, int]) -> str:
        done = um["matched"] + um["starts_without_end"]
        ratio = f", matched {100.0 * um['matched'] / done:.1f}%" if done else ""
        label = f"{span.name}: " if len(self.spans) > 1 else ""
        return (f"{label}unmatched since start: {um['ends_without_start']} ends without a start, "
                f"{um['starts_without_end']} starts without an end ({um['open']} still open, "
                f"{um['restarts']} restarted, {um['table_full']} lost to a full table)"
                + (f", {um['cancelled']} cancelled" if um["cancelled"] else "") + f"{ratio}\n")

    def _count_report(self, counts: dict[Any, list[int]], seconds: float) -> list[tuple[str, dict[str, Any]]]:
        from .engine import peer_text  # lazy: wireguard only

        out = []
        names = self.preset.counts
        msg = {1: "initiation", 2: "response", 3: "cookie", 4: "data"}
        for key, (count, total) in sorted(counts.items(), key=lambda kv: (kv[0].span, kv[0].aux, kv[0].id)):
            kind = names.get(key.span, str(key.span))
            if kind.startswith("peer"):
                who = peer_text(key)
                what = msg.get(key.aux, str(key.aux))
                text = f"@{kind}[{who}, {what}]: {count} packets, {total} bytes\n"
                rec = {"event": "count", "kind": kind, "peer": who, "message": what, "packets": count,
                       "bytes": total}
            else:
                text = f"@{kind}[{escape(key.name)}]: {count}" + (f", {total} packets\n" if total else "\n")
                rec = {"event": "count", "kind": kind, "iface": key.name, "events": count, "packets": total}
            rec["interval_s"] = round(seconds, 6)
            out.append((text, rec))
        return out

    def summary(self) -> list[str]:
        lines = []
        if self.devices is not None:
            lines.append(self.wg_note)
        return lines

    # -- metrics --------------------------------------------------------------------------------
    def metrics(self) -> list[Metric]:
        return self.metric_list

    def _bounds(self) -> list[float]:
        """Upper bounds in seconds of the buckets (slot 1 up), up to a day."""
        out = []
        last = printer.LINEAR_STEPS + 1 if self.step else printer.SLOTS
        for slot in range(1, last):
            hi = printer.bounds(slot, self.step)[1]
            seconds = hi * self.unit_div / 1e9
            if seconds > 86400:
                break
            out.append(seconds)
        return out

    def _observe(self, span: Span, rows: list[tuple[Any, list]]) -> None:
        entry = self._metrics.get(span.id)
        if entry is None:
            return
        h, label, nbounds = entry
        labels = self.labels[span.id]
        for key, (_, total_ns, slots) in rows:
            counts = list(slots[1:1 + nbounds])
            counts.append(sum(slots[1 + nbounds:]) + slots[0])
            lv = (labels(key)[0],) if label else ()
            h.add_buckets(counts, total_ns / 1e9, lv)


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


TOOL = Hist
