"""`bpfkit doctor`: what this kernel offers, one line each."""

from __future__ import annotations

import os
import platform

from .core.kernel import features, libbpf, system
from .core.kernel.errors import BPFError
from .core.kernel.uapi import MapType
from .probes import probe_all

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verbose", "-v", action="store_true", help="say why a kind is unavailable")


def _line(key: str, value: str) -> None:
    print(f"{key:<12} {value}", flush=True)


def run(args: argparse.Namespace) -> int:
    system.require_privileges()
    _line("kernel", f"{system.kernel_release()} ({platform.machine()})")
    missing = libbpf.lacks()
    _line("libbpf", "{}.{} ({})".format(*libbpf.VERSION, libbpf.path())
          + (f"; lacks {', '.join(missing)}" if missing else ""))
    btf = system.VMLINUX_BTF
    if os.path.exists(btf):
        _line("btf", f"yes ({btf}, {os.path.getsize(btf) / 2**20:.1f} MiB)")
    else:
        _line("btf", f"no ({btf} missing: CO-RE programs cannot load; need CONFIG_DEBUG_INFO_BTF=y)")
    mode = system.lockdown_mode()
    _line("lockdown", mode if mode else "not active (no lockdown LSM)")
    tracefs_error = None
    try:
        path, mounted = system.ensure_tracefs()
        _line("tracefs", f"{path}" + (" (was missing: mounted it now)" if mounted else ""))
    except BPFError as exc:
        tracefs_error = str(exc)
        _line("tracefs", f"no: {exc}")
    # Asked of the kernel itself (the loader trusts uname from 5.8 on): doctor is
    # where a surprise should show.
    _line("ringbuf", "yes" if features.map_type_supported(MapType.RINGBUF)
          else "no: events go through perf buffers")
    _line("bpf lsm", "active" if features.bpf_lsm_active() else "not active")
    for probe in probe_all():
        if probe.ok:
            note = f" (but hook fallbacks would skip it: {probe.predicted})" if probe.predicted else ""
            _line(probe.kind, "yes" + note)
        elif tracefs_error and probe.detail == tracefs_error:
            _line(probe.kind, "no: needs tracefs (see above)")
        else:
            _line(probe.kind, f"no: {probe.detail or 'not available'}")
    return 0
