"""`bpfkit doctor`: what this kernel offers, one line each."""

from __future__ import annotations

import argparse
import os
import platform

from .core import libbpf, system
from .core.errors import BPFError
from .probes import probe_all


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", "-v", action="store_true", help="say why a kind is unavailable")


def _line(key: str, value: str) -> None:
    print(f"{key:<12} {value}", flush=True)


def run(args: argparse.Namespace) -> int:
    system.require_privileges()
    _line("kernel", f"{system.kernel_release()} ({platform.machine()})")
    _line("libbpf", "{}.{}".format(*libbpf.VERSION))
    btf = system.VMLINUX_BTF
    if os.path.exists(btf):
        _line("btf", f"yes ({btf}, {os.path.getsize(btf) / 2**20:.1f} MiB)")
    else:
        _line("btf", f"no ({btf} missing: CO-RE programs cannot load; need CONFIG_DEBUG_INFO_BTF=y)")
    mode = system.lockdown_mode()
    _line("lockdown", mode if mode else "not active (no lockdown LSM)")
    try:
        path, mounted = system.ensure_tracefs()
        _line("tracefs", f"{path}" + (" (was missing: mounted it now)" if mounted else ""))
    except BPFError as exc:
        _line("tracefs", f"no: {exc}")
    for probe in probe_all():
        if probe.ok:
            _line(probe.kind, "yes")
        else:
            why = probe.detail if args.verbose or probe.detail else "not available"
            _line(probe.kind, f"no: {why}")
    return 0
