"""fileopen vs libbpf-tools opensnoop vs bpftrace opensnoop.bt, same run, same workload.

Workload: bench/openloop.c, 1,000,000 x (openat + close) of one unique path.
Each tracer writes to a file. Reported per tracer: start-up until attached,
events delivered / generated, tracer CPU per event, time added to each open.
Run as root after `make bench` (it installs the yardsticks).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
N = int(os.environ.get("BENCH_OPENS", "1000000"))


def build_workload(tmp: Path) -> Path:
    exe = tmp / "openloop"
    subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / "openloop.c")], check=True)
    return exe


def run_workload(exe: Path, path: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(exe), str(N), path], check=True)
    return time.perf_counter() - t0


def attachments(pid: int) -> int:
    """Probes a process holds: BPF link fds, or perf-event fds (how bpftrace attaches)."""
    n = 0
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        n += target in ("anon_inode:bpf_link", "anon_inode:[perf_event]")
    return n


def start(cmd: list[str], out_path: Path, err_path: Path | None = None, ready: str | None = None,
          timeout: float = 20) -> tuple[subprocess.Popen, float]:
    """Start a tracer writing to out_path; wait until it holds its openat links
    or, given ``ready``, until its stderr (err_path) says so: a tool with
    dozens of probes, or an emulated CPU, takes longer than the 0.5 s grace.

    Every tracer is timed the same way (its stdout is a file, so a header line
    is not flushed); bench/startup.py measures start-up more precisely.
    """
    t0 = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path or os.devnull, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)

    def up() -> bool:
        if ready is None:
            return attachments(proc.pid) >= 2
        return err_path is not None and ready in err_path.read_text(errors="replace")

    while not up():
        if proc.poll() is not None or time.perf_counter() - t0 > timeout:
            said = err_path.read_text(errors="replace")[-2000:] if err_path else ""
            proc.kill()
            raise RuntimeError(f"{cmd[0]} did not attach within {timeout:.0f} s: {said}")
        time.sleep(0.0005 if ready is None else 0.05)
    if ready is not None:
        return proc, time.perf_counter() - t0
    time.sleep(0.5)  # the rest of its probes (bpfkit attaches 8 in a row)
    return proc, time.perf_counter() - t0 - 0.5


def stop(proc: subprocess.Popen) -> float:
    """SIGINT, wait; the tracer's CPU seconds (user + system)."""
    time.sleep(1.0)  # let it drain what is queued
    proc.send_signal(signal.SIGINT)
    _, _, ru = os.wait4(proc.pid, 0)
    proc.returncode = 0
    return ru.ru_utime + ru.ru_stime


def count(out_path: Path, needle: bytes) -> int:
    with open(out_path, "rb") as f:
        return sum(1 for line in f if needle in line)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-"))
    exe = build_workload(tmp)
    target = str(tmp / "unique-target-file")
    Path(target).write_text("x")
    run_workload(exe, target)  # warm up
    base = min(run_workload(exe, target) for _ in range(3))
    print(f"workload: {N:,} opens, {base / N * 1e6:.2f} us per open+close without a tracer")
    bpfkit = str(ROOT / ".venv" / "bin" / "bpfkit")
    tracers = [("bpfkit fileopen", [bpfkit, "fileopen", "--comm", "openloop"])]
    if os.path.exists("/usr/sbin/opensnoop"):
        tracers.append(("libbpf-tools opensnoop", ["/usr/sbin/opensnoop", "-n", "openloop"]))
    if shutil.which("bpftrace") and os.path.exists("/usr/sbin/opensnoop.bt"):
        tracers.append(("bpftrace opensnoop.bt", ["bpftrace", "/usr/sbin/opensnoop.bt"]))
    rows = []
    for name, cmd in tracers:
        out_path = tmp / f"{name.split()[-1]}.out"
        proc, startup = start(cmd, out_path)
        t = run_workload(exe, target)
        cpu = stop(proc)
        got = count(out_path, b"unique-target-file")
        rows.append((name, startup, got, cpu / N * 1e6, (t - base) / N * 1e6))
    print(f"{'tracer':<24} {'start-up':>9} {'delivered':>17} {'CPU/event':>10} {'added/open':>11}")
    for name, startup, got, cpu_us, added_us in rows:
        print(f"{name:<24} {startup * 1000:7.1f}ms {got:>9,}/{N:,} {cpu_us:8.2f}us {added_us:9.2f}us")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
