"""Reading ``bpf_printk()`` output: the kernel's trace_pipe, parsed.

``bpf_printk`` (bpf_trace_printk) writes to the global trace buffer; its
trace_pipe gives each line once, to one reader: lines another reader (``cat
trace_pipe``, ``bpftool prog tracelog``) takes are not seen here, and lines
read here are gone for them. A line looks like::

    python3-4242    [001] d..31  5179.812640: bpf_trace_printk: hello 7

and parses to ``TraceLine(task='python3', pid=4242, cpu=1, flags='d..31',
ts=5179.81264, function='bpf_trace_printk', message='hello 7')``. Lines of
other trace events (when someone enabled them) come too, with their event
name as ``function``; ``only=`` keeps one kind.

Nothing of the tracing state is changed: not ``tracing_on`` (bpf_printk output
is dropped while it is 0, which opening says), not the tracer, not the options,
and tracefs is not mounted (opening says how when it is missing). It is found
at /sys/kernel/tracing or /sys/kernel/debug/tracing.
"""

from __future__ import annotations

import os
import time  # loaded at interpreter start-up anyway: free

from ..core.kernel.errors import BPFError, BPFKernelFeatureError, BPFPermissionError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

PRINTK = "bpf_trace_printk"
_LINE: list = []  # the compiled pattern, on first use


class TraceLine:
    """One trace_pipe line: ``task`` (comm), ``pid`` (thread id), ``cpu``,
    ``flags`` (irqs-off/need-resched/... column, '' when not shown), ``ts``
    (seconds, the trace clock), ``function`` (the event: ``bpf_trace_printk``
    for bpf_printk), ``message`` and ``raw`` (the line). A line in no known
    format (``CPU:1 [LOST 12 EVENTS]``) has pid -1 and its text as message.
    Unpacks as (task, pid, cpu, ts, message)."""

    __slots__ = ("cpu", "flags", "function", "message", "pid", "raw", "task", "ts")

    def __init__(self, task: str, pid: int, cpu: int, ts: float, message: str, *, flags: str = "",
                 function: str = "", raw: str = "") -> None:
        self.task, self.pid, self.cpu, self.ts, self.message = task, pid, cpu, ts, message
        self.flags, self.function, self.raw = flags, function, raw

    def __iter__(self) -> Iterator:
        return iter((self.task, self.pid, self.cpu, self.ts, self.message))

    def _asdict(self) -> dict:
        return {k: getattr(self, k) for k in ("task", "pid", "cpu", "flags", "ts", "function", "message")}

    def __repr__(self) -> str:
        return (f"TraceLine(task={self.task!r}, pid={self.pid}, cpu={self.cpu}, ts={self.ts}, "
                f"function={self.function!r}, message={self.message!r})")


def parse_line(line: str) -> TraceLine:
    """A trace_pipe line (without its newline) as a TraceLine."""
    if not _LINE:
        import re  # lazy: only reading trace_pipe pays for re

        _LINE.append(re.compile(
            r"\s*(?P<task>.*?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
            r"(?:(?P<flags>\S{4,6})\s+)?(?P<ts>\d+(?:\.\d+)?):\s(?P<rest>.*)", re.S))
    m = _LINE[0].fullmatch(line)
    if m is None:
        return TraceLine("", -1, -1, 0.0, line, raw=line)
    rest = m["rest"].lstrip(" ")
    function, sep, message = rest.partition(": ")
    if not sep or " " in function:
        function, message = "", rest
    return TraceLine(m["task"], int(m["pid"]), int(m["cpu"]), float(m["ts"]), message,
                     flags=m["flags"] or "", function=function, raw=line)


def find_trace_pipe(dirs: Sequence[str] | None = None) -> str:
    """The path of trace_pipe: in /sys/kernel/tracing, else /sys/kernel/debug/tracing
    (or the first of ``dirs`` that has one)."""
    if dirs is None:
        from ..core.kernel import system  # lazy: system binds libbpf; only opening the pipe needs it

        dirs = (system.TRACEFS, system.DEBUGFS_TRACING)
    denied = None
    for d in dirs:
        path = os.path.join(d, "trace_pipe")
        try:
            os.stat(path)
            return path
        except PermissionError:
            denied = denied or path
        except OSError:
            continue
    if denied:
        raise BPFPermissionError(f"{denied} is not readable by this process: reading bpf_printk output "
                                 "needs root (tracefs is mode 0700)", errno=13)
    raise BPFKernelFeatureError(f"tracefs is not mounted (no trace_pipe in {' or '.join(dirs)}): "
                                "mount it with `mount -t tracefs nodev /sys/kernel/tracing`", errno=2)


class TracePipe:
    """The trace_pipe, open for non-blocking reads.

    ``poll(timeout)`` waits up to ``timeout`` seconds for lines and returns what
    came (maybe nothing); ``lines(timeout)`` yields lines as they come until
    ``timeout`` seconds have passed (forever with None); iterating is
    ``lines(None)``. ``only=PRINTK`` keeps bpf_printk lines only.
    """

    _fd = -1  # until opened: close() and __del__ work on a half-made pipe

    def __init__(self, tracefs: str | None = None, *, only: str | None = None,
                 require_tracing_on: bool = True) -> None:
        self.path = find_trace_pipe((tracefs,) if tracefs else None)
        self.only = only
        self._fd = -1
        self._rest = b""
        on = os.path.join(os.path.dirname(self.path), "tracing_on")
        if require_tracing_on and _read_text(on) == "0":
            raise BPFError(f"tracing is off ({on} is 0): the kernel drops bpf_printk output until it "
                           f"is 1 (`echo 1 > {on}`); bpfkit leaves it as it is")
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except PermissionError as exc:
            raise BPFPermissionError(f"cannot open {self.path}: {exc.strerror} (it needs root)",
                                     errno=exc.errno) from exc
        except OSError as exc:
            raise BPFError(f"cannot open {self.path}: {exc.strerror}", errno=exc.errno) from exc
        import select  # lazy: only an open pipe waits

        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)

    def fileno(self) -> int:
        return self._fd

    def _read_available(self) -> list[TraceLine]:
        chunks = [self._rest]
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        buf = b"".join(chunks)
        *done, self._rest = buf.split(b"\n")
        out = []
        for raw in done:
            line = parse_line(raw.decode(errors="surrogateescape"))
            if self.only is None or line.function == self.only:
                out.append(line)
        return out

    def poll(self, timeout: float = 0.0) -> list[TraceLine]:
        """The lines that arrive within ``timeout`` seconds (those already there at once)."""
        if self._fd < 0:
            raise BPFError("the trace pipe is closed")
        lines = self._read_available()
        if lines or timeout <= 0:
            return lines
        deadline = time.monotonic() + timeout
        while not lines:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._poll.poll(max(int(left * 1000), 1))
            lines = self._read_available()
        return lines

    def lines(self, timeout: float | None = None) -> Iterator[TraceLine]:
        """Lines as they come, until ``timeout`` seconds have passed (None: forever)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 0.5 if deadline is None else min(deadline - time.monotonic(), 0.5)
            if left <= 0:
                return
            yield from self.poll(left)

    def __iter__(self) -> Iterator[TraceLine]:
        return self.lines(None)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> TracePipe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def trace_lines(timeout: float | None = None, *, only: str | None = None) -> Iterator[TraceLine]:
    """Open trace_pipe, yield its lines for ``timeout`` seconds, close it."""
    with TracePipe(only=only) as pipe:
        yield from pipe.lines(timeout)


__all__ = ["PRINTK", "TraceLine", "TracePipe", "find_trace_pipe", "parse_line", "trace_lines"]
