"""Facts about the running kernel and process: privileges, BTF, tracefs,
bpffs, CPUs. What the kernel can *run* (hooks, map kinds) is features.py's."""

from __future__ import annotations

import errno as E
import os

from . import libbpf
from .errors import BPFError, BPFKernelFeatureError, BPFPermissionError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
TRACEFS = "/sys/kernel/tracing"
DEBUGFS_TRACING = "/sys/kernel/debug/tracing"
BPFFS = "/sys/fs/bpf"

CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 2, 21, 38, 39
# What a process that is not root needs, said once for every message.
PRIVILEGES = ("root (or CAP_BPF and CAP_PERFMON, plus CAP_DAC_READ_SEARCH for hooks on "
              "tracepoints, whose ids are read from tracefs)")


def effective_caps() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def has_bpf_privileges() -> bool:
    caps = effective_caps()
    if caps >> CAP_SYS_ADMIN & 1:
        return True
    return bool(caps >> CAP_BPF & 1 and caps >> CAP_PERFMON & 1)


def perf_events_restricted() -> str | None:
    """Why perf_event_open(2) is closed to this process though it has
    CAP_PERFMON, or None. Debian's and Ubuntu's kernels add levels 3 and 4 to
    kernel.perf_event_paranoid (their default) that need CAP_SYS_ADMIN for
    any perf event; tracepoint, kprobe, uprobe and USDT programs attach
    through one. (A mainline kernel treats 3 as 2: the caller asks only
    after a refusal.)"""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            level = int(f.read())
    except (OSError, ValueError):
        return None
    if level <= 2 or effective_caps() >> CAP_SYS_ADMIN & 1:
        return None
    return (f"kernel.perf_event_paranoid is {level}, which on Debian and Ubuntu kernels opens perf "
            "events (tracepoint, kprobe, uprobe and USDT attachment) only to CAP_SYS_ADMIN: run as "
            "full root, or set the sysctl to 2")


def require_privileges() -> None:
    if not has_bpf_privileges():
        raise BPFPermissionError(f"loading BPF programs needs {PRIVILEGES}: run it with sudo",
                                 errno=E.EPERM)


# Where packages put minimal BTF files for kernels without /sys/kernel/btf/vmlinux
# (`bpfkit build --min-btf` for each kernel named at packaging time), as RELEASE.btf.
SHIPPED_BTF_DIRS = ("/usr/lib/bpfkit/btf", os.path.join(os.path.dirname(__file__), "..", "..", "btf"))


def shipped_btf() -> str | None:
    """The BTF file a package shipped for this kernel (uname -r), if any:
    what libbpf-tools does with BTFHub archives. $BPFKIT_BTF_DIR comes first."""
    release = os.uname().release
    dirs = [d for d in (os.environ.get("BPFKIT_BTF_DIR"),) if d] + list(SHIPPED_BTF_DIRS)
    for d in dirs:
        path = os.path.join(d, f"{release}.btf")
        if os.path.isfile(path):
            return os.path.normpath(path)
    return None


def require_btf(custom_path: str | None = None) -> None:
    if custom_path:
        if not os.path.isfile(custom_path):
            raise BPFKernelFeatureError(f"BTF file {custom_path} does not exist")
        return
    if not os.path.exists(VMLINUX_BTF):
        raise BPFKernelFeatureError(
            f"this kernel has no BTF ({VMLINUX_BTF} is missing; it needs "
            "CONFIG_DEBUG_INFO_BTF=y): use a kernel with BTF, or pass a BTF file "
            f"for it (btf_custom_path=..., or {SHIPPED_BTF_DIRS[0]}/{kernel_release()}.btf)")


def kernel_release() -> str:
    return os.uname().release


def kernel_version() -> tuple[int, int]:
    """(major, minor) of the running kernel, from uname ("6.1.0-18-amd64" ->
    (6, 1)); (0, 0) when the release does not start with numbers."""
    parts = kernel_release().split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 0, 0


