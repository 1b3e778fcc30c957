"""fileaudit's cost on file activity it does not watch, per kind of hook.

Workload: bench/writeloop.c creates 100,000 files (open O_CREAT|O_WRONLY|
O_TRUNC, write 64 bytes, close) in a fresh directory under BENCH_DIR
(default /dev/shm: tmpfs creates files fastest, so the tracer's share is
largest there; /var/tmp on this VM's ext4 takes ~160 us per file), outside
every default watched tree; then the files are deleted (one unlink each),
timed too; then bench/sysloop.c makes 2,000,000 getppid() calls, which no
tracer watches but every enabled syscall tracepoint slows down. Each round
times, in a rotating order, the bare workload and the workload under
`bpfkit fileaudit` (default watch set) with each kind of hook this kernel
offers (--hooks: the best, auto; and the syscall tracepoints,
forced, where auto keeps something better), plus the floor every syscall
tracepoint tool pays: idle syscall tracepoints (bpftrace). Medians of the
rounds are reported, with the events each tracer delivered and the run time
of its BPF programs (the kernel's stats), which tells the programs' own cost
from the hooks'. Target: at most 10 % added, 0 events from the workload. Run
as root after `make bench`. BENCH_FILES, BENCH_SYSCALLS and BENCH_ROUNDS
scale it down (under qemu TCG file creation is ~30x slower and a syscall ~3x:
the floor shows in the getppid() figures there).
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
N = int(os.environ.get("BENCH_FILES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "6"))
BENCH_DIR = os.environ.get("BENCH_DIR", "/dev/shm")
CALLS = int(os.environ.get("BENCH_SYSCALLS", "2000000"))
BPFKIT = str(ROOT / ".venv" / "bin" / "bpfkit")
READY = {BPFKIT: "Auditing file changes."}  # its banner: every probe attached, inodes marked
START_TIMEOUT = float(os.environ.get("BENCH_START_TIMEOUT", "120"))  # dozens of probes under TCG


def run_workload(exe: Path, base: Path) -> tuple[float, float, float]:
    """(seconds creating and writing N files, seconds deleting them, seconds
    of CALLS getppid() calls: the floor on syscalls no tracer watches). The
    getppid() calls come first, while nothing else runs: under qemu's
    single-threaded emulation the inodes freed in the background after the
    deletes would share their CPU."""
    t3 = time.perf_counter()
    subprocess.run([str(exe.parent / "sysloop"), str(CALLS)], check=True)
    t4 = time.perf_counter()
    work = Path(tempfile.mkdtemp(dir=base))
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(work), str(N)], check=True)
    t1 = time.perf_counter()
    for name in os.listdir(work):  # one unlink(2) per file, nothing else timed
        os.unlink(os.path.join(work, name))
    t2 = time.perf_counter()
    os.rmdir(work)
    time.sleep(1)  # freeing 100k dentries/inodes finishes in the background
    return t1 - t0, t2 - t1, t4 - t3


def bpf_seconds(pid: int) -> float:
    """Run time of the BPF programs ``pid`` holds, by the kernel's own stats
    (kernel.bpf_stats_enabled; each program fd's fdinfo): what the tracer's
    programs cost, apart from what their hooks cost the kernel (trampolines,
    the syscall slow path)."""
    seen: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        if "prog_id" in info and "run_time_ns" in info:
            seen[info["prog_id"].strip()] = int(info["run_time_ns"])
    return sum(seen.values()) / 1e9


def kept_kinds(err: str) -> str:
    """The kinds of hook --verbose says fileaudit kept: "lsm+fexit", "tracepoint"."""
    kinds = set(re.findall(r"^fileaudit: \w+: (?!none )[\w+]+ \((\w+)\)", err, re.M))
    return "+".join(sorted(kinds, key=("lsm", "fentry", "fexit", "tracepoint").index)) or "?"


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-fileaudit-", dir=BENCH_DIR))
    exe = tmp / "writeloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "writeloop.c")], check=True)
    subprocess.run(["gcc", "-O2", "-o", str(tmp / "sysloop"), str(ROOT / "bench" / "sysloop.c")],
                   check=True)
    run_workload(exe, tmp)  # warm the caches
    # What auto keeps here; the syscall tracepoints too when auto keeps better.
    variants: list[tuple[str, list[str] | None]] = [("no tracer", None)]
    probe = subprocess.run([BPFKIT, "fileaudit", "--verbose", "--duration", "0.1"],
                           capture_output=True, text=True)
    best = kept_kinds(probe.stderr)
    variants.append((f"fileaudit ({best})", [BPFKIT, "fileaudit", "--json", "--verbose"]))
    if best != "tracepoint":
        variants.append(("fileaudit (tracepoint)",
                         [BPFKIT, "fileaudit", "--json", "--verbose", "--hooks", "syscalls"]))
    # The floor: syscall tracepoints the workload never calls. Enabling any
    # syscall tracepoint sends every syscall of every task through the slow
    # path (TIF_SYSCALL_TRACEPOINT); no syscall-tracepoint tool goes below it.
    if shutil.which("bpftrace"):
        variants.append(("floor: idle syscall tracepoints (bpftrace)",
                         ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_getppid, "
                          "tracepoint:syscalls:sys_exit_getppid { }"]))
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _ in variants}
    events: dict[str, list[tuple[int, int, int]]] = {
        name: [] for name, cmd in variants if cmd and cmd[0] == BPFKIT}
    prog_time: dict[str, list[float]] = {name: [] for name in events}
    stats = Path("/proc/sys/kernel/bpf_stats_enabled")
    stats_was = stats.read_text().strip()
    stats.write_text("1")  # every variant pays its (small) cost alike
    try:
        for r in range(ROUNDS):
            # rotating order: no variant always runs right after another
            for name, cmd in variants[r % len(variants):] + variants[:r % len(variants)]:
                if cmd is None:
                    times[name].append(run_workload(exe, tmp))
                    continue
                out, err_path = tmp / "out.txt", tmp / "err.txt"
                proc, _ = start(cmd, out, err_path, ready=READY.get(cmd[0]), timeout=START_TIMEOUT)
                times[name].append(run_workload(exe, tmp))
                if name in events:
                    prog_time[name].append(bpf_seconds(proc.pid))
                stop(proc)
                if name in events:
                    lines = out.read_text(errors="replace").splitlines()
                    m = re.search(r"events: (\d+), dropped: (\d+)", err_path.read_text())
                    events[name].append((len(lines), sum(1 for ln in lines if str(tmp) in ln),
                                         int(m[2]) if m else -1))
    finally:
        stats.write_text(stats_was)
    print(f"workload: {N:,} files created and written, then deleted, in {BENCH_DIR} (outside the "
          f"watched trees); median of {ROUNDS} rounds")
    bare_c = statistics.median(t[0] for t in times["no tracer"])
    bare_d = statistics.median(t[1] for t in times["no tracer"])
    bare_s = statistics.median(t[2] for t in times["no tracer"])
    print(f"  {'':<44} {'create+write':>22} {'delete':>22} {'getppid()':>20}")
    for name, _ in variants:
        c = statistics.median(t[0] for t in times[name])
        d = statistics.median(t[1] for t in times[name])
        sc = statistics.median(t[2] for t in times[name])
        added = "" if name == "no tracer" else f" {100 * (c - bare_c) / bare_c:+6.1f}%"
        added_d = "" if name == "no tracer" else f" {100 * (d - bare_d) / bare_d:+6.1f}%"
        added_s = "" if name == "no tracer" else f" {(sc - bare_s) / CALLS * 1e9:+5.0f} ns"
        print(f"  {name:<44} {c / N * 1e6:8.2f} us/file{added:>8} {d / N * 1e6:8.2f} us/file{added_d:>8}"
              f" {sc / CALLS * 1e9:6.0f} ns{added_s:>9}")
    for name, ev in events.items():
        print(f"  {name}: events from the workload {max(e[1] for e in ev)} (target 0), all events "
              f"{max(e[0] for e in ev)}, dropped {max(e[2] for e in ev)}; its BPF programs ran "
              f"{statistics.median(prog_time[name]) / N * 1e6:.2f} us per file")
    print("  target: at most +10 % on create+write")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
