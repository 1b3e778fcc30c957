"""A BPF map in the kernel, known by its fd: dict-like, keys and values encoded
by codecs taken from BTF.

One class whatever the map came from (an object's load, a pin, an id): it is
made from (fd, info, key codec, value codec). What only makes sense before
load (max_entries, sizes, pin path, type) lives on maps.spec.MapSpec.
"""

from __future__ import annotations

import ctypes
import errno as E
import os

from ..codecs.types import IntCodec, RawCodec, StructValue
from ..kernel import libbpf
from ..kernel.errors import ENOTSUPP, BPFError, BPFMapFullError, error_for
from ..kernel.info import map_id
from ..kernel.system import BPFFS, possible_cpus
from ..kernel.uapi import ARRAY_TYPES, BPF_ANY, BPF_EXIST, PERCPU_TYPES, MapType

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    from ..codecs.types import Codec
    from ..kernel.info import MapInfo

lib = libbpf.lib
# Errors after which a batch operation is retried one key at a time.
_NO_BATCH = (E.EINVAL, ENOTSUPP, E.EOPNOTSUPP, E.ENOSYS, E.EPERM)


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


def default_key_codec(info: MapInfo) -> Codec:
    """The key codec of a map without key BTF: an int index or id, else bytes."""
    if info.type in ARRAY_TYPES or info.key_size in (4, 8):
        return IntCodec(info.key_size, False, f"__u{info.key_size * 8}")
    return RawCodec(info.key_size)


