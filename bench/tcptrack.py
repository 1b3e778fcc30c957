"""tcptrack vs libbpf-tools tcplife, and tcptrack's hook alternatives against
each other: same run, same workload.

Workloads: bench/connloop.c, 20,000 loopback connections (connect, send 100
bytes, close) to a forked server; then 2,000,000 getppid() calls, which no
tracer here traces but which every syscall tracepoint slows down (an enabled
syscall tracepoint puts every syscall of the machine on the kernel's slow
path). Reported per tracer: events delivered and dropped, tracer CPU per
connection, time added to each connection and to each unrelated syscall
against no tracer.

tcptrack runs twice: with the hooks this kernel offers (fentry/fexit or
kprobes where there are, `--verbose` says which) and forced onto its
tracepoint path (--hooks tracepoint: the same fallback mechanism, restricted);
the ratios between the two are printed. Where the kernel only offers the
tracepoints both runs are the same program: their difference is the noise.
tcplife hooks sock:inet_sock_set_state only and prints one line per closed
socket; tcptrack four events per connection (CONNECT, ACCEPT, two CLOSE).
Run as root after `make bench`; BENCH_CONNECTIONS / BENCH_SYSCALLS scale the
workloads (under qemu TCG, use a tenth).
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
CALLS = int(os.environ.get("BENCH_SYSCALLS", "2000000"))
PORT = 47123
ROUNDS = 3
BPFKIT = str(ROOT / ".venv" / "bin" / "bpfkit")


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def cpu_seconds(pid: int) -> float:
    """A process's user + system CPU so far (clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def chosen_hooks(cmd: list[str]) -> str:
    """What tcptrack's --verbose says it kept for connect and accept."""
    r = subprocess.run([*cmd, "--verbose", "--duration", "0"], capture_output=True, text=True)
    kinds = dict(re.findall(r"^tcptrack: (connect4|accept): \S+ \(([\w-]+)\)", r.stderr, re.M))
    return f"{kinds.get('connect4', '?')}+{kinds.get('accept', '?')}"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-"))
    conn_exe, sys_exe = tmp / "connloop", tmp / "sysloop"
    subprocess.run(["gcc", "-O2", "-o", str(conn_exe), str(ROOT / "bench" / "connloop.c")], check=True)
    subprocess.run(["gcc", "-O2", "-o", str(sys_exe), str(ROOT / "bench" / "sysloop.c")], check=True)
    conn_cmd, sys_cmd = [str(conn_exe), str(N), str(PORT)], [str(sys_exe), str(CALLS)]
    timed(conn_cmd)
    best = [BPFKIT, "tcptrack"]
    forced = [BPFKIT, "tcptrack", "--hooks", "tracepoint"]
    tracers = [("bpfkit tcptrack", chosen_hooks(best), [*best, "--port", str(PORT)], 4),
               ("bpfkit tcptrack", chosen_hooks(forced) + " (forced)", [*forced, "--port", str(PORT)], 4)]
    if os.path.exists("/usr/sbin/tcplife"):
        tracers.append(("libbpf-tools tcplife", "tracepoint", ["/usr/sbin/tcplife", "-L", str(PORT)], 1))
    # Loopback connection times drift (TIME_WAIT sockets, caches): every round
    # times the bare workloads next to each tracer, and medians are reported.
    bases: list[tuple[float, float]] = []
    results: list[list[tuple[int, str, float, float, float]]] = [[] for _ in tracers]
    for _ in range(ROUNDS):
        base = (timed(conn_cmd), timed(sys_cmd))
        bases.append(base)
        for i, (name, _, cmd, _) in enumerate(tracers):
            out, err_path = tmp / "out.txt", tmp / "err.txt"
            proc, _startup = start(cmd, out, err_path, ready="Tracing TCP" if cmd[0] == BPFKIT else None,
                                    timeout=120)
            cpu0 = cpu_seconds(proc.pid)
            t_conn = timed(conn_cmd)
            time.sleep(1.0)  # let it drain what is queued
            cpu = cpu_seconds(proc.pid) - cpu0
            t_sys = timed(sys_cmd)
            stop(proc)
            got = sum(1 for ln in out.read_text(errors="replace").splitlines() if str(PORT) in ln)
            m = re.search(r"dropped: (\d+)", err_path.read_text()) if name.startswith("bpfkit") else None
            results[i].append((got, m[1] if m else "-", cpu / N * 1e6, (t_conn - base[0]) / N * 1e6,
                               (t_sys - base[1]) / CALLS * 1e9))
    base_conn = statistics.median(b[0] for b in bases) / N * 1e6
    base_sys = statistics.median(b[1] for b in bases) / CALLS * 1e9
    print(f"workload: {N:,} connections, {base_conn:.1f} us each without a tracer; {CALLS:,} getppid(), "
          f"{base_sys:.0f} ns each (medians of {ROUNDS} rounds)")
    print(f"{'tracer':<21} {'hooks (connect+accept)':<29} {'delivered (worst)':>21} {'dropped':>7} "
          f"{'CPU/conn':>9} {'added/conn':>10} {'added/syscall':>13}")
    medians = []
    for (name, hooks, _, per_conn), rs in zip(tracers, results, strict=True):
        got = min(r[0] for r in rs)
        dropped = max((r[1] for r in rs), key=lambda d: int(d) if d.isdigit() else -1)
        cpu, added, added_sys = (statistics.median(r[k] for r in rs) for k in (2, 3, 4))
        medians.append((cpu, added, added_sys))
        print(f"{name:<21} {hooks:<29} {got:>10,}/{N * per_conn:<10,} {dropped:>7} "
              f"{cpu:7.1f}us {added:8.1f}us {added_sys:11.0f}ns")
    (cpu_b, add_b, sys_b), (cpu_t, add_t, sys_t) = medians[0], medians[1]

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}x" if b > 0 else "n/a"

    print(f"{tracers[0][1]} vs its tracepoint path, same run: CPU/conn {ratio(cpu_b, cpu_t)}, "
          f"added/conn {ratio(add_b, add_t)}, added/syscall {ratio(sys_b, sys_t)} "
          f"({sys_b:.0f} vs {sys_t:.0f} ns on {base_sys:.0f} ns)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
