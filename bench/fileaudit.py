"""fileaudit's cost on file activity it does not watch.

Workload: bench/writeloop.c creates 100,000 files (open O_CREAT|O_WRONLY|
O_TRUNC, write 64 bytes, close) in a fresh directory under BENCH_DIR
(default /dev/shm: tmpfs creates files fastest, so the tracer's share is
largest there; /var/tmp on this VM's ext4 takes ~160 us per file), outside
every default watched tree. Each round times the bare workload and the
workload under `bpfkit fileaudit` (default watch set) back to back; medians
of the rounds are reported, with the events the tracer delivered. Target:
at most 10 % added, 0 events from the workload. Run as root after `make bench`.
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


def run_workload(exe: Path, base: Path) -> float:
    work = Path(tempfile.mkdtemp(dir=base))
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(work), str(N)], check=True)
    t = time.perf_counter() - t0
    shutil.rmtree(work)
    time.sleep(1)  # freeing 100k dentries/inodes finishes in the background
    return t


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-fileaudit-", dir=BENCH_DIR))
    exe = tmp / "writeloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "writeloop.c")], check=True)
    run_workload(exe, tmp)  # warm the caches
    cmd = [str(ROOT / ".venv" / "bin" / "bpfkit"), "fileaudit", "--json"]
    # The floor: syscall tracepoints the workload never calls. Enabling any
    # syscall tracepoint sends every syscall of every task through the slow
    # path (TIF_SYSCALL_TRACEPOINT); no syscall-tracepoint tool goes below it.
    floor_cmd = (["bpftrace", "-e", "tracepoint:syscalls:sys_enter_getppid, "
                  "tracepoint:syscalls:sys_exit_getppid { }"]
                 if shutil.which("bpftrace") else None)
    floor: list[float] = []
    bare, traced, events, workload_events, dropped = [], [], [], [], []
    for r in range(ROUNDS):
        # ABBA order: neither side always runs right after the other
        if r % 2 == 0:
            bare.append(run_workload(exe, tmp))
        out, err_path = tmp / "out.txt", tmp / "err.txt"
        proc, _ = start(cmd, out, err_path)
        traced.append(run_workload(exe, tmp))
        stop(proc)
        if r % 2 == 1:
            bare.append(run_workload(exe, tmp))
        if floor_cmd:
            proc, _ = start(floor_cmd, tmp / "floor.txt")
            floor.append(run_workload(exe, tmp))
            stop(proc)
        lines = out.read_text(errors="replace").splitlines()
        events.append(len(lines))
        workload_events.append(sum(1 for ln in lines if str(tmp) in ln))
        m = re.search(r"events: (\d+), dropped: (\d+)", err_path.read_text())
        dropped.append(int(m[2]) if m else -1)
    b, t = statistics.median(bare), statistics.median(traced)
    print(f"workload: {N:,} files created and written in {BENCH_DIR} (outside the watched "
          f"trees), median of {ROUNDS} rounds")
    print(f"  no tracer              {b:7.3f} s  ({b / N * 1e6:.2f} us per file)")
    print(f"  bpfkit fileaudit       {t:7.3f} s  ({t / N * 1e6:.2f} us per file)  "
          f"added {100 * (t - b) / b:+.1f} % (target <= 10 %)")
    if floor:
        f = statistics.median(floor)
        print(f"  floor: idle syscall tracepoints (bpftrace) {f:7.3f} s  added {100 * (f - b) / b:+.1f} %")
    print(f"  events from the workload: {max(workload_events)} (target 0); all events: "
          f"{max(events)}; dropped: {max(dropped)}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
