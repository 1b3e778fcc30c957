"""Every "does this kernel have X" answer, asked once per process and cached.

The loader (ring buffer or perf buffer), the hook fallbacks (which program of a
group to keep) and `bpfkit doctor` all ask here, so they cannot disagree.
Answers that name a missing thing return the reason as one short phrase, or
None when the thing is there, e.g. ``trampoline_refusal("fentry", "vfs_open")``.

The fentry/fexit/lsm check does what libbpf-tools' fentry_can_attach() does:
find the target in the kernel's BTF and load a two-instruction program
attached to it, so a kernel that allows trampolines but not on that function
(or refuses them altogether, as hardened kernels do) is found before the real
load.
"""

from __future__ import annotations

import ctypes
import os

from . import libbpf, system
from .uapi import AttachType, MapType, ProgType

VMLINUX_BTF = system.VMLINUX_BTF
BTF_KIND_FUNC = 12
_LSM_LIST = "/sys/kernel/security/lsm"

_memo: dict[tuple[object, ...], object] = {}


def _once(key: tuple[object, ...], compute):
    if key not in _memo:
        _memo[key] = compute()
    return _memo[key]


def forget() -> None:
    """Drop every cached answer (tests that change what the process sees)."""
    _memo.clear()
    system.forget()


# -- maps and program types ------------------------------------------------------------
def map_type_supported(map_type: int) -> bool:
    return bool(_once(("map", map_type),
                      lambda: libbpf.lib.libbpf_probe_bpf_map_type(map_type, None) == 1))


def ringbuf_supported() -> bool:
    """BPF ring buffers (5.8+); without them BPFKIT_RINGBUF maps become perf buffers.
    A kernel that says 5.8 or newer has them (no option configures them out)
    and is not asked: the probe creates a map, ~0.3 ms of every start. Older
    ones are (RHEL 8's 4.18 has them backported)."""
    if system.kernel_version() >= (5, 8):
        return True
    return map_type_supported(MapType.RINGBUF)


def prog_type_supported(prog_type: int) -> bool:
    return bool(_once(("prog", prog_type),
                      lambda: libbpf.lib.libbpf_probe_bpf_prog_type(prog_type, None) == 1))


# -- BTF ----------------------------------------------------------------------------------
def kernel_btf() -> bool:
    """The kernel's own BTF. CO-RE can use a custom BTF file instead, but
    attaching by BTF id (tp_btf, fentry, fexit, lsm) needs this one."""
    return os.path.exists(VMLINUX_BTF)


def _vmlinux_btf() -> int:
    """libbpf's parse of the kernel BTF (a few MB: parsed only when a BTF
    function lookup is asked for, then kept)."""
    def load() -> int:
        ptr = libbpf.lib.btf__load_vmlinux_btf()
        return int(ptr or 0)

    return int(_once(("vmlinux btf",), load))  # type: ignore[arg-type]


def btf_function_id(name: str) -> int | None:
    """The BTF id of kernel function ``name`` in vmlinux BTF, or None."""
    def find() -> int | None:
        btf = _vmlinux_btf()
        if not btf:
            return None
        tid = libbpf.lib.btf__find_by_name_kind(btf, name.encode(), BTF_KIND_FUNC)
        return tid if tid > 0 else None

    return _once(("btf func", name), find)  # type: ignore[return-value]


def btf_module_of(name: str) -> str | None:
    """The kernel module whose BTF (/sys/kernel/btf/MODULE) has function
    ``name``, or None: fentry/fexit on a module's function (wireguard's
    wg_xmit) attach there, as libbpf finds them at load."""
    def find() -> str | None:
        base = _vmlinux_btf()
        btf_dir = os.path.dirname(VMLINUX_BTF)
        try:
            modules = sorted(m for m in os.listdir(btf_dir) if m != "vmlinux")
        except OSError:
            return None
        for module in modules if base else ():
            btf = libbpf.lib.btf__parse_split(os.path.join(btf_dir, module).encode(), base)
            if not btf:
                continue
            found = libbpf.lib.btf__find_by_name_kind(btf, name.encode(), BTF_KIND_FUNC) > 0
            libbpf.lib.btf__free(btf)
            if found:
                return module
        return None

    return _once(("btf module", name), find)  # type: ignore[return-value]


