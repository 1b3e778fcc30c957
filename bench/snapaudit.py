"""snapaudit's cost on ioctls that are not ZFS's, and per ZFS call it audits.

1. Workload: bench/ioctlloop.c, 1,000,000 x ioctl(TCGETS) on a pseudo-terminal (ioctl is hot
   on some hosts: every KVM_RUN is one), and 1,000,000 x getppid() (any other syscall). Each
   round times, back to back (ABBA order):
     - no tracer;
     - the floor: an idle bpftrace on two syscall tracepoints the workload never calls (acct):
       enabling any syscall tracepoint sends every syscall through the kernel's slow path;
     - bpftrace with an empty program on sys_enter_ioctl/sys_exit_ioctl (the least any
       ioctl tracepoint program can cost);
     - `bpfkit snapaudit` (default options) and `bpfkit snapaudit --compat` (raw sys_enter /
       sys_exit programs: every syscall pays, hence the getppid loop).
   Medians of the rounds; per call ns added; tracer CPU during the workload; ring events
   (target 0). Then, in a pass of its own, snapaudit's program time per ioctl from the kernel's
   BPF statistics (kernel.bpf_stats_enabled, switched on for that pass and restored: it adds two
   clock reads to every program run, so it stays off while the loops are timed).
2. Audited calls: the REAL libzfs_core (scripts/fetch-zfs-libs.sh) in the fake /dev/zfs namespace
   of tests/helpers/lzc.py, 2,000 lzc_snapshot calls of 1 name and 200 of 500 names (chunked
   nvlists), with `snapaudit --attempts --json`: delivered records and tracer CPU per call.

Run as root: `.venv/bin/python bench/snapaudit.py` (BENCH_IOCTLS, BENCH_ROUNDS to change sizes).
"""

from __future__ import annotations

