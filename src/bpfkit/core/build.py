"""Compile .bpf.c files the way bpfkit builds its own: clang CO-RE, stripped DWARF, BTF kept.

This runs at build/install time only; loading an object never needs clang.

Outputs are written the careful way: compiled to a private temporary file in
the target's directory and renamed over the target only when that is a
regular file or nothing. A device node, a directory or a symlink at -o is
refused (`-o /dev/null` must not replace /dev/null with a file).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

from .kernel.errors import BPFError
from .kernel.system import VMLINUX_BTF

INCLUDE_DIR = Path(__file__).resolve().parent.parent / "include"
_ARCH = {"x86_64": "x86", "aarch64": "arm64", "arm64": "arm64", "ppc64le": "powerpc",
         "s390x": "s390", "riscv64": "riscv", "loongarch64": "loongarch", "armv7l": "arm"}
CLANG_VERSIONS = range(21, 13, -1)  # newest first: a newer clang makes code old verifiers take


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


def toolchain() -> tuple[str, str]:
    """(clang, llvm-strip): $CLANG / $LLVM_STRIP when set, else the newest
    versioned clang installed (clang-19 before a plain clang 14), with the
    llvm-strip of the same version when there is one."""
    wanted = os.environ.get("CLANG")
    clang = _tool(wanted) if wanted else _tool(*(f"clang-{v}" for v in CLANG_VERSIONS), "clang")
    strip = os.environ.get("LLVM_STRIP")
    if strip:
        return clang, _tool(strip)
    version = Path(clang).name.removeprefix("clang").lstrip("-")
    names = [f"llvm-strip-{version}"] if version.isdigit() else []
    return clang, _tool(*names, "llvm-strip", *(f"llvm-strip-{v}" for v in CLANG_VERSIONS))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bpfkit"


def _mkdir(path: Path, what: str) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        hint = " (set XDG_CACHE_HOME to a writable directory)" if what == "the build cache" else ""
        raise BuildError(f"cannot create {what} at {path}: {exc.strerror}{hint}", errno=exc.errno) from None


def _replaceable(path: Path, what: str) -> None:
    """Refuse to replace anything but a regular file (or nothing)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISREG(st.st_mode):
        return
    kind = ("a symlink" if stat.S_ISLNK(st.st_mode) else "a directory" if stat.S_ISDIR(st.st_mode)
            else "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else "not a regular file")
    raise BuildError(f"{what} {path} is {kind}: refusing to replace it (give a file path)")


def _temp_next_to(path: Path) -> Path:
    """A new private file in ``path``'s directory, to be renamed over it."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise BuildError(f"cannot write in {path.parent}: {exc.strerror}", errno=exc.errno) from None
    os.close(fd)
    return Path(name)


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
    _mkdir(out_dir, "the build cache")
    tmp = _temp_next_to(header)
    try:
        with open(tmp, "wb") as f:
            r = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX_BTF), "format", "c"],
                               stdout=f, stderr=subprocess.PIPE)
        if r.returncode:
            raise BuildError(f"bpftool failed to dump vmlinux BTF: {r.stderr.decode().strip()}")
        os.chmod(tmp, 0o644)
        tmp.replace(header)
    finally:
        tmp.unlink(missing_ok=True)
    return header


def _flags(src: Path, vmlinux_dir: Path, include_dirs: list[Path], defines: list[str],
           cflags: list[str]) -> list[str]:
    multiarch = f"/usr/include/{platform.machine()}-linux-gnu"
    flags = ["-O2", "-g", "-target", "bpf", f"-D__TARGET_ARCH_{target_arch()}",
             "-Wall", "-Wno-unused-function", "-Wno-compare-distinct-pointer-types",
             f"-I{src.parent}", f"-I{INCLUDE_DIR}", f"-I{vmlinux_dir}"]
    flags += [f"-I{d}" for d in include_dirs]
    flags += [f"-D{d}" for d in defines]
    if os.path.isdir(multiarch):
        flags.append(f"-idirafter{multiarch}")
    return flags + list(cflags)


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


def _keeper(src: Path, keep_types: list[str], where: Path) -> Path:
    """A C file that is ``src`` plus one unused global pointer per type: clang
    then keeps those types in BTF, so a program that only ever declares its
    event struct as a local variable (most libbpf-tools do) can be decoded by
    type, with no change to its source."""
    path = where / f"{src.name}.keep.c"
    lines = [f'#include "{src.resolve()}"']
    lines += [f"{t} *__bpfkit_keep_{i} __attribute__((unused));" for i, t in enumerate(keep_types)]
    path.write_text("\n".join(lines) + "\n")
    return path


def build(src: str | Path, out: str | Path | None = None, *, include_dirs: list[Path] | None = None,
          defines: list[str] | None = None, cflags: list[str] | None = None,
          keep_types: list[str] | None = None, force: bool = False,
          verbose: bool = False) -> tuple[Path, bool]:
    """Compile ``src`` to ``out`` (default: next to it, .bpf.o). Returns (out, compiled).
    ``defines``: NAME or NAME=VALUE (-D); ``cflags``: more clang flags (e.g. -mcpu=v3);
    ``keep_types``: C types to keep in BTF ("struct event") though the source
    only uses them locally."""
    src = Path(src)
    if not src.is_file():
        raise BuildError(f"{src}: no such file")
    out = Path(out) if out else src.with_name(src.name.removesuffix(".c") + ".o")
    depfile = out.with_name(out.name + ".d")
    _replaceable(out, "-o")
    _replaceable(depfile, "the depfile")
    clang, strip = toolchain()
    vmlinux_dir = vmlinux_header().parent
    flags = _flags(src, vmlinux_dir, list(include_dirs or []), list(defines or []), list(cflags or []))
    keep_types = list(keep_types or [])
    stamp = hashlib.sha256("\0".join([clang, *flags, *keep_types]).encode()).hexdigest()[:16]
    if not force and _up_to_date(out, depfile, stamp):
        return out, False
    _mkdir(out.parent, "the output directory")
    tmp, tmp_dep = _temp_next_to(out), _temp_next_to(depfile)
    workdir = tempfile.TemporaryDirectory(prefix="bpfkit-keep-") if keep_types else None
    try:
        unit = _keeper(src, keep_types, Path(workdir.name)) if workdir else src
        cmd = [clang, *flags, "-MD", "-MF", str(tmp_dep), "-MT", str(out), "-c", str(unit), "-o", str(tmp)]
        if verbose:
            print(" ".join(cmd), file=sys.stderr)
        if subprocess.run(cmd).returncode:
            raise BuildError(f"clang failed to compile {src}")
        # DWARF is only needed to produce BTF; strip it (libbpf-tools does the same).
        if subprocess.run([strip, "-g", str(tmp)]).returncode:
            raise BuildError(f"llvm-strip failed on {src}'s object")
        deps = tmp_dep.read_text()
        if unit != src:  # the keeper file is gone after the build: name the real source
            deps = deps.replace(str(unit), str(src.resolve()))
        tmp_dep.write_text(f"{deps}\n# bpfkit {stamp}\n")
        os.chmod(tmp, 0o644)
        os.chmod(tmp_dep, 0o644)
        tmp.replace(out)
        tmp_dep.replace(depfile)
    except OSError as exc:
        raise BuildError(f"cannot write {out}: {exc.strerror}", errno=exc.errno) from None
    finally:
        tmp.unlink(missing_ok=True)
        tmp_dep.unlink(missing_ok=True)
        if workdir is not None:
            workdir.cleanup()
    return out, True


def link(objects: list[str | Path], out: str | Path) -> Path:
    """Link several BPF objects into one (bpftool gen object), as libbpf's
    static linker does for a program split over several .bpf.c files."""
    out = Path(out)
    _replaceable(out, "-o")
    bpftool = _tool("bpftool")
    tmp = _temp_next_to(out)
    try:
        r = subprocess.run([bpftool, "gen", "object", str(tmp), *map(str, objects)],
                           capture_output=True, text=True)
        if r.returncode:
            detail = (r.stderr.strip().splitlines() or ["failed"])[-1]
            raise BuildError(f"bpftool gen object: {detail}")
        os.chmod(tmp, 0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def min_core_btf(obj: str | Path, out: str | Path | None = None, *,
                 vmlinux_btf: str | Path = VMLINUX_BTF) -> Path:
    """Write the part of ``vmlinux_btf`` that ``obj``'s CO-RE relocations use
    (bpftool gen min_core_btf): a few KB to ship for kernels without
    /sys/kernel/btf/vmlinux, loaded with BPFObject.open(..., btf_custom_path=)."""
    obj = Path(obj)
    out = Path(out) if out else obj.with_suffix(".btf")
    _replaceable(out, "--min-btf")
    if not Path(vmlinux_btf).is_file():
        raise BuildError(f"{vmlinux_btf}: no such BTF file (the target kernel's vmlinux BTF, "
                         "e.g. from /sys/kernel/btf/vmlinux or BTFHub)")
    bpftool = _tool("bpftool")
    tmp = _temp_next_to(out)
    try:
        r = subprocess.run([bpftool, "gen", "min_core_btf", str(vmlinux_btf), str(tmp), str(obj)],
                           capture_output=True, text=True)
        if r.returncode:
            detail = (r.stderr.strip().splitlines() or ["failed"])[-1]
            raise BuildError(f"bpftool gen min_core_btf for {obj}: {detail}")
        os.chmod(tmp, 0o644)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
