"""User-space stack symbolisation: addresses of a process -> function names.

For an address of process PID (``bpf_get_stack(..., BPF_F_USER_STACK)``,
``PT_REGS_IP`` in a uprobe): the mapping in /proc/PID/maps that holds it gives
the file and the offset in it; the ELF program headers (PT_LOAD) turn the offset
into the address the symbol table uses, which handles PIE executables, shared
libraries and non-PIE binaries alike; the file's ``.symtab`` (else ``.dynsym``,
else a debug file found by build id or .gnu_debuglink under /usr/lib/debug)
names the function.

- Files are opened through /proc/PID/root (the process's mount namespace, so
  containers work), and only when the inode still matches the mapping; a file
  deleted or replaced since it was mapped is read through
  /proc/PID/map_files/START-END (root), and when that fails too the frame says
  why instead of naming a wrong function.
- Anonymous executable memory (JIT compilers: Java, node, LuaJIT, Python 3.12
  with -X perf) is resolved with /tmp/perf-PID.map (PID as the process sees
  itself), re-read when it grows.
- ``[vdso]`` is read from the process's memory (/proc/PID/mem, root).
- Symbol tables are parsed once per file, keyed by (device, inode, size,
  mtime), and shared by every process that maps the file.

ELF headers are read with pyelftools (imported on first use); symbol tables are
unpacked with ``struct`` directly, which is ~20x faster than pyelftools' symbol
objects on large binaries. C++ names are left mangled.
"""

from __future__ import annotations

import os
import time  # loaded at interpreter start-up anyway: free
from bisect import bisect_right
from struct import Struct

from ..core.kernel.errors import BPFError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import BinaryIO

DEBUG_DIR = "/usr/lib/debug"
_SYM64 = Struct("<IBBHQQ")   # st_name, st_info, st_other, st_shndx, st_value, st_size
_SYM32 = Struct("<IIIBBH")   # st_name, st_value, st_size, st_info, st_other, st_shndx
_FUNC_TYPES = (2, 10)        # STT_FUNC, STT_GNU_IFUNC
_BIND_RANK = {1: 0, 2: 1, 0: 2}  # at one address: GLOBAL before WEAK before LOCAL
_CACHE_FILES = 512
REFRESH_EVERY = 0.2  # seconds: a stack of addresses in no mapping reads the maps once


def _elffile():
    try:
        from elftools.elf.elffile import ELFFile  # lazy: only symbolising needs pyelftools
    except ImportError as exc:
        raise BPFError("symbolising user-space addresses needs pyelftools "
                       "(pip install pyelftools)") from exc
    return ELFFile


