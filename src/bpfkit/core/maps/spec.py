"""A map of an opened object, before load: the definition load will create.

Like cilium/ebpf's MapSpec: the settings that only make sense before the map
exists (max_entries, key and value size, type, pin path, inner map) are set
here; ``obj.load()`` creates the map and ``obj.maps.NAME`` is then the live,
fd-backed Map. libbpf itself refuses a change once the object is loaded.
"""

from __future__ import annotations

import os

from ..kernel import libbpf, system
from ..kernel.errors import BPFError, error_for
from ..kernel.info import MapInfo
from ..kernel.uapi import MapType

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

lib = libbpf.lib


class MapSpec:
    """``obj.maps.NAME`` before ``obj.load()``."""

    __slots__ = ("_ptr", "name")

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr
        self.name: str = lib.bpf_map__name(ptr).decode()

    def __repr__(self) -> str:
        return (f"<MapSpec {self.name} {MapType.name(self.type)} key_size={self.key_size} "
                f"value_size={self.value_size} max_entries={self.max_entries}>")

    def _set(self, what: str, fn: Any, value: Any) -> None:
        ret = fn(self._ptr, value)
        if ret < 0:
            raise error_for(-ret, f"map {self.name!r}: cannot set {what} to {value!r}: "
                                  f"{libbpf.strerror(-ret)} (set it before obj.load())")

    # -- the definition ------------------------------------------------------------------
    @property
    def type(self) -> int:
        return lib.bpf_map__type(self._ptr)

    def set_type(self, map_type: int) -> None:
        self._set("type", lib.bpf_map__set_type, map_type)

    @property
    def key_size(self) -> int:
        return lib.bpf_map__key_size(self._ptr)

    @key_size.setter
    def key_size(self, n: int) -> None:
        self._set("key_size", lib.bpf_map__set_key_size, n)

    @property
    def value_size(self) -> int:
        return lib.bpf_map__value_size(self._ptr)

    @value_size.setter
    def value_size(self, n: int) -> None:
        self._set("value_size", lib.bpf_map__set_value_size, n)

    @property
    def max_entries(self) -> int:
        return lib.bpf_map__max_entries(self._ptr)

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        self._set("max_entries", lib.bpf_map__set_max_entries, n)

    @property
    def flags(self) -> int:
        return lib.bpf_map__map_flags(self._ptr)

    @property
    def internal(self) -> bool:
        """A data section (.rodata, .bss, .data...) rather than a declared map."""
        return bool(lib.bpf_map__is_internal(self._ptr))

    @property
    def pin_path(self) -> str | None:
        """Where load will pin the map, or find the pin to reuse (None: not pinned)."""
        p = lib.bpf_map__pin_path(self._ptr)
        return p.decode() if p else None

    @pin_path.setter
    def pin_path(self, path: str | None) -> None:
        """Reuse the map pinned at ``path`` if there is one (it must match this
        definition), else create it and pin it there at load."""
        if path is not None:
            system.ensure_bpffs()
        self._set("pin_path", lib.bpf_map__set_pin_path, os.fsencode(path) if path else None)

    def unpin(self) -> bool:
        """Remove the pin at pin_path (a stale one a failed load did not reuse),
        and pin nothing at load. False when nothing was pinned there."""
        from ..kernel.pins import unpin  # lazy: pinning is a few programs' business

        path = self.pin_path
        self._set("pin_path", lib.bpf_map__set_pin_path, None)
        return unpin(path) if path else False

    def info(self) -> MapInfo:
        """The definition as the kernel will see it, with its BTF type ids."""
        p = self._ptr
        return MapInfo(lib.bpf_map__type(p), lib.bpf_map__key_size(p), lib.bpf_map__value_size(p),
                       lib.bpf_map__max_entries(p), lib.bpf_map__map_flags(p), self.name,
                       btf_key_type_id=lib.bpf_map__btf_key_type_id(p),
                       btf_value_type_id=lib.bpf_map__btf_value_type_id(p))

    def loaded_fd(self) -> int:
        """The map's fd once load created it (owned by the object), else -1."""
        return lib.bpf_map__fd(self._ptr)

    # -- what only a live map does ---------------------------------------------------------
    def _not_loaded(self, *_: Any, **__: Any) -> Any:
        raise BPFError(f"map {self.name!r} does not exist in the kernel yet: call obj.load() first")

    __getitem__ = __setitem__ = __delitem__ = __contains__ = __iter__ = __len__ = _not_loaded
    get = lookup = update = delete = keys = items = values = clear = pin = _not_loaded


__all__ = ["MapSpec"]
