"""What every port of a libbpf-tools program needs beside its BPF object (their
trace_helpers.c, syscall_helpers.c, errno_helpers.c), as Python:

- ``hist``: histograms printed as libbpf-tools and bpftrace print them, percentiles
- ``ksyms``: kernel symbols (/proc/kallsyms)
- ``usyms``: user-space stack symbolisation (ELF, perf maps; needs pyelftools)
- ``names``: dev_t <-> disk names, syscall, errno and signal names, cgroup ids
- ``pipe``: the trace_pipe reader for bpf_printk output

Every name below is importable from ``bpfkit.trace``; each module is imported on
first use (PEP 562), so ``from bpfkit.trace import errno_name`` costs only names.py.
"""

_WHERE = {
    # hist
    "HIST": "hist", "LOG2": "hist", "Hist": "hist", "Lhist": "hist", "Linear": "hist", "Log2": "hist",
    "add_value": "hist", "hist_lines": "hist", "hist_map_text": "hist", "hist_text": "hist",
    "linear_hist_text": "hist", "log2_hist_text": "hist", "percentile": "hist", "percentiles": "hist",
    "print_hist": "hist", "print_linear_hist": "hist", "print_log2_hist": "hist",
    # ksyms
    "KSym": "ksyms", "KernelSymbols": "ksyms", "kernel_symbols": "ksyms", "ksym": "ksyms",
    # usyms
    "ElfSymbols": "usyms", "Frame": "usyms", "ProcessSymbols": "usyms", "UserSymbols": "usyms",
    "elf_symbols": "usyms", "read_maps": "usyms",
    # names
    "BlockDev": "names", "SyscallTable": "names", "block_devices": "names", "cgroup2_root": "names",
    "cgroup_fd": "names", "cgroup_id": "names", "cgroup_of": "names", "cgroup_path": "names",
    "dev_from_stat": "names", "disk_dev": "names", "disk_name": "names", "errno_name": "names",
    "errno_nr": "names", "kernel_dev": "names", "major_minor": "names", "signal_name": "names",
    "signal_nr": "names", "syscall_name": "names", "syscall_nr": "names", "syscall_table": "names",
    # pipe
    "PRINTK": "pipe", "TraceLine": "pipe", "TracePipe": "pipe", "find_trace_pipe": "pipe",
    "parse_line": "pipe", "trace_lines": "pipe",
}
__all__ = [
    "HIST", "LOG2", "PRINTK", "BlockDev", "ElfSymbols", "Frame", "Hist", "KSym", "KernelSymbols",
    "Lhist", "Linear", "Log2", "ProcessSymbols", "SyscallTable", "TraceLine", "TracePipe",
    "UserSymbols", "add_value", "block_devices", "cgroup2_root", "cgroup_fd", "cgroup_id", "cgroup_of",
    "cgroup_path", "dev_from_stat", "disk_dev", "disk_name", "elf_symbols", "errno_name", "errno_nr",
    "find_trace_pipe", "hist_lines", "hist_map_text", "hist_text", "kernel_dev", "kernel_symbols",
    "ksym", "linear_hist_text", "log2_hist_text", "major_minor", "parse_line", "percentile",
    "percentiles", "print_hist", "print_linear_hist", "print_log2_hist", "read_maps", "signal_name",
    "signal_nr", "syscall_name", "syscall_nr", "syscall_table", "trace_lines",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .hist import (
        HIST,
        LOG2,
        Hist,
        Lhist,
        Linear,
        Log2,
        add_value,
        hist_lines,
        hist_map_text,
        hist_text,
        linear_hist_text,
        log2_hist_text,
        percentile,
        percentiles,
        print_hist,
        print_linear_hist,
        print_log2_hist,
    )
    from .ksyms import KernelSymbols, KSym, kernel_symbols, ksym
    from .names import (
        BlockDev,
        SyscallTable,
        block_devices,
        cgroup2_root,
        cgroup_fd,
        cgroup_id,
        cgroup_of,
        cgroup_path,
        dev_from_stat,
        disk_dev,
        disk_name,
        errno_name,
        errno_nr,
        kernel_dev,
        major_minor,
        signal_name,
        signal_nr,
        syscall_name,
        syscall_nr,
        syscall_table,
    )
    from .pipe import PRINTK, TraceLine, TracePipe, find_trace_pipe, parse_line, trace_lines
    from .usyms import ElfSymbols, Frame, ProcessSymbols, UserSymbols, elf_symbols, read_maps


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bpfkit.trace' has no attribute {name!r}")
    from importlib import import_module  # lazy: PEP 562 loader, see above

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
