"""BPFObject: open -> configure -> load -> attach -> use -> close."""

from __future__ import annotations

import ctypes
import errno as E
import os

from . import libbpf, system
from .btf import BTF, Kind
from .errors import BPFError, BPFKernelFeatureError, BPFLoadError, unknown_name
from .globals import GlobalSection
from .maps import Map, MapType, make_map
from .program import TRAMPOLINE_KINDS, Link, Program
from .ringbuf import RingBuffer
from .types import ArrayCodec, CompositeCodec, TypeRegistry

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

lib = libbpf.lib

# The BPF-side header (bpfkit.bpf.h) declares, per ring buffer NAME, a .bss
# variable bpfkit_ring_NAME = { __u64 dropped; EVENT event[0]; }: the kernel
# counts reserve failures there and BTF keeps the event type.
RING_META_PREFIX = "bpfkit_ring_"


class _Named:
    """Maps or programs by name, as attributes or items."""

    def __init__(self, kind: str, items: dict) -> None:
        self._kind, self._items = kind, items

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> Any:
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self._kind, name, list(self._items)) from None

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __dir__(self) -> list[str]:
        return list(self._items)

    def names(self) -> list[str]:
        return list(self._items)


class BPFObject:
    """A compiled BPF object (.bpf.o) and everything it creates in the kernel."""

    def __init__(self, ptr: int, name: str, btf_custom_path: str | None, keep: Any = None) -> None:
        self._ptr: int | None = ptr
        self.name = name
        self.btf_custom_path = btf_custom_path
        self._keep = keep  # open_mem's buffer must outlive the object
        self.loaded = False
        btf_ptr = lib.bpf_object__btf(ptr)
        if not btf_ptr:
            raise BPFError(f"{name} has no BTF: compile it with clang -g (bpfkit build does)")
        size = ctypes.c_uint32()
        raw = lib.btf__raw_data(btf_ptr, ctypes.byref(size))
        self.btf = BTF(ctypes.string_at(raw, size.value))
        self.types = TypeRegistry(self.btf)
        maps: dict[str, Map] = {}
        m = lib.bpf_object__next_map(ptr, None)
        while m:
            mp = make_map(self, m)
            maps[mp.name] = mp
            m = lib.bpf_object__next_map(ptr, m)
        progs: dict[str, Program] = {}
        p = lib.bpf_object__next_program(ptr, None)
        while p:
            pr = Program(self, p)
            progs[pr.name] = pr
            p = lib.bpf_object__next_program(ptr, p)
        self._internal = {n: mp for n, mp in maps.items() if lib.bpf_map__is_internal(mp._ptr)}
        self.maps = _Named("map", {n: mp for n, mp in maps.items()
                                               if n not in self._internal})
        self.progs = _Named("program", progs)
        self._sections: dict[str, GlobalSection] = {}
        self._readers: list[Any] = []
        self._hook_groups: dict[str, list[str]] = {}
        # group -> HookChoice, and "ring NAME" -> "ringbuf" / "perf buffer", after load
        self.chosen_hooks: dict[str, Any] = {}
        self._perf_rings: set[str] = set()

    # -- opening --------------------------------------------------------------------
    @classmethod
    def open(cls, source: str | os.PathLike[str] | bytes, *, name: str | None = None,
             btf_custom_path: str | None = None) -> BPFObject:
        """Open a compiled object from a path or from its bytes. Nothing reaches
        the kernel until ``load()``."""
        opts = libbpf.ObjectOpenOpts()
        opts.sz = ctypes.sizeof(opts)
        if name:
            opts.object_name = name.encode()
        if btf_custom_path:
            opts.btf_custom_path = str(btf_custom_path).encode()
        keep = None
        with libbpf.captured_log() as log:
            if isinstance(source, (bytes, bytearray, memoryview)):
                keep = ctypes.create_string_buffer(bytes(source), len(source))
                ptr = lib.bpf_object__open_mem(keep, len(source), ctypes.byref(opts))
                label = name or "object in memory"
            else:
                path = os.fspath(source)
                if not os.path.isfile(path):
                    raise BPFError(f"cannot open {path}: no such file (build it with `bpfkit build`)")
                ptr = lib.bpf_object__open_file(path.encode(), ctypes.byref(opts))
                label = name or os.path.basename(path).removesuffix(".o").removesuffix(".bpf")
            err = ctypes.get_errno()
        if not ptr:
            detail = "; ".join(x.strip().removeprefix("libbpf: ") for x in log[-2:])
            raise BPFError(f"cannot open {label}: {libbpf.strerror(err or E.EINVAL)}"
                           + (f" ({detail})" if detail else ""))
        return cls(ptr, label, btf_custom_path, keep)

    # -- globals --------------------------------------------------------------------
    def section(self, name: str) -> GlobalSection:
        """Globals of a data section: '.rodata', '.bss', '.data' or '.data.NAME'."""
        sec = self._sections.get(name)
        if sec is None:
            # libbpf names '.rodata' of object 'hello' "hello.rodata", but keeps
            # dotted names such as '.data.custom' as they are.
            bmap = next((m for n, m in self._internal.items() if n == name or (
                name.count(".") == 1 and n.endswith(name) and not n.startswith("."))), None)
            if bmap is None:
                have = sorted(self.btf.datasecs())
                raise unknown_name("data section", name, have)
            sec = self._sections[name] = GlobalSection(self, bmap, name, self.btf.datasecs().get(name))
        return sec

    @property
    def rodata(self) -> GlobalSection:
        return self.section(".rodata")

    @property
    def bss(self) -> GlobalSection:
        return self.section(".bss")

    @property
    def data(self) -> GlobalSection:
        return self.section(".data")

    # -- loading --------------------------------------------------------------------
    def load(self) -> BPFObject:
        """Create the maps and load every autoload program (the verifier runs here)."""
        self._check_open()
        if self.loaded:
            return self
        system.require_privileges()
        system.require_btf(self.btf_custom_path)
        self._choose_hooks()
        self._check_pinned()
        with libbpf.captured_log() as log:
            ret = lib.bpf_object__load(self._ptr)
        if ret < 0:
            raise self._load_error(-ret, "\n".join(log))
        self.loaded = True
        return self

    # -- hook fallbacks -------------------------------------------------------------
    def declare_hooks(self, group: str, *programs: str) -> None:
        """Alternatives for one hook, best first (see bpfkit.core.hooks); the
        same as BPFKIT_HOOKS(group, ...) in the BPF program."""
        if self.loaded:
            raise BPFError("declare hook alternatives before obj.load()")
        for name in programs:
            self.progs[name]  # unknown names fail here, with the known ones listed
        self._hook_groups[group] = list(programs)

    def _declared_hooks(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        if ".rodata" in self.btf.datasecs():
            from .hooks import HOOKS_PREFIX

            ro = self.rodata
            for var in ro.names():
                if var.startswith(HOOKS_PREFIX):
                    value = getattr(ro, var)
                    text = value.decode() if isinstance(value, bytes) else str(value)
                    groups[var[len(HOOKS_PREFIX):]] = [n.strip() for n in text.split(",") if n.strip()]
        groups.update(self._hook_groups)
        return groups

    def _choose_hooks(self) -> None:
        groups = self._declared_hooks()
        if groups:
            from .hooks import choose

            for group, names in groups.items():
                progs = [self.progs[n] for n in names]
                if any(p.autoload for p in progs):  # a group switched off by hand stays off
                    self.chosen_hooks[group] = choose(group, progs, self.btf_custom_path)
        rings = [n for n in self.maps.names() if self._ring_meta(n) is not None]
        if rings and not self._perf_rings and not _ringbuf_supported():
            self.use_perf_buffer()
        for n in rings:
            self.chosen_hooks[f"ring {n}"] = "perf buffer" if n in self._perf_rings else "ringbuf"

    # -- ring buffer or perf buffer ---------------------------------------------------
    def use_perf_buffer(self, on: bool = True) -> None:
        """Send the events of every BPFKIT_RINGBUF map through a perf buffer
        instead of a ring buffer (what kernels before 5.8 need). The loader does
        this by itself when the kernel has no ring buffers; readers follow."""
        if self.loaded:
            raise BPFError("choose the event transport before obj.load()")
        if not on:
            return
        rings = [n for n in self.maps.names() if self._ring_meta(n) is not None]
        if not rings:
            raise BPFError(f"{self.name} declares no BPFKIT_RINGBUF map to switch to a perf buffer")
        for n in rings:
            m = self.maps[n]
            for fn, arg in ((lib.bpf_map__set_type, MapType.PERF_EVENT_ARRAY),
                            (lib.bpf_map__set_key_size, 4), (lib.bpf_map__set_value_size, 4),
                            (lib.bpf_map__set_max_entries, 0)):  # 0: one slot per CPU
                ret = fn(m._ptr, arg)
                if ret < 0:
                    raise BPFError(f"cannot switch map {n!r} to a perf buffer: {libbpf.strerror(-ret)}")
            m._describe()
            self._perf_rings.add(n)
        self.rodata.bpfkit_perfbuf = 1

    # -- pinned maps ------------------------------------------------------------------
    def _check_pinned(self) -> None:
        """A map set to reuse a pin must match it; libbpf would only say 'incompatible'."""
        for m in self.maps:
            path = m.pin_path
            if not path or not os.path.exists(path):
                continue
            from .kobjects import MapInfo

            fd = lib.bpf_obj_get(path.encode())
            if fd < 0:
                raise BPFError(f"map {m.name!r}: cannot open the map pinned at {path}: "
                               f"{libbpf.strerror(-fd)}")
            try:
                diffs = MapInfo(fd).differences(
                    type=m.type, key_size=m.key_size, value_size=m.value_size,
                    max_entries=m.max_entries, map_flags=m.flags)
            finally:
                os.close(fd)
            if diffs:
                raise BPFError(f"map {m.name!r} does not match the map pinned at {path}: "
                               + ", ".join(diffs) + f"; unpin it (rm {path}) or pin elsewhere")

    def _load_error(self, err: int, log: str) -> BPFError:
        import re

        failed = None
        for m in re.finditer(r"prog '([^']+)': (?:BPF program load failed|failed to load)", log):
            failed = m.group(1)
        if failed is None:
            m2 = re.search(r"prog '([^']+)'", log)
            failed = m2.group(1) if m2 else None
        prog = self.progs._items.get(failed) if failed else None
        vlog = ""
        m3 = re.search(r"-- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --", log, re.S)
        if m3:
            vlog = m3.group(1)
        if prog is not None and prog.kind in TRAMPOLINE_KINDS and err in (E.EPERM, 524, E.EOPNOTSUPP):
            return BPFKernelFeatureError(
                f"{prog.kind} programs are refused by this kernel ({prog.name!r} failed to load: "
                f"{libbpf.strerror(err)}); use a tracepoint or tp_btf hook instead")
        if err == E.EPERM and not vlog:
            return BPFError(f"loading {self.name} was refused: {libbpf.strerror(err)} "
                            "(kernel lockdown or kernel.unprivileged_bpf_disabled?)")
        where = f"program {prog.name!r} of {self.name}" if prog else self.name
        if not vlog:
            tail = [x.strip().removeprefix("libbpf: ") for x in log.splitlines() if x.strip()]
            detail = f" ({tail[-1]})" if tail else ""
            return BPFLoadError(f"loading {where} failed: {libbpf.strerror(err)}{detail}",
                                program=failed, log=log, errno=err)
        return BPFLoadError(f"the verifier rejected {where}", program=failed, log=vlog, errno=err)

    # -- attaching ------------------------------------------------------------------
    def attach(self, *names: str) -> list[Link]:
        """Attach the named programs, or every loaded autoattach program."""
        if not self.loaded:
            self.load()
        progs = [self.progs[n] for n in names] if names else [
            p for p in self.progs if p.loaded and p.autoattach and _auto_attachable(p)]
        links = []
        try:
            for p in progs:
                links.append(p.attach())
        except BaseException:
            for link in links:
                link.destroy()
            raise
        return links

    def detach(self) -> None:
        links = [link for p in self.progs for link in p.links if link.attached]
        if len(links) > 1:
            # Releasing a (syscall) tracepoint link waits for an RCU grace
            # period, ~80 ms here; released at once, the links share one.
            import threading

            threads = [threading.Thread(target=link.destroy) for link in links]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for p in self.progs:
            p.detach()

    # -- ring buffers -----------------------------------------------------------------
    def ring_buffer(self, map_name: str, event: str | None = None, *,
                    interval: float = 0.1, perf_pages: int = 64, wakeup_bytes: int = 0) -> Any:
        """A reader of event map ``map_name`` decoding events as struct ``event``:
        a RingBuffer, or a PerfBuffer when the map was loaded as a perf buffer
        (use_perf_buffer); both read the same way.

        Without ``event`` the type declared with BPFKIT_RINGBUF() is used; with
        neither, events are raw bytes.
        """
        if not self.loaded:
            raise BPFError("call obj.load() before reading a ring buffer")
        rmap = self.maps[map_name]
        if rmap.type not in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY):
            raise BPFError(f"map {map_name!r} is a {MapType.name(rmap.type)}, not a ring buffer")
        codec = None
        if event is not None:
            codec = self.types.struct(event)
            if codec is None:
                raise BPFError(f"struct {event} is not in the BTF of {self.name}: declare the ring "
                               f"buffer with BPFKIT_RINGBUF({map_name}, SIZE, struct {event}) so "
                               "the compiler keeps the type")
        dropped = None
        meta = self._ring_meta(map_name)
        if meta is not None:
            meta_codec = self.types.codec(meta[1])
            if codec is None and isinstance(meta_codec, CompositeCodec):
                arr = next((lf.codec for lf in meta_codec.leaves if lf.name == "event"), None)
                if isinstance(arr, ArrayCodec):
                    codec = arr.elem
            bss, var = self.section(".bss"), meta[0]
            dropped = lambda: getattr(bss, var).dropped  # noqa: E731
        if rmap.type == MapType.PERF_EVENT_ARRAY:
            from .perfbuf import PerfBuffer

            reader: Any = PerfBuffer(rmap, codec, pages=perf_pages, dropped=dropped,
                                     interval=interval, wakeup_bytes=wakeup_bytes)
        else:
            reader = RingBuffer(rmap, codec, dropped=dropped, interval=interval)
        self._readers.append(reader)
        return reader

    def perf_buffer(self, map_name: str, event: str | None = None, *, pages: int = 64,
                    interval: float = 0.1, wakeup_bytes: int = 0) -> Any:
        """A reader of PERF_EVENT_ARRAY ``map_name`` (bpf_perf_event_output):
        per-CPU buffers of ``pages`` pages, lost samples counted per CPU."""
        if self.maps[map_name].type != MapType.PERF_EVENT_ARRAY:
            raise BPFError(f"map {map_name!r} is a {MapType.name(self.maps[map_name].type)}, "
                           "not a PERF_EVENT_ARRAY")
        return self.ring_buffer(map_name, event, interval=interval, perf_pages=pages,
                                wakeup_bytes=wakeup_bytes)

    def _ring_meta(self, map_name: str) -> tuple[str, int] | None:
        sec = self.btf.datasecs().get(".bss")
        if sec is None:
            return None
        for sv in sec.vars:
            var = self.btf[sv.type_id]
            if var.kind == Kind.VAR and var.name == RING_META_PREFIX + map_name:
                return var.name, var.ref
        return None

    # -- lifecycle ------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._ptr is None:
            raise BPFError(f"{self.name} is closed")

    def close(self) -> None:
        """Detach every link, close readers and free the object. Idempotent."""
        if self._ptr is None:
            return
        for r in self._readers:
            r.close()
        for s in self._sections.values():
            s.close()
        self.detach()
        lib.bpf_object__close(self._ptr)
        self._ptr = None
        self.loaded = False

    def __enter__(self) -> BPFObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _ringbuf_supported() -> bool:
    return lib.libbpf_probe_bpf_map_type(MapType.RINGBUF, None) == 1


def _auto_attachable(p: Program) -> bool:
    # A bare SEC("uprobe") or SEC("kprobe") names no target: attach it by hand.
    return "/" in p.section or p.kind in ("fentry", "fexit", "lsm", "tp_btf")