class Map:
    """A live BPF map. Dict-like: ``m[k]``, ``m.get(k)``, ``m[k] = v``,
    ``del m[k]``, ``k in m``, ``keys()``, ``items()``, ``clear()``.

    ``owns_fd``: close the fd on ``close()`` (maps opened from a pin or an
    id); an object's maps share the object's fds and close with it.
    ``resolve``: turns a kernel object id found in a value into a Python
    object (used by maps whose values are programs or maps).
    """

    def __init__(self, fd: int, info: MapInfo, key_codec: Codec, value_codec: Codec, *,
                 owns_fd: bool = False, pin_path: str | None = None,
                 resolve: Callable[[int], Any] | None = None) -> None:
        self._fd = fd
        self.info = info
        self.name: str = info.name
        self.type: int = info.type
        self.key_size, self.value_size = info.key_size, info.value_size
        self.key_codec, self.value_codec = key_codec, value_codec
        self.percpu = self.type in PERCPU_TYPES
        self._ncpu = possible_cpus() if self.percpu else 1
        self._stride = (self.value_size + 7) & ~7 if self.percpu else self.value_size
        self._owns_fd = owns_fd
        self._pinned = pin_path
        self._resolve = resolve
        self._batch_ok = True

    def __repr__(self) -> str:
        return (f"<Map {self.name} {MapType.name(self.type)} "
                f"key={self.key_codec.name} value={self.value_codec.name}>")

    # -- what the map is ---------------------------------------------------------------
    @property
    def fd(self) -> int:
        if self._fd < 0:
            raise BPFError(f"map {self.name!r} is closed")
        return self._fd

    @property
    def max_entries(self) -> int:
        return self.info.max_entries

    @max_entries.setter
    def max_entries(self, n: int) -> None:
        raise BPFError(f"map {self.name!r}: max_entries can only change before obj.load()")

    @property
    def flags(self) -> int:
        return self.info.map_flags

    @property
    def id(self) -> int:
        if not self.info.id:
            self.info.id = map_id(self.fd)
        return self.info.id

    # -- pinning -------------------------------------------------------------------------
    @property
    def pin_path(self) -> str | None:
        """Where the map is pinned (None: not pinned)."""
        return self._pinned

    @pin_path.setter
    def pin_path(self, path: str | None) -> None:
        raise BPFError(f"map {self.name!r}: pin_path can only change before obj.load(); "
                       "use map.pin(path) on a loaded map")

    def pin(self, path: str | None = None) -> str:
        """Pin the map (default /sys/fs/bpf/NAME) so it outlives this process
        and other processes can open it (bpfkit.load_pinned_map)."""
        from ..kernel.pins import pin_fd  # lazy: pinning is a few programs' business

        self._pinned = pin_fd(self.fd, path or f"{BPFFS}/{self.name}", f"map {self.name!r}")
        return self._pinned

    def unpin(self) -> bool:
        """Remove the pin (the map lives on while something holds it)."""
        from ..kernel.pins import unpin  # lazy: pinning is a few programs' business

        path, self._pinned = self._pinned, None
        return unpin(path) if path else False

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        """Release the map's fd (an object's maps: only forget it). Idempotent."""
        if self._fd >= 0 and self._owns_fd:
            os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> Map:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._owns_fd:
                self.close()
        except Exception:
            pass

    # -- encoding ------------------------------------------------------------------------
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
            return BPFMapFullError(f"map {self.name!r} is full (max_entries={self.max_entries})",
                                   errno=err)
        return error_for(err, f"map {self.name!r}: {what} failed: {libbpf.strerror(err)}")

    # -- dict API ------------------------------------------------------------------------
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
                if not first or -exc.ret not in _NO_BATCH:
                    raise self._fail("batch lookup", exc.ret) from None
                self._batch_ok = False
        for raw in self._raw_keys():
            v = self.lookup_raw(raw)
            if v is not None:
                yield kdec(raw), v

    def pop_all(self) -> list[tuple[Any, Any]]:
        """Every entry, each removed in the same step as it is read
        (BPF_MAP_LOOKUP_AND_DELETE_BATCH, or per key where the kernel lacks
        the batch). A value a program stores with bpf_map_update_elem after
        that step makes a new entry, read by the next call; syscount, biotop
        and filetop read, then delete, and lose those.

        Not exact for values a program changes in place through the pointer
        bpf_map_lookup_elem gave it (``__sync_fetch_and_add(&v->count, 1)``):
        an add between the copy and the delete is lost. For exact counts per
        interval, swap the map out first (a slot of an ARRAY_OF_MAPS the
        program reads its map from: the update returns only once no program
        can still hold the old one) and pop the one swapped out, as
        ``bpfkit count`` does."""
        kdec, ks, vs = self.key_codec.decoder(), self.key_size, self._value_bytes
        out: list[tuple[Any, Any]] = []
        chunk = max(1, min(self.max_entries, 4096))
        token_in, token_out = None, ctypes.create_string_buffer(max(ks, 8))
        opts = libbpf.MapBatchOpts(ctypes.sizeof(libbpf.MapBatchOpts), 0, 0)
        while True:
            keys = ctypes.create_string_buffer(ks * chunk)
            vals = ctypes.create_string_buffer(vs * chunk)
            count = ctypes.c_uint32(chunk)
            ret = lib.bpf_map_lookup_and_delete_batch(self.fd, token_in, token_out, keys, vals,
                                                      ctypes.byref(count), ctypes.byref(opts))
            if ret < 0 and -ret == E.ENOSPC and count.value == 0:
                chunk *= 2
                continue
            if ret < 0 and -ret != E.ENOENT:
                if not out and -ret in _NO_BATCH:
                    return self._pop_each()
                raise self._fail("lookup-and-delete batch", ret)
            for i in range(count.value):
                out.append((kdec(keys, i * ks), self._decode_value(vals, i * vs)))
            if ret < 0:
                return out
            token_in = token_out.raw
            token_out = ctypes.create_string_buffer(max(ks, 8))

    def _pop_each(self) -> list[tuple[Any, Any]]:
        kdec, out = self.key_codec.decoder(), []
        for raw in list(self._raw_keys()):
            buf = ctypes.create_string_buffer(self._value_bytes)
            ret = lib.bpf_map_lookup_and_delete_elem(self.fd, raw, buf)
            if ret < 0 and -ret in _NO_BATCH:  # before 5.14 for hashes: read, then delete
                ret = lib.bpf_map_lookup_elem(self.fd, raw, buf)
                if ret == 0:
                    lib.bpf_map_delete_elem(self.fd, raw)
            if ret == 0:
                out.append((kdec(raw), self._decode_value(buf.raw)))
        return out

    def lookup_bytes(self, key: Any) -> bytes | None:
        """The value's bytes as the kernel stores them (None: no such key)."""
        buf = ctypes.create_string_buffer(self._value_bytes)
        ret = lib.bpf_map_lookup_elem(self.fd, self._key(key), buf)
        if ret < 0:
            if -ret == E.ENOENT:
                return None
            raise self._fail("lookup", ret)
        return buf.raw

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
        """Remove every entry."""
        keys = list(self._raw_keys())
        if not keys:
            return
        if self._batch_ok:
            opts = libbpf.MapBatchOpts(ctypes.sizeof(libbpf.MapBatchOpts), 0, 0)
            count = ctypes.c_uint32(len(keys))
            ret = lib.bpf_map_delete_batch(self.fd, b"".join(keys), ctypes.byref(count), ctypes.byref(opts))
            if ret == 0:
                return
            if -ret not in (*_NO_BATCH, E.ENOENT):
                raise self._fail("batch delete", ret)
        for raw in keys:
            lib.bpf_map_delete_elem(self.fd, raw)


class _BatchUnsupported(Exception):
    def __init__(self, ret: int) -> None:
        self.ret = ret


__all__ = ["Map", "PerCpuValues", "default_key_codec"]
