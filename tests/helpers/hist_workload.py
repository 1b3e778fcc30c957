"""Workloads of known size for the hist/count tests. Each prints 'ready',
waits for a line on stdin, works, prints 'done', then waits for stdin to
close (blocked: no further syscalls, wakeups or switch-ins).

    hist_workload.py nanosleep COUNT MILLISECONDS   raw nanosleep(2) syscalls
    hist_workload.py getppid CHUNKS PER_CHUNK PAUSE_MS   getppid(2) in bursts
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

from bpfkit.tools.hist.kernel import SYSCALLS

libc = ctypes.CDLL(None, use_errno=True)


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def main() -> None:
    mode = sys.argv[1]
    print("ready", os.getpid(), flush=True)
    sys.stdin.readline()
    if mode == "nanosleep":
        count, ms = int(sys.argv[2]), float(sys.argv[3])
        nr = SYSCALLS.number("nanosleep")  # glibc's nanosleep() is clock_nanosleep(2)
        ts = Timespec(int(ms // 1000), int((ms % 1000) * 1e6))
        for _ in range(count):
            assert libc.syscall(nr, ctypes.byref(ts), None) == 0
    elif mode == "getppid":
        chunks, per, pause = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
        getppid = os.getppid
        for _ in range(chunks):
            for _ in range(per):
                getppid()
            time.sleep(pause / 1000)
    print("done", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