def lockdown_mode() -> str | None:
    """The active lockdown mode ('none', 'integrity', 'confidentiality') or None."""
    try:
        with open("/sys/kernel/security/lockdown") as f:
            text = f.read()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def _is_mounted(path: str, fstype: str) -> bool:
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[1] == path and parts[2] == fstype:
                return True
    return False


def _tracefs_at(path: str) -> str:
    """'ok' (readable), 'denied' (there, not readable by us) or 'missing'."""
    try:
        os.stat(os.path.join(path, "events"))
    except PermissionError:
        return "denied"
    except OSError:
        return "missing"
    events = os.path.join(path, "events")  # effective ids: capabilities count, as for open()
    return "ok" if os.access(events, os.R_OK | os.X_OK, effective_ids=True) else "denied"


def tracefs_path() -> str | None:
    """Where tracefs is readable now, if anywhere (libbpf looks in these two)."""
    for path in (DEBUGFS_TRACING, TRACEFS):
        if _tracefs_at(path) == "ok":
            return path
    return None


# Where tracefs was found readable: asked before each tracepoint hook is
# chosen and attached (14 times for fileopen), answered by two stat()s and an
# access() each. Nothing of ours unmounts it; a tracefs gone under a running
# process makes libbpf's attach fail with its own error, and a tracepoint
# not found under it looks again (features.tracepoint_exists).
_readable_tracefs: list[str] = []


def forget() -> None:
    """Drop what was found: tracefs went away, or a test changed what the process sees."""
    _readable_tracefs.clear()


def ensure_tracefs() -> tuple[str, bool]:
    """Mount tracefs at /sys/kernel/tracing when it is missing.

    Returns (path, mounted_now). Tracepoint attachment needs it: libbpf reads
    each tracepoint's id from tracefs. A tracefs that is there but closed to
    this process (mode 0700 for a user with CAP_BPF) is a permission problem,
    and said as one.
    """
    if _readable_tracefs:
        return _readable_tracefs[0], False
    states = {path: _tracefs_at(path) for path in (DEBUGFS_TRACING, TRACEFS)}
    for path, state in states.items():
        if state == "ok":
            _readable_tracefs.append(path)
            return path, False
    if "denied" in states.values() or _is_mounted(TRACEFS, "tracefs"):
        raise BPFPermissionError(
            f"tracefs ({TRACEFS}) is not readable by this process: tracepoint hooks need "
            f"{PRIVILEGES}", errno=E.EACCES)
    try:
        libbpf.mount("tracefs", TRACEFS, "tracefs")
    except OSError as exc:
        if exc.errno == E.EPERM:
            raise BPFPermissionError(
                f"tracefs is not mounted and mounting it at {TRACEFS} needs root (CAP_SYS_ADMIN): "
                f"run `mount -t tracefs tracefs {TRACEFS}` as root", errno=exc.errno) from exc
        raise BPFKernelFeatureError(
            f"tracefs is not mounted and mounting it at {TRACEFS} failed "
            f"({exc.strerror}): run `mount -t tracefs tracefs {TRACEFS}` as root", errno=exc.errno) from exc
    return TRACEFS, True


def ensure_bpffs() -> str:
    if not _is_mounted(BPFFS, "bpf"):
        try:
            libbpf.mount("bpf", BPFFS, "bpf")
        except OSError as exc:
            raise BPFKernelFeatureError(
                f"bpffs is not mounted at {BPFFS} and mounting it failed ({exc.strerror})") from exc
    return BPFFS


def possible_cpus() -> int:
    """CPUs a per-CPU map holds a value for (libbpf's count of possible CPUs)."""
    n = libbpf.lib.libbpf_num_possible_cpus()
    if n < 0:
        raise BPFError(f"cannot count possible CPUs: {libbpf.strerror(-n)}", errno=-n)
    return n


def online_cpus() -> list[int]:
    """CPU numbers from /sys/devices/system/cpu/online ("0-3,6")."""
    with open("/sys/devices/system/cpu/online") as f:
        text = f.read().strip()
    cpus: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus
