"""`bpfkit hist` vs bpftrace's hist() and libbpf-tools' runqlat, same run, same workloads.

Workloads (bench/histloop.c):
  syscalls  N x getppid(2): every syscall of the machine is a span (entry -> exit)
  pingpong  M round trips over pipes between two processes: run-queue spans

Tracers, all keeping in-kernel histograms (nothing per event crosses to user space):
  syscalls: `bpfkit hist syscall --by syscall` vs the bpftrace one-liner doing the same
            (raw_syscalls enter/exit, @[args->id] = hist(us)).
  pingpong: `bpfkit hist runqlat` vs libbpf-tools `runqlat` (C) vs a bpftrace runqlat one-liner.

Reported per tracer: start-up until its probes are attached, time added to each event
(workload with the tracer minus without, median of ROUNDS: noisy on a busy machine), the
time the kernel spent in the tracer's BPF programs per event (bpf_stats: insensitive to
scheduling noise), and the tracer process's own CPU while the workload runs (the
user-space side per event: ~0 for all, the kernel aggregates) plus its CPU for the whole
run. Run as root after `make bench`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N_SYSCALLS = int(os.environ.get("BENCH_SYSCALLS", "2000000"))
N_PINGPONG = int(os.environ.get("BENCH_PINGPONG", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CLK_TCK = os.sysconf("SC_CLK_TCK")

BT_SYSCALL = ("tracepoint:raw_syscalls:sys_enter { @s[tid] = nsecs; } "
              "tracepoint:raw_syscalls:sys_exit /@s[tid]/ { @us[args->id] = hist((nsecs - @s[tid]) / 1000); "
              "delete(@s[tid]); }")
BT_RUNQLAT = ("tracepoint:sched:sched_wakeup,tracepoint:sched:sched_wakeup_new { @q[args->pid] = nsecs; } "
              "tracepoint:sched:sched_switch { if (args->prev_state == 0) { @q[args->prev_pid] = nsecs; } "
              "$ns = @q[args->next_pid]; if ($ns) { @usecs = hist((nsecs - $ns) / 1000); } "
              "delete(@q[args->next_pid]); }")


def build(tmp: Path) -> Path:
    exe = tmp / "histloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "histloop.c")], check=True)
    return exe


def run(exe: Path, mode: str, n: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), mode, str(n)], check=True)
    return time.perf_counter() - t0


def links(pid: int) -> int:
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}") in ("anon_inode:bpf_link", "anon_inode:[perf_event]")
        except OSError:
            pass
    return n


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def bpf_runtime(pid: int) -> tuple[int, int]:
    """(ns, runs) of the BPF programs ``pid`` holds (kernel.bpf_stats_enabled)."""
    ids = set()
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    r = subprocess.run(["bpftool", "prog", "show", "--json"], capture_output=True, text=True, check=True)
    progs = [p for p in json.loads(r.stdout) if p.get("id") in ids]
    return sum(p.get("run_time_ns", 0) for p in progs), sum(p.get("run_cnt", 0) for p in progs)


class Tracer:
    def __init__(self, cmd: list[str], probes: int, out: Path) -> None:
        t0 = time.perf_counter()
        with open(out, "wb") as f:
            self.proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        while links(self.proc.pid) < probes:
            if self.proc.poll() is not None or time.perf_counter() - t0 > 30:
                raise RuntimeError(f"{cmd[:2]} did not attach")
            time.sleep(0.0005)
        self.startup = time.perf_counter() - t0
        time.sleep(0.3)

    def stop(self) -> float:
        self.proc.send_signal(signal.SIGINT)
        _, _, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        return ru.ru_utime + ru.ru_stime


def measure(name: str, cmd: list[str], probes: int, exe: Path, mode: str, arg: int, n: int, base: float,
            tmp: Path) -> tuple:
    """``arg`` for the workload, ``n`` events it makes."""
    added, during, total, startups, bpf, per_run = [], [], [], [], [], []
    for _ in range(ROUNDS):
        t = Tracer(cmd, probes, tmp / "out.txt")
        startups.append(t.startup)
        c0, b0 = cpu_seconds(t.proc.pid), bpf_runtime(t.proc.pid)
        wall = run(exe, mode, arg)
        c1, b1 = cpu_seconds(t.proc.pid), bpf_runtime(t.proc.pid)
        total.append(t.stop())
        added.append((wall - base) / n)
        during.append(c1 - c0)
        bpf.append((b1[0] - b0[0]) / n)
        per_run.append((b1[0] - b0[0]) / max(1, b1[1] - b0[1]))
    return (name, statistics.median(startups), statistics.median(added), statistics.median(bpf),
            statistics.median(per_run), statistics.median(during), statistics.median(total))


def table(title: str, n: int, base: float, rows: list[tuple], unit: str) -> None:
    print(f"\n{title}: {n:,} {unit}, {base / n * 1e9:.0f} ns each without a tracer (median of {ROUNDS})")
    print(f"{'tracer':<28} {'start-up':>9} {'added/event':>12} {'BPF/event':>10} {'BPF/run':>8} "
          f"{'user-space CPU while running':>30} {'CPU, whole run':>15}")
    for name, startup, added, bpf, per_run, during, total in rows:
        print(f"{name:<28} {startup * 1000:7.1f}ms {added * 1e9:9.0f} ns {bpf:7.0f} ns {per_run:5.0f} ns "
              f"{during * 1000:8.0f} ms = {during / n * 1e9:5.1f} ns/event {total * 1000:11.0f} ms")
    print("(BPF/event: kernel time in the tracer's programs over the workload's events, other activity "
          "included; BPF/run: per program run; user-space CPU in clock ticks of 10 ms)")


def main() -> None:
    with open("/proc/sys/kernel/bpf_stats_enabled") as f:
        stats_was = f.read().strip()
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write("1")  # the kernel times every BPF program run (BPF ns/event)
    try:
        bench()
    finally:
        with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
            f.write(stats_was)


def bench() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-hist-"))
    exe = build(tmp)
    bpfkit = str(ROOT / "bin" / "bpfkit") if (ROOT / "bin" / "bpfkit").exists() else "bpfkit"
    py = [str(ROOT / ".venv" / "bin" / "python"), bpfkit]
    bt = shutil.which("bpftrace")

    run(exe, "getppid", N_SYSCALLS)  # warm up
    base = statistics.median(run(exe, "getppid", N_SYSCALLS) for _ in range(ROUNDS))
    rows = [measure("bpfkit hist syscall", [*py, "hist", "syscall", "--by", "syscall"], 2, exe, "getppid",
                    N_SYSCALLS, N_SYSCALLS, base, tmp)]
    if bt:
        rows.append(measure("bpftrace hist() one-liner", [bt, "-e", BT_SYSCALL], 2, exe, "getppid",
                            N_SYSCALLS, N_SYSCALLS, base, tmp))
    table("syscall latency", N_SYSCALLS, base, rows, "getppid() calls")

    base = statistics.median(run(exe, "pingpong", N_PINGPONG) for _ in range(ROUNDS))
    events = 2 * N_PINGPONG  # wake-up + switch-in per direction
    rows = [measure("bpfkit hist runqlat", [*py, "hist", "runqlat"], 3, exe, "pingpong", N_PINGPONG, events,
                    base, tmp)]
    if os.path.exists("/usr/sbin/runqlat"):
        rows.append(measure("libbpf-tools runqlat (C)", ["/usr/sbin/runqlat"], 3, exe, "pingpong",
                            N_PINGPONG, events, base, tmp))
    if bt:
        rows.append(measure("bpftrace runqlat one-liner", [bt, "-e", BT_RUNQLAT], 3, exe, "pingpong",
                            N_PINGPONG, events, base, tmp))
    table("run-queue latency", events, base, rows, "wake-up -> switch-in spans (pipe ping-pong)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
