"""Ring buffer reader that reads record batches straight from the mmap'd ring.

Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position (we write
it), page 1 the producer position (the kernel writes it), then the data pages,
mapped twice in a row so a record that wraps is contiguous. Each record has an
8-byte header: u32 length with BUSY (bit 31) and DISCARD (bit 30) flags, u32
page offset; records are 8-byte aligned.

One FFI call per event (libbpf's ring_buffer__poll callback) caps a Python
reader near 100k events/s; walking the ring in Python with struct.unpack_from
and one compiled decoder per event is several times faster.
"""

from __future__ import annotations

import gc
import mmap
import select
import struct
import time

from .errors import BPFError
from .maps import RingBufMap
from .types import Codec

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from typing import Any

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


def _compile_drain(codec: Codec | None, size: int) -> Callable[..., tuple[list[Any], int]]:
    """Generate the record loop for one event type, with its decoder inlined:
    one struct unpack and one tuple build per event, no Python call."""
    ns: dict[str, Any] = {"_new": tuple.__new__, "_hdr": _U32.unpack_from,
                          "_S": struct.Struct("<" + (codec.fmt if codec else "")),
                          "_slow": codec.decode if codec else None}
    if codec is None:
        build, full = "bytes(data[off + 8: off + 8 + n])", "True"
    elif getattr(codec, "flex", None) is not None:  # header + variable-length tail
        tail = f"data[off + {8 + codec.flex_offset}: off + 8 + n]"
        build, full = codec.expr(0, ns, tail=tail), f"n >= {codec.size}"
    else:
        build, full = codec.top_expr(ns), f"n >= {codec.size}"
    src = f"""
def drain(data, cons_pos, cons, prod, limit, _u=_S.unpack_from):
    out = []
    append = out.append
    count = 0
    while cons < prod and count < limit:
        off = {PAGE} + (cons & {size - 1})
        ln = _hdr(data, off)[0]
        if ln & {BUSY_BIT}:
            break
        n = ln & {~(BUSY_BIT | DISCARD_BIT) & 0xFFFFFFFF}
        if not ln & {DISCARD_BIT}:
            if {full}:
                {"t = _u(data, off + 8)" if codec is not None else "pass"}
                append({build})
            else:  # shorter than the struct (variable-length record): zero tail
                append(_slow(data[off + 8: off + 8 + n]))
            count += 1
            if not count % {PUBLISH_EVERY}:
                cons_pos[0] = cons + ((n + 15) & ~7)
        cons += (n + 15) & ~7
    return out, cons
"""
    exec(compile(src, "<bpfkit ring drain>", "exec"), ns)
    return ns["drain"]


class EpollReader:
    """What ring and perf buffer readers share: waiting on their epoll fd
    (blocking, iteration, asyncio) around ``read_available()``. Subclasses
    set ``_ep``, ``interval`` and ``_stopped`` and define read_available/close."""

    _ep: select.epoll
    interval: float
    _stopped: bool

    def read_available(self) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def fileno(self) -> int:
        return self._ep.fileno()

    def poll(self, timeout: float | None = None) -> list[Any]:
        """Wait up to ``timeout`` seconds (None: until data) and return what arrived."""
        batch = self.read_available()
        if batch:
            return batch
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopped:
            wait = self.interval if deadline is None else min(self.interval, deadline - time.monotonic())
            if wait > 0:
                try:
                    self._ep.poll(wait)
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    pass
            batch = self.read_available()
            if batch or (deadline is not None and time.monotonic() >= deadline):
                return batch
        return []

    def __iter__(self) -> Iterator[Any]:
        while not self._stopped:
            yield from self.poll(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return aiter_epoll(self)

    def stop(self) -> None:
        """Make a blocked ``poll(None)``/iteration return (within ``interval``)."""
        self._stopped = True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RingBuffer(EpollReader):
    """Consumer side of one BPF ring buffer.

    ``poll(timeout)`` returns a list of decoded events (possibly empty);
    iteration yields events until ``stop()``. ``interval`` bounds how long an
    event can wait when the BPF side batches wake-ups (BPF_RB_NO_WAKEUP): the
    reader looks at the ring at least that often even without a wake-up.
    """

    def __init__(self, rmap: RingBufMap, codec: Codec | None,
                 *, dropped: Callable[[], int] | None = None, interval: float = 0.1) -> None:
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
    def dropped(self) -> int:
        """Events the BPF side could not reserve (ring full), counted in the kernel."""
        return self._dropped() if self._dropped else 0

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



async def aiter_epoll(reader: Any) -> AsyncIterator[Any]:
    """``async for`` over a ring or perf buffer reader: waits on its epoll fd
    in the event loop, never in a thread."""
    import asyncio

    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    fd = reader.fileno()
    loop.add_reader(fd, ready.set)
    try:
        while not reader._stopped:
            for ev in reader.read_available():
                yield ev
            ready.clear()
            try:
                await asyncio.wait_for(ready.wait(), reader.interval)
            except TimeoutError:
                pass
            reader._ep.poll(0)  # re-arm the level-triggered epoll
    finally:
        loop.remove_reader(fd)


def record_decoder(codec: Codec | None) -> Callable[[bytes], Any]:
    """``f(record_bytes) -> event`` for one whole record (perf samples): a
    struct ending in a flexible array takes the rest of the record as its tail."""
    if codec is None:
        return bytes
    if getattr(codec, "flex", None) is None:
        return codec.decode
    ns: dict[str, Any] = {"_new": tuple.__new__, "_S": struct.Struct("<" + codec.fmt),
                          "_slow": codec.decode}
    build = codec.expr(0, ns, tail=f"raw[{codec.flex_offset}:]")
    src = (f"def dec(raw, _u=_S.unpack_from):\n"
           f"    if len(raw) < {codec.size}:\n        return _slow(raw)\n"
           f"    t = _u(raw, 0)\n    return {build}\n")
    exec(compile(src, "<bpfkit record decoder>", "exec"), ns)
    return ns["dec"]


def check_ring_size(size: int) -> None:
    if size <= 0 or size & (size - 1) or size % PAGE:
        raise BPFError(f"ring buffer size {size} must be a power of two and a multiple of "
                       f"the page size ({PAGE})")


__all__ = ["EpollReader", "RingBuffer", "aiter_epoll", "check_ring_size", "record_decoder"]