class ElfSymbols:
    """The function symbols of one ELF file or image. ``lookup(vaddr)`` gives
    (name, offset); ``vaddr(file_offset)`` maps a file offset through PT_LOAD."""

    def __init__(self, path: str | None = None, *, data: bytes | None = None,
                 name: str | None = None) -> None:
        self.path = name or path or "<memory>"
        self.build_id: str | None = None
        self.symbols_from = ""
        self._segments: list[tuple[int, int, int]] = []   # (p_offset, p_filesz, p_vaddr) of PT_LOAD
        self._starts: list[int] = []
        self._sizes: list[int] = []
        self._names: list[str] = []
        if data is not None:
            import io  # lazy: images read from memory only ([vdso])

            self._read(io.BytesIO(data), None)
        else:
            with open(path, "rb") as f:  # type: ignore[arg-type]
                self._read(f, path)

    def _read(self, stream: BinaryIO, path: str | None) -> None:
        try:
            elf = _elffile()(stream)
            self._segments = [(s["p_offset"], s["p_filesz"], s["p_vaddr"]) for s in elf.iter_segments()
                              if s["p_type"] == "PT_LOAD"]
            self.build_id = _build_id(elf)
            table = elf.get_section_by_name(".symtab")
            source = ".symtab"
            if table is None and path is not None:
                debug = self._debug_file(path, elf)
                if debug is not None:
                    with open(debug, "rb") as f:
                        delf = _elffile()(f)
                        table = delf.get_section_by_name(".symtab")
                        if table is not None:
                            self._symbols(delf, table)
                            self.symbols_from = debug
                            return
            if table is None:
                table, source = elf.get_section_by_name(".dynsym"), ".dynsym"
            if table is not None:
                self._symbols(elf, table)
                self.symbols_from = source
        except BPFError:
            raise
        except Exception as exc:  # pyelftools raises its own ELFError, struct.error...
            raise BPFError(f"{self.path} is not a readable ELF file ({exc})") from exc

    def _debug_file(self, path: str, elf) -> str | None:
        candidates = []
        if self.build_id and len(self.build_id) > 2:
            candidates.append(f"{DEBUG_DIR}/.build-id/{self.build_id[:2]}/{self.build_id[2:]}.debug")
        link = elf.get_section_by_name(".gnu_debuglink")
        if link is not None:
            name = link.data().split(b"\0", 1)[0].decode(errors="replace")
            d = os.path.dirname(path)
            candidates += [f"{d}/{name}", f"{d}/.debug/{name}", f"{DEBUG_DIR}{d}/{name}"]
        for c in candidates:
            if os.path.isfile(c) and os.path.realpath(c) != os.path.realpath(path):
                return c
        return None

    def _symbols(self, elf, table) -> None:
        data = table.data()
        strtab = elf.get_section(table["sh_link"]).data()
        sym, is64 = (_SYM64, True) if elf.elfclass == 64 else (_SYM32, False)
        if not elf.little_endian:
            sym = Struct(">" + sym.format[1:])
        entsize = table["sh_entsize"] or sym.size
        if entsize == sym.size:
            entries = sym.iter_unpack(data[:len(data) - len(data) % sym.size])
        else:  # padded entries (never seen in practice, allowed by the format)
            entries = (sym.unpack_from(data, i) for i in range(0, len(data) - entsize + 1, entsize))
        rows = []
        for i, entry in enumerate(entries):
            if is64:
                st_name, info, _, shndx, value, size = entry
            else:
                st_name, value, size, info, _, shndx = entry
            if (info & 0xF) not in _FUNC_TYPES or not shndx or not value:
                continue
            rows.append((value, _BIND_RANK.get(info >> 4, 3), i, size, st_name))
        rows.sort()
        names: dict[int, str] = {}
        last = None
        for value, _, _, size, st_name in rows:
            if value == last:
                continue  # an alias at the same address: the best-ranked one is kept
            last = value
            name = names.get(st_name)
            if name is None:
                end = strtab.find(b"\0", st_name)
                name = strtab[st_name:end if end >= 0 else None].decode(errors="replace")
                names[st_name] = name
            self._starts.append(value)
            self._sizes.append(size)
            self._names.append(name)

    def __len__(self) -> int:
        return len(self._names)

    def vaddr(self, file_offset: int) -> int | None:
        """The address (as the symbol table counts) of a file offset, through the
        PT_LOAD segment holding it; None when no segment does."""
        for off, filesz, vaddr in self._segments:
            if off <= file_offset < off + filesz:
                return file_offset - off + vaddr
        return None

    def lookup(self, vaddr: int) -> tuple[str, int] | None:
        """(function name, offset into it) for an address, or None outside every function."""
        i = bisect_right(self._starts, vaddr) - 1
        if i < 0:
            return None
        start, size = self._starts[i], self._sizes[i]
        if size and vaddr >= start + size:
            return None
        return self._names[i], vaddr - start

    def address(self, name: str) -> int | None:
        """The address of function ``name`` in this file (as the symbol table counts)."""
        try:
            return self._starts[self._names.index(name)]
        except ValueError:
            return None


def _build_id(elf) -> str | None:
    for section in elf.iter_sections():
        if section["sh_type"] != "SHT_NOTE":
            continue
        for note in section.iter_notes():
            if note["n_type"] == "NT_GNU_BUILD_ID":
                return note["n_desc"]
    return None


_FILES: dict[tuple, ElfSymbols] = {}


