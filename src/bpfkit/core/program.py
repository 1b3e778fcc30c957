"""Programs of an object and the links that attach them."""

from __future__ import annotations

import ctypes
import errno as E
import os

from .kernel import features, libbpf, system
from .kernel.errors import BPFAttachError, BPFError, BPFKernelFeatureError, BPFPermissionError, error_for
from .kinds import AttachKind, kind_of_section
from .links import SOCKMAP_ATTACH, Attachment, Link, ifindex, prog_attach, read_iter, socket_attach, tc_attach

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

lib = libbpf.lib


class TestRun:
    """What BPF_PROG_TEST_RUN returned: the program's return value, the mean
    duration per run in ns, and the packet / context after the run.

    ``data_size_out`` is the size of the packet the program left, which may
    exceed ``data_out`` when the buffer given was too small (the kernel then
    fails with ENOSPC but still reports both: ``truncated`` is True)."""

    __slots__ = ("ctx_out", "data_out", "data_size_out", "duration_ns", "retval", "truncated")

    def __init__(self, retval: int, duration_ns: int, data_out: bytes | None,
                 ctx_out: bytes | None, data_size_out: int = 0, truncated: bool = False) -> None:
        self.retval, self.duration_ns = retval, duration_ns
        self.data_out, self.ctx_out = data_out, ctx_out
        self.data_size_out, self.truncated = data_size_out, truncated

    def __repr__(self) -> str:
        return f"<TestRun retval={self.retval} duration_ns={self.duration_ns}>"


# Program types whose BPF_PROG_TEST_RUN exists (an EINVAL there is about the input)
_TEST_RUN_TYPES = {1, 3, 4, 6, 8, 10, 11, 12, 14, 16, 17, 22, 24, 26, 29, 30, 31, 32}


