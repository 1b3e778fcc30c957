"""`bpfkit count`: counts of syscalls or tracepoint hits by a key, aggregated
in the kernel by the hist engine, dumped and reset every --interval without
losing an increment.

    bpfkit count syscalls --by comm --top 10 --interval 1
    bpfkit count syscalls --errors --by syscall
    bpfkit count tp:sched:sched_switch --by cpu
"""

from __future__ import annotations

import time

from ...argv import UsageError, pid
from ...output import escape
from ...runner.tool import Counter
from ..hist import kernel
from ..hist import positive_int as _positive
from ..hist.base import EngineTool
from ..hist.engine import BY, LITE, Labels, tp_conf

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock, Metric

SYSCALL_EVENTS = ("syscalls", "syscall")
TASK_BY = ("comm", "pid", "tid", "cpu")
COLUMN = {"syscall": "SYSCALL", "comm": "COMM", "pid": "PID", "tid": "TID", "cpu": "CPU"}


class Count(EngineTool):
    name = "count"
    help = "count syscalls or tracepoint hits by syscall, process, thread, CPU or field, in the kernel"
    banner = "Counting. Ctrl+C to end and print."
    interval_help = "print and reset the counts every SECONDS (default: once, on exit)"
    uses_hists = False
    uses_counts = True

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        p.add_argument("event", metavar="EVENT",
                       help="'syscalls', or tracepoints tp:CAT:NAME (comma-separated)")
        p.add_argument("--by", metavar="KEY",
                       help="count per KEY: syscall (syscalls only, default), comm (default for "
                            "tracepoints), pid, tid, cpu, or a field of the tracepoint")
        p.add_argument("--top", type=_positive, metavar="N", help="print only the N largest counts")
        p.add_argument("--errors", action="store_true", help="syscalls: only failed calls (result < 0)")
        p.add_argument("--syscall", action="append", metavar="NAMES",
                       help="syscalls: only these (comma-separated names)")
        p.add_argument("--pid", type=pid, help="only this process")
        p.add_argument("--comm", metavar="NAME", help="only tasks of this name")
        p.add_argument("--max-keys", type=_positive, metavar="N",
                       help="keys the kernel keeps per interval (default 10240)")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        self.object_file = LITE
        if args.comm is not None and len(args.comm.encode()) > 15:
            raise UsageError("--comm: a task name has at most 15 bytes")
        event = args.event.strip()
        self.syscalls: list[int] = []
        self.events: list[kernel.EventFormat] = []
        self.field: str | None = None
        if event in SYSCALL_EVENTS:
            self.by = args.by or "syscall"
            if self.by not in ("syscall", *TASK_BY):
                raise UsageError(f"--by: syscalls are counted by syscall, {', '.join(TASK_BY)}, "
                                 f"not {self.by!r}")
            self.ends = ("sys_count",)
            for group in args.syscall or ():
                for name in filter(None, (n.strip() for n in group.split(","))):
                    nr = kernel.SYSCALLS.number(name)
                    if nr >= 1024:
                        raise UsageError(f"--syscall {name}: number {nr} is beyond the filter's 1024")
                    self.syscalls.append(nr)
        else:
            if args.errors or args.syscall:
                raise UsageError("--errors and --syscall are for 'syscalls'")
            self.by = args.by or "comm"
            for i, tp in enumerate(filter(None, (t.strip() for t in event.split(",")))):
                fmt = kernel.event_format(*kernel.parse_tracepoint(tp))
                field = None
                if self.by not in TASK_BY:
                    field = fmt.fields.get(self.by)
                    if field is None:
                        raise UsageError(f"--by: {self.by!r} is none of {', '.join(TASK_BY)} or a field of "
                                         f"{fmt.label} ({', '.join(sorted(fmt.fields))})")
                    self.field = self.by
                self.events.append(fmt)
                self.generic.append((fmt, tp_conf(fmt, role=4, span=i, key="tid", by=self.by,
                                                  by_field=field, where={})))
            if len(self.events) > 8:
                raise UsageError("at most 8 tracepoints at once")
            if len({f.id for f in self.events}) != len(self.events):
                raise UsageError("a tracepoint is named twice")
        self.labels = Labels("field" if self.field else self.by, self.field)
        bounded = self.by in ("syscall", "cpu")
        self._counter = Counter("bpfkit_count_events_total", "events counted in the kernel",
                                ("key",) if bounded else ())

    def configure(self, obj: BPFObject) -> None:
        super().configure(obj)
        args, ro = self.args, obj.rodata
        if args.pid is not None:
            ro.targ_tgid = args.pid
        if args.comm is not None:
            ro.filter_comm = True
            ro.targ_comm = args.comm
        ro.count_by = BY.get(self.by, BY["field"])
        ro.count_errors = bool(args.errors)
        if self.syscalls:
            mask = [0] * 16
            for nr in self.syscalls:
                mask[nr >> 6] |= 1 << (nr & 63)
            ro.filter_syscalls = True
            ro.syscall_mask = mask

    def report(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        assert self.engine is not None
        _, counts = self.engine.dump()
        seconds = round(self.interval_seconds(), 6)
        rows = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0].span, kv[0].id, kv[0].name))
        if self.args.top:
            rows = rows[: self.args.top]
        head = COLUMN.get(self.by, escape(self.field or "KEY").upper())
        multi = len(self.events) > 1
        header = (f"{time.strftime('%H:%M:%S')}\n" + f"{'TRACEPOINT':<28}" * multi
                  + f"{head:<24} {'COUNT':>12}\n")
        out: list[tuple[str, dict[str, Any]]] = []
        for key, (count, _) in rows:
            text, fields = self.labels(key)
            rec: dict[str, Any] = {"event": "count"}
            if self.events:
                rec["tracepoint"] = self.events[key.span].label if key.span < len(self.events) else key.span
            rec.update(fields)
            rec.update(count=count, interval_s=seconds)
            prefix = f"{rec['tracepoint']:<28}" if multi else ""
            out.append((f"{prefix}{text:<24} {count:>12}\n", rec))
            self._observe(rec, count)
        if not out:
            return [(header, {"event": "interval", "keys": 0, "interval_s": seconds})]
        out[0] = (header + out[0][0], out[0][1])
        out[-1] = (out[-1][0] + "\n", out[-1][1])
        return out

    def metrics(self) -> list[Metric]:
        return [self._counter]

    def _observe(self, rec: dict[str, Any], count: int) -> None:
        c = self._counter
        key = (str(rec.get(self.by, "")),) if c.labels else ()
        c.inc(key, count)


TOOL = Count
