"""ARRAY and PERCPU_ARRAY: every index 0..max_entries-1 exists, none can be deleted."""

from __future__ import annotations

from ..kernel import libbpf
from ..kernel.errors import BPFError
from ..kernel.uapi import BPF_ANY
from .base import Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


class ArrayMap(Map):
    """Keys are indexes 0..max_entries-1; len() is cheap."""

    def __len__(self) -> int:
        return self.max_entries

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def keys(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def delete(self, key: Any) -> bool:
        raise BPFError(f"map {self.name!r}: array slots cannot be deleted; set them to zero")

    def pop_all(self) -> list[tuple[Any, Any]]:
        raise BPFError(f"map {self.name!r}: an array cannot be emptied (its slots always exist): "
                       "use a hash map for counters to dump and reset")

    def clear(self) -> None:
        """Zero every slot."""
        zero = bytes(self._value_bytes)
        for i in range(self.max_entries):
            ret = libbpf.lib.bpf_map_update_elem(self.fd, self._key(i), zero, BPF_ANY)
            if ret < 0:
                raise self._fail("update", ret)


__all__ = ["ArrayMap"]
