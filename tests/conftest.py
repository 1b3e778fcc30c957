"""Shared fixtures. Kernel tests load real programs: they need root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bpfkit.core.build import build

ROOT = Path(__file__).resolve().parent.parent
BPF_DIR = Path(__file__).resolve().parent / "bpf"
BPFKIT = [sys.executable, "-m", "bpfkit"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for mark in item.iter_markers("needs"):
            missing = [f for f in mark.args if not kernel_has(f)]
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(missing)}: this kernel lacks "
                                                 "it (make test-kernels runs it on Debian's stock kernel)"))
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="loads BPF programs: run as root")
    for item in items:
        if "kernel" in item.keywords:
            item.add_marker(skip)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "kernel: loads BPF programs into the running kernel")
    config.addinivalue_line("markers", "needs(*features): runs only where the kernel offers them "
                                       "(kprobe, fentry, fexit, lsm, wireguard)")
    config.addinivalue_line("markers", "lane: one run of a monitor, in CI's second-kernel lane "
                                       "(with every needs test: -m 'needs or lane')")


@pytest.fixture(scope="session")
def bpf_obj():
    """Path of a test program's object, compiled on first use (and only when changed)."""

    def get(name: str) -> Path:
        out, _ = build(BPF_DIR / f"{name}.bpf.c")
        return out

    return get


def run_cli(*args: str, check: bool = False, **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run([*BPFKIT, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if check and r.returncode:
        raise AssertionError(f"bpfkit {' '.join(args)} -> {r.returncode}\n{r.stderr}")
    return r


def unescape(text: str) -> bytes:
    """What the README says a reader does to get the original bytes back."""
    out, i = bytearray(), 0
    named = {"n": b"\n", "r": b"\r", "t": b"\t", "\\": b"\\"}
    while i < len(text):
        c = text[i]
        if c != "\\":
            out += c.encode()
            i += 1
        elif text[i + 1] in named:
            out += named[text[i + 1]]
            i += 2
        elif text[i + 1] == "x":
            out.append(int(text[i + 2:i + 4], 16))
            i += 4
        else:
            out += chr(int(text[i + 2:i + 6], 16)).encode()
            i += 6
    return bytes(out)


_HAS: dict[str, bool] = {}


def _module_loadable(name: str) -> bool:
    """modprobe -n: the module could be loaded (a machine without kmod cannot load any)."""
    modprobe = shutil.which("modprobe", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if modprobe is None:
        return False
    return subprocess.run([modprobe, "-n", name], capture_output=True).returncode == 0


def kernel_has(feature: str) -> bool:
    """Whether this kernel offers ``feature``, as the loader decides it
    (bpfkit.core.kernel.features): kprobe, fentry, fexit, lsm, wireguard."""
    if feature not in _HAS:
        from bpfkit.core.kernel import features

        probes = {
            "kprobe": lambda: features.kprobe_refusal("do_sys_openat2") is None,
            "fentry": lambda: features.trampoline_refusal("fentry", "do_unlinkat") is None,
            "fexit": lambda: features.trampoline_refusal("fexit", "do_unlinkat") is None,
            "lsm": lambda: features.trampoline_refusal("lsm", "file_open") is None,
            "wireguard": lambda: os.path.isdir("/sys/module/wireguard") or _module_loadable("wireguard"),
        }
        _HAS[feature] = os.geteuid() == 0 and probes[feature]()
    return _HAS[feature]


def needs(*wanted: str) -> pytest.MarkDecorator:
    """Run only where the kernel offers every feature named; elsewhere skip and
    say so (`make test-kernels` runs these on Debian's stock kernel)."""
    return pytest.mark.needs(*wanted)
