"""BPFObject: open -> configure -> load -> attach -> use -> close.

The skeleton-like front users know from libbpf, over two phases in the
manner of cilium/ebpf's CollectionSpec -> Collection: after ``open()`` the
maps are MapSpecs and the globals libbpf's copies (settings that only make
sense before the kernel has anything); ``load()`` creates everything and from
then on ``obj.maps.NAME`` is a live fd-backed Map and the globals are mapped.
"""

from __future__ import annotations

import ctypes
import errno as E
import os
import sys

from . import hooks
from .bpfkit_h import (
    HOOKS_PREFIX,
    PERFBUF_FLAG,
    RING_DROPPED_FIELD,
    RING_EVENT_FIELD,
    RING_META_PREFIX,
)
from .codecs.btf import BTF, Kind
from .codecs.types import ArrayCodec, CompositeCodec, TypeRegistry
from .events.ringbuf import RingBuffer
from .globals import GlobalSection, live_buffer, preload_buffer, section_variables
from .kernel import features, libbpf, system
from .kernel.errors import BPFError, error_for, unknown_name
from .kernel.info import MapInfo, ProgInfo, map_id
from .kernel.uapi import MapType
from .links import Link
from .maps import Map, MapSpec, live_map, map_by_id
from .program import Program

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any

    from .codecs.types import Codec

lib = libbpf.lib


class Named:
    """Maps or programs by name, as attributes or items."""

    def __init__(self, kind: str, items: dict[str, Any]) -> None:
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


class LiveMaps(Named):
    """The live maps of a loaded object by name, each made on first use: a
    monitor touches its ring and perhaps a counter, and making a Map costs
    its kind's module and its key and value codecs (about a third of what
    load() does in Python for a monitor). ``make`` must not hold the object
    (a Map kept by a user would keep it, and its links, alive)."""

    def __init__(self, owner: str, names: Iterable[str], make: Callable[[str], Map]) -> None:
        super().__init__("map", dict.fromkeys(names))
        self._owner, self._make = owner, make
        # Private: obj.maps.NAME is a map (a map may be called "closed").
        self._closed = False  # set by the object's close(), before libbpf frees the specs

    def __getitem__(self, name: str) -> Any:
        m = super().__getitem__(name)  # an unknown name fails here, with the known ones
        if m is None:
            if self._closed:  # its libbpf spec is freed memory now
                raise BPFError(f"{self._owner} is closed")
            m = self._make(name)
            # Two threads may both make it: each Map only borrows the object's
            # fd, so keeping the first is all it takes.
            first = self._items[name]
            if first is None:
                self._items[name] = first = m
            m = first
        return m

    def __iter__(self) -> Iterator[Any]:
        return (self[name] for name in list(self._items))

    def made(self) -> list[Map]:
        """The maps made so far (close() closes these, and makes none)."""
        return [m for m in self._items.values() if m is not None]


