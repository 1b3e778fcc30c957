"""The monitor runner, shared by every tool and by `bpfkit run`:

    check the options (UsageError: exit 2, before anything is opened)
    -> start each monitor (open, configure, load, attach, open its readers)
    -> open the output, print the header, READY=1
    -> the loop (session.py) until a signal or the deadline -> counts on stderr.

tool.py says what a monitor declares, monitor.py runs one, session.py runs them all.
"""

from __future__ import annotations

from ..argv import UsageError, interval, period, ring_kilobytes, seconds, size
from ..core.events.ringbuf import check_ring_size
from ..core.kernel.errors import BPFError
from ..output import Output
from .monitor import Monitor, Settings
from .session import Session, Signals
from .tool import Clock, Tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from ..output.rotation import Rotation

DEFAULT_RING_KB = 4096  # ~50k opens of slack; 16 MiB costs 8 ms more to allocate at start
POLL_INTERVAL = 0.1  # the longest an event waits when the tool does not say otherwise


def add_runner_arguments(p: argparse.ArgumentParser, *, ring_default: int | None = DEFAULT_RING_KB,
                         interval_default: float | None = 0.1,
                         interval_help: str = Tool.interval_help) -> None:
    g = p.add_argument_group("output and run control")
    g.add_argument("--json", action="store_true", help="one JSON object per line")
    g.add_argument("--output", metavar="FILE",
                   help="append to FILE (created 0600; reopened on SIGHUP, for logrotate)")
    g.add_argument("--output-group", metavar="GROUP",
                   help="create the --output file 0640, readable by this group")
    g.add_argument("--rotate-size", type=size, metavar="SIZE",
                   help="rotate --output when it reaches SIZE (100M, 1G), for hosts without logrotate")
    g.add_argument("--rotate-every", type=period, metavar="PERIOD",
                   help="rotate --output every PERIOD (1h, 1d)")
    g.add_argument("--rotate-keep", type=int, default=5, metavar="N",
                   help="rotated files to keep (default 5)")
    g.add_argument("--rotate-gzip", action="store_true", help="gzip rotated files (in the background)")
    g.add_argument("--duration", type=seconds, metavar="SECONDS",
                   help="stop after this long (0: as soon as started)")
    ring_help = (f"ring buffer size, a power of two (default {ring_default})" if ring_default
                 else "resize the object's ring buffers to this, a power of two")
    g.add_argument("--ring-buffer-kb", type=ring_kilobytes, default=ring_default, metavar="KB",
                   help=ring_help)
    g.add_argument("--interval", type=interval, default=interval_default, metavar="SECONDS",
                   help=interval_help)
    g.add_argument("--perf-buffer", action="store_true",
                   help="send events through per-CPU perf buffers, as kernels before 5.8 need "
                        "(chosen by itself there)")
    g.add_argument("--metrics", metavar="[ADDR:]PORT",
                   help="serve Prometheus metrics there (a bare port binds 127.0.0.1)")
    g.add_argument("--verbose", "-v", action="store_true", help="say which hooks were attached")


def settings(args: argparse.Namespace) -> Settings:
    """The runner's options, checked."""
    ring_bytes = None
    if args.ring_buffer_kb is not None:
        ring_bytes = args.ring_buffer_kb * 1024
        try:
            check_ring_size(ring_bytes)
        except BPFError as exc:
            raise UsageError(f"--ring-buffer-kb: {exc}") from None
    poll = args.interval if args.interval is not None else POLL_INTERVAL
    return Settings(ring_bytes=ring_bytes, interval=poll, perf_buffer=args.perf_buffer,
                    verbose=args.verbose)


def output_group(name: str | None) -> int | None:
    """The gid of --output-group (a name or a number)."""
    if name is None:
        return None
    import grp  # lazy: only with --output-group

    try:
        return grp.getgrnam(name).gr_gid if not name.isdigit() else grp.getgrgid(int(name)).gr_gid
    except (KeyError, ValueError, OverflowError):
        raise UsageError(f"--output-group: no group {name!r}") from None


def run(tool_cls: type[Tool], args: argparse.Namespace) -> int:
    """Run one tool until a signal or --duration; the exit status."""
    st = settings(args)
    group = output_group(getattr(args, "output_group", None))
    tool = tool_cls(args, Clock())
    if tool.report_every is not None:  # --interval is its report period: still look at rings often
        st.interval = min(st.interval, POLL_INTERVAL)
    metrics_addr = parse_address(getattr(args, "metrics", None))
    rotate = rotation(args)
    signals = Signals()
    session = Session(signals)
    monitor = Monitor(tool, st)
    session.add(monitor, lambda: Output(args.output, group=group, rotation=rotate), json=args.json)
    try:
        if metrics_addr is not None:
            from .exporter import serve  # lazy: prometheus_client only with --metrics

            session.on_started.append(lambda s: serve(s, metrics_addr))
        session.start(verbose=st.verbose)
        session.run(interval=st.interval, duration=args.duration)
        session.finish()
    finally:
        session.close()
    return 0


def rotation(args: argparse.Namespace) -> Rotation | None:
    """The built-in rotation asked for, checked."""
    size_, every = getattr(args, "rotate_size", None), getattr(args, "rotate_every", None)
    if size_ is None and every is None:
        return None
    if args.output is None:
        raise UsageError("--rotate-size/--rotate-every rotate an --output file: give one")
    if not 0 <= args.rotate_keep <= 1000:
        raise UsageError("--rotate-keep: must be 0-1000")
    from ..output.rotation import Rotation  # lazy: only when rotating (see output/__init__)

    return Rotation(size=size_, every=every, keep=args.rotate_keep, gzip=args.rotate_gzip)


def parse_address(text: str | None) -> tuple[str, int] | None:
    """--metrics [ADDR:]PORT; a bare port binds 127.0.0.1 (metrics are not for everyone)."""
    if text is None:
        return None
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UsageError(f"--metrics: {text!r} is not [ADDRESS:]PORT")
    return host, int(port)


__all__ = ["DEFAULT_RING_KB", "Clock", "Monitor", "Session", "Settings", "Tool", "add_runner_arguments",
           "output_group", "parse_address", "rotation", "run", "settings"]
