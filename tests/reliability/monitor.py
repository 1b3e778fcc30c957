"""Start a monitor the way a user does and wait until it is attached."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BPFKIT = [sys.executable, "-m", "bpfkit"]
COMM = "bpfkit-gen"  # the generator's command name: the monitors filter on it in the kernel
GENERATOR = r"""
import os, sys
with open('/proc/self/comm', 'w') as f:
    f.write(sys.argv[1])
n, path = int(sys.argv[2]), sys.argv[3]
sys.stdin.readline()
for i in range(n):
    os.close(os.open(path, os.O_RDONLY))
"""


class Monitor:
    def __init__(self, *args: str, preexec=None, cwd: Path = ROOT) -> None:
        self.proc = subprocess.Popen([*BPFKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, preexec_fn=preexec, cwd=cwd)
        self.banner = self.proc.stderr.readline()
        if "Ctrl+C" not in self.banner:
            self.proc.kill()
            raise AssertionError(f"monitor did not start: {self.banner}{self.proc.stderr.read()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> tuple[str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=timeout)
        return out, self.banner + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def generate(n: int, path: str = "/dev/null", comm: str = COMM) -> subprocess.Popen:
    """A process named ``comm`` that opens ``path`` n times once told to go."""
    return subprocess.Popen([sys.executable, "-c", GENERATOR, comm, str(n), path], stdin=subprocess.PIPE,
                            text=True)


def go(gen: subprocess.Popen, timeout: float = 120) -> None:
    gen.stdin.write("go\n")
    gen.stdin.close()
    assert gen.wait(timeout) == 0


def counts(err: str) -> tuple[int, int]:
    """(events, dropped) from the runner's final line."""
    line = next(x for x in reversed(err.splitlines()) if x.startswith("events: "))
    events, dropped = (int(p.split(": ")[1]) for p in line.split(", "))
    return events, dropped


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def our_bpf_ids() -> dict[str, set[int]]:
    """Ids of every program, link and map the kernel holds now."""
    out = {}
    for kind in ("prog", "link", "map"):
        r = subprocess.run(["bpftool", "-j", kind, "list"], capture_output=True, text=True, check=True)
        out[kind] = {x["id"] for x in json.loads(r.stdout or "[]")}
    return out


def wait_until(pred, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def cpu_ticks(pid: int) -> int:
    """User + system clock ticks the process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_idle(pid: int, timeout: float = 30.0) -> bool:
    """Until the process stops using CPU (two 0.2 s looks with no tick added):
    a monitor that has read everything queued for it."""
    deadline = time.monotonic() + timeout
    last = cpu_ticks(pid)
    quiet = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = cpu_ticks(pid)
        quiet = quiet + 1 if now == last else 0
        if quiet >= 2:
            return True
        last = now
    return False


_libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, MS_REC, MS_PRIVATE = 0x20000, 0x4000, 1 << 18


def private_tmpfs(where: str, size: str):
    """preexec_fn: a private mount namespace with a small tmpfs at ``where``
    (the test reaches it through /proc/PID/root)."""
    def enter() -> None:
        if _libc.unshare(CLONE_NEWNS) != 0:
            os._exit(97)
        if _libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None) != 0:
            os._exit(98)
        if _libc.mount(b"bpfkit-test", where.encode(), b"tmpfs", 0, f"size={size}".encode()) != 0:
            os._exit(99)
    return enter


def fill(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while os.write(fd, b"x" * 65536):
            pass
    except OSError:
        pass
    try:
        while os.write(fd, b"x"):
            pass
    except OSError:
        pass
    os.close(fd)


def sigstop_for(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGSTOP)
