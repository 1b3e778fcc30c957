"""Ring-buffer reader throughput: events decoded per second by one Python reader.

Two figures:
  decode  - 1,000,000 events already queued in the ring (the kernel wrote them
            while nobody read), then timed read_available(): the reader alone.
  live    - a child makes 1,000,000 getppid() calls while the reader consumes
            concurrently with batched wake-ups: delivered/generated, reader CPU.
Run as root after `make build`:  .venv/bin/python bench/ringbuf_throughput.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

from bpfkit import BPFObject
from bpfkit.core.build import build

ROOT = Path(__file__).resolve().parent.parent
N = 1_000_000
CHILD = "import os, sys; n = int(sys.argv[1]); sys.stdin.readline(); [os.getppid() for _ in range(n)]"


def obj_path() -> Path:
    return build(ROOT / "tests" / "bpf" / "ringbuf.bpf.c")[0]


def fill_then_decode() -> float:
    with BPFObject.open(obj_path()) as obj:
        obj.maps.events.max_entries = 1 << 26  # 64 MiB: 1M 48-byte records fit
        obj.rodata.bpfkit_wakeup_bytes = 1 << 30  # no wake-ups while filling
        obj.load()
        obj.attach()
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(N)], stdin=subprocess.PIPE, text=True)
        obj.bss.target_tgid = child.pid
        child.communicate("go\n")
        obj.detach()
        with obj.ring_buffer("events") as rb:
            t0 = time.perf_counter()
            n = 0
            while True:
                batch = rb.read_available(limit=65536)  # bounded batches, as a reader would
                if not batch:
                    break
                n += len(batch)
            dt = time.perf_counter() - t0
            assert n == N, (n, rb.dropped)
            return n / dt


def live() -> tuple[int, int, float, float]:
    with BPFObject.open(obj_path()) as obj:
        obj.maps.events.max_entries = 1 << 24
        obj.rodata.bpfkit_wakeup_bytes = 1 << 18
        obj.load()
        obj.attach()
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(N)], stdin=subprocess.PIPE, text=True)
        obj.bss.target_tgid = child.pid
        with obj.ring_buffer("events", interval=0.05) as rb:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            child.stdin.write("go\n")
            child.stdin.close()
            got = 0
            first_drop = None
            while child.poll() is None:
                got += len(rb.poll(timeout=0.1))
                if rb.dropped and not first_drop:
                    first_drop = (got, rb.pending_bytes())
            got += len(rb.read_available())
            wall = time.perf_counter() - t0
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            if first_drop:
                print("first drop after", first_drop)
            return got, rb.dropped, wall, cpu


def main() -> None:
    rate = fill_then_decode()
    print(f"decode: {rate:,.0f} events/s from the mmap'd ring into typed event objects "
          f"(target >= 500,000/s; one FFI callback per event: ~100,000/s)")
    got, dropped, wall, cpu = live()
    print(f"live:   {got:,} of {N:,} delivered, {dropped} dropped (counted in kernel), "
          f"{wall:.2f} s wall, reader CPU {cpu / max(got, 1) * 1e6:.2f} us/event")


if __name__ == "__main__":
    main()
