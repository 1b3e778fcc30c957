"""Facts about the running kernel and process: privileges, BTF, tracefs."""

from __future__ import annotations

import os
from pathlib import Path

from . import libbpf
from .errors import BPFKernelFeatureError, BPFPermissionError

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
TRACEFS = Path("/sys/kernel/tracing")
DEBUGFS_TRACING = Path("/sys/kernel/debug/tracing")
BPFFS = Path("/sys/fs/bpf")

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
        if not Path(custom_path).is_file():
            raise BPFKernelFeatureError(f"BTF file {custom_path} does not exist")
        return
    if not VMLINUX_BTF.exists():
        raise BPFKernelFeatureError(
            f"this kernel has no BTF ({VMLINUX_BTF} is missing; it needs "
            "CONFIG_DEBUG_INFO_BTF=y): use a kernel with BTF, or pass a BTF file "
            "for it (btf_custom_path=...)")


def kernel_release() -> str:
    return os.uname().release


def lockdown_mode() -> str | None:
    """The active lockdown mode ('none', 'integrity', 'confidentiality') or None."""
    try:
        text = Path("/sys/kernel/security/lockdown").read_text()
    except OSError:
        return None
    for word in text.split():
        if word.startswith("["):
            return word.strip("[]")
    return None


def _is_mounted(path: Path, fstype: str) -> bool:
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[1] == str(path) and parts[2] == fstype:
                return True
    return False


def tracefs_path() -> Path | None:
    """Where tracefs is reachable now, if anywhere (libbpf looks in these two)."""
    if (DEBUGFS_TRACING / "events").is_dir():
        return DEBUGFS_TRACING
    if (TRACEFS / "events").is_dir():
        return TRACEFS
    return None


def ensure_tracefs() -> tuple[Path, bool]:
    """Mount tracefs at /sys/kernel/tracing when it is missing.

    Returns (path, mounted_now). Tracepoint attachment needs it: libbpf reads
    each tracepoint's id from tracefs.
    """
    found = tracefs_path()
    if found:
        return found, False
    try:
        libbpf.mount("tracefs", str(TRACEFS), "tracefs")
    except OSError as exc:
        raise BPFKernelFeatureError(
            f"tracefs is not mounted and mounting it at {TRACEFS} failed "
            f"({exc.strerror}): run `mount -t tracefs tracefs {TRACEFS}` as root") from exc
    return TRACEFS, True


def ensure_bpffs() -> Path:
    if not _is_mounted(BPFFS, "bpf"):
        try:
            libbpf.mount("bpf", str(BPFFS), "bpf")
        except OSError as exc:
            raise BPFKernelFeatureError(
                f"bpffs is not mounted at {BPFFS} and mounting it failed ({exc.strerror})") from exc
    return BPFFS


def kprobes_available() -> bool:
    return Path("/sys/bus/event_source/devices/kprobe/type").exists() or (
        (tracefs_path() or TRACEFS) / "kprobe_events").exists()
