"""Maps that carry events to user space: RINGBUF and PERF_EVENT_ARRAY. They
hold no entries to look up; read them with events.RingBuffer / PerfBuffer
(``obj.ring_buffer(name)``)."""

from __future__ import annotations

from .base import Map


class RingBufMap(Map):
    """A BPF_MAP_TYPE_RINGBUF of ``size`` bytes."""

    @property
    def size(self) -> int:
        return self.max_entries


class PerfEventArrayMap(Map):
    """A BPF_MAP_TYPE_PERF_EVENT_ARRAY: one slot per CPU, each a perf event's fd."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self._batch_ok = False  # the kernel refuses batch lookups of fd maps


__all__ = ["PerfEventArrayMap", "RingBufMap"]
