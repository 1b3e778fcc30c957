"""Floor 3: BPF maps.

A live map is one fd-backed class (base.Map) made from (fd, info, key codec,
value codec), whatever it came from: an object's load, a pin, an id. The
kind registry below picks the class for a map type; a new map kind is a class
in its own module here plus one line in ``KINDS``, which names it (module,
class) so that only the kinds a program has are imported. Before load, an object's
maps are MapSpecs (spec.py). Imports the floors below only.
"""

from __future__ import annotations

import os

from ..codecs.btf import BTF
from ..codecs.types import RawCodec, TypeRegistry
from ..kernel import system
from ..kernel.errors import BPFError
from ..kernel.info import MapInfo, fd_kind, kernel_btf_bytes, map_fd_by_id
from ..kernel.uapi import MapType
from .base import Map, PerCpuValues, default_key_codec
from .spec import MapSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..codecs.types import Codec

    # The kinds KINDS names (imported on first use): here so that tools and
    # scripts/check_imports.py see this module's real dependencies.
    from .arrays import ArrayMap
    from .fdmaps import MapOfMaps, ProgArrayMap
    from .lpm import LpmTrieMap
    from .streams import PerfEventArrayMap, RingBufMap, StackTraceMap
    from .values import BloomFilterMap, QueueMap

# BPF_MAP_TYPE -> (module here, class) of its live maps; other types are the
# plain dict-like Map. By name, not by class: a module is imported when a map
# of its kind is first made (each costs start-up time, and most programs use
# two or three kinds).
KINDS: dict[int, tuple[str, str]] = {
    MapType.ARRAY: ("arrays", "ArrayMap"),
    MapType.PERCPU_ARRAY: ("arrays", "ArrayMap"),
    MapType.QUEUE: ("values", "QueueMap"),
    MapType.STACK: ("values", "QueueMap"),
    MapType.BLOOM_FILTER: ("values", "BloomFilterMap"),
    MapType.LPM_TRIE: ("lpm", "LpmTrieMap"),
    MapType.PROG_ARRAY: ("fdmaps", "ProgArrayMap"),
    MapType.ARRAY_OF_MAPS: ("fdmaps", "MapOfMaps"),
    MapType.HASH_OF_MAPS: ("fdmaps", "MapOfMaps"),
    MapType.RINGBUF: ("streams", "RingBufMap"),
    MapType.PERF_EVENT_ARRAY: ("streams", "PerfEventArrayMap"),
    MapType.STACK_TRACE: ("streams", "StackTraceMap"),
}


def map_class(map_type: int) -> type[Map]:
    where = KINDS.get(map_type)
    if where is None:
        return Map
    module, name = where
    # lazy: a kind's module loads with its first map (see KINDS)
    return getattr(__import__(module, globals(), None, (name,), 1), name)


def __getattr__(name: str) -> type[Map]:
    """The kind classes by name (``maps.LpmTrieMap``), imported on first use."""
    for module, cls in KINDS.values():
        if cls == name:
            value = getattr(__import__(module, globals(), None, (cls,), 1), cls)  # lazy: see KINDS
            globals()[name] = value
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _typed(types: TypeRegistry | None, type_id: int, size: int) -> Codec | None:
    """The BTF codec of ``type_id`` if it describes exactly ``size`` bytes: a
    size changed before load (a stack map's value_size) leaves the BTF type
    stale, and the map is then read as bytes of its real size."""
    if types is None or not type_id:
        return None
    codec = types.codec(type_id)
    return codec if codec.size == size else None


def live_map(fd: int, info: MapInfo, types: TypeRegistry | None, *, owns_fd: bool,
             pin_path: str | None = None, resolve: Callable[[int], Any] | None = None) -> Map:
    """The live Map of ``fd``, of the class its type calls for, typed by ``types``."""
    key = _typed(types, info.btf_key_type_id, info.key_size) or default_key_codec(info)
    value = _typed(types, info.btf_value_type_id, info.value_size) or RawCodec(info.value_size)
    return map_class(info.type)(fd, info, key, value, owns_fd=owns_fd, pin_path=pin_path,
                                resolve=resolve)


def _kernel_types(info: MapInfo) -> TypeRegistry | None:
    raw = kernel_btf_bytes(info.btf_id)
    # A map's BTF is split BTF only for kernel module types; ours is standalone.
    return TypeRegistry(BTF(raw)) if raw else None


def _from_fd(fd: int, label: str, pin_path: str | None = None) -> Map:
    try:
        if fd_kind(fd) != "map":
            raise BPFError(f"{label} is not a map")
        info = MapInfo.of_fd(fd)
        return live_map(fd, info, _kernel_types(info), owns_fd=True, pin_path=pin_path,
                        resolve=map_by_id)
    except BaseException:
        os.close(fd)
        raise


def load_pinned_map(path: str | os.PathLike[str]) -> Map:
    """Open the map pinned at ``path`` (by this or any other process), typed
    from the BTF the kernel keeps for it. Close it (or use ``with``) when done."""
    system.require_privileges()
    path = os.fspath(path)
    from ..kernel.pins import open_pinned  # lazy: pins are a few programs' business

    fd = open_pinned(path)
    try:
        return _from_fd(fd, path, pin_path=path)
    except BPFError as exc:
        raise BPFError(f"{path} is not a pinned map", errno=exc.errno) from None


def map_by_id(map_id: int) -> Map:
    """Open the map with kernel id ``map_id``, typed from the kernel's BTF for it."""
    return _from_fd(map_fd_by_id(map_id), f"map id {map_id}")


__all__ = [
    "KINDS", "ArrayMap", "BloomFilterMap", "LpmTrieMap", "Map", "MapOfMaps", "MapSpec",
    "PerCpuValues", "PerfEventArrayMap", "ProgArrayMap", "QueueMap", "RingBufMap", "StackTraceMap",
    "live_map",
    "load_pinned_map", "map_by_id", "map_class",
]
