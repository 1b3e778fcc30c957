"""Typed access to BPF maps: dict-like, keys and values encoded from BTF."""

from __future__ import annotations

import ctypes
import errno as E

from . import libbpf
from .errors import BPFError
from .types import Codec, IntCodec, RawCodec, StructValue

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

    from .object import BPFObject

lib = libbpf.lib
ENOTSUPP = 524  # kernel-internal "not supported", leaks to user space from map ops

BPF_ANY, BPF_NOEXIST, BPF_EXIST = 0, 1, 2
BPF_F_MMAPABLE = 1 << 10


class MapType:
    """BPF_MAP_TYPE_* values; ``MapType.name(n)`` spells one."""

    UNSPEC = 0
    HASH = 1
    ARRAY = 2
    PROG_ARRAY = 3
    PERF_EVENT_ARRAY = 4
    PERCPU_HASH = 5
    PERCPU_ARRAY = 6
    STACK_TRACE = 7
    CGROUP_ARRAY = 8
    LRU_HASH = 9
    LRU_PERCPU_HASH = 10
    LPM_TRIE = 11
    ARRAY_OF_MAPS = 12
    HASH_OF_MAPS = 13
    DEVMAP = 14
    SOCKMAP = 15
    CPUMAP = 16
    XSKMAP = 17
    SOCKHASH = 18
    CGROUP_STORAGE = 19
    REUSEPORT_SOCKARRAY = 20
    PERCPU_CGROUP_STORAGE = 21
    QUEUE = 22
    STACK = 23
    SK_STORAGE = 24
    DEVMAP_HASH = 25
    STRUCT_OPS = 26
    RINGBUF = 27
    INODE_STORAGE = 28
    TASK_STORAGE = 29
    BLOOM_FILTER = 30
    USER_RINGBUF = 31
    CGRP_STORAGE = 32
    ARENA = 33

    @staticmethod
    def name(value: int) -> str:
        return _MAP_TYPE_NAMES.get(value, str(value))


_MAP_TYPE_NAMES = {v: k for k, v in vars(MapType).items() if k.isupper()}


_ARRAYS = {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY,
           MapType.CGROUP_ARRAY, MapType.ARRAY_OF_MAPS}
_PERCPU = {MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH,
           MapType.PERCPU_CGROUP_STORAGE}


def possible_cpus() -> int:
    n = lib.libbpf_num_possible_cpus()
    if n < 0:
        raise BPFError(f"cannot count possible CPUs: {libbpf.strerror(-n)}")
    return n


class PerCpuValues(list):
    """One value per possible CPU; ``sum()`` adds them up (field by field for structs)."""

    def sum(self) -> Any:
        if not self:
            return 0
        first = self[0]
        if isinstance(first, StructValue):
            out = {}
            for f in first._fields:
                vals = [getattr(v, f) for v in self]
                out[f] = sum(vals) if all(isinstance(x, (int, float)) for x in vals) else vals[0]
            return out
        return sum(self)


