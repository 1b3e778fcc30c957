"""Programs of an object and the links that attach them."""

from __future__ import annotations

import ctypes
import errno as E
import os

from .kernel import features, libbpf, system
from .kernel.errors import BPFAttachError, BPFError, BPFKernelFeatureError, error_for
from .kernel.pins import pin_fd, unpin
from .kinds import AttachKind, kind_of_section

lib = libbpf.lib


class Link:
    """An attachment; ``destroy()`` detaches (idempotent)."""

    def __init__(self, ptr: int, program: Program, target: str) -> None:
        self._ptr: int | None = ptr
        self.program = program
        self.target = target

    def destroy(self) -> None:
        if self._ptr:
            lib.bpf_link__destroy(self._ptr)
            self._ptr = None

    @property
    def attached(self) -> bool:
        return self._ptr is not None

    def __repr__(self) -> str:
        return f"<Link {self.program.name} -> {self.target}{'' if self._ptr else ' (detached)'}>"


class TestRun:
    """What BPF_PROG_TEST_RUN returned: the program's return value, the mean
    duration per run in ns, and the packet / context after the run."""

    __slots__ = ("ctx_out", "data_out", "duration_ns", "retval")

    def __init__(self, retval: int, duration_ns: int, data_out: bytes | None,
                 ctx_out: bytes | None) -> None:
        self.retval, self.duration_ns = retval, duration_ns
        self.data_out, self.ctx_out = data_out, ctx_out

    def __repr__(self) -> str:
        return f"<TestRun retval={self.retval} duration_ns={self.duration_ns}>"


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
        self.pin_path = pin_fd(self.fd, path or f"{system.BPFFS}/{self.name}",
                                           f"program {self.name!r}")
        return self.pin_path

    def unpin(self) -> bool:
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
        if ret < 0:
            err = -ret
            hint = (" (this program type has no test run, or takes no repeat/data here)"
                    if err in (524, E.EINVAL, E.EOPNOTSUPP) else "")  # 524: kernel ENOTSUPP
            raise error_for(err, f"test run of {self.name!r} failed: {libbpf.strerror(err)}{hint}")
        return TestRun(opts.retval, opts.duration,
                       data_out.raw[:opts.data_size_out] if data_out is not None else None,
                       ctx_out.raw[:opts.ctx_size_out] if ctx_out is not None else None)

    # -- attaching ---------------------------------------------------------------
    def _attach(self, fn, target: str, *args) -> Link:
        if not self.loaded:
            raise BPFError(f"program {self.name!r} is not loaded (autoload is off, or "
                           "obj.load() has not run)")
        if self.attach_kind.needs_tracefs:
            system.ensure_tracefs()
        with libbpf.captured_log() as log:
            ptr = fn(self._ptr, *args)
            err = ctypes.get_errno() if not ptr else 0
        if not ptr:
            raise self._attach_error(target, err or E.EINVAL, log)
        link = Link(ptr, self, target)
        self.links.append(link)
        return link

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

    def detach(self) -> None:
        for link in self.links:
            link.destroy()
        self.links.clear()

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
        detail = next((line.strip() for line in reversed(log) if line.strip()), "")
        msg = f"cannot attach {kind} program {self.name!r} to {target}: {libbpf.strerror(err)}"
        if detail:
            msg += f" ({detail.removeprefix('libbpf: ')})"
        return BPFAttachError(msg, errno=err)
