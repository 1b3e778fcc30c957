"""Facts about the running kernel and process: privileges, BTF, tracefs,
bpffs, CPUs. What the kernel can *run* (hooks, map kinds) is features.py's."""

from __future__ import annotations

import os

from . import libbpf
from .errors import BPFError, BPFKernelFeatureError, BPFPermissionError

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
TRACEFS = "/sys/kernel/tracing"
DEBUGFS_TRACING = "/sys/kernel/debug/tracing"
BPFFS = "/sys/fs/bpf"

CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 21, 38, 39


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


def require_privileges() -> None:
    if not has_bpf_privileges():
        raise BPFPermissionError(
            "loading BPF programs needs root (or CAP_BPF and CAP_PERFMON): "
            "run it with sudo")


def require_btf(custom_path: str | None = None) -> None:
    if custom_path:
        if not os.path.isfile(custom_path):
            raise BPFKernelFeatureError(f"BTF file {custom_path} does not exist")
        return
    if not os.path.exists(VMLINUX_BTF):
        raise BPFKernelFeatureError(
            f"this kernel has no BTF ({VMLINUX_BTF} is missing; it needs "
            "CONFIG_DEBUG_INFO_BTF=y): use a kernel with BTF, or pass a BTF file "
            "for it (btf_custom_path=...)")


def kernel_release() -> str:
    return os.uname().release


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


def tracefs_path() -> str | None:
    """Where tracefs is reachable now, if anywhere (libbpf looks in these two)."""
    for path in (DEBUGFS_TRACING, TRACEFS):
        if os.path.isdir(os.path.join(path, "events")):
            return path
    return None


def ensure_tracefs() -> tuple[str, bool]:
    """Mount tracefs at /sys/kernel/tracing when it is missing.

    Returns (path, mounted_now). Tracepoint attachment needs it: libbpf reads
    each tracepoint's id from tracefs.
    """
    found = tracefs_path()
    if found:
        return found, False
    try:
        libbpf.mount("tracefs", TRACEFS, "tracefs")
    except OSError as exc:
        raise BPFKernelFeatureError(
            f"tracefs is not mounted and mounting it at {TRACEFS} failed "
            f"({exc.strerror}): run `mount -t tracefs tracefs {TRACEFS}` as root") from exc
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