class Map:
    """A BPF map of an object. Dict-like once the object is loaded."""

    def __init__(self, obj: BPFObject, ptr: int) -> None:
        self._obj, self._ptr = obj, ptr
        self.name: str = lib.bpf_map__name(ptr).decode()
        self._batch_ok = True
        self._describe()

    def _describe(self) -> None:
        ptr = self._ptr
        self._setup(lib.bpf_map__type(ptr), lib.bpf_map__key_size(ptr), lib.bpf_map__value_size(ptr),
                    lib.bpf_map__btf_key_type_id(ptr), lib.bpf_map__btf_value_type_id(ptr),
                    self._obj.types)

    def _setup(self, mtype: int, key_size: int, value_size: int, kid: int, vid: int,
               types: Any) -> None:
        self.type: int = mtype
        self.key_size, self.value_size = key_size, value_size
        if kid:
            self.key_codec: Codec = types.codec(kid)
        elif self.type in _ARRAYS or self.key_size in (4, 8):
            self.key_codec = IntCodec(self.key_size, False, f"__u{self.key_size * 8}")
        else:
            self.key_codec = RawCodec(self.key_size)
        self.value_codec: Codec = types.codec(vid) if vid else RawCodec(self.value_size)
        self.percpu = self.type in _PERCPU
        self._ncpu = possible_cpus() if self.percpu else 1
        self._stride = (self.value_size + 7) & ~7 if self.percpu else self.value_size

    def __repr__(self) -> str:
        return (f"<Map {self.name} {MapType.name(self.type)} "
                f"key={self.key_codec.name} value={self.value_codec.name}>")

    # -- before load ----------------------------------------------------------
    @property
    def max_entries(self) -> int:
        return lib.bpf_map__max_entries(self._ptr)

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        if self._obj.loaded:
            raise BPFError(f"map {self.name!r}: max_entries can only change before obj.load()")
        ret = lib.bpf_map__set_max_entries(self._ptr, n)
        if ret < 0:
            raise BPFError(f"map {self.name!r}: cannot set max_entries={n}: {libbpf.strerror(-ret)}")

    # -- pinning -----------------------------------------------------------------
    @property
    def pin_path(self) -> str | None:
        """Where the map is pinned, or will be at load (None: not pinned)."""
        p = lib.bpf_map__pin_path(self._ptr) if self._ptr else None
        return p.decode() if p else getattr(self, "_pinned", None)

    @pin_path.setter
    def pin_path(self, path: str | None) -> None:
        """Before load: reuse the map pinned at ``path`` if there is one (it must
        match this definition), else create it and pin it there."""
        if self._obj.loaded:
            raise BPFError(f"map {self.name!r}: pin_path can only change before obj.load(); "
                           "use map.pin(path) on a loaded map")
        from . import system

        if path is not None:
            system.ensure_bpffs()
        ret = lib.bpf_map__set_pin_path(self._ptr, path.encode() if path else None)
        if ret < 0:
            raise BPFError(f"map {self.name!r}: cannot pin at {path}: {libbpf.strerror(-ret)}")

    def pin(self, path: str | None = None) -> str:
        """Pin the loaded map (default /sys/fs/bpf/NAME) so it outlives this
        process and other processes can open it (bpfkit.load_pinned_map)."""
        from .kobjects import pin_fd
        from .system import BPFFS

        self._pinned = pin_fd(self.fd, path or f"{BPFFS}/{self.name}", f"map {self.name!r}")
        return self._pinned

    def unpin(self) -> bool:
        """Remove the pin (the map lives on while something holds it)."""
        from .kobjects import unpin

        path = self.pin_path
        self._pinned = None
        if self._ptr:
            lib.bpf_map__set_pin_path(self._ptr, None)
        return unpin(path) if path else False

    @property
    def flags(self) -> int:
        return lib.bpf_map__map_flags(self._ptr)

    @property
    def fd(self) -> int:
        fd = lib.bpf_map__fd(self._ptr)
        if fd < 0:
            raise BPFError(f"map {self.name!r} does not exist in the kernel yet: call obj.load() first")
        return fd

    # -- encoding --------------------------------------------------------------
    def _key(self, key: Any) -> bytes:
        try:
            return self.key_codec.encode(key)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"map {self.name!r} key: {exc}") from None

    def _value(self, value: Any) -> bytes:
        try:
            if not self.percpu:
                return self.value_codec.encode(value)
            vals = list(value) if isinstance(value, (list, PerCpuValues)) else [value] * self._ncpu
            if len(vals) != self._ncpu:
                raise ValueError(f"{len(vals)} per-CPU values for {self._ncpu} possible CPUs")
            return b"".join(self.value_codec.encode(v).ljust(self._stride, b"\0") for v in vals)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"map {self.name!r} value: {exc}") from None

    def _decode_value(self, raw: bytes | memoryview, off: int = 0) -> Any:
        dec = self.value_codec.decoder()
        if not self.percpu:
            return dec(raw, off)
        s = self._stride
        return PerCpuValues(dec(raw, off + i * s) for i in range(self._ncpu))

    @property
    def _value_bytes(self) -> int:
        return self._stride * self._ncpu

    def _fail(self, what: str, ret: int) -> BPFError:
        err = -ret
        if err == E.E2BIG:
            return BPFError(f"map {self.name!r} is full (max_entries={self.max_entries})")
        return BPFError(f"map {self.name!r}: {what} failed: {libbpf.strerror(err)}")

    # -- dict API --------------------------------------------------------------
    def lookup(self, key: Any) -> Any:
        """The value for ``key``, or None when there is none."""
        return self.lookup_raw(self._key(key))

    def get(self, key: Any, default: Any = None) -> Any:
        v = self.lookup(key)
        return default if v is None else v

    def __getitem__(self, key: Any) -> Any:
        v = self.lookup(key)
        if v is None:
            raise KeyError(key)
        return v

    def update(self, key: Any, value: Any, flags: int = BPF_ANY) -> None:
        ret = lib.bpf_map_update_elem(self.fd, self._key(key), self._value(value), flags)
        if ret < 0:
            if -ret == E.EEXIST:
                raise KeyError(f"map {self.name!r}: key {key!r} exists")
            if -ret == E.ENOENT and flags == BPF_EXIST:
                raise KeyError(key)
            raise self._fail("update", ret)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.update(key, value)

    def delete(self, key: Any) -> bool:
        """Delete ``key``; False if it was not there."""
        ret = lib.bpf_map_delete_elem(self.fd, self._key(key))
        if ret < 0:
            if -ret == E.ENOENT:
                return False
            raise self._fail("delete", ret)
        return True

    def __delitem__(self, key: Any) -> None:
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: Any) -> bool:
        return self.lookup(key) is not None

    def _raw_keys(self) -> Iterator[bytes]:
        fd, ks = self.fd, self.key_size
        cur, nxt = None, ctypes.create_string_buffer(ks)
        while True:
            ret = lib.bpf_map_get_next_key(fd, cur, nxt)
            if ret < 0:
                if -ret == E.ENOENT:
                    return
                raise self._fail("get_next_key", ret)
            cur = nxt.raw
            yield cur

    def keys(self) -> Iterator[Any]:
        dec = self.key_codec.decoder()
        for raw in self._raw_keys():
            yield dec(raw)

    __iter__ = keys

    def _batches(self) -> Iterator[tuple[bytes, bytes, int]]:
        """(keys, values, count) chunks from BPF_MAP_LOOKUP_BATCH."""
        fd, ks, vs = self.fd, self.key_size, self._value_bytes
        chunk = max(1, min(self.max_entries, 4096))
        token_in, token_out = None, ctypes.create_string_buffer(max(ks, 8))
        opts = libbpf.MapBatchOpts(ctypes.sizeof(libbpf.MapBatchOpts), 0, 0)
        while True:
            keys = ctypes.create_string_buffer(ks * chunk)
            vals = ctypes.create_string_buffer(vs * chunk)
            count = ctypes.c_uint32(chunk)
            ret = lib.bpf_map_lookup_batch(fd, token_in, token_out, keys, vals,
                                           ctypes.byref(count), ctypes.byref(opts))
            if ret < 0 and -ret == E.ENOSPC and count.value == 0:
                chunk *= 2  # one hash bucket holds more than a chunk
                continue
            if ret < 0 and -ret != E.ENOENT:
                raise _BatchUnsupported(ret)
            if count.value:
                yield keys.raw, vals.raw, count.value
            if ret < 0:  # ENOENT: that was the last chunk
                return
            token_in = token_out.raw
            token_out = ctypes.create_string_buffer(max(ks, 8))

    def items(self) -> Iterator[tuple[Any, Any]]:
        kdec = self.key_codec.decoder()
        if self._batch_ok:
            try:
                first = True
                for keys, vals, n in self._batches():
                    first = False
                    for i in range(n):
                        yield kdec(keys, i * self.key_size), self._decode_value(vals, i * self._value_bytes)
                return
            except _BatchUnsupported as exc:
                if not first or -exc.ret not in (E.EINVAL, ENOTSUPP, E.EOPNOTSUPP, E.ENOSYS, E.EPERM):
                    raise self._fail("batch lookup", exc.ret) from None
                self._batch_ok = False
        for raw in self._raw_keys():
            v = self.lookup_raw(raw)
            if v is not None:
                yield kdec(raw), v

    def lookup_raw(self, raw_key: bytes) -> Any:
        buf = ctypes.create_string_buffer(self._value_bytes)
        ret = lib.bpf_map_lookup_elem(self.fd, raw_key, buf)
        if ret < 0:
            if -ret == E.ENOENT:
                return None
            raise self._fail("lookup", ret)
        return self._decode_value(buf.raw)

    def values(self) -> Iterator[Any]:
        for _, v in self.items():
            yield v

    def clear(self) -> None:
        """Remove every entry (hash maps) or zero every slot (arrays)."""
        if self.type in _ARRAYS:
            zero = bytes(self._value_bytes)
            for i in range(self.max_entries):
                lib.bpf_map_update_elem(self.fd, self._key(i), zero, BPF_ANY)
            return
        keys = list(self._raw_keys())
        if not keys:
            return
        if self._batch_ok:
            opts = libbpf.MapBatchOpts(ctypes.sizeof(libbpf.MapBatchOpts), 0, 0)
            count = ctypes.c_uint32(len(keys))
            ret = lib.bpf_map_delete_batch(self.fd, b"".join(keys), ctypes.byref(count), ctypes.byref(opts))
            if ret == 0:
                return
            if -ret not in (E.EINVAL, ENOTSUPP, E.EOPNOTSUPP, E.ENOSYS, E.ENOENT):
                raise self._fail("batch delete", ret)
        for raw in keys:
            lib.bpf_map_delete_elem(self.fd, raw)