def elf_symbols(path: str) -> ElfSymbols:
    """The symbols of an ELF file, parsed once per (device, inode, size, mtime)."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    syms = _FILES.get(key)
    if syms is None:
        syms = ElfSymbols(path)
        if len(_FILES) >= _CACHE_FILES:
            del _FILES[next(iter(_FILES))]
        _FILES[key] = syms
    return syms


class Mapping:
    """One line of /proc/PID/maps."""

    __slots__ = ("end", "inode", "offset", "path", "perms", "start")

    def __init__(self, start: int, end: int, perms: str, offset: int, inode: int, path: str) -> None:
        self.start, self.end, self.perms, self.offset, self.inode, self.path = (
            start, end, perms, offset, inode, path)

    @property
    def deleted(self) -> bool:
        return self.path.endswith(" (deleted)")

    @property
    def anonymous(self) -> bool:
        return not self.path or (self.path.startswith("[") and self.path != "[vdso]")

    def __repr__(self) -> str:
        return f"<Mapping {self.start:#x}-{self.end:#x} {self.perms} {self.offset:#x} {self.path}>"


def read_maps(pid: int | str = "self") -> list[Mapping]:
    """The mappings of a process, in address order."""
    with open(f"/proc/{pid}/maps") as f:
        text = f.read()
    out = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        lo, _, hi = parts[0].partition("-")
        out.append(Mapping(int(lo, 16), int(hi, 16), parts[1], int(parts[2], 16), int(parts[4]),
                           parts[5] if len(parts) > 5 else ""))
    return out


class Frame:
    """One resolved address: ``name`` (None when unknown, then ``reason`` says
    why), ``offset`` into the function, ``module`` (the file, ``[vdso]``,
    ``[perf map]``) and ``module_offset`` (the offset in that file)."""

    __slots__ = ("addr", "module", "module_offset", "name", "offset", "reason")

    def __init__(self, addr: int, name: str | None = None, offset: int = 0, module: str | None = None,
                 module_offset: int = 0, reason: str = "") -> None:
        self.addr, self.name, self.offset = addr, name, offset
        self.module, self.module_offset, self.reason = module, module_offset, reason

    def __str__(self) -> str:
        """``main+0x1f``, or ``[unknown]``."""
        if self.name is None:
            return "[unknown]"
        return f"{self.name}+{self.offset:#x}" if self.offset else self.name

    def text(self) -> str:
        """``main+0x1f (/usr/bin/prog)``, ``[unknown] (/lib/x.so+0x1234)``, ``[unknown] (0x7f..)``."""
        if self.module is None:
            return f"{self} ({self.addr:#x})"
        if self.name is None:
            return f"[unknown] ({self.module}+{self.module_offset:#x})"
        return f"{self} ({self.module})"

    def __repr__(self) -> str:
        return f"<Frame {self.addr:#x} {self.text()}{' ' + self.reason if self.reason else ''}>"


class ProcessSymbols:
    """Symbolises addresses of one process. Its maps are read once and read again
    when an address falls outside them (a library loaded since), at most every
    REFRESH_EVERY seconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.error = ""
        self._maps: list[Mapping] = []
        self._starts: list[int] = []
        self._files: dict[tuple[str, int, int], ElfSymbols | str] = {}
        self._perf_map: tuple[tuple[int, int], list[int], list[int], list[str]] | None = None
        self._refreshed = 0.0
        self.refresh()

    def refresh(self) -> None:
        """Read /proc/PID/maps again (resolve() does when an address is in no mapping,
        at most every REFRESH_EVERY seconds)."""
        self._refreshed = time.monotonic()
        try:
            self._maps = [m for m in read_maps(self.pid) if "x" in m.perms]
            self.error = ""
        except OSError as exc:
            self._maps, self.error = [], f"cannot read /proc/{self.pid}/maps: {exc.strerror}"
        self._starts = [m.start for m in self._maps]

    def mapping(self, addr: int) -> Mapping | None:
        i = bisect_right(self._starts, addr) - 1
        if i >= 0 and addr < self._maps[i].end:
            return self._maps[i]
        return None

    def resolve(self, addr: int) -> Frame:
        m = self.mapping(addr)
        if m is None and time.monotonic() - self._refreshed >= REFRESH_EVERY:
            self.refresh()
            m = self.mapping(addr)
        if m is None:
            named = self._from_perf_map(addr)
            return named or Frame(addr, reason=self.error or "not in an executable mapping")
        file_offset = addr - m.start + m.offset
        if m.anonymous:
            named = self._from_perf_map(addr)
            return named or Frame(addr, module=m.path or "[anon]", module_offset=addr - m.start,
                                  reason="anonymous memory and no perf map names it")
        syms = self._symbols_of(m)
        module = m.path[:-len(" (deleted)")] if m.deleted else m.path
        if isinstance(syms, str):
            return Frame(addr, module=module, module_offset=file_offset, reason=syms)
        vaddr = syms.vaddr(file_offset)
        hit = syms.lookup(vaddr) if vaddr is not None else None
        if hit is None:
            return Frame(addr, module=module, module_offset=file_offset, reason="no symbol covers it")
        return Frame(addr, hit[0], hit[1], module, file_offset)

    def stack(self, addrs: Iterable[int]) -> list[Frame]:
        """Frames for a stack as bpf_get_stack() fills it (it ends at the first 0)."""
        out = []
        for a in addrs:
            if not a:
                break
            out.append(self.resolve(a))
        return out

    def _symbols_of(self, m: Mapping) -> ElfSymbols | str:
        key = (m.path, m.inode, m.start)
        got = self._files.get(key)
        if got is None:
            got = self._open(m)
            self._files[key] = got
        return got

    def _open(self, m: Mapping) -> ElfSymbols | str:
        if m.path == "[vdso]":
            return _vdso(self.pid, m)
        reason = "deleted since it was mapped" if m.deleted else ""
        if not m.deleted:
            path = f"/proc/{self.pid}/root{m.path}"
            try:
                if os.stat(path).st_ino == m.inode:
                    return elf_symbols(path)
                reason = "replaced since it was mapped"
            except OSError as exc:
                reason = f"cannot open it ({exc.strerror})"
            except BPFError as exc:
                return str(exc)
        try:  # the file as mapped, even deleted or replaced (root only)
            return elf_symbols(f"/proc/{self.pid}/map_files/{m.start:x}-{m.end:x}")
        except OSError as exc:
            return f"{reason}, and /proc/{self.pid}/map_files is not readable ({exc.strerror})"
        except BPFError as exc:
            return str(exc)

    def _from_perf_map(self, addr: int) -> Frame | None:
        path = f"/proc/{self.pid}/root/tmp/perf-{_ns_pid(self.pid)}.map"
        try:
            st = os.stat(path)
        except OSError:
            return None
        stamp = (st.st_size, st.st_mtime_ns)
        if self._perf_map is None or self._perf_map[0] != stamp:
            self._perf_map = (stamp, *_read_perf_map(path))
        _, starts, sizes, names = self._perf_map
        i = bisect_right(starts, addr) - 1
        if i >= 0 and addr < starts[i] + max(sizes[i], 1):
            return Frame(addr, names[i], addr - starts[i], "[perf map]", addr - starts[i])
        return None


