"""dnswatch: what it costs per DNS question, and what it costs traffic that is not DNS.

Workloads (compiled here from bench/dnsloop.c and bench/netload.c), all on loopback:
  dns         N_DNS questions over UDP, back to back, to a C responder (connected socket)
  dns paced   2,000 questions, one per millisecond (send to answer timed, pauses not)
  tcp bulk    a 2 GB TCP transfer in 64 KiB writes, on a port that is not DNS
  udp conn    200,000 datagrams of 100 bytes, send/recv on connected sockets, not DNS
  udp unconn  the same with sendto/recvfrom on unconnected sockets: the early filter must look
              at every datagram's address
Configurations, every one timed next to the bare workload in each round (medians of ROUNDS):
  none                 no tracer
  dnswatch             the default hooks (tp_btf sock_send_length/sock_recv_length here)
  dnswatch syscalls    --hooks syscalls: the path for kernels before 6.3 (12 syscall tracepoint pairs)
  empty tp_btf pair    programs that return at once on the same two tracepoints
                       (bench/socklen_floor.bpf.c): what any tool hooking them costs
  syscall tp floor     an idle bpftrace on tracepoint:syscalls:sys_enter_sendmmsg, which is what
                       any design with one syscall tracepoint pays (the issue's plan hooked
                       sys_enter_sendmmsg/recvmmsg to number the messages of sendmmsg)
Then, with kernel.bpf_stats_enabled=1 for a moment, each dnswatch program's own run time per
call, for DNS and for non-DNS traffic.

Run as root: .venv/bin/python bench/dnswatch.py  (needs gcc; bpftrace for the floor row)
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
BPFKIT = str(ROOT / ".venv" / "bin" / "bpfkit")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
N_DNS = int(os.environ.get("BENCH_DNS", "20000"))
N_PACED = 2000
DNS_PORT = 15353
TCP_BYTES = 2_000_000_000
UDP_COUNT = 200_000
RING_KB = "32768"  # holds the whole back-to-back burst (2 records of ~190 B per question)


def build(tmp: Path) -> tuple[Path, Path]:
    out = []
    for name in ("dnsloop", "netload"):
        exe = tmp / name
        subprocess.run(["gcc", "-O2", "-o", str(exe), str(ROOT / "bench" / f"{name}.c")], check=True)
        out.append(exe)
    return out[0], out[1]


def workloads(dnsloop: Path, netload: Path) -> dict[str, tuple[list[str], float]]:
    """name -> (command, divisor giving the per-operation unit)"""
    return {
        "dns": ([str(dnsloop), str(N_DNS), str(DNS_PORT)], 1),  # prints us per question
        "dns paced": ([str(dnsloop), str(N_PACED), str(DNS_PORT), "1000"], 1),  # one every ms
        "tcp bulk": ([str(netload), "tcp", str(TCP_BYTES), "16001"], TCP_BYTES / 1e9),  # s per GB
        "udp conn": ([str(netload), "udp", str(UDP_COUNT), "16002", "connected"], UDP_COUNT / 1e6),
        "udp unconn": ([str(netload), "udp", str(UDP_COUNT), "16003", "unconnected"], UDP_COUNT / 1e6),
    }


UNITS = {"dns": "us/question", "dns paced": "us/question", "tcp bulk": "s/GB", "udp conn": "us/datagram",
         "udp unconn": "us/datagram"}


def run(cmd: list[str], div: float) -> float:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip()) / div


class Tracer:
    def __init__(self, cmd: list[str], ready: str | None, out: Path) -> None:
        self.out = out
        self.errf = open(out.with_suffix(".err"), "w+")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, stdout=self.errf, stderr=self.errf,
                                     stdin=subprocess.DEVNULL)
        t0 = time.monotonic()
        while True:
            self.errf.seek(0)
            text = self.errf.read()
            if (ready and ready in text) or (not ready and "Attaching" in text):
                break
            if self.proc.poll() is not None or time.monotonic() - t0 > 30:
                raise RuntimeError(f"{cmd} did not start: {text}")
            time.sleep(0.01)
        self.startup = time.monotonic() - t0
        time.sleep(0.3)

    def stop(self) -> tuple[float, str]:
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGINT)
        _, _, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        self.errf.seek(0)
        err = self.errf.read()
        self.errf.close()
        return ru.ru_utime + ru.ru_stime, err


def configs(tmp: Path) -> list[tuple[str, list[str] | None, str | None]]:
    base = [BPFKIT, "dnswatch", "--ports", str(DNS_PORT), "--json", "--output", str(tmp / "dw.json"),
            "--ring-buffer-kb", RING_KB]
    floor_obj = tmp / "socklen_floor.bpf.o"
    subprocess.run([BPFKIT, "build", str(ROOT / "bench" / "socklen_floor.bpf.c"), "-o", str(floor_obj)],
                   check=True, capture_output=True)
    out: list[tuple[str, list[str] | None, str | None]] = [
        ("none", None, None), ("dnswatch", base, "Tracing DNS"),
        ("dnswatch syscalls", [*base, "--hooks", "syscalls"], "Tracing DNS"),
        ("empty tp_btf pair", [BPFKIT, "run", str(floor_obj)], "program(s) attached")]
    if shutil.which("bpftrace"):
        floor = ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_sendmmsg {}"]
        out.append(("syscall tp floor", floor, None))
    return out


def proc_cpu(pid: int) -> float:
    """utime + stime of a running process, seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def prog_stats(pid: int) -> dict[str, tuple[int, int]]:
    """program name -> (run_cnt, run_time_ns) of a process's BPF programs (bpf_stats on)."""
    out: dict[str, tuple[int, int]] = {}
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            text = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
            info = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        except OSError:
            continue
        if "prog_id" not in info or "run_cnt" not in info:
            continue
        show = subprocess.run(["bpftool", "prog", "show", "id", info["prog_id"].strip(), "-j"],
                              capture_output=True, text=True)
        name = json.loads(show.stdout).get("name", info["prog_id"]) if show.returncode == 0 else fd
        out[name] = (int(info["run_cnt"]), int(info["run_time_ns"]))
    return out


