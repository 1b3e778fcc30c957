"""Ring buffer: every event of a burst arrives, drops are counted in the kernel."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest

from bpfkit import BPFError, BPFObject

pytestmark = pytest.mark.kernel

BURST = 100_000
# The child waits for a line on stdin, then makes N getppid() calls.
CHILD = "import os, sys; n = int(sys.argv[1]); sys.stdin.readline(); [os.getppid() for _ in range(n)]"


def spawn(n: int, paced: bool = False) -> subprocess.Popen:
    # paced: a few us of work per call, well below the reader's speed
    code = CHILD.replace("os.getppid()", "os.getppid() + sum(range(150))") if paced else CHILD
    return subprocess.Popen([sys.executable, "-c", code, str(n)], stdin=subprocess.PIPE, text=True)


def go(child: subprocess.Popen) -> None:
    child.stdin.write("go\n")
    child.stdin.close()


def test_burst_delivers_every_event_in_order(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.rodata.bpfkit_wakeup_bytes = 64 * 1024  # batch wake-ups
        obj.load()
        obj.attach()
        child = spawn(BURST)
        obj.bss.target_tgid = child.pid  # live .bss write: filter in the kernel
        with obj.ring_buffer("events", interval=0.02) as rb:
            go(child)
            seqs: list[int] = []
            deadline = time.monotonic() + 60
            while len(seqs) < BURST and time.monotonic() < deadline:
                seqs.extend(ev.seq for ev in rb.poll(timeout=0.5))
            child.wait()
            seqs.extend(ev.seq for ev in rb.poll(timeout=0.2))
            assert len(seqs) == BURST
            assert seqs == list(range(BURST))  # none lost, none duplicated, in order
            assert rb.dropped == 0 and obj.bss.bpfkit_ring_events.dropped == 0
            assert rb.events == BURST


def test_publishing_the_consumer_position_never_looks_like_a_full_ring(bpf_obj) -> None:
    """A busy reader keeps a 1 MiB ring nearly empty while 12 MB pass through
    it at a pace it can follow: no event may be dropped. A publish that passed through 0 on its way
    (struct.pack_into zero-fills first) made the kernel, once the producer
    was past the first MiB, see a full ring for an instant: hundreds of drops."""
    n = 300_000
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.maps.events.max_entries = 1 << 20  # ~26k events of slack (~25 ms)
        obj.load()
        obj.attach()
        child = spawn(n, paced=True)
        obj.bss.target_tgid = child.pid
        with obj.ring_buffer("events") as rb:
            go(child)
            got = 0
            while child.poll() is None:
                got += len(rb.read_available())  # publishes after every non-empty read
            got += len(rb.read_available())
            assert (got, rb.dropped) == (n, 0)


def test_events_are_decoded_by_type(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.load()
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        with obj.ring_buffer("events") as rb:
            os.getppid()
            (ev,) = rb.poll(timeout=1)
        assert (ev.pid, ev.tid) == (os.getpid(), __import__("threading").get_native_id())
        with open("/proc/self/comm") as f:
            assert ev.comm == f.read().strip()
        assert set(ev._asdict()) == {"seq", "pid", "tid", "comm"}


def test_tiny_ring_counts_drops_in_kernel(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.maps.events.max_entries = 4096  # one page: ~100 events
        obj.load()
        obj.attach()
        child = spawn(20_000)
        obj.bss.target_tgid = child.pid
        with obj.ring_buffer("events") as rb:
            go(child)
            child.wait()  # nobody reads while the burst runs
            delivered = len(rb.poll(timeout=0.1))
            assert rb.dropped > 0
            assert delivered + rb.dropped == 20_000


def test_batched_wakeups_never_hold_an_event_past_the_interval(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.rodata.bpfkit_wakeup_bytes = 1 << 21  # far more than one event: no wake-up
        obj.load()
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        with obj.ring_buffer("events", interval=0.05) as rb:
            os.getppid()
            t0 = time.monotonic()
            evs = rb.poll(timeout=5)
            assert len(evs) == 1
            assert time.monotonic() - t0 < 1.0  # found by the interval timer, not the 5 s timeout


def test_async_iteration(bpf_obj) -> None:
    async def collect(rb, n: int) -> list:
        out = []
        async for ev in rb:
            out.append(ev.seq)
            if len(out) == n:
                break
        return out

    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.load()
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        with obj.ring_buffer("events") as rb:
            for _ in range(5):
                os.getppid()
            assert asyncio.run(asyncio.wait_for(collect(rb, 5), 5)) == [0, 1, 2, 3, 4]


def test_reader_errors_name_the_problem(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        with pytest.raises(BPFError, match="before reading"):
            obj.ring_buffer("events")
        obj.load()
        with pytest.raises(BPFError, match="struct nope is not in the BTF"):
            obj.ring_buffer("events", "nope")
    with BPFObject.open(bpf_obj("maps")) as obj:
        obj.load()
        with pytest.raises(BPFError, match="'arr' is a ARRAY, not a ring buffer"):
            obj.ring_buffer("arr")
