"""Perf buffers: a native PERF_EVENT_ARRAY, and a BPFKIT_RINGBUF program
switched to the perf path (what kernels without ring buffers get)."""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from test_ringbuf import go, spawn

from bpfkit import BPFObject
from bpfkit.core.events.perfbuf import PerfBuffer

pytestmark = pytest.mark.kernel


def collect(reader, n: int, child, timeout: float = 60) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline and child.poll() is None:
        got.extend(reader.poll(timeout=0.2))
    child.wait()
    got.extend(reader.poll(timeout=0.2))
    return got


def test_native_perf_buffer_delivers_every_sample(bpf_obj) -> None:
    n = 20_000
    with BPFObject.open(bpf_obj("perfbuf")) as obj:
        obj.load()
        obj.attach()
        child = spawn(n)
        obj.bss.target_tgid = child.pid
        with obj.perf_buffer("samples", "perf_sample", pages=256) as pb:
            go(child)
            got = collect(pb, n, child)
            assert sorted(s.seq for s in got) == list(range(n))  # per-CPU order, none lost
            assert {s.pid for s in got} == {child.pid}
            assert pb.lost == 0 and obj.bss.failed == 0 and pb.events == n


def test_lost_samples_are_counted_per_cpu(bpf_obj) -> None:
    """One page per CPU and nobody reading during the burst: the kernel
    reports what it could not write as PERF_RECORD_LOST, per CPU."""
    n = 20_000
    with BPFObject.open(bpf_obj("perfbuf")) as obj:
        obj.load()
        obj.attach()
        child = spawn(n)
        obj.bss.target_tgid = child.pid
        with obj.perf_buffer("samples", "perf_sample", pages=1) as pb:
            go(child)
            child.wait()
            got = pb.read_available()
            failed = obj.bss.failed
            assert failed > 0 and pb.lost == 0
            # The kernel writes a CPU's LOST record with its next sample once
            # there is room again: one more sample on every CPU.
            cpus = sorted(os.sched_getaffinity(0))
            for cpu in cpus:
                one = spawn(1)
                os.sched_setaffinity(one.pid, {cpu})
                obj.bss.target_tgid = one.pid
                go(one)
                one.wait()
            got += pb.poll(timeout=0.2)
            assert pb.lost == failed and pb.dropped == failed
            assert sum(pb.lost_per_cpu.values()) == failed
            assert all(pb.lost_per_cpu[c] > 0 for c in {s.cpu for s in got[:-len(cpus)]})
            assert len(got) == n - failed + len(cpus)


@pytest.mark.lane
def test_ringbuf_program_switched_to_perf_buffer(bpf_obj) -> None:
    n = 20_000
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.use_perf_buffer()
        obj.load()
        assert obj.chosen_hooks["ring events"] == "perf buffer"
        assert obj.maps.events.type == 4  # PERF_EVENT_ARRAY
        obj.attach()
        child = spawn(n)
        obj.bss.target_tgid = child.pid
        with obj.ring_buffer("events", perf_pages=256) as rb:
            assert isinstance(rb, PerfBuffer)
            go(child)
            got = collect(rb, n, child)
            assert sorted(ev.seq for ev in got) == list(range(n))
            assert got[0].comm == "python3" or got[0].comm.startswith("python")
            assert rb.dropped == 0


def test_switched_program_counts_drops_in_kernel(bpf_obj) -> None:
    n = 20_000
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.use_perf_buffer()
        obj.load()
        obj.attach()
        child = spawn(n)
        obj.bss.target_tgid = child.pid
        with obj.ring_buffer("events", perf_pages=1) as rb:
            go(child)
            child.wait()
            got = rb.read_available()
            dropped = obj.bss.bpfkit_ring_events.dropped
            assert dropped > 0 and rb.dropped == dropped
            assert len(got) + dropped == n


def test_ring_buffer_is_the_default(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.load()
        assert obj.chosen_hooks["ring events"] == "ringbuf"
        assert obj.rodata.bpfkit_perfbuf == 0


def test_async_iteration_over_a_perf_buffer(bpf_obj) -> None:
    n = 500
    with BPFObject.open(bpf_obj("perfbuf")) as obj:
        obj.load()
        obj.attach()
        child = spawn(n)
        obj.bss.target_tgid = child.pid
        pb = obj.perf_buffer("samples", "perf_sample")

        async def main() -> list[int]:
            seqs = []
            go(child)
            async for s in pb:
                seqs.append(s.seq)
                if len(seqs) == n:
                    break
            return seqs

        assert sorted(asyncio.run(asyncio.wait_for(main(), 30))) == list(range(n))
        child.wait()
