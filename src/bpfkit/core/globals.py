"""``.rodata``, ``.bss`` and ``.data`` globals of an object, by name, typed from BTF.

A section is read and written through a buffer: before load, libbpf's copy of
the section (what load will put in the kernel); after load, an mmap of the
kernel map, so ``.bss``/``.data`` reads and writes are live and ``.rodata``
(frozen by the kernel) is mapped read-only.
"""

from __future__ import annotations

import ctypes
import mmap

from .codecs.btf import BTF, BtfType
from .codecs.types import TypeRegistry
from .kernel.errors import BPFError, unknown_name
from .kernel.uapi import BPF_F_MMAPABLE

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from typing import Any

    from .codecs.types import Codec


def section_variables(btf: BTF, types: TypeRegistry,
                      datasec: BtfType | None) -> dict[str, tuple[int, Codec]]:
    """name -> (offset, codec) of every variable of a DATASEC."""
    out: dict[str, tuple[int, Codec]] = {}
    if datasec is not None:
        for sv in datasec.vars:
            var = btf[sv.type_id]
            out[var.name] = (sv.offset, types.codec(var.ref))
    return out


def preload_buffer(address: int, size: int) -> Any:
    """libbpf's copy of a section (bpf_map__initial_value), written in place."""
    return (ctypes.c_char * size).from_address(address)


def live_buffer(section: str, fd: int, value_size: int, flags: int, *, readonly: bool) -> mmap.mmap:
    """An mmap of the section's kernel map (an array of one element)."""
    if not flags & BPF_F_MMAPABLE:
        raise BPFError(f"{section} is not mmapable on this kernel (needs 5.5+)")
    size = (value_size + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE
    prot = mmap.PROT_READ if readonly else mmap.PROT_READ | mmap.PROT_WRITE
    return mmap.mmap(fd, size, mmap.MAP_SHARED, prot)


class GlobalSection:
    """Attribute access to the variables of one data section. ``read_only``:
    why writes are refused (a loaded .rodata), or None when they are allowed."""

    __slots__ = ("_buf", "_read_only", "_section", "_vars")

    def __init__(self, section: str, variables: dict[str, tuple[int, Codec]], buffer: Any, *,
                 read_only: str | None = None) -> None:
        object.__setattr__(self, "_section", section)
        object.__setattr__(self, "_vars", variables)
        object.__setattr__(self, "_buf", buffer)
        object.__setattr__(self, "_read_only", read_only)

    def names(self) -> list[str]:
        return list(self._vars)

    def __dir__(self) -> list[str]:
        return self.names()

    def _var(self, name: str) -> tuple[int, Codec]:
        if self._buf is None:
            raise BPFError(f"{self._section} belongs to a closed object")
        try:
            return self._vars[name]
        except KeyError:
            raise unknown_name(f"{self._section} global", name, self.names()) from None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        off, codec = self._var(name)
        return codec.decoder()(self._buf, off)

    def __setattr__(self, name: str, value: Any) -> None:
        off, codec = self._var(name)
        if self._read_only:
            raise BPFError(f"{self._section} is {self._read_only}: set "
                           f"{self._section.lstrip('.')}.{name} before obj.load()")
        data = codec.encode(value)
        self._buf[off:off + len(data)] = data

    def raw(self, name: str) -> bytes:
        """The variable's bytes as stored: all of a ``char[N]`` ("\0\0hello"
        reads as "" by attribute, C-string style, and in full here)."""
        off, codec = self._var(name)
        return bytes(self._buf[off:off + codec.size])

    def to_dict(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in self._vars}

    def close(self) -> None:
        """Release the mapping of a live section. Any later access says the
        object is closed (a pre-load buffer is libbpf's memory, freed then)."""
        if isinstance(self._buf, mmap.mmap):
            self._buf.close()
        object.__setattr__(self, "_buf", None)

    def __repr__(self) -> str:
        return f"<{self._section} {', '.join(self._vars)}>"


__all__ = ["GlobalSection", "live_buffer", "preload_buffer", "section_variables"]
