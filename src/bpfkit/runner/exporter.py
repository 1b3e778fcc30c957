"""Prometheus metrics of a session (`--metrics ADDR:PORT` on any monitor and
on the agent), read at scrape time by a custom collector, like
ebpf_exporter: nothing is computed between scrapes that a scrape would not
need. prometheus_client is imported only here, only when --metrics is given.

Metrics: bpfkit_info, bpfkit_monitor_up, bpfkit_hook_info (the fallback each
monitor's loader chose), bpfkit_events_total (by event kind),
bpfkit_events_lost_total (ring_full, perf_lost, output_error),
bpfkit_bpf_program_run_seconds_total and _runs_total (kernel BPF stats,
enabled for the process's lifetime with BPF_ENABLE_STATS: no sysctl is
changed), the process's own (RSS, CPU, fds), and each tool's counters and
histograms (runner.tool). No pid, path or name label: cardinality stays
bounded.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, ProcessCollector, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ..core import __version__
from ..core.kernel import libbpf
from ..core.kernel.errors import BPFError
from ..core.kernel.info import ProgInfo, enable_run_stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .session import Session
    from .tool import Metric


class SessionCollector:
    def __init__(self, session: Session) -> None:
        self.session = session
        for m in session.running:
            m.by_kind = {}  # count events by kind from now on

    def describe(self) -> list[Any]:
        return []  # unchecked collector: families are made at scrape time

    def collect(self) -> Iterator[Any]:
        s = self.session
        info = GaugeMetricFamily("bpfkit_info", "bpfkit, the kernel and the libbpf it runs on",
                                 labels=["version", "kernel", "libbpf", "host"])
        info.add_metric([__version__, os.uname().release, "{}.{}".format(*libbpf.VERSION), s.host], 1)
        yield info
        up = GaugeMetricFamily("bpfkit_monitor_up", "1 when the monitor runs, 0 when it could not start",
                               labels=["monitor"])
        hooks = GaugeMetricFamily("bpfkit_hook_info", "the hook each monitor's loader chose",
                                  labels=["monitor", "group", "program", "kind"])
        events = CounterMetricFamily("bpfkit_events", "events delivered, by kind",
                                     labels=["monitor", "event"])
        lost = CounterMetricFamily("bpfkit_events_lost", "events lost, by reason (counted in the kernel "
                                   "for ring_full and perf_lost)", labels=["monitor", "reason"])
        run_s = CounterMetricFamily("bpfkit_bpf_program_run_seconds", "time BPF programs ran (kernel BPF "
                                    "stats)", labels=["monitor", "program"])
        runs = CounterMetricFamily("bpfkit_bpf_program_runs", "times BPF programs ran", labels=["monitor",
                                                                                               "program"])
        outputs: dict[int, tuple[Any, list[str]]] = {}
        for e in s.entries:
            if e.output is not None:
                outputs.setdefault(id(e.output), (e.output, []))[1].append(e.monitor.name)
        for out, names in outputs.values():  # a file several monitors share counts once, as "*"
            lost.add_metric([names[0] if len(names) == 1 else "*", "output_error"], out.lost_lines)
        for e in s.entries:
            m = e.monitor
            up.add_metric([m.name], 0 if m.error else 1)
            if m.error or m.obj is None:
                continue
            for group, choice in m.obj.chosen_hooks.items():
                if isinstance(choice, str):  # "ring NAME": ringbuf / perf buffer
                    hooks.add_metric([m.name, group, choice, "transport"], 1)
                elif choice.programs:
                    hooks.add_metric([m.name, group, choice.program or "", choice.kind or ""], 1)
            for kind, n in dict(m.by_kind or {}).items():
                events.add_metric([m.name, kind], n)
            for r in m.readers:
                dropped = r.dropped or 0
                lost.add_metric([m.name, "perf_lost" if hasattr(r, "lost_per_cpu") else "ring_full"], dropped)
            for p in m.obj.progs:
                if p.loaded:
                    try:
                        pi = ProgInfo(p.fd)
                    except BPFError:
                        continue
                    run_s.add_metric([m.name, p.name], pi.run_time_ns / 1e9)
                    runs.add_metric([m.name, p.name], pi.run_cnt)
        yield from (up, hooks, events, lost, run_s, runs)
        for e in s.entries:
            if e.monitor.error is None:
                yield from (family(metric) for metric in e.monitor.tool.metrics())


def family(metric: Metric) -> Any:
    """A prometheus_client family for one of a tool's metrics."""
    labels = list(metric.labels)
    if metric.kind == "histogram":
        fam = HistogramMetricFamily(metric.name, metric.help, labels=labels)
        for key in list(metric.series):
            buckets, _, total = metric.cumulative(key)
            fam.add_metric(list(key), [(_le(b), c) for b, c in buckets], total)
        return fam
    cls = CounterMetricFamily if metric.kind == "counter" else GaugeMetricFamily
    name = metric.name.removesuffix("_total") if metric.kind == "counter" else metric.name
    fam = cls(name, metric.help, labels=labels)
    for key, value in dict(metric.values).items():
        fam.add_metric(list(key), value)
    return fam


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def serve(session: Session, address: tuple[str, int]) -> Any:
    """Serve /metrics for ``session`` at ``address`` (a daemon thread)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SessionCollector(session))
    ProcessCollector(namespace="bpfkit", registry=registry)
    session.stats_fd = enable_run_stats()  # type: ignore[attr-defined]  # kept open: stats stay on
    host, port = address
    try:
        server = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise BPFError(f"--metrics {host}:{port}: cannot listen: {exc.strerror}", errno=exc.errno) from None
    return server


__all__ = ["SessionCollector", "family", "serve"]
