"""Cold start to an attached tracepoint program: bpfkit vs libbpf-tools and bpftrace.

Each tool is started under a pseudo-terminal (so C stdio flushes per line) and
timed from spawn until it prints the line it prints once its probes are
attached. Median of RUNS starts, measured in the same run.
Run as root after `make bench` installed the yardsticks.
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15


def time_to_line(cmd: list[str], marker: bytes, timeout: float = 10.0) -> float:
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=subprocess.PIPE, close_fds=True)
    os.close(slave)
    buf = b""
    try:
        while marker not in buf:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0 or not select.select([master], [], [], left)[0]:
                raise RuntimeError(f"{cmd[0]}: no {marker!r} within {timeout}s: {buf[-200:]!r}")
            try:
                buf += os.read(master, 4096)
            except OSError:
                raise RuntimeError(f"{cmd[0]} exited: {buf[-300:]!r}") from None
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        os.close(master)


def median_ms(cmd: list[str], marker: bytes) -> float:
    time_to_line(cmd, marker)  # warm the page cache once
    return statistics.median(time_to_line(cmd, marker) for _ in range(RUNS)) * 1000


def main() -> None:
    obj = ROOT / "examples" / "hello.bpf.o"
    rows: list[tuple[str, float]] = []
    rows.append(("bpfkit (python, hello.bpf.o)",
                 median_ms([sys.executable, str(ROOT / "bench" / "startup_min.py"), str(obj)], b"ready")))
    # The monitor as a user starts it: launcher, CLI, runner, 8 tracepoints; its
    # column header is printed once every probe is attached.
    rows.append(("bpfkit fileopen (CLI)", median_ms([str(ROOT / ".venv" / "bin" / "bpfkit"), "fileopen"],
                                                   b"FILENAME")))
    if os.path.exists("/usr/sbin/opensnoop"):
        rows.append(("libbpf-tools opensnoop (C)", median_ms(["/usr/sbin/opensnoop"], b"PATH")))
    bt = shutil.which("bpftrace")
    if bt and os.path.exists("/usr/sbin/opensnoop.bt"):
        rows.append(("bpftrace opensnoop.bt", median_ms([bt, "/usr/sbin/opensnoop.bt"], b"PATH")))
    c_ms = dict(rows).get("libbpf-tools opensnoop (C)")
    print(f"start-up until attached, median of {RUNS}:")
    for name, ms in rows:
        ratio = f"  ({ms / c_ms:.2f}x the C tool)" if c_ms else ""
        print(f"  {name:<32} {ms:7.1f} ms{ratio}")


if __name__ == "__main__":
    main()