class _BatchUnsupported(Exception):
    def __init__(self, ret: int) -> None:
        self.ret = ret


class ArrayMap(Map):
    """ARRAY / PERCPU_ARRAY: keys are indexes 0..max_entries-1; len() is cheap."""

    def __len__(self) -> int:
        return self.max_entries

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def keys(self) -> Iterator[int]:
        return iter(range(self.max_entries))

    def delete(self, key: Any) -> bool:
        raise BPFError(f"map {self.name!r}: array slots cannot be deleted; set them to zero")


class RingBufMap(Map):
    """A BPF_MAP_TYPE_RINGBUF; read it with ``obj.ring_buffer(name)``."""

    @property
    def size(self) -> int:
        return self.max_entries


def make_map_class(t: int) -> type[Map]:
    """The Map subclass for BPF_MAP_TYPE ``t``."""
    if t in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        return ArrayMap
    if t == MapType.RINGBUF:
        return RingBufMap
    if t in (MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER):
        from .valuemaps import BloomFilterMap, QueueMap

        return BloomFilterMap if t == MapType.BLOOM_FILTER else QueueMap
    if t == MapType.LPM_TRIE:
        from .lpm import LpmTrieMap

        return LpmTrieMap
    if t in (MapType.PROG_ARRAY, MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS):
        from .fdmaps import MapOfMaps, ProgArrayMap

        return ProgArrayMap if t == MapType.PROG_ARRAY else MapOfMaps
    return Map


def make_map(obj: BPFObject, ptr: int) -> Map:
    return make_map_class(lib.bpf_map__type(ptr))(obj, ptr)
