"""Compile .bpf.c files the way bpfkit builds its own: clang CO-RE, stripped DWARF, BTF kept.

This runs at build/install time only; loading an object never needs clang.
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from .kernel.errors import BPFError
from .kernel.system import VMLINUX_BTF

INCLUDE_DIR = Path(__file__).resolve().parent.parent / "include"
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "powerpc",
         "s390x": "s390", "riscv64": "riscv", "loongarch64": "loongarch", "armv7l": "arm"}


class BuildError(BPFError):
    pass


def target_arch() -> str:
    m = platform.machine()
    if m not in _ARCH:
        raise BuildError(f"unsupported architecture {m}")
    return _ARCH[m]


def _tool(*names: str) -> str:
    for n in names:
        p = shutil.which(n)
        if p:
            return p
    raise BuildError(f"{names[0]} not found: run `make deps` (or apt-get install clang llvm bpftool)")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bpfkit"


def vmlinux_header(out_dir: Path | None = None) -> Path:
    """vmlinux.h for this kernel, generated once from its BTF with bpftool."""
    release = os.uname().release
    out_dir = out_dir or cache_dir() / release
    header = out_dir / "vmlinux.h"
    if header.is_file() and header.stat().st_size:
        return header
    if not os.path.exists(VMLINUX_BTF):
        raise BuildError(f"cannot generate vmlinux.h: {VMLINUX_BTF} is missing (kernel without BTF)")
    bpftool = _tool("bpftool")
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = header.with_suffix(f".h.{os.getpid()}")
    with open(tmp, "wb") as f:
        r = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX_BTF), "format", "c"],
                           stdout=f, stderr=subprocess.PIPE)
    if r.returncode:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"bpftool failed to dump vmlinux BTF: {r.stderr.decode().strip()}")
    tmp.replace(header)
    return header


def _flags(src: Path, vmlinux_dir: Path, include_dirs: list[Path]) -> list[str]:
    multiarch = f"/usr/include/{platform.machine()}-linux-gnu"
    flags = ["-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{target_arch()}",
             "-Wall", "-Wno-unused-function", "-Wno-compare-distinct-pointer-types",
             f"-I{src.parent}", f"-I{INCLUDE_DIR}", f"-I{vmlinux_dir}"]
    flags += [f"-I{d}" for d in include_dirs]
    if os.path.isdir(multiarch):
        flags.append(f"-idirafter{multiarch}")
    return flags


def _up_to_date(out: Path, depfile: Path, stamp: str) -> bool:
    if not out.is_file() or not depfile.is_file():
        return False
    text = depfile.read_text()
    if f"# bpfkit {stamp}" not in text:
        return False
    deps = text.split(":", 1)[1] if ":" in text else ""
    out_mtime = out.stat().st_mtime_ns
    for dep in deps.replace("\\\n", " ").split():
        if dep.startswith("#"):
            break
        try:
            if os.stat(dep).st_mtime_ns > out_mtime:
                return False
        except FileNotFoundError:
            return False
    return True


def build(src: str | Path, out: str | Path | None = None, *, include_dirs: list[Path] | None = None,
          force: bool = False, verbose: bool = False) -> tuple[Path, bool]:
    """Compile ``src`` to ``out`` (default: next to it, .bpf.o). Returns (out, compiled)."""
    src = Path(src)
    if not src.is_file():
        raise BuildError(f"{src}: no such file")
    out = Path(out) if out else src.with_name(src.name.removesuffix(".c") + ".o")
    depfile = out.with_name(out.name + ".d")
    clang = _tool("clang", "clang-18", "clang-17", "clang-16", "clang-15", "clang-14")
    strip = _tool("llvm-strip", "llvm-strip-18", "llvm-strip-17", "llvm-strip-16",
                  "llvm-strip-15", "llvm-strip-14")
    vmlinux_dir = vmlinux_header().parent
    flags = _flags(src, vmlinux_dir, list(include_dirs or []))
    stamp = hashlib.sha256("\0".join([clang, *flags]).encode()).hexdigest()[:16]
    if not force and _up_to_date(out, depfile, stamp):
        return out, False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    cmd = [clang, *flags, "-MD", "-MF", str(depfile), "-MT", str(out), "-c", str(src), "-o", str(tmp)]
    if verbose:
        print(" ".join(cmd), file=sys.stderr)
    r = subprocess.run(cmd)
    if r.returncode:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"clang failed to compile {src}")
    # DWARF is only needed to produce BTF; strip it (libbpf-tools does the same).
    r = subprocess.run([strip, "-g", str(tmp)])
    if r.returncode:
        tmp.unlink(missing_ok=True)
        raise BuildError(f"llvm-strip failed on {tmp}")
    tmp.replace(out)
    with open(depfile, "a") as f:
        f.write(f"\n# bpfkit {stamp}\n")
    return out, True


def min_core_btf(obj: str | Path, out: str | Path | None = None, *,
                 vmlinux_btf: str | Path = VMLINUX_BTF) -> Path:
    """Write the part of ``vmlinux_btf`` that ``obj``'s CO-RE relocations use
    (bpftool gen min_core_btf): a few KB to ship for kernels without
    /sys/kernel/btf/vmlinux, loaded with BPFObject.open(..., btf_custom_path=)."""
    obj = Path(obj)
    out = Path(out) if out else obj.with_suffix(".btf")
    if not Path(vmlinux_btf).is_file():
        raise BuildError(f"{vmlinux_btf}: no such BTF file (the target kernel's vmlinux BTF, "
                         "e.g. from /sys/kernel/btf/vmlinux or BTFHub)")
    bpftool = _tool("bpftool")
    r = subprocess.run([bpftool, "gen", "min_core_btf", str(vmlinux_btf), str(out), str(obj)],
                       capture_output=True, text=True)
    if r.returncode:
        detail = (r.stderr.strip().splitlines() or ["failed"])[-1]
        raise BuildError(f"bpftool gen min_core_btf for {obj}: {detail}")
    return out
