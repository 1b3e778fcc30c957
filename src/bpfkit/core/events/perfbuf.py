"""Perf buffer reader: one mmap'd perf ring per CPU behind a PERF_EVENT_ARRAY.

The path for kernels without BPF ring buffers (before 5.8), and for programs
that call bpf_perf_event_output. Each CPU gets a software perf event of type
BPF_OUTPUT whose fd is stored at that CPU's slot of the map; the program
writes PERF_RECORD_SAMPLE records (a u32 size, then the bytes it passed,
padded to 8) and the kernel writes PERF_RECORD_LOST when a CPU's buffer was
full. Records are walked in Python straight from the mapping, as for ring
buffers, so a batch costs no FFI call per event.

Layout (include/uapi/linux/perf_event.h): page 0 is struct
perf_event_mmap_page (data_head at byte 1024, written by the kernel;
data_tail at 1032, written by us), then 2^n data pages; records may wrap
around the end of the data area.
"""

from __future__ import annotations

import mmap
import os
import select
import struct

from ..codecs.types import record_decoder
from ..kernel import libbpf, perf
from ..kernel.errors import BPFError, error_for
from ..kernel.system import online_cpus
from .epoll import EpollReader

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..codecs.types import Codec
    from ..maps.base import Map

PAGE = mmap.PAGESIZE
PERF_RECORD_LOST, PERF_RECORD_SAMPLE = 2, 9
DATA_HEAD, DATA_TAIL = 1024, 1032
_HDR = struct.Struct("<IHH")  # type, misc, size
_U64 = struct.Struct("<Q")
_LOST = struct.Struct("<QQ")  # id, lost
_U32 = struct.Struct("<I")  # a sample's raw size


def _output_event(cpu: int, wakeup_bytes: int) -> int:
    """The BPF_OUTPUT perf event of one CPU, waking the reader by bytes when asked."""
    a = perf.attr(perf.PERF_TYPE_SOFTWARE, perf.PERF_COUNT_SW_BPF_OUTPUT, sample_period=1,
                  sample_type=perf.PERF_SAMPLE_RAW, wakeup=wakeup_bytes or 1, watermark=bool(wakeup_bytes))
    return perf.perf_event_open(a, cpu=cpu, what="perf buffer event")


class _CpuBuffer:
    __slots__ = ("cpu", "fd", "mm", "size", "tail")

    def __init__(self, cpu: int, fd: int, pages: int) -> None:
        self.cpu, self.fd = cpu, fd
        self.size = pages * PAGE
        self.mm = mmap.mmap(fd, PAGE + self.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.tail = memoryview(self.mm).cast("Q")  # [DATA_TAIL // 8]: our read position


class PerfBuffer(EpollReader):
    """Consumer side of a PERF_EVENT_ARRAY map, with the same interface as
    RingBuffer: ``poll(timeout)``, ``read_available()``, iteration, ``async for``.

    ``lost_per_cpu`` counts, per CPU, the samples the kernel reported lost
    (PERF_RECORD_LOST); ``lost`` is their sum. ``dropped`` is the in-kernel
    drop counter when the program keeps one (BPFKIT_RINGBUF), else ``lost``.
    """

    def __init__(self, pmap: Map, codec: Codec | None, *, pages: int = 64,
                 dropped: Callable[[], int] | None = None, interval: float = 0.1,
                 wakeup_bytes: int = 0) -> None:
        if pages <= 0 or pages & (pages - 1):
            raise BPFError(f"perf buffer pages={pages} must be a power of two")
        self.map, self.name, self.interval = pmap, pmap.name, interval
        self._decode = record_decoder(codec)
        self._dropped = dropped
        self._stopped = False
        self.events = 0
        self.lost_per_cpu: dict[int, int] = {}
        self._cpus: list[_CpuBuffer] = []
        self._ep = select.epoll()
        wakeup_bytes = min(wakeup_bytes, pages * PAGE // 2)
        try:
            for cpu in online_cpus():
                if cpu >= pmap.max_entries:
                    break
                fd = _output_event(cpu, wakeup_bytes)
                try:
                    buf = _CpuBuffer(cpu, fd, pages)
                except OSError as exc:
                    os.close(fd)
                    raise BPFError(f"cannot map the perf buffer of CPU {cpu}: {exc.strerror}") from None
                self._cpus.append(buf)
                self.lost_per_cpu[cpu] = 0
                ret = libbpf.lib.bpf_map_update_elem(pmap.fd, struct.pack("<I", cpu),
                                                     struct.pack("<I", fd), 0)
                if ret < 0:
                    raise error_for(-ret, f"cannot add CPU {cpu}'s buffer to perf map {pmap.name!r}: "
                                          f"{libbpf.strerror(-ret)}")
                self._ep.register(fd, select.EPOLLIN)
        except BaseException:
            self.close()
            raise

    # -- state -------------------------------------------------------------------
    @property
    def lost(self) -> int:
        return sum(self.lost_per_cpu.values())

    @property
    def dropped(self) -> int:
        """Samples lost: the kernel's own count when the program keeps one
        (BPFKIT_RINGBUF), which the LOST records the reader has seen so far
        may lag; else what those records say."""
        kernel = self._dropped() if self._dropped else 0
        return max(kernel, self.lost)

    # -- reading ------------------------------------------------------------------
    def _read_cpu(self, b: _CpuBuffer, out: list[Any]) -> None:
        mm, size = b.mm, b.size
        head = _U64.unpack_from(mm, DATA_HEAD)[0]
        tail = _U64.unpack_from(mm, DATA_TAIL)[0]
        decode = self._decode
        while tail < head:
            off = tail % size
            _, _, rsize = _HDR.unpack_from(mm, PAGE + off)
            if off + rsize <= size:
                rec = mm[PAGE + off: PAGE + off + rsize]
            else:  # wraps past the end of the data area
                rec = mm[PAGE + off: PAGE + size] + mm[PAGE: PAGE + off + rsize - size]
            rtype = _HDR.unpack_from(rec, 0)[0]
            if rtype == PERF_RECORD_SAMPLE:
                n = _U32.unpack_from(rec, 8)[0]
                raw = rec[12: 12 + n]
                out.append(decode(raw))
            elif rtype == PERF_RECORD_LOST:
                self.lost_per_cpu[b.cpu] += _LOST.unpack_from(rec, 8)[1]
            tail += rsize
        b.tail[DATA_TAIL // 8] = tail

    def read_available(self) -> list[Any]:
        """Every complete record now queued, CPU by CPU."""
        out: list[Any] = []
        for b in self._cpus:
            self._read_cpu(b, out)
        self.events += len(out)
        return out

    def close(self) -> None:
        self._stopped = True
        for b in self._cpus:
            b.tail.release()
            try:
                b.mm.close()
            except (BufferError, ValueError):
                pass
            os.close(b.fd)
        self._cpus.clear()
        self._ep.close()



__all__ = ["PerfBuffer"]