def bpf_lsm_active() -> bool:
    """Whether the BPF LSM is in the kernel's active LSM list. A kernel booted
    with an lsm= list without "bpf" still loads and attaches LSM programs,
    which then never run."""
    def read() -> bool:
        try:
            with open(_LSM_LIST) as f:
                return "bpf" in f.read().strip().split(",")
        except OSError:
            return False

    return bool(_once(("lsm active",), read))


_PROBE_FUNCTION = "bpf_fentry_test1"  # net/bpf/test_run.c: there for trampoline tests
_TRAMPOLINE = {  # kind -> (program type, expected attach type)
    "fentry": (ProgType.TRACING, AttachType.TRACE_FENTRY),
    "fexit": (ProgType.TRACING, AttachType.TRACE_FEXIT),
    "fmod_ret": (ProgType.TRACING, AttachType.MODIFY_RETURN),
    "lsm": (ProgType.LSM, AttachType.LSM_MAC),
}
# r0 = 0; exit
_RETURN_ZERO = bytes([0xB7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0])


def _load_trampoline(prog_type: int, attach_type: int, btf_id: int) -> int:
    """0 when a program of this kind loads for BTF id ``btf_id``, else errno."""
    opts = libbpf.ProgLoadOpts()
    opts.sz = ctypes.sizeof(opts)
    opts.expected_attach_type = attach_type
    opts.attach_btf_id = btf_id
    insns = ctypes.create_string_buffer(_RETURN_ZERO, len(_RETURN_ZERO))
    fd = libbpf.lib.bpf_prog_load(prog_type, b"bpfkit_probe", b"GPL", insns, 2, ctypes.byref(opts))
    if fd < 0:
        return -fd
    os.close(fd)
    return 0


def verifier_log_keeps_tail() -> bool:
    """Whether a verifier log that outgrows its buffer keeps its end (the
    rotating log of Linux 6.4+) rather than its start. The end is where the
    reason for a rejection is, so a bounded buffer is enough there; before
    6.4 only a buffer the whole log fits in has it. Asked by loading a
    33-instruction program with a 128-byte log: only a rotating log then
    holds the final "processed N insns" line. Kernels that say 6.4 or newer
    have it (a core verifier change, nothing configures it out) and are not
    asked: the probe is a program load, ~0.4 ms of every start."""
    def probe() -> bool:
        if system.kernel_version() >= (6, 4):
            return True
        insns = _RETURN_ZERO[:8] * 32 + _RETURN_ZERO[8:]
        prog = ctypes.create_string_buffer(insns, len(insns))
        log = ctypes.create_string_buffer(128)
        opts = libbpf.ProgLoadOpts()
        opts.sz = ctypes.sizeof(opts)
        opts.log_level, opts.log_size, opts.log_buf = 1, len(log), ctypes.addressof(log)
        fd = libbpf.lib.bpf_prog_load(ProgType.SOCKET_FILTER, b"bpfkit_probe", b"GPL", prog, 33,
                                      ctypes.byref(opts))
        if fd >= 0:
            os.close(fd)
        return b"processed 33 insns" in log.value

    return bool(_once(("verifier log tail",), probe))


def trampoline_refusal(kind: str, function: str) -> str | None:
    """Why a ``kind`` (fentry, fexit, fmod_ret, lsm) program cannot attach to
    ``function`` (an LSM hook name for lsm) here, or None when it can."""
    def check() -> str | None:
        prog_type, attach_type = _TRAMPOLINE[kind]
        if not kernel_btf():
            return f"{kind} needs kernel BTF"
        if not prog_type_supported(prog_type):
            return f"{kind} programs are refused by this kernel"
        if kind == "lsm" and not bpf_lsm_active():
            return "the BPF LSM is not active (add bpf to the kernel's lsm= list)"
        if not function:
            return None
        target = f"bpf_lsm_{function}" if kind == "lsm" else function
        btf_id = btf_function_id(target)
        if btf_id is None and kind != "lsm" and btf_module_of(target):
            # A module's function: whether this kernel allows trampolines at all
            # is asked on the function the kernel keeps for such tests.
            return None if function == _PROBE_FUNCTION else check_kind_on(_PROBE_FUNCTION)
        if btf_id is None:
            return f"no function {target} in the kernel's BTF"
        err = _load_trampoline(prog_type, attach_type, btf_id)
        if err:
            return f"{kind} on {function} refused: {libbpf.strerror(err)}"
        return None

    def check_kind_on(other: str) -> str | None:
        return trampoline_refusal(kind, other)

    return _once(("trampoline", kind, function), check)  # type: ignore[return-value]