import json
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
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
N = int(os.environ.get("BENCH_IOCTLS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
BPFKIT = str(ROOT / ".venv" / "bin" / "bpfkit")


def cpu_of(pid: int) -> float:
    """utime + stime of a process, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_loop(exe: Path, mode: str = "ioctl") -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(N), *(["getppid"] if mode == "getppid" else [])], check=True)
    return time.perf_counter() - t0


def prog_stats(names: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """name -> (run_time_ns, run_cnt) of loaded programs, from bpftool."""
    r = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    out = {}
    for p in json.loads(r.stdout):
        if p.get("name") in names:
            out[p["name"]] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
    return out


def part1(tmp: Path) -> None:
    exe = tmp / "ioctlloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "ioctlloop.c")], check=True)
    run_loop(exe)  # warm up
    have_bpftrace = shutil.which("bpftrace") is not None
    device = ["--device", "/dev/null"] if not os.path.exists("/dev/zfs") else []
    tracers = {
        "floor": ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_acct, "
                  "tracepoint:syscalls:sys_exit_acct { }"] if have_bpftrace else None,
        "empty": ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_ioctl, "
                  "tracepoint:syscalls:sys_exit_ioctl { }"] if have_bpftrace else None,
        "snapaudit": [BPFKIT, "snapaudit", "--json", *device],
        "compat": [BPFKIT, "snapaudit", "--json", "--compat", *device],
    }
    progs = ("enter_ioctl", "exit_ioctl", "compat_enter", "compat_exit")
    t: dict[tuple[str, str], list[float]] = {}
    cpu: dict[str, list[float]] = {"snapaudit": [], "compat": []}
    events: list[int] = []
    for r in range(ROUNDS):
        order = list(tracers.items())
        if r % 2:
            order.reverse()  # ABBA: no tracer always runs right after another
        order = [("bare", None), *order] if r % 2 == 0 else [*order, ("bare", None)]
        for key, cmd in order:
            if key != "bare" and cmd is None:
                continue
            proc = None
            if cmd is not None:
                err = tmp / f"{key}-err.txt"
                proc, _ = start(cmd, tmp / f"{key}.txt", err)
            for mode in ("ioctl", "getppid"):
                c0 = cpu_of(proc.pid) if proc else 0.0
                t.setdefault((key, mode), []).append(run_loop(exe, mode))
                if proc and key in cpu and mode == "ioctl":
                    cpu[key].append(cpu_of(proc.pid) - c0)
            if proc is not None:
                stop(proc)
                if key in cpu:
                    m = re.search(r"events: (\d+), dropped: (\d+)", err.read_text())
                    events.append(int(m[1]) if m else -1)
    # The programs' own time, in a separate pass: BPF statistics add two clock reads to every
    # program run, so they stay off while the loops above are timed.
    prog_ns: dict[str, float] = {}
    stats_before = Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()
    Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
    try:
        for key in ("snapaudit", "compat"):
            proc, _ = start(tracers[key], tmp / f"{key}.txt")
            before = prog_stats(progs)
            run_loop(exe)
            after = prog_stats(progs)
            stop(proc)
            prog_ns[key] = sum(after[k][0] - before.get(k, (0, 0))[0] for k in after) / N
    finally:
        Path("/proc/sys/kernel/bpf_stats_enabled").write_text(stats_before)
    per = {k: statistics.median(v) / N * 1e9 for k, v in t.items()}
    bare, bare_p = per[("bare", "ioctl")], per[("bare", "getppid")]

    def row(label: str, key: str) -> None:
        v = per[(key, "ioctl")]
        line = f"   {label:<46} {v:6.0f} ns  ({v - bare:+5.0f} ns, {100 * (v / bare - 1):+5.1f} %)"
        if (key, "getppid") in per:
            g = per[(key, "getppid")]
            line += f"   getppid {g:4.0f} ns ({g - bare_p:+4.0f})"
        print(line)

    print(f"1. {N:,} x ioctl(TCGETS) on a pty (and {N:,} x getppid), median of {ROUNDS} rounds, same run")
    print(f"   {'no tracer':<46} {bare:6.0f} ns per call              getppid {bare_p:4.0f} ns")
    if have_bpftrace:
        row("floor: idle bpftrace on acct() tracepoints", "floor")
        row("bpftrace, empty program on ioctl enter/exit", "empty")
    row("bpfkit snapaudit", "snapaudit")
    row("bpfkit snapaudit --compat", "compat")
    for key in ("snapaudit", "compat"):
        print(f"   {key}: its programs per ioctl (bpf_stats, every program it runs): {prog_ns[key]:.0f} ns; "
              f"its CPU during the ioctl loop {1000 * statistics.median(cpu[key]):.1f} ms")
    print(f"   ring events from the loops: {max(events)} (target 0)")


def part2(tmp: Path) -> None:
    import lzc

    try:
        lzc.Libs.get()
    except (lzc.LibsMissing, OSError) as exc:
        print(f"2. skipped: {exc}")
        return
    small, big, n_small, n_big = ["tank/fs@s"], [f"tank/fs{i:04d}/data@daily" for i in range(500)], 2000, 200

    def loop(names: list[str], n: int) -> float:
        def work() -> float:
            with lzc.Lzc() as z:
                t0 = time.perf_counter()
                for _ in range(n):
                    z.snapshot(names)
                return time.perf_counter() - t0
        return lzc.run_in_fake_zfs_namespace(work, timeout=600)

    bare = {"small": loop(small, n_small), "big": loop(big, n_big)}
    out, err = tmp / "audit.json", tmp / "audit-err.txt"
    proc, _ = start([BPFKIT, "snapaudit", "--device", "/dev/null", "--attempts", "--json",
                     "--history-wait", "0"], out, err)
    res = {}
    for key, names, n in (("small", small, n_small), ("big", big, n_big)):
        c0 = cpu_of(proc.pid)
        secs = loop(names, n)
        time.sleep(0.5)  # the reader's share of this batch
        res[key] = (secs, cpu_of(proc.pid) - c0)
    stop(proc)
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    whole = sum(1 for r in recs if len(r["names"]) == 500 and not r["truncated"])
    m = re.search(r"events: (\d+), dropped: (\d+)", err.read_text())
    print(f"2. audited calls (real libzfs_core, fake /dev/zfs, --attempts): {len(recs):,} records of "
          f"{n_small + n_big:,} calls ({whole} of {n_big} 500-name snapshots whole); ring events "
          f"{m[1] if m else '?'}, dropped {m[2] if m else '?'}")
    for key, names, n in (("small", small, n_small), ("big", big, n_big)):
        secs, cpu = res[key]
        print(f"   lzc_snapshot of {len(names):3d} name(s): {bare[key] / n * 1e6:7.1f} us per call bare, "
              f"{secs / n * 1e6:7.1f} us traced; tracer CPU {cpu / n * 1e6:7.1f} us per call")


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("run as root")
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-snapaudit-"))
    try:
        part1(tmp)
        part2(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
