"""`bpfkit agent`: every monitor in one process, from one config file.

One poll loop over all the monitors' rings, one READY=1 once every monitor
that can run is attached, SIGHUP reopens every output, SIGTERM drains every
monitor; one JSON schema (ts, host, monitor, then the monitor's fields) to one
combined file, one file per monitor, or standard output, and in text mode
each monitor's lines prefixed with [NAME]. `--metrics` serves Prometheus
metrics of all of them.
"""

from __future__ import annotations

import os
import sys

from ..argv import Parser, UsageError, period, seconds, size
from ..core.kernel.errors import BPFError
from ..output import Rotation
from ..runner import Clock, Monitor, Session, output_group, parse_address, settings
from ..runner import add_runner_arguments as _runner_options
from ..runner.session import Signals, say, shared_output
from ..tools import load
from .config import DEFAULT_PATH, ConfigError, default_text, parse

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..output import Output


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE",
                   help=f"the configuration (default: {DEFAULT_PATH} when it exists, else every "
                        "monitor with its defaults)")
    p.add_argument("--print-default-config", action="store_true",
                   help="print a configuration with every monitor and option, and exit")
    p.add_argument("--only", metavar="NAMES", help="run only these monitors of the config (comma-separated)")
    p.add_argument("--json", action="store_true", default=None, help="JSON lines (overrides the config)")
    p.add_argument("--output", metavar="FILE", help="the combined output file (overrides the config)")
    p.add_argument("--metrics", metavar="[ADDR:]PORT", help="Prometheus endpoint (overrides the config; "
                   "a bare port binds 127.0.0.1; 'off' turns it off)")
    p.add_argument("--duration", type=seconds, metavar="SECONDS", help="stop after this long")
    p.add_argument("--verbose", "-v", action="store_true", help="say which hooks each monitor chose")


def _rotation(agent: dict[str, object], path: str) -> Rotation | None:
    """[agent] rotate-size/rotate-every/rotate-keep/rotate-gzip, for every output file."""
    try:
        size_ = size(str(agent["rotate-size"])) if agent.get("rotate-size") else None
        every = period(str(agent["rotate-every"])) if agent.get("rotate-every") else None
    except Exception as exc:  # argparse's ArgumentTypeError, with the same words as the CLI
        raise ConfigError(f"config {path}: [agent] {exc}") from None
    if size_ is None and every is None:
        return None
    keep = int(agent.get("rotate-keep", 5))  # type: ignore[call-overload]
    return Rotation(size=size_, every=every, keep=keep, gzip=bool(agent.get("rotate-gzip", False)))


def _read_config(path: str | None) -> tuple[str, str]:
    if path is None:
        if not os.path.exists(DEFAULT_PATH):
            return "(defaults)", default_text()
        path = DEFAULT_PATH
    try:
        with open(path, encoding="utf-8") as f:
            return path, f.read()
    except OSError as exc:
        raise UsageError(f"--config {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--config {path}: not UTF-8 text") from None


def run(args: argparse.Namespace) -> int:
    if args.print_default_config:
        sys.stdout.write(default_text())
        return 0
    path, text = _read_config(args.config)
    cfg = parse(text, path)
    agent = cfg.agent
    json = args.json if args.json is not None else bool(agent.get("json", False))
    combined = args.output if args.output is not None else (agent.get("output") or None)
    metrics = args.metrics if args.metrics is not None else (agent.get("metrics") or None)
    metrics_addr = None if metrics in (None, "", "off") else parse_address(metrics)
    group = output_group(agent.get("output-group") or None)
    rotate = _rotation(agent, path)
    wanted = set(args.only.split(",")) if args.only else None
    monitors = [m for m in cfg.monitors if wanted is None or m.name in wanted]
    if wanted and wanted - {m.name for m in cfg.monitors}:
        raise ConfigError(f"--only: {', '.join(sorted(wanted - {m.name for m in cfg.monitors}))} "
                          "not enabled in the config")
    if not monitors:
        raise ConfigError(f"config {path}: no monitor is enabled")
    # Every monitor's options are checked (its own parser and checks) before anything starts.
    clock = Clock()
    built, unavailable = [], []
    for mc in monitors:
        tool_cls = load(mc.name)
        p = Parser(prog=f"bpfkit {mc.name}")
        tool_cls.add_arguments(p)
        _runner_options(p, interval_default=tool_cls.interval_default, interval_help=tool_cls.interval_help)
        try:
            margs = p.parse_args(mc.argv)
            st = settings(margs)
            tool = tool_cls(margs, clock)
        except UsageError as exc:
            raise ConfigError(f"config {path}: [monitors.{mc.name}] {exc}") from None
        except BPFError as exc:  # this host lacks what it needs (a device, a module)
            if mc.required:
                raise
            unavailable.append((mc.name, str(exc).splitlines()[0]))
            continue
        if tool.report_every is not None:
            st.interval = min(st.interval, 0.1)
        st.verbose = args.verbose
        built.append((mc, tool, st))
    signals = Signals()
    session = Session(signals, host=agent.get("host") or None, agent=True)
    for name, error in unavailable:
        session.add_failed(name, error)
    outputs: dict[str | None, Output] = {}
    for mc, tool, st in built:
        dest = mc.output or combined
        session.add(Monitor(tool, st), lambda d=dest: shared_output(outputs, d, group, rotate), json=json,
                    prefix="" if json else f"[{mc.name}] ", required=mc.required)
    try:
        if metrics_addr is not None:
            from ..runner.exporter import serve  # lazy: prometheus_client only with metrics on

            def start_metrics(s: Session) -> None:
                serve(s, metrics_addr)
                say(f"bpfkit agent: metrics at http://{metrics_addr[0]}:{metrics_addr[1]}/metrics")

            session.on_started.append(start_metrics)
        session.start(verbose=args.verbose)
        interval = min((st.interval for _, _, st in built), default=0.1)
        session.run(interval=interval, duration=args.duration)
        session.finish()
    finally:
        session.close()
    return 0


__all__ = ["add_arguments", "run"]
