"""tcptrack vs libbpf-tools tcplife, same run, same workload.

Workload: bench/connloop.c, 20,000 loopback connections (connect, send 100
bytes, close) to a forked server. Reported per tracer: events delivered and
dropped, tracer CPU per connection, time added to each connection against no
tracer. Both tracers hook sock:inet_sock_set_state; tcplife prints one line
per closed socket, tcptrack four events per connection (CONNECT, ACCEPT and
two CLOSE). Run as root after `make bench`.
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fileopen import start, stop  # the shared tracer start/stop

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BENCH_CONNECTIONS", "20000"))
PORT = 47123
ROUNDS = 3


def run_workload(exe: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(N), str(PORT)], check=True)
    return time.perf_counter() - t0


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-"))
    exe = tmp / "connloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "connloop.c")], check=True)
    run_workload(exe)
    tracers = [("bpfkit tcptrack", [str(ROOT / ".venv" / "bin" / "bpfkit"), "tcptrack", "--port", str(PORT)],
                4)]
    if os.path.exists("/usr/sbin/tcplife"):
        tracers.append(("libbpf-tools tcplife", ["/usr/sbin/tcplife", "-L", str(PORT)], 1))
    # Loopback connection times drift (TIME_WAIT sockets, caches): every round
    # times the bare workload next to each tracer, and medians are reported.
    bases: list[float] = []
    results: dict[str, list[tuple[int, str, float, float]]] = {name: [] for name, _, _ in tracers}
    for _ in range(ROUNDS):
        base = run_workload(exe)
        bases.append(base)
        for name, cmd, _ in tracers:
            out, err_path = tmp / "out.txt", tmp / "err.txt"
            proc, _startup = start(cmd, out, err_path)
            t = run_workload(exe)
            cpu = stop(proc)
            got = sum(1 for ln in out.read_text(errors="replace").splitlines() if str(PORT) in ln)
            m = re.search(r"dropped: (\d+)", err_path.read_text()) if name.startswith("bpfkit") else None
            results[name].append((got, m[1] if m else "-", cpu / N * 1e6, (t - base) / N * 1e6))
    print(f"workload: {N:,} connections, {statistics.median(bases) / N * 1e6:.1f} us each without a "
          f"tracer (median of {ROUNDS} rounds)")
    print(f"{'tracer':<22} {'delivered (worst)':>22} {'dropped':>8} {'CPU/conn':>9} {'added/conn':>11}")
    for name, _, per_conn in tracers:
        rs = results[name]
        got = min(r[0] for r in rs)
        dropped = max((r[1] for r in rs), key=lambda d: int(d) if d.isdigit() else -1)
        print(f"{name:<22} {got:>11,}/{N * per_conn:<10,} {dropped:>8} "
              f"{statistics.median(r[2] for r in rs):7.1f}us {statistics.median(r[3] for r in rs):9.1f}us")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