def _ns_pid(pid: int) -> int:
    """The pid as the process sees itself (its JIT names perf-NSPID.map by it)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except (OSError, ValueError):
        pass
    return pid


def _read_perf_map(path: str) -> tuple[list[int], list[int], list[str]]:
    rows = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3:
                try:
                    rows.append((int(parts[0], 16), int(parts[1], 16), parts[2]))
                except ValueError:
                    continue
    rows.sort()
    return [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]


_VDSO: dict[int, ElfSymbols] = {}


def _vdso(pid: int, m: Mapping) -> ElfSymbols | str:
    try:
        with open(f"/proc/{pid}/mem", "rb") as f:
            f.seek(m.start)
            data = f.read(m.end - m.start)
    except OSError as exc:
        return f"cannot read the vdso from /proc/{pid}/mem ({exc.strerror})"
    key = hash(data)
    if key not in _VDSO:
        try:
            _VDSO[key] = ElfSymbols(data=data, name="[vdso]")
        except BPFError as exc:
            return str(exc)
    return _VDSO[key]


class UserSymbols:
    """ProcessSymbols per pid, kept for the last ``max_processes`` pids used
    (libbpf-tools' syms_cache)."""

    def __init__(self, max_processes: int = 1024) -> None:
        self.max_processes = max_processes
        self._procs: dict[int, ProcessSymbols] = {}

    def process(self, pid: int) -> ProcessSymbols:
        p = self._procs.pop(pid, None)
        if p is None:
            p = ProcessSymbols(pid)
            if len(self._procs) >= self.max_processes:
                del self._procs[next(iter(self._procs))]
        self._procs[pid] = p  # most recently used last
        return p

    def resolve(self, pid: int, addr: int) -> Frame:
        return self.process(pid).resolve(addr)

    def stack(self, pid: int, addrs: Iterable[int]) -> list[Frame]:
        return self.process(pid).stack(addrs)

    def forget(self, pid: int) -> None:
        """Drop a process (it exited, or exec'd another program)."""
        self._procs.pop(pid, None)


__all__ = ["REFRESH_EVERY", "ElfSymbols", "Frame", "Mapping", "ProcessSymbols", "UserSymbols", "elf_symbols",
           "read_maps"]