def main() -> int:
    if os.geteuid():
        print("run as root", file=sys.stderr)
        return 1
    tmp = Path(tempfile.mkdtemp(prefix="bpfkit-bench-dnswatch-"))
    try:
        dnsloop, netload = build(tmp)
        loads = workloads(dnsloop, netload)
        for cmd, div in loads.values():  # warm up
            run(cmd, div)
        cfgs = configs(tmp)
        times: dict[tuple[str, str], list[float]] = {}
        startup: dict[str, list[float]] = {}
        delivered: list[tuple[int, str]] = []
        for rnd in range(ROUNDS):
            for name, cmd, ready in cfgs:
                tracer = Tracer(cmd, ready, tmp / "t") if cmd else None
                if tracer:
                    startup.setdefault(name, []).append(tracer.startup)
                for wl, (wcmd, div) in loads.items():
                    times.setdefault((name, wl), []).append(run(wcmd, div))
                if tracer:
                    _, err = tracer.stop()
                    if name == "dnswatch":
                        lines = (tmp / "dw.json").read_text().splitlines()
                        got = sum(1 for ln in lines if '"event":"answer"' in ln) - N_PACED
                        dropped = next((ln for ln in err.splitlines() if ln.startswith("events:")), "?")
                        delivered.append((got, dropped))
                        (tmp / "dw.json").unlink()
            print(f"round {rnd + 1}/{ROUNDS} done", file=sys.stderr)

        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"dnswatch benchmark: {ROUNDS} rounds, medians; every configuration timed next to the bare "
              f"workload in each round")
        print(f"{'workload':<12} {'unit':<12} " + " ".join(f"{n:>22}" for n, _, _ in cfgs)
              + f" {'bare spread':>12}")
        for wl in loads:
            bare = med[("none", wl)]
            cells = []
            for name, _, _ in cfgs:
                v = med[(name, wl)]
                added = "" if name == "none" else f" ({(v - bare) / bare * 100:+5.1f} %)"
                cells.append(f"{v:>10.3f}" + added.rjust(12))
            bares = times[("none", wl)]
            spread = (max(bares) - min(bares)) / bare * 100  # how much the bare workload alone moves
            print(f"{wl:<12} {UNITS[wl]:<12} " + " ".join(f"{c:>22}" for c in cells) + f" {spread:>10.1f} %")
        for name, _, _ in cfgs[1:]:
            print(f"{name}: start-up to ready {statistics.median(startup[name]) * 1e3:.0f} ms (median)")
        worst = min(delivered)
        print(f"dnswatch delivered (worst round, {N_DNS:,} questions back to back, {RING_KB} KiB ring): "
              f"{worst[0]:,} answered questions reported; {worst[1]}")

        # tracer CPU per question: the tracer's own CPU time across the DNS workload only
        for name, cmd, ready in cfgs[1:3]:
            assert cmd is not None
            per_q = []
            for _ in range(3):
                tracer = Tracer(cmd, ready, tmp / "t")
                before = proc_cpu(tracer.proc.pid)
                wcmd, div = loads["dns"]
                run(wcmd, div)
                while len((tmp / "dw.json").read_bytes().splitlines()) < N_DNS:  # every one written
                    time.sleep(0.05)
                per_q.append((proc_cpu(tracer.proc.pid) - before) / N_DNS * 1e6)
                tracer.stop()
                (tmp / "dw.json").unlink()
            print(f"{name}: tracer CPU {statistics.median(per_q):.1f} us per DNS question "
                  f"(2 ring records, matched, written as JSON; median of 3)")

        # in-kernel cost per program call, from bpf_stats
        old = Path("/proc/sys/kernel/bpf_stats_enabled").read_text().strip()
        Path("/proc/sys/kernel/bpf_stats_enabled").write_text("1")
        try:
            for name, cmd, ready in cfgs[1:4]:
                assert cmd is not None
                tracer = Tracer(cmd, ready, tmp / "t")
                print(f"{name}: BPF run time per program call (bpf_stats)")
                for wl, (wcmd, div) in loads.items():
                    before = prog_stats(tracer.proc.pid)
                    run(wcmd, div)
                    after = prog_stats(tracer.proc.pid)
                    parts = []
                    total_ns = 0
                    for prog, (cnt, ns) in sorted(after.items()):
                        c0, n0 = before.get(prog, (0, 0))
                        if cnt > c0:
                            parts.append(f"{prog} {cnt - c0:,} x {(ns - n0) / (cnt - c0):.0f} ns")
                            total_ns += ns - n0
                    ops = (N_DNS if wl == "dns" else N_PACED if wl == "dns paced" else UDP_COUNT
                           if wl.startswith("udp") else TCP_BYTES / 65536)
                    unit = "question" if wl.startswith("dns") else "operation"
                    calls = "; ".join(parts) or "no calls"
                    print(f"  {wl:<11} {total_ns / ops:8.0f} ns per {unit} ({calls})")
                tracer.stop()
        finally:
            Path("/proc/sys/kernel/bpf_stats_enabled").write_text(old)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