# -- tracepoints ---------------------------------------------------------------------------
def tracepoint_exists(category: str, name: str) -> bool:
    """Whether this kernel has tracepoint ``category:name`` (mounts tracefs if needed)."""
    path, _ = system.ensure_tracefs()
    if os.path.isdir(os.path.join(path, "events", category, name)):
        return True
    if os.path.isdir(os.path.join(path, "events")):
        return False
    system.forget()  # tracefs went away (or moved) since it was found: look again
    path, _ = system.ensure_tracefs()
    return os.path.isdir(os.path.join(path, "events", category, name))


def _raw_tracepoints() -> frozenset[str] | None:
    def read() -> frozenset[str] | None:
        # raw_tp and tp_btf need no tracefs: when it is closed to us, do not ask it
        base = system.tracefs_path()
        if base is None:
            return None
        path = os.path.join(base, "available_events")
        try:
            with open(path) as f:
                return frozenset(line.rstrip("\n").partition(":")[2] for line in f)
        except OSError:
            return None

    return _once(("raw tracepoints",), read)  # type: ignore[return-value]


def raw_tracepoint_exists(name: str) -> bool:
    """Whether raw_tp/tp_btf can attach to ``name`` (True when it cannot be told)."""
    names = _raw_tracepoints()
    return names is None or name in names


# -- kprobes ---------------------------------------------------------------------------------
def kprobes_supported() -> bool:
    """CONFIG_KPROBES with the perf or tracefs interface to attach them."""
    return bool(_once(("kprobes",), lambda: os.path.exists(
        "/sys/bus/event_source/devices/kprobe/type") or os.path.exists(
        os.path.join(system.tracefs_path() or system.TRACEFS, "kprobe_events"))))


def _kprobe_functions() -> frozenset[str]:
    def read() -> frozenset[str]:
        path = os.path.join(system.tracefs_path() or system.TRACEFS, "available_filter_functions")
        try:
            with open(path) as f:
                return frozenset(line.split()[0] for line in f if line.strip())
        except OSError:
            return frozenset()

    return _once(("kprobe functions",), read)  # type: ignore[return-value]


def kprobe_refusal(function: str) -> str | None:
    """Why a kprobe on ``function`` cannot attach here, or None when it can."""
    if not kprobes_supported():
        return "no kprobe support in this kernel"
    funcs = _kprobe_functions()
    if function and funcs and function not in funcs:
        return f"no kprobe-able function {function}"
    return None


def syscall_wrapper_prefix() -> str:
    """What the kernel calls syscall NAME's entry function, minus NAME
    (`__x64_sys_` with syscall wrappers, else `sys_`), as libbpf's ksyscall does."""
    def find() -> str:
        arch = {"x86_64": "__x64_", "aarch64": "__arm64_", "s390x": "__s390x_",
                "riscv64": "__riscv_"}.get(os.uname().machine, "")
        funcs = _kprobe_functions()
        if arch and (not funcs or f"{arch}sys_getpid" in funcs):
            return f"{arch}sys_"
        return "sys_"

    return _once(("syscall prefix",), find)  # type: ignore[return-value]


__all__ = [
    "bpf_lsm_active", "btf_function_id", "btf_module_of", "forget", "kernel_btf", "kprobe_refusal",
    "kprobes_supported", "map_type_supported", "prog_type_supported", "raw_tracepoint_exists",
    "ringbuf_supported", "syscall_wrapper_prefix", "tracepoint_exists", "trampoline_refusal",
    "verifier_log_keeps_tail",
]
