"""Ring buffer reader that reads record batches straight from the mmap'd ring.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (we write
it), page 1 the producer position (the kernel writes it), then the data pages,
mapped twice in a row so a record that wraps is contiguous. Each record has an
8-byte header: u32 length with BUSY (bit 31) and DISCARD (bit 30) flags, u32
page offset; records are 8-byte aligned.

One FFI call per event (libbpf's ring_buffer__poll callback) caps a Python
reader near 100k events/s; walking the ring in Python with struct.unpack_from
and the event decoder compiled into the loop is several times faster.
"""

from __future__ import annotations

import gc
import mmap
import select
import struct

from ..codecs.types import compile_loop
from ..kernel.errors import BPFError
from .epoll import EpollReader

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..codecs.types import Codec
    from ..maps.base import Map

BUSY_BIT = 1 << 31
DISCARD_BIT = 1 << 30
PAGE = mmap.PAGESIZE
# Positions are read with native formats (one 8-byte load). The consumer
# position is written through a memoryview cast to 'Q': a single 8-byte store.
# Never struct.pack_into: it zero-fills the target before storing, so for an
# instant the kernel sees consumer_pos == 0, takes the ring for full and drops.
_U64 = struct.Struct("@Q")
_U32 = struct.Struct("@I")

# Consumer position is published every this many records inside a long batch,
# so the kernel can reuse space before the whole batch is decoded.
PUBLISH_EVERY = 4096

# The record walk; {DECODE} becomes the decoding of data[off + 8: off + 8 + n].
_DRAIN = """
def drain(data, cons_pos, cons, prod, limit, _u=_S.unpack_from):
    out = []
    append = out.append
    count = 0
    while cons < prod and count < limit:
        off = PAGE + (cons & MASK)
        ln = _hdr(data, off)[0]
        if ln & BUSY:
            break
        n = ln & LEN_MASK
        if not ln & DISCARD:
            start = off + 8
            {DECODE}
            count += 1
            if not count % PUBLISH_EVERY:
                cons_pos[0] = cons + ((n + 15) & ~7)
        cons += (n + 15) & ~7
    return out, cons
"""


def _compile_drain(codec: Codec | None, size: int) -> Callable[..., tuple[list[Any], int]]:
    return compile_loop(_DRAIN, codec, buf="data", start="start", length="n", into="append",
                        name="drain", consts={
                            "_hdr": _U32.unpack_from, "PAGE": PAGE, "MASK": size - 1,
                            "BUSY": BUSY_BIT, "DISCARD": DISCARD_BIT,
                            "LEN_MASK": ~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF,
                            "PUBLISH_EVERY": PUBLISH_EVERY})


def check_ring_size(size: int) -> None:
    if size <= 0 or size & (size - 1) or size % PAGE:
        raise BPFError(f"ring buffer size {size} must be a power of two and a multiple of "
                       f"the page size ({PAGE})")


class RingBuffer(EpollReader):
    """Consumer side of one BPF ring buffer.

    ``poll(timeout)`` returns a list of decoded events (possibly empty);
    iteration yields events until ``stop()``. ``interval`` bounds how long an
    event can wait when the BPF side batches wake-ups (BPF_RB_NO_WAKEUP): the
    reader looks at the ring at least that often even without a wake-up.
    ``dropped`` is the kernel's count of events that found the ring full, when
    the program keeps one (BPFKIT_RINGBUF), else None: unknown, not zero.
    """

    def __init__(self, rmap: Map, codec: Codec | None, *,
                 dropped: Callable[[], int] | None = None, interval: float = 0.1) -> None:
        self.map = rmap
        self.name = rmap.name
        self.size = rmap.max_entries
        self.interval = interval
        self._drain = _compile_drain(codec, self.size)
        self._dropped = dropped
        self._stopped = False
        fd = rmap.fd
        self._cons = mmap.mmap(fd, PAGE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
        self._cons_pos = memoryview(self._cons).cast("Q")  # [0]: the consumer position
        self._data = mmap.mmap(fd, PAGE + 2 * self.size, mmap.MAP_SHARED, mmap.PROT_READ, offset=PAGE)
        self._ep = select.epoll()
        self._ep.register(fd, select.EPOLLIN)
        self.events = 0  # records delivered by this reader

    # -- state -------------------------------------------------------------------
    @property
    def dropped(self) -> int | None:
        """Events the BPF side could not reserve (ring full), counted in the kernel;
        None when the program keeps no count (not declared with BPFKIT_RINGBUF)."""
        return self._dropped() if self._dropped else None

    def pending_bytes(self) -> int:
        return _U64.unpack_from(self._data, 0)[0] - _U64.unpack_from(self._cons, 0)[0]

    # -- reading ------------------------------------------------------------------
    def read_available(self, limit: int = 1 << 62) -> list[Any]:
        """Consume every complete record now in the ring (up to ``limit``)."""
        cons = _U64.unpack_from(self._cons, 0)[0]
        prod = _U64.unpack_from(self._data, 0)[0]
        if cons >= prod:
            return []
        # Event objects are GC-tracked tuples; a batch creates thousands, which
        # would trigger collections that walk them all. None can form a cycle.
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            out, cons = self._drain(self._data, self._cons_pos, cons, prod, limit)
        finally:
            if gc_was_on:
                gc.enable()
        self._cons_pos[0] = cons
        self.events += len(out)
        return out

    def close(self) -> None:
        self._stopped = True
        self._cons_pos.release()
        for res in (self._ep, self._cons, self._data):
            try:
                res.close()
            except (OSError, ValueError, BufferError):
                pass


__all__ = ["RingBuffer", "check_ring_size"]