class BPFObject:
    """A compiled BPF object (.bpf.o) and everything it creates in the kernel."""

    def __init__(self, ptr: int, name: str, btf_custom_path: str | None, keep: Any = None) -> None:
        self._ptr: int | None = ptr
        self.name = name
        self.btf_custom_path = btf_custom_path
        self._keep = keep  # open_mem's buffer must outlive the object
        btf_ptr = lib.bpf_object__btf(ptr)
        if not btf_ptr:
            raise BPFError(f"{name} has no BTF: compile it with clang -g (bpfkit build does)")
        size = ctypes.c_uint32()
        raw = lib.btf__raw_data(btf_ptr, ctypes.byref(size))
        self.btf = BTF(ctypes.string_at(raw, size.value))
        self.types = TypeRegistry(self.btf)
        specs: dict[str, MapSpec] = {}
        m = lib.bpf_object__next_map(ptr, None)
        while m:
            spec = MapSpec(m)
            specs[spec.name] = spec
            m = lib.bpf_object__next_map(ptr, m)
        self._sections_specs = {n: s for n, s in specs.items() if s.internal}
        self._specs = Named("map", {n: s for n, s in specs.items() if not s.internal})
        progs: dict[str, Program] = {}
        p = lib.bpf_object__next_program(ptr, None)
        while p:
            pr = Program(p)
            progs[pr.name] = pr
            p = lib.bpf_object__next_program(ptr, p)
        self.progs = Named("program", progs)
        self._live: LiveMaps | None = None  # the live maps, once loaded
        self._sections: dict[str, GlobalSection] = {}
        self._readers: list[Any] = []
        self._hook_groups: dict[str, hooks.HookGroup] = {}
        # group -> HookChoice, and "ring NAME" -> "ringbuf" / "perf buffer", after load
        self.chosen_hooks: dict[str, Any] = {}
        self._perf_rings: set[str] = set()
        self.unattached: dict[str, str] = {}  # program -> why obj.attach() left it alone

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(cls, source: str | os.PathLike[str] | bytes, *, name: str | None = None,
             btf_custom_path: str | None = None) -> BPFObject:
        """Open a compiled object from a path or from its bytes. Nothing reaches
        the kernel until ``load()``."""
        if btf_custom_path is None and not os.path.exists(system.VMLINUX_BTF):
            btf_custom_path = system.shipped_btf()  # a package's minimal BTF for this kernel
        opts = libbpf.ObjectOpenOpts()
        opts.sz = ctypes.sizeof(opts)
        if name:
            opts.object_name = name.encode()
        if btf_custom_path:
            opts.btf_custom_path = os.fsencode(btf_custom_path)
        keep = None
        with libbpf.captured_log() as log:
            if isinstance(source, (bytes, bytearray, memoryview)):
                keep = ctypes.create_string_buffer(bytes(source), len(source))
                ptr = lib.bpf_object__open_mem(keep, len(source), ctypes.byref(opts))
                label = name or "object in memory"
            else:
                path = os.fspath(source)
                if not os.path.isfile(path):
                    raise BPFError(f"cannot open {path}: no such file (build it with `bpfkit build`)",
                                   errno=E.ENOENT)
                ptr = lib.bpf_object__open_file(os.fsencode(path), ctypes.byref(opts))
                label = name or os.path.basename(path).removesuffix(".o").removesuffix(".bpf")
            err = ctypes.get_errno()
        if not ptr:
            detail = "; ".join(x.strip().removeprefix("libbpf: ") for x in log[-2:])
            raise error_for(err or E.EINVAL, f"cannot open {label}: {libbpf.strerror(err or E.EINVAL)}"
                            + (f" ({detail})" if detail else ""))
        return cls(ptr, label, btf_custom_path, keep)

    # -- the two phases ------------------------------------------------------------------------
    @property
    def loaded(self) -> bool:
        return self._live is not None

    @property
    def maps(self) -> Named:
        """MapSpecs before load (sizes, pin paths), live Maps after."""
        return self._live if self._live is not None else self._specs

    # -- globals ------------------------------------------------------------------------------
    def section(self, name: str) -> GlobalSection:
        """Globals of a data section: '.rodata', '.bss', '.data' or '.data.NAME'."""
        sec = self._sections.get(name)
        if sec is None:
            sec = self._sections[name] = self._make_section(name)
        return sec

    def _section_spec(self, name: str) -> MapSpec:
        # libbpf names '.rodata' of object 'hello' "hello.rodata", but keeps
        # dotted names such as '.data.custom' as they are.
        for n, spec in self._sections_specs.items():
            if n == name or (name.count(".") == 1 and n.endswith(name) and not n.startswith(".")):
                return spec
        raise unknown_name("data section", name, sorted(self.btf.datasecs()))

    def _make_section(self, name: str) -> GlobalSection:
        spec = self._section_spec(name)
        variables = section_variables(self.btf, self.types, self.btf.datasecs().get(name))
        readonly = name.startswith(".rodata") or name == ".kconfig"
        if self.loaded:
            buf = live_buffer(name, spec.loaded_fd(), spec.value_size, spec.flags, readonly=readonly)
            return GlobalSection(name, variables, buf,
                                 read_only="read-only once loaded" if readonly else None)
        size = ctypes.c_size_t()
        addr = lib.bpf_map__initial_value(spec._ptr, ctypes.byref(size))
        if not addr:
            raise BPFError(f"{name} has no data")
        return GlobalSection(name, variables, preload_buffer(addr, size.value))

    @property
    def rodata(self) -> GlobalSection:
        return self.section(".rodata")

    @property
    def bss(self) -> GlobalSection:
        return self.section(".bss")

    @property
    def data(self) -> GlobalSection:
        return self.section(".data")

    # -- loading ------------------------------------------------------------------------------
    def load(self) -> BPFObject:
        """Create the maps and load every autoload program (the verifier runs here)."""
        if self._ptr is None:
            raise BPFError(f"{self.name} is closed")
        if self._live is not None:
            return self
        system.require_privileges()
        system.require_btf(self.btf_custom_path)
        self._choose_hooks()
        self._check_pinned()
        # BTF type ids as declared: libbpf zeroes them for a map it had to
        # create without BTF (queues and stacks on some kernels).
        declared = {n: spec.info() for n, spec in self._specs._items.items()}
        area = self._bounded_verifier_log()
        try:
            with libbpf.captured_log() as log:
                ret = lib.bpf_object__load(self._ptr)
            if ret < 0:
                from .loaderror import load_error  # lazy: only a failed load explains itself

                kept = {p.name: p.verifier_log for p in self.progs if p.log_level}
                if area is not None:
                    text = area[: area.find(b"\0")]
                    if len(text) >= len(area) - 1:  # rotated: it starts mid-line
                        text = (b"[the start of the verifier log did not fit in %d MiB]\n"
                                % (len(area) >> 20)) + text.partition(b"\n")[2]
                    kept[""] = text.decode(errors="replace")
                raise load_error(-ret, "\n".join(log), self.name, self.progs._items, self._specs._items,
                                 kept)
        finally:
            if area is not None:
                area.close()
        self._go_live(declared)
        return self

    # The end of a verifier log is where its reason is. libbpf, when it keeps
    # the log itself, reloads with a buffer twice as big until the whole log
    # fits: 16 MiB, 32, 64, 128 for a program past the 1M-instruction budget,
    # one more verifier run each (17 s here). A kernel whose log rotates keeps
    # the end in a bounded buffer in one run. Loads that succeed never use it
    # (libbpf asks for a log only on a retry after a failure).
    _VERIFIER_LOG_SIZE = 4 << 20

    def _bounded_verifier_log(self) -> Any:
        if not features.verifier_log_keeps_tail():
            return None
        import mmap  # pages are touched only by a failed load

        area = mmap.mmap(-1, self._VERIFIER_LOG_SIZE)
        view = (ctypes.c_char * len(area)).from_buffer(area)
        addr = ctypes.addressof(view)
        del view  # libbpf keeps the address; the mmap must stay closable
        for prog in self.progs:
            if not prog.log_level:  # a level asked for has its own buffer
                lib.bpf_program__set_log_buf(prog._ptr, addr, len(area))
        return area

    def _go_live(self, declared: dict[str, MapInfo]) -> None:
        """Replace the pre-load views by live ones: maps by their fds (each made
        on first use, see LiveMaps), sections by mmaps."""
        progs_by_id: dict[int, Program] = {}

        progs, specs, types = self.progs, self._specs._items, self.types  # not self: see LiveMaps

        def resolve_prog(pid: int) -> Any:
            if not progs_by_id:
                progs_by_id.update((ProgInfo(p.fd).id, p) for p in progs if p.loaded)
            return progs_by_id.get(pid, pid)

        def resolve_map(mid: int) -> Any:
            # A map-in-map's value: one of ours is returned as itself (and
            # only that one is made).
            for name, spec in specs.items():
                fd = spec.loaded_fd()
                if fd >= 0 and map_id(fd) == mid:  # -1: a map load did not create
                    return live[name]
            try:
                return map_by_id(mid)
            except BPFError:
                return mid

        def make(name: str) -> Map:
            spec = specs[name]
            info = spec.info()
            info.btf_key_type_id = declared[name].btf_key_type_id
            info.btf_value_type_id = declared[name].btf_value_type_id
            resolve = resolve_prog if info.type == MapType.PROG_ARRAY else resolve_map
            return live_map(spec.loaded_fd(), info, types, owns_fd=False,
                            pin_path=spec.pin_path, resolve=resolve)

        live = LiveMaps(self.name, specs, make)
        for sec in self._sections.values():
            sec.close()
        self._sections.clear()
        self._live = live

    # -- hook fallbacks -------------------------------------------------------------------------
    def declare_hooks(self, group: str, *alternatives: str | tuple[str, ...],
                      optional: bool = False) -> None:
        """Alternatives for one hook, best first (see bpfkit.core.hooks): each a
        program name, or several needed together ("a+b" or a tuple). The same
        as BPFKIT_HOOKS(group, ...) in the BPF program. ``optional``: a kernel
        that offers none of them is fine (BPFKIT_HOOKS_OPTIONAL)."""
        decl = hooks.HookGroup(group, alternatives, optional=optional)
        for name in decl.programs():
            self.progs[name]  # unknown names fail here, with the known ones listed
        self._hook_groups[group] = decl

    def restrict_hooks(self, kinds: Iterable[str]) -> None:
        """Before load, after any declare_hooks(): keep, in every hook group,
        only the alternatives made of programs of these kinds (``{"fentry",
        "fexit"}``; Program.kind names them), so the loader picks among those
        alone and says so when this kernel offers none. ValueError: a group
        has no alternative of these kinds."""
        self._hook_groups.update(hooks.restrict(self._declared_hooks().values(), self.progs._items,
                                                frozenset(kinds)))

    def _declared_hooks(self) -> dict[str, hooks.HookGroup]:
        groups: dict[str, hooks.HookGroup] = {}
        if ".rodata" in self.btf.datasecs():
            ro = self.rodata
            for var in ro.names():
                if var.startswith(HOOKS_PREFIX):
                    # The bytes, not getattr: that would generate a decoder per string.
                    text = ro.raw(var).partition(b"\0")[0].decode()
                    name = var[len(HOOKS_PREFIX):]
                    groups[name] = hooks.HookGroup.parse(name, text)
        groups.update(self._hook_groups)
        return groups

    def _choose_hooks(self) -> None:
        groups = self._declared_hooks()
        if groups:
            for g in groups.values():
                for n in g.programs():
                    self.progs[n]  # a declaration naming no program of ours is a mistake
            self.chosen_hooks.update(hooks.choose(groups.values(), self.progs._items))
        rings = self._event_maps()
        if rings and not self._perf_rings and not features.ringbuf_supported():
            self.use_perf_buffer()
        for n in rings:
            self.chosen_hooks[f"ring {n}"] = "perf buffer" if n in self._perf_rings else "ringbuf"

    # -- ring buffer or perf buffer -------------------------------------------------------------
    def _event_maps(self) -> list[str]:
        """Maps declared with BPFKIT_RINGBUF."""
        return [n for n in self._specs.names() if self._ring_meta(n) is not None]

    def use_perf_buffer(self, on: bool = True) -> None:
        """Send the events of every BPFKIT_RINGBUF map through a perf buffer
        instead of a ring buffer (what kernels before 5.8 need). The loader does
        this by itself when the kernel has no ring buffers; readers follow."""
        if not on:
            return
        rings = self._event_maps()
        if not rings:
            raise BPFError(f"{self.name} declares no BPFKIT_RINGBUF map to switch to a perf buffer")
        for n in rings:
            spec: MapSpec = self._specs[n]
            spec.set_type(MapType.PERF_EVENT_ARRAY)
            spec.key_size = spec.value_size = 4
            spec.max_entries = 0  # 0: one slot per CPU
            self._perf_rings.add(n)
        setattr(self.rodata, PERFBUF_FLAG, 1)

    # -- pinned maps ------------------------------------------------------------------------------
    def _check_pinned(self) -> None:
        """A map set to reuse a pin must match it; libbpf would only say 'incompatible'."""
        for spec in self._specs:
            path = spec.pin_path
            if not path or not os.path.exists(path):
                continue
            from .kernel.pins import open_pinned  # lazy: only objects that reuse a pin

            fd = open_pinned(path)
            try:
                diffs = MapInfo.of_fd(fd).differences(spec.info())
            finally:
                os.close(fd)
            if diffs:
                raise BPFError(f"map {spec.name!r} does not match the map pinned at {path}: "
                               + ", ".join(diffs) + f"; unpin it (rm {path}) or pin elsewhere")

    # -- attaching ----------------------------------------------------------------------------
    def attach(self, *names: str) -> list[Link]:
        """Attach the named programs, or every loaded autoattach program whose
        SEC() name says where. The others (an XDP program needs an interface,
        a uprobe with no binary in its section...) are listed with the reason
        in ``obj.unattached``: attach them with the matching attach_* method."""
        if not self.loaded:
            self.load()
        if names:
            progs = [self.progs[n] for n in names]
        else:
            progs, self.unattached = [], {}
            for p in self.progs:
                if not (p.loaded and p.autoattach):
                    continue
                if p.attach_kind.auto_attachable(p.section):
                    progs.append(p)
                else:
                    self.unattached[p.name] = _why_not_auto(p)
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
        # Not at interpreter exit: a thread started then waits forever (a script
        # that attached and never closed would hang as it ends).
        if len(links) > 1 and not sys.is_finalizing():
            # Releasing a (syscall) tracepoint link waits for an RCU grace
            # period, ~80 ms here; released at once, the links share one.
            import threading  # lazy: only detaching several links needs threads

            threads = [threading.Thread(target=link.destroy) for link in links]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for p in self.progs:
            p.detach()

    # -- event readers --------------------------------------------------------------------------
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
        codec = self.event_codec(map_name, event)
        dropped = None
        meta = self._ring_meta(map_name)
        if meta is not None:
            bss, var = self.section(".bss"), meta[0]
            dropped = lambda: getattr(getattr(bss, var), RING_DROPPED_FIELD)  # noqa: E731
        if rmap.type == MapType.PERF_EVENT_ARRAY:
            from .events.perfbuf import PerfBuffer  # lazy: the perf path is the old kernels' one

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

    def event_codec(self, map_name: str, event: str | None = None) -> Codec | None:
        """The codec events of ``map_name`` decode with: struct ``event`` when
        named, else the type BPFKIT_RINGBUF declared, else None (raw bytes)."""
        if event is not None:
            event = event.removeprefix("struct ").strip()
            codec = self.types.struct(event)
            if codec is None:
                raise BPFError(f"struct {event} is not in the BTF of {self.name}: a struct used only "
                               "as a local variable is left out by clang; keep it with "
                               f"`bpfkit build --keep-type 'struct {event}'` (or declare the ring "
                               f"buffer with BPFKIT_RINGBUF({map_name}, SIZE, struct {event}))")
            return codec
        meta = self._ring_meta(map_name)
        if meta is not None:
            meta_codec = self.types.codec(meta[1])
            if isinstance(meta_codec, CompositeCodec):
                arr = next((lf.codec for lf in meta_codec.leaves if lf.name == RING_EVENT_FIELD), None)
                if isinstance(arr, ArrayCodec):
                    return arr.elem
        return None

    def _ring_meta(self, map_name: str) -> tuple[str, int] | None:
        sec = self.btf.datasecs().get(".bss")
        if sec is None:
            return None
        for sv in sec.vars:
            var = self.btf[sv.type_id]
            if var.kind == Kind.VAR and var.name == RING_META_PREFIX + map_name:
                return var.name, var.ref
        return None

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        """Detach every link, close readers and free the object. Idempotent."""
        if self._ptr is None:
            return
        if self._live is not None:
            self._live._closed = True  # no map is made from here on
        for r in self._readers:
            r.close()
        for s in self._sections.values():
            s.close()
        self.detach()
        if self._live is not None:
            for m in self._live.made():
                m.close()
        lib.bpf_object__close(self._ptr)
        self._ptr = None

    def __enter__(self) -> BPFObject:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def _why_not_auto(p: Program) -> str:
    how = {"xdp": "attach_xdp(iface)", "tc": "attach_tc(iface, direction)",
           "tcx": "attach_tc(iface, direction)",
           "cgroup": "attach_cgroup(path)", "perf_event": "attach_perf_event(...)",
           "socket": "attach_socket(sock)", "sk_lookup": "attach_netns()", "flow_dissector": "attach_netns()",
           "sk_skb": "attach_sockmap(map)", "sk_msg": "attach_sockmap(map, 'msg_verdict')",
           "uprobe": "attach_uprobe(binary, symbol)", "uretprobe": "attach_uprobe(binary, symbol)",
           "usdt": "attach_usdt(binary, provider, name)", "kprobe": "attach_kprobe(function)",
           "kretprobe": "attach_kprobe(function, retprobe=True)",
           "tracepoint": "attach_tracepoint(cat, name)",
           "raw_tp": "attach_raw_tracepoint(name)", "syscall": "test_run(ctx=...): syscall programs are run"}
    return f'SEC("{p.section}") says no target to attach to: use prog.{how.get(p.kind, "attach_*(...)")}'


__all__ = ["BPFObject", "Named"]
