"""``.rodata``, ``.bss`` and ``.data`` globals of an object, by name, typed from BTF.

Before load the values live in libbpf's copy of the section (what load will
put in the kernel). After load ``.bss``/``.data`` are read and written live
through an mmap of the kernel map; ``.rodata`` is frozen and read-only.
"""

from __future__ import annotations

import ctypes
import mmap

from . import libbpf
from .btf import BtfType
from .errors import BPFError, unknown_name
from .maps import BPF_F_MMAPABLE, Map

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from typing import Any

    from .object import BPFObject

lib = libbpf.lib


class GlobalSection:
    """Attribute access to the variables of one data section."""

    __slots__ = ("_map", "_mm", "_obj", "_section", "_vars")

    def __init__(self, obj: BPFObject, bmap: Map, section: str, datasec: BtfType | None) -> None:
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_map", bmap)
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_mm", None)
        variables = {}
        if datasec is not None:
            for sv in datasec.vars:
                var = obj.btf[sv.type_id]
                variables[var.name] = (sv.offset, obj.types.codec(var.ref))
        object.__setattr__(self, "_vars", variables)

    @property
    def readonly(self) -> bool:
        return self._section.startswith(".rodata") or self._section == ".kconfig"

    def names(self) -> list[str]:
        return list(self._vars)

    def __dir__(self) -> list[str]:
        return self.names()

    def _var(self, name: str) -> tuple[int, Any]:
        try:
            return self._vars[name]
        except KeyError:
            raise unknown_name(f"{self._section} global", name, self.names()) from None

    def _buffer(self) -> tuple[Any, int]:
        """(buffer, base address or 0) to read from."""
        if self._obj.loaded:
            mm = self._mm
            if mm is None:
                mm = self._map_live()
            return mm, 0
        size = ctypes.c_size_t()
        ptr = lib.bpf_map__initial_value(self._map._ptr, ctypes.byref(size))
        if not ptr:
            raise BPFError(f"{self._section} has no data")
        return (ctypes.c_char * size.value).from_address(ptr), ptr

    def _map_live(self) -> mmap.mmap:
        if not self._map.flags & BPF_F_MMAPABLE:
            raise BPFError(f"{self._section} is not mmapable on this kernel (needs 5.5+)")
        size = (self._map.value_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
        prot = mmap.PROT_READ if self.readonly else mmap.PROT_READ | mmap.PROT_WRITE
        mm = mmap.mmap(self._map.fd, size, mmap.MAP_SHARED, prot)
        object.__setattr__(self, "_mm", mm)
        return mm

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        off, codec = self._var(name)
        buf, _ = self._buffer()
        return codec.decoder()(buf, off)

    def __setattr__(self, name: str, value: Any) -> None:
        off, codec = self._var(name)
        if self._obj.loaded and self.readonly:
            raise BPFError(f"{self._section} is read-only once loaded: set "
                           f"{self._section.lstrip('.')}.{name} before obj.load()")
        data = codec.encode(value)
        buf, _ = self._buffer()
        buf[off:off + len(data)] = data

    def to_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self._vars}

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            object.__setattr__(self, "_mm", None)

    def __repr__(self) -> str:
        return f"<{self._section} {', '.join(self._vars)}>"