class Program:
    """A program of an object: settings before load (autoload, autoattach,
    log_level), then its fd, attachments, pin and test runs. libbpf refuses a
    pre-load setting once the object is loaded, and that refusal is reported."""

    def __init__(self, ptr: int) -> None:
        self._ptr = ptr
        self.name: str = lib.bpf_program__name(ptr).decode()
        self.section: str = lib.bpf_program__section_name(ptr).decode()
        self.attach_kind: AttachKind = kind_of_section(self.section)
        # the kind's name; an unknown section is reported by its own prefix
        self.kind: str = (self.attach_kind.name if self.attach_kind.name != "other"
                          else self.section.split("/", 1)[0])
        self.links: list[Link] = []
        self.pin_path: str | None = None
        self._log_buf: ctypes.Array[ctypes.c_char] | None = None

    def __repr__(self) -> str:
        return f"<Program {self.name} SEC({self.section!r})>"

    # -- verifier log on request -----------------------------------------------------
    @property
    def log_level(self) -> int:
        return lib.bpf_program__log_level(self._ptr)

    @log_level.setter
    def log_level(self, level: int) -> None:
        """1: the verifier's summary (and, on a rejection, the path it rejected);
        2: every instruction it checked with the register state. Kept even when
        the load succeeds: read it from ``verifier_log``."""
        if level not in (0, 1, 2):
            raise ValueError("log_level is 0, 1 or 2")
        self._setting("log_level", lib.bpf_program__set_log_level(self._ptr, level))
        # The load fails (ENOSPC) if the log does not fit: level 2 logs are big.
        size = (64 << 20) if level == 2 else (4 << 20) if level == 1 else 0
        self._log_buf = ctypes.create_string_buffer(size) if size else None
        lib.bpf_program__set_log_buf(self._ptr, self._log_buf, size)

    def _setting(self, what: str, ret: int) -> None:
        if ret < 0:
            raise error_for(-ret, f"program {self.name!r}: cannot change {what}: "
                                  f"{libbpf.strerror(-ret)} (it can only change before obj.load())")

    @property
    def verifier_log(self) -> str:
        """What the verifier said while loading this program (set log_level first)."""
        if self._log_buf is None:
            raise BPFError(f"program {self.name!r}: set log_level = 1 or 2 before obj.load() "
                           "to keep the verifier log")
        return self._log_buf.value.decode(errors="replace")

    @property
    def autoload(self) -> bool:
        return lib.bpf_program__autoload(self._ptr)

    @autoload.setter
    def autoload(self, on: bool) -> None:
        self._setting("autoload", lib.bpf_program__set_autoload(self._ptr, bool(on)))

    @property
    def autoattach(self) -> bool:
        return lib.bpf_program__autoattach(self._ptr)

    @autoattach.setter
    def autoattach(self, on: bool) -> None:
        lib.bpf_program__set_autoattach(self._ptr, bool(on))

    @property
    def fd(self) -> int:
        fd = lib.bpf_program__fd(self._ptr)
        if fd < 0:
            raise BPFError(f"program {self.name!r} is not loaded")
        return fd

    @property
    def loaded(self) -> bool:
        return lib.bpf_program__fd(self._ptr) >= 0

    # -- pinning ----------------------------------------------------------------------
    def pin(self, path: str | None = None) -> str:
        """Pin the loaded program (default /sys/fs/bpf/NAME): it stays loaded
        after this process exits, until unpinned."""
        from .kernel.pins import pin_fd  # lazy: pinning is a few programs' business

        self.pin_path = pin_fd(self.fd, path or f"{system.BPFFS}/{self.name}",
                                           f"program {self.name!r}")
        return self.pin_path

    def unpin(self) -> bool:
        from .kernel.pins import unpin  # lazy: pinning is a few programs' business

        path, self.pin_path = self.pin_path, None
        return unpin(path) if path else False

    # -- BPF_PROG_TEST_RUN ------------------------------------------------------------
    def test_run(self, data: bytes | None = None, ctx: bytes | None = None, *, repeat: int = 1,
                 data_out_size: int | None = None, ctx_out_size: int | None = None) -> TestRun:
        """Run the loaded program in the kernel on ``data`` (a packet, for XDP
        and tc programs) and/or ``ctx`` (raw_tp: the u64 arguments; syscall:
        any struct), ``repeat`` times. Returns retval, ns per run, and what the
        program left in the packet and context."""
        opts = libbpf.TestRunOpts()
        opts.sz = ctypes.sizeof(opts)
        keep = []  # buffers must outlive the call
        data_out = ctx_out = None
        if data is not None:
            din = ctypes.create_string_buffer(bytes(data), len(data))
            data_out = ctypes.create_string_buffer(data_out_size or len(data) + 256)
            keep += [din, data_out]
            opts.data_in, opts.data_size_in = ctypes.addressof(din), len(data)
            opts.data_out, opts.data_size_out = ctypes.addressof(data_out), len(data_out)
        if ctx is not None:
            cin = ctypes.create_string_buffer(bytes(ctx), len(ctx))
            keep.append(cin)
            opts.ctx_in, opts.ctx_size_in = ctypes.addressof(cin), len(ctx)
            if ctx_out_size:
                ctx_out = ctypes.create_string_buffer(ctx_out_size)
                keep.append(ctx_out)
                opts.ctx_out, opts.ctx_size_out = ctypes.addressof(ctx_out), ctx_out_size
        # The kernel runs once for 0; raw_tp programs refuse any other value.
        opts.repeat = repeat if repeat > 1 else 0
        ret = lib.bpf_prog_test_run_opts(self.fd, ctypes.byref(opts))
        if ret < 0 and -ret == E.ENOSPC and data_out is not None:
            # The program ran; its packet did not fit data_out: the kernel
            # still reports retval and the size it needed (xdp_adjust_tail grows).
            return TestRun(opts.retval, opts.duration, data_out.raw, None,
                           opts.data_size_out, truncated=True)
        if ret < 0:
            err = -ret
            if err in (E.EINVAL, E.EOPNOTSUPP, 524):  # 524: the kernel's ENOTSUPP
                hint = (" (the kernel refused this input: check the sizes of data/ctx and the context "
                        "fields it allows for this program type)"
                        if lib.bpf_program__type(self._ptr) in _TEST_RUN_TYPES and err == E.EINVAL
                        else " (this program type has no test run in this kernel)")
            else:
                hint = ""
            raise error_for(err, f"test run of {self.name!r} failed: {libbpf.strerror(err)}{hint}")
        return TestRun(opts.retval, opts.duration,
                       data_out.raw[:opts.data_size_out] if data_out is not None else None,
                       ctx_out.raw[:opts.ctx_size_out] if ctx_out is not None else None,
                       opts.data_size_out)

    # -- attaching ---------------------------------------------------------------
    def _attach(self, fn, target: str, *args) -> Link:
        self._need_loaded()
        if self.attach_kind.needs_tracefs:
            system.ensure_tracefs()
        with libbpf.captured_log() as log:
            ptr = fn(self._ptr, *args)
            err = ctypes.get_errno() if not ptr else 0
        if not ptr:
            raise self._attach_error(target, err or E.EINVAL, log)
        return self._keep(Link(ptr, self, target))

    def attach(self) -> Link:
        """Attach by the program's SEC() name (tracepoint/..., tp_btf/..., uprobe/BIN:FUNC...)."""
        return self._attach(lib.bpf_program__attach, self.section)

    def attach_tracepoint(self, category: str, name: str) -> Link:
        return self._attach(lib.bpf_program__attach_tracepoint, f"{category}/{name}",
                            category.encode(), name.encode())

    def attach_raw_tracepoint(self, name: str) -> Link:
        return self._attach(lib.bpf_program__attach_raw_tracepoint, name, name.encode())

    def attach_kprobe(self, function: str, *, retprobe: bool = False, offset: int = 0) -> Link:
        opts = libbpf.KprobeOpts(ctypes.sizeof(libbpf.KprobeOpts), 0, offset, retprobe)
        return self._attach(lib.bpf_program__attach_kprobe_opts, function,
                            function.encode(), ctypes.byref(opts))

    def attach_uprobe(self, binary: str, symbol: str | None = None, *, offset: int = 0,
                      pid: int = -1, retprobe: bool | None = None) -> Link:
        """Attach to ``symbol`` (or ``offset``) in ``binary``; all processes unless ``pid``."""
        if retprobe is None:
            retprobe = self.kind == "uretprobe"
        if not os.path.exists(binary):
            raise BPFAttachError(f"cannot attach {self.name} to {binary}: no such file")
        opts = libbpf.UprobeOpts(ctypes.sizeof(libbpf.UprobeOpts), 0, 0, retprobe,
                                 symbol.encode() if symbol else None)
        target = f"{binary}:{symbol or hex(offset)}"
        return self._attach(lib.bpf_program__attach_uprobe_opts, target, pid,
                            os.fsencode(binary), offset, ctypes.byref(opts))

    def attach_perf_event(self, event: str | tuple[int, int] = "cpu-clock", *, freq: int = 0,
                          period: int = 0, cpus: list[int] | None = None, pid: int = -1) -> list[Link]:
        """Sample on every CPU (or ``cpus``, or one ``pid``): a perf event per
        CPU, ``freq`` samples a second or one per ``period`` events, each
        running this program (SEC("perf_event"): profile, llcstat)."""
        from .kernel import perf  # lazy: only sampling programs open perf events

        type_, config = perf.EVENTS[event] if isinstance(event, str) else event
        if not (freq or period):
            freq = 49
        a = perf.attr(type_, config, freq=freq, sample_period=period)
        links: list[Link] = []
        try:
            for cpu in (cpus if cpus is not None else system.online_cpus() if pid == -1 else [-1]):
                pfd = perf.perf_event_open(a, pid=pid, cpu=cpu, what=f"{event} event")
                try:
                    links.append(self._attach(lib.bpf_program__attach_perf_event, f"{event}/cpu{cpu}", pfd))
                finally:
                    os.close(pfd)  # the link holds the event
        except BaseException:
            for link in links:
                link.destroy()
            raise
        return links

    def attach_usdt(self, binary: str, provider: str, name: str, *, pid: int = -1, cookie: int = 0) -> Link:
        """Attach to USDT probe ``provider:name`` in ``binary`` (sys/sdt.h notes;
        the BPF side uses BPF_USDT() from <bpf/usdt.bpf.h>)."""
        if not os.path.exists(binary):
            raise BPFAttachError(f"cannot attach {self.name} to {binary}: no such file")
        opts = libbpf.UsdtOpts(ctypes.sizeof(libbpf.UsdtOpts), cookie)
        return self._attach(lib.bpf_program__attach_usdt, f"{binary}:{provider}:{name}", pid,
                            os.fsencode(binary), provider.encode(), name.encode(), ctypes.byref(opts))

    def attach_xdp(self, iface: str | int) -> Link:
        """Attach an XDP program to an interface (by name or index), as a link."""
        return self._attach(lib.bpf_program__attach_xdp, f"xdp/{iface}", ifindex(iface))

    def attach_tc(self, iface: str | int, direction: str = "ingress", *, priority: int = 1,
                  handle: int = 1) -> Link:
        """Attach a tc program to an interface's ingress or egress: as a tcx link
        where libbpf (1.3+) and the kernel (6.6+) have them and the section says
        tcx/, else as a filter on the clsact qdisc (made when missing)."""
        self._need_loaded()
        target = f"tc/{iface}/{direction}"
        if self.kind == "tcx" and libbpf.has("bpf_program__attach_tcx"):
            opts = libbpf.TcxOpts(ctypes.sizeof(libbpf.TcxOpts), 0, 0, 0, 0)
            return self._attach(lib.bpf_program__attach_tcx, target, ifindex(iface), ctypes.byref(opts))
        return self._keep(Attachment(self, target, tc_attach(self.fd, iface, direction,
                                                             priority=priority, handle=handle)))

    def attach_cgroup(self, cgroup: str | int) -> Link:
        """Attach to a cgroup v2 (its path, e.g. /sys/fs/cgroup/x, or an open fd)."""
        if isinstance(cgroup, int):
            return self._attach(lib.bpf_program__attach_cgroup, f"cgroup fd {cgroup}", cgroup)
        try:
            fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise BPFAttachError(f"cannot open cgroup {cgroup}: {exc.strerror}", errno=exc.errno) from None
        try:
            return self._attach(lib.bpf_program__attach_cgroup, f"cgroup {cgroup}", fd)
        finally:
            os.close(fd)  # the link holds the cgroup

    def attach_netns(self, netns: str | int = "/proc/self/ns/net") -> Link:
        """Attach a flow dissector or sk_lookup program to a network namespace."""
        if isinstance(netns, int):
            return self._attach(lib.bpf_program__attach_netns, f"netns fd {netns}", netns)
        fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return self._attach(lib.bpf_program__attach_netns, f"netns {netns}", fd)
        finally:
            os.close(fd)

    def attach_sockmap(self, sockmap: Any, attach_type: str = "stream_verdict") -> Link:
        """Attach an sk_skb/sk_msg program to a SOCKMAP/SOCKHASH map (a live Map):
        stream_parser, stream_verdict, msg_verdict or skb_verdict."""
        self._need_loaded()
        if attach_type not in SOCKMAP_ATTACH:
            raise ValueError(f"attach_type is one of {', '.join(SOCKMAP_ATTACH)}")
        undo = prog_attach(self.fd, sockmap.fd, SOCKMAP_ATTACH[attach_type], f"map {sockmap.name!r}")
        return self._keep(Attachment(self, f"{sockmap.name}/{attach_type}", undo))

    def attach_socket(self, sock: Any) -> Link:
        """Attach a socket filter (SEC("socket")) to a socket or socket fd."""
        self._need_loaded()
        return self._keep(Attachment(self, f"socket fd {sock if isinstance(sock, int) else sock.fileno()}",
                                     socket_attach(self.fd, sock)))

    def attach_iter(self, *, map: Any = None, tid: int = 0, pid: int = 0) -> Link:
        """Attach an iterator (SEC("iter/...")), optionally over one map or task."""
        info = b""
        if map is not None:
            info = map.fd.to_bytes(4, "little")
        elif tid or pid:
            info = tid.to_bytes(4, "little") + pid.to_bytes(4, "little") + bytes(4)
        buf = ctypes.create_string_buffer(info.ljust(16, b"\0"), 16) if info else None
        opts = libbpf.IterAttachOpts(ctypes.sizeof(libbpf.IterAttachOpts),
                                     ctypes.addressof(buf) if buf is not None else None, 16 if buf else 0)
        link = self._attach(lib.bpf_program__attach_iter, self.section, ctypes.byref(opts))
        link._keep = buf  # type: ignore[attr-defined]  # libbpf copies it, but not before the call
        return link

    def iterate(self, **where: Any) -> bytes:
        """Run an iterator once and return all it wrote (BPF_SEQ_PRINTF text or
        bpf_seq_write records): attach, read to the end, detach."""
        link = self.attach_iter(**where)
        try:
            return read_iter(link)
        finally:
            link.destroy()
            self.links.remove(link)

    # -- programs libbpf cannot type from their section name -------------------------------
    def set_type(self, prog_type: int) -> None:
        """Before load: the program type (bpfkit.ProgType) of a SEC() name libbpf does not know."""
        self._setting("type", lib.bpf_program__set_type(self._ptr, prog_type))

    def set_expected_attach_type(self, attach_type: int) -> None:
        """Before load: the expected attach type (enum bpf_attach_type)."""
        ret = lib.bpf_program__set_expected_attach_type(self._ptr, attach_type)
        self._setting("expected attach type", ret)

    def set_attach_target(self, function: str, prog_fd: int = 0) -> None:
        """Before load: retarget a fentry/fexit/freplace placeholder to
        ``function`` (of program ``prog_fd`` for freplace and BPF-to-BPF
        fentry; of the kernel when 0)."""
        self._setting("attach target", lib.bpf_program__set_attach_target(self._ptr, prog_fd,
                                                                          function.encode()))

    def detach(self) -> None:
        for link in self.links:
            link.destroy()
        self.links.clear()

    def _need_loaded(self) -> None:
        if not self.loaded:
            raise BPFError(f"program {self.name!r} is not loaded (autoload is off, or "
                           "obj.load() has not run)")

    def _keep(self, link: Link) -> Link:
        self.links.append(link)
        return link

    def _attach_error(self, target: str, err: int, log: list[str]) -> BPFError:
        kind, family = self.kind, self.attach_kind.family
        if family == "kprobe" and not features.kprobes_supported():
            return BPFKernelFeatureError(
                f"cannot attach {kind} program {self.name!r}: this kernel has no kprobe "
                "support (CONFIG_KPROBES/CONFIG_KPROBE_EVENTS are not set); use a "
                "tracepoint or tp_btf hook instead", errno=err)
        if kind == "tracepoint" and err == E.ENOENT:
            return BPFKernelFeatureError(
                f"cannot attach {self.name!r}: this kernel has no tracepoint {target.split('/', 1)[-1]}",
                errno=err)
        if family == "trampoline":
            return BPFKernelFeatureError(
                f"cannot attach {kind} program {self.name!r} to {target}: "
                f"{libbpf.strerror(err)} (BPF trampolines are not available here)", errno=err)
        if err in (E.EACCES, E.EPERM) and family in ("tracepoint", "kprobe", "uprobe", "perf_event"):
            why = system.perf_events_restricted()
            if why:
                return BPFPermissionError(f"cannot attach {kind} program {self.name!r} to {target}: "
                                          f"{why}", errno=err)
        detail = next((line.strip() for line in reversed(log) if line.strip()), "")
        msg = f"cannot attach {kind} program {self.name!r} to {target}: {libbpf.strerror(err)}"
        if detail:
            msg += f" ({detail.removeprefix('libbpf: ')})"
        return BPFAttachError(msg, errno=err)
