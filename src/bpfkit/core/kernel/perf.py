"""perf_event_open(2): the perf events BPF uses, for sampling programs
(profile, llcstat: a program attached to a CPU-clock or hardware counter per
CPU) and for perf buffers (a BPF_OUTPUT event per CPU)."""

from __future__ import annotations

import ctypes
import os
import struct

from . import libbpf, system
from .errors import BPFError, error_for

# include/uapi/linux/perf_event.h
PERF_TYPE_HARDWARE, PERF_TYPE_SOFTWARE = 0, 1
PERF_COUNT_SW_CPU_CLOCK, PERF_COUNT_SW_TASK_CLOCK, PERF_COUNT_SW_BPF_OUTPUT = 0, 1, 10
PERF_SAMPLE_RAW = 1 << 10
PERF_FLAG_FD_CLOEXEC = 1 << 3
ATTR_SIZE = 112  # PERF_ATTR_SIZE_VER5
ATTR_FREQ = 1 << 10  # attr flag bits (the u64 after read_format)
ATTR_WATERMARK = 1 << 14
_NR_PERF_EVENT_OPEN = {"x86_64": 298, "aarch64": 241}
_libc = ctypes.CDLL(None, use_errno=True)

# Names a user may give, as perf(1) spells them: (type, config)
EVENTS = {
    "cpu-clock": (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK),
    "task-clock": (PERF_TYPE_SOFTWARE, PERF_COUNT_SW_TASK_CLOCK),
    "cpu-cycles": (PERF_TYPE_HARDWARE, 0), "cycles": (PERF_TYPE_HARDWARE, 0),
    "instructions": (PERF_TYPE_HARDWARE, 1), "cache-references": (PERF_TYPE_HARDWARE, 2),
    "cache-misses": (PERF_TYPE_HARDWARE, 3), "branch-misses": (PERF_TYPE_HARDWARE, 5),
}


def attr(type_: int, config: int, *, sample_period: int = 0, freq: int = 0, sample_type: int = 0,
         wakeup: int = 1, watermark: bool = False) -> bytes:
    """A struct perf_event_attr (version 5 size)."""
    flags = (ATTR_FREQ if freq else 0) | (ATTR_WATERMARK if watermark else 0)
    return struct.pack("<IIQQQQQII", type_, ATTR_SIZE, config, freq or sample_period, sample_type, 0,
                       flags, wakeup, 0).ljust(ATTR_SIZE, b"\0")


def perf_event_open(attr_bytes: bytes, *, pid: int = -1, cpu: int = -1, what: str = "perf event") -> int:
    """The fd of a new perf event (the caller owns it)."""
    nr = _NR_PERF_EVENT_OPEN.get(os.uname().machine)
    if nr is None:
        raise BPFError(f"perf events are not supported on {os.uname().machine} by bpfkit")
    fd = _libc.syscall(nr, attr_bytes, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        hint = " (no such hardware counter here: a VM often has none; try cpu-clock)" if err == 2 else ""
        if err in (1, 13) and (why := system.perf_events_restricted()):  # EPERM, EACCES
            hint = f" ({why})"
        raise error_for(err, f"cannot open the {what} on CPU {cpu}: {libbpf.strerror(err)}{hint}")
    return fd


__all__ = ["EVENTS", "PERF_COUNT_SW_BPF_OUTPUT", "PERF_SAMPLE_RAW", "PERF_TYPE_SOFTWARE", "attr",
           "perf_event_open"]
