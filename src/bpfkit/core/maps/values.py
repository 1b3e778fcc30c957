"""Maps without keys: QUEUE (FIFO), STACK (LIFO) and BLOOM_FILTER.

The kernel addresses them with a NULL key: push is an update, pop a
lookup-and-delete, peek and membership a lookup.
"""

from __future__ import annotations

import ctypes
import errno as E

from ..kernel import libbpf
from ..kernel.errors import BPFError
from ..kernel.uapi import BPF_ANY, BPF_EXIST
from .base import Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

lib = libbpf.lib


class _ValueMap(Map):
    def _push(self, value: Any, flags: int) -> None:
        ret = lib.bpf_map_update_elem(self.fd, None, self._value(value), flags)
        if ret < 0:
            raise self._fail("push", ret)

    def push(self, value: Any) -> None:
        self._push(value, BPF_ANY)

    def _get(self, fn: Any, what: str) -> Any:
        buf = ctypes.create_string_buffer(self.value_size)
        ret = fn(self.fd, None, buf)
        if ret < 0:
            if -ret == E.ENOENT:
                return None
            raise self._fail(what, ret)
        return self._decode_value(buf.raw)

    def _no_keys(self, *_: Any, **__: Any) -> Any:
        raise BPFError(f"map {self.name!r} has no keys: use push/pop/peek")

    lookup = update = delete = keys = items = _no_keys  # type: ignore[assignment]


class QueueMap(_ValueMap):
    """QUEUE (pop returns the oldest) and STACK (pop returns the newest)."""

    def push(self, value: Any, *, overwrite: bool = False) -> None:
        """Add ``value``; when full, raise, or with ``overwrite`` drop the oldest."""
        self._push(value, BPF_EXIST if overwrite else BPF_ANY)

    def pop(self) -> Any:
        """Remove and return the next value; None when empty."""
        return self._get(lib.bpf_map_lookup_and_delete_elem, "pop")

    def peek(self) -> Any:
        """The value pop() would return, left in place; None when empty."""
        return self._get(lib.bpf_map_lookup_elem, "peek")

    def __iter__(self) -> Any:
        """Pop until empty."""
        while (v := self.pop()) is not None:
            yield v


class BloomFilterMap(_ValueMap):
    """``value in bloom``: False means never pushed; True means probably pushed."""

    def __contains__(self, value: Any) -> bool:
        ret = lib.bpf_map_lookup_elem(self.fd, None, self._value(value))
        if ret < 0:
            if -ret == E.ENOENT:
                return False
            raise self._fail("lookup", ret)
        return True
