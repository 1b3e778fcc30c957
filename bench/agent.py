"""One agent running the monitors vs the same monitors as separate processes,
measured in the same run: start-up (wall time until all are attached, and CPU
spent getting there), resident memory once running, and tracer CPU per event
under one workload (opens, file changes in a watched tree, TCP connections).
Target (issue 17): the agent costs less than the separate processes together
on every figure.

Run as root after `make build`:  .venv/bin/python bench/agent.py [ROUNDS]
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BPFKIT = [sys.executable, "-m", "bpfkit"]
COMM = "bpfkit-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
N_OPEN, N_CHMOD, N_CONN = 40_000, 10_000, 2_000


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def start(argv: list[str]) -> subprocess.Popen:
    p = subprocess.Popen([*BPFKIT, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True, cwd=ROOT)
    return p


def wait_ready(p: subprocess.Popen, marker: str) -> None:
    while True:
        line = p.stderr.readline()
        if not line:
            raise RuntimeError(f"{p.args}: exited before ready")
        if marker in line:
            return


def workload(watched: Path, port: int) -> None:
    code = (f"import os, socket\nwith open('/proc/self/comm', 'w') as f: f.write({COMM!r})\n"
            f"[os.close(os.open('/dev/null', os.O_RDONLY)) for _ in range({N_OPEN})]\n"
            f"t = {str(watched / 'f')!r}\nopen(t, 'w').close()\n"
            f"[os.chmod(t, 0o600 | (i & 1)) for i in range({N_CHMOD})]\n"
            f"srv = socket.create_server(('127.0.0.1', {port}))\n"
            f"for _ in range({N_CONN}):\n"
            f"    c = socket.create_connection(('127.0.0.1', {port}))\n"
            "    s, _ = srv.accept(); c.close(); s.close()\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def one_round(tmp: Path, agent: bool) -> dict[str, float]:
    watched = tmp / "watched"
    watched.mkdir(exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = ["--json", "--output", "/dev/null"]
    monitors = {"fileopen": ["--comm", COMM], "tcptrack": ["--port", str(port)],
                "fileaudit": ["--watch", str(watched)]}
    t0 = time.monotonic()
    if agent:
        cfg = tmp / "agent.toml"
        cfg.write_text("[agent]\njson = true\noutput = \"/dev/null\"\nmetrics = \"\"\n"
                       f"[monitors.fileopen]\ncomm = \"{COMM}\"\n[monitors.tcptrack]\nport = {port}\n"
                       f"[monitors.fileaudit]\nwatch = [\"{watched}\"]\n")
        procs = [start(["agent", "--config", str(cfg)])]
        markers = ["Ctrl+C"]
    else:
        procs = [start([name, *opts, *common]) for name, opts in monitors.items()]
        markers = ["Ctrl+C"] * len(procs)
    for p, m in zip(procs, markers, strict=True):
        wait_ready(p, m)
    startup = time.monotonic() - t0
    cpu0 = sum(cpu_seconds(p.pid) for p in procs)
    time.sleep(0.5)
    rss = sum(rss_kib(p.pid) for p in procs)
    cpu1 = sum(cpu_seconds(p.pid) for p in procs)
    workload(watched, port)
    time.sleep(0.5)
    cpu2 = sum(cpu_seconds(p.pid) for p in procs)
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.communicate(timeout=60)
    events = N_OPEN + N_CHMOD + 4 * N_CONN
    return {"startup_ms": startup * 1000, "startup_cpu_ms": cpu0 * 1000, "rss_mib": rss / 1024,
            "idle_cpu_ms": (cpu1 - cpu0) * 1000, "us_per_event": (cpu2 - cpu1) / events * 1e6}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    results: dict[str, list[dict[str, float]]] = {"agent": [], "separate": []}
    with tempfile.TemporaryDirectory() as d:
        for _ in range(rounds):  # interleaved: drift hits both alike
            results["agent"].append(one_round(Path(d), True))
            results["separate"].append(one_round(Path(d), False))
    print(f"3 monitors (fileopen, tcptrack, fileaudit), {N_OPEN} opens + {N_CHMOD} chmods + "
          f"{N_CONN} TCP connections, median of {rounds}:")
    for key, label in (("startup_ms", "start-up until all attached (ms)"),
                       ("startup_cpu_ms", "CPU to start (ms)"), ("rss_mib", "resident memory (MiB)"),
                       ("us_per_event", "tracer CPU per event (us)")):
        a = statistics.median(r[key] for r in results["agent"])
        s = statistics.median(r[key] for r in results["separate"])
        print(f"  {label:<36} agent {a:8.2f}   separate {s:8.2f}   ratio {a / s:5.2f}")


if __name__ == "__main__":
    main()
