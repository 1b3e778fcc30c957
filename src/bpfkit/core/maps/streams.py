"""Maps that carry events to user space: RINGBUF and PERF_EVENT_ARRAY. They
hold no entries to look up; read them with events.RingBuffer / PerfBuffer
(``obj.ring_buffer(name)``)."""

from __future__ import annotations

import struct

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


class StackTraceMap(Map):
    """A BPF_MAP_TYPE_STACK_TRACE: stack id (bpf_get_stackid) -> up to
    value_size / 8 instruction addresses. ``stack(id)`` gives the addresses,
    innermost first; symbolise them with bpfkit.trace (ksyms, usyms)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self._batch_ok = False  # stack maps have no batch operations
        self._addrs = struct.Struct(f"<{self.value_size // 8}Q")

    def stack(self, stack_id: int) -> list[int]:
        """The addresses of stack ``stack_id`` (empty when it is gone: a
        stack map that was full dropped it, bpf_get_stackid returned -EEXIST)."""
        if stack_id < 0:
            return []
        raw = self.lookup_bytes(stack_id)
        if raw is None:
            return []
        addrs = self._addrs.unpack_from(raw)
        n = len(addrs)
        while n and not addrs[n - 1]:
            n -= 1
        return list(addrs[:n])


__all__ = ["PerfEventArrayMap", "RingBufMap", "StackTraceMap"]
