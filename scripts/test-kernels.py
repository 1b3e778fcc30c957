#!/usr/bin/env python3
"""Run the kernel-facing tests under other kernels (Debian's stock and backports kernels) in qemu.

The host's own kernel has no kprobes, fentry or BPF LSM; Debian's stock kernel has them all. This
boots each selected kernel with virtme-ng, the host's root filesystem seen copy-on-write, the
repository and /root as writable overlays (guest writes are thrown away), runs the test suite
inside, and reports passed/failed/skipped per kernel from a JUnit file written to a host directory
shared read-write with the guest.

Usage (as root; Python 3.11 stdlib only; works without a tty, e.g. in CI):
    scripts/test-kernels.py --list
    scripts/test-kernels.py                          # every stock kernel found (not the running one)
    scripts/test-kernels.py --kernel 6.1 -- tests/test_hooks.py -x
    scripts/test-kernels.py --kernel 6.12            # fetches Debian's backports kernel when missing
    scripts/test-kernels.py --kernel all --allow-failures
    scripts/test-kernels.py --kernel 6.1 --command '.venv/bin/bpfkit doctor'

What it installs when missing (unless --no-install): Debian packages qemu-system-x86, kmod,
busybox-static and linux-image-amd64 (after `apt-get update`); virtme-ng from PyPI in its own venv
(~/.cache/bpfkit/vng-venv). The stock kernel package is installed into /boot only when this
machine has no boot loader that could pick it up (checked: GRUB, systemd-boot, extlinux, kernel
postinst hooks); otherwise, and always for the backports kernel, the kernel's .deb is downloaded
with apt and only unpacked under ~/.cache/bpfkit/kernels (no dpkg state, no /boot, no initramfs).
The backports suite is derived from the apt sources (same mirror as the release suite) and read
through a private apt configuration: the host's apt sources are never changed.

Acceleration is detected, never configured: KVM when a short trial boot works, else TCG with
`-accel tcg,thread=single` (multi-threaded TCG hangs the guest; see shared/notes/second-kernel.md).
One VM at a time (a lock file), each with a wall-clock timeout, qemu always killed on exit.
In the guest each test phase has its own timeout (--test-timeout, a tiny SIGALRM plugin written
next to the results: a hung test fails and the run goes on).

Results (--results-dir, default /tmp/bpfkit-test-kernels, emptied at each run): per kernel
console.log, junit.xml, progress.log (one line per test: partial results after a timeout),
doctor.txt, lsm.txt, guest.sh, command.txt; report.txt and summary.json for the run. The repository
must be built (`make build`): the guest runs the repository's .venv.

Exit status: 0 all kernels passed; 1 test failures (0 with --allow-failures); 3 a kernel gave no
result (boot failure, timeout before the tests ended, nothing to run); 2 bad usage.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bpfkit"
KERNEL_CACHE = CACHE / "kernels"
VNG_VENV = CACHE / "vng-venv"
VNG_VERSION = "1.42"  # tested; bump deliberately
DEFAULT_RESULTS = Path("/tmp/bpfkit-test-kernels")
LOCK_FILE = Path("/tmp/bpfkit-test-kernels.lock")
DEBS = ("qemu-system-x86", "kmod", "busybox-static")
KERNEL_META = "linux-image-amd64"
TCG_OPTS = "-accel tcg,thread=single"
VM_NAME = "bpfkit-kt"  # guest hostname and qemu -name: how leftovers of a killed run are found
MARK = "@@BPFKIT-KT"  # guest markers on the console: "@@BPFKIT-KT start <uptime>", "... end <rc> <secs>"

# The pytest plugin loaded in the guest: a per-test timeout (pytest-timeout is not a dependency).
# SIGALRM raises inside the test phase, so pytest records a failure and goes on with the next test.
TIMEOUT_PLUGIN = """\
import contextlib
import os
import signal

import pytest

LIMIT = int(os.environ.get("BPFKIT_TEST_TIMEOUT", "0"))


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout(f"timed out after {LIMIT} s (scripts/test-kernels.py --test-timeout)")


@contextlib.contextmanager
def _armed():
    if LIMIT <= 0:
        yield
        return
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


_path = os.environ.get("BPFKIT_PROGRESS")
_progress = open(_path, "a", buffering=1) if _path else None


def pytest_runtest_logstart(nodeid, location):
    if _progress:
        _progress.write(f"start {nodeid}\\n")


def pytest_runtest_logfinish(nodeid, location):
    if _progress:
        _progress.write(f"end {nodeid}\\n")


def pytest_runtest_logreport(report):
    if _progress and (report.when == "call" or report.outcome != "passed"):
        _progress.write(f"{report.when} {report.outcome} {report.nodeid}\\n")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    with _armed():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    with _armed():
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    with _armed():
        return (yield)
"""


def log(msg: str) -> None:
    print(f"test-kernels: {msg}", file=sys.stderr, flush=True)


class Failure(Exception):
    """One clear line for the user; exit status 1."""


# --------------------------------------------------------------------------------------------------
# processes


_live: dict[int, subprocess.Popen[str]] = {}  # every VM we started, by process group


def kill_group(proc: subprocess.Popen[str]) -> None:
    """End a process group we started (vng -> virtme-run -> qemu), TERM first, then KILL."""
    if proc.poll() is None or _group_alive(proc.pid):
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(proc.pid):
                with contextlib.suppress(ChildProcessError):
                    proc.poll()
                time.sleep(0.1)
            if not _group_alive(proc.pid):
                break
    with contextlib.suppress(Exception):
        proc.wait(timeout=5)
    _live.pop(proc.pid, None)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie leader still counts for killpg: look for a live member.
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def kill_strays() -> None:
    """Kill qemu processes left by a run of ours that was killed (qemu -name VM_NAME). Called while
    holding the lock, so no live run of ours owns them."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        names = [b for a, b in itertools.pairwise(cmd) if a == b"-name"]
        if cmd and b"qemu-system" in cmd[0] and any(n.split(b",")[0] == VM_NAME.encode() for n in names):
            log(f"killing stray qemu {d.name}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(d.name), signal.SIGKILL)


def _on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def run(cmd: list[str], check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("text", True)
    return subprocess.run(cmd, check=check, **kw)  # type: ignore[call-overload,no-any-return]


def capture(cmd: list[str]) -> str:
    r = run(cmd, check=False, capture_output=True)
    return r.stdout if r.returncode == 0 else ""


# --------------------------------------------------------------------------------------------------
# kernels


@dataclass(frozen=True)
class Kernel:
    version: str  # uname -r in the guest, e.g. 6.1.0-57-amd64
    image: Path
    origin: str  # "boot" (installed package) or "cache" (unpacked .deb)

    @property
    def series(self) -> tuple[int, int]:
        m = re.match(r"(\d+)\.(\d+)", self.version)
        return (int(m.group(1)), int(m.group(2))) if m else (0, 0)

    @property
    def series_str(self) -> str:
        return f"{self.series[0]}.{self.series[1]}"

    @property
    def sort_key(self) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", self.version))


def find_kernels() -> list[Kernel]:
    """Stock kernels: an image in /boot with its modules, or a .deb unpacked in our cache."""
    found: dict[str, Kernel] = {}
    for img in sorted(Path("/boot").glob("vmlinuz-*")):
        ver = img.name.removeprefix("vmlinuz-")
        if Path("/lib/modules", ver, "modules.order").exists():
            found[ver] = Kernel(ver, img, "boot")
    if KERNEL_CACHE.is_dir():
        for img in sorted(KERNEL_CACHE.glob("*/boot/vmlinuz-*")):
            ver = img.name.removeprefix("vmlinuz-")
            if ver not in found and (img.parent.parent / "lib/modules" / ver).is_dir():
                found[ver] = Kernel(ver, img, "cache")
    return sorted(found.values(), key=lambda k: k.sort_key)


def newest_per_series(kernels: list[Kernel]) -> list[Kernel]:
    best: dict[tuple[int, int], Kernel] = {}
    for k in kernels:
        if k.series not in best or k.sort_key > best[k.series].sort_key:
            best[k.series] = k
    return sorted(best.values(), key=lambda k: k.sort_key)


def select(kernels: list[Kernel], specs: list[str]) -> tuple[list[Kernel], list[str]]:
    """Kernels matching the specs (6.1, 6.12, all, an exact version or an image path), and the misses."""
    running = os.uname().release
    chosen: list[Kernel] = []
    missing: list[str] = []
    for spec in specs:
        if spec == "all":
            hits = newest_per_series([k for k in kernels if k.version != running])
        elif re.fullmatch(r"\d+\.\d+", spec):
            hits = newest_per_series([k for k in kernels if k.series_str == spec])
        elif Path(spec).name.startswith("vmlinuz-") and Path(spec).is_file():
            img = Path(spec).resolve()
            hits = [Kernel(img.name.removeprefix("vmlinuz-"), img, "path")]
        else:
            hits = [k for k in kernels if spec == k.version]
        if not hits:
            missing.append(spec)
        chosen += [k for k in hits if k not in chosen]
    return chosen, missing


# --------------------------------------------------------------------------------------------------
# installing


def deb_installed(pkg: str) -> bool:
    return capture(["dpkg-query", "-W", "-f=${Status}", pkg]).endswith("installed")


_apt_updated = False


def apt_update() -> None:
    global _apt_updated
    if not _apt_updated:
        log("apt-get update")
        run(["apt-get", "-q", "-o", "DPkg::Lock::Timeout=600", "update"], stdout=subprocess.DEVNULL)
        _apt_updated = True


def apt_install(pkgs: list[str]) -> None:
    apt_update()
    log(f"apt-get install {' '.join(pkgs)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600"]
    run([*cmd, *pkgs], env=env, stdout=subprocess.DEVNULL)


def ensure_tools() -> None:
    missing = [p for p in DEBS if not deb_installed(p)]
    if missing:
        apt_install(missing)


def ensure_vng() -> Path:
    vng = VNG_VENV / "bin" / "vng"
    if vng.exists():
        r = run([str(vng), "--version"], check=False, capture_output=True)
        if r.returncode == 0 and VNG_VERSION in r.stdout + r.stderr:
            return vng
    log(f"installing virtme-ng {VNG_VERSION} into {VNG_VENV}")
    if run([sys.executable, "-c", "import ensurepip, venv"], check=False).returncode:
        apt_install(["python3-venv"])
        py = "/usr/bin/python3"
    else:
        py = sys.executable
    run([py, "-m", "venv", "--clear", str(VNG_VENV)])
    pip = [str(VNG_VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check"]
    run([*pip, f"virtme-ng=={VNG_VERSION}"])
    return vng


def boot_loaders() -> list[str]:
    """Boot loaders that a kernel package's hooks could make boot the new kernel by default."""
    found = []
    if any(Path(p).exists() for p in ("/etc/default/grub", "/boot/grub/grub.cfg", "/boot/grub2/grub.cfg")):
        found.append("GRUB")
    elif shutil.which("update-grub") or Path("/etc/kernel/postinst.d/zz-update-grub").exists():
        found.append("GRUB (update-grub)")
    if (
        any(Path(p, "loader").is_dir() for p in ("/boot", "/boot/efi", "/efi"))
        or Path("/etc/kernel/postinst.d/zz-systemd-boot").exists()
    ):
        found.append("systemd-boot")
    if Path("/boot/extlinux").is_dir() or Path("/etc/kernel/postinst.d/zz-extlinux").exists():
        found.append("extlinux")
    return found


@dataclass
class AptSource:
    uri: str
    suite: str
    signed_by: str | None


def apt_sources() -> list[AptSource]:
    """deb entries from /etc/apt/sources.list(.d), both one-line and deb822 formats."""
    out: list[AptSource] = []
    etc = Path("/etc/apt")
    files = [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            line = line.split("#", 1)[0].strip()
            m = re.match(r"deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                opts = dict(o.split("=", 1) for o in (m.group(1) or "").split() if "=" in o)
                out.append(AptSource(m.group(2), m.group(3), opts.get("signed-by")))
    for f in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[0].isspace():
                    continue
                key, val = line.split(":", 1)
                fields[key.strip().lower()] = val.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes") == "no":
                continue
            signed = fields.get("signed-by")
            signed = signed if signed and signed.startswith("/") else None
            for uri in fields.get("uris", "").split():
                out += [AptSource(uri, s, signed) for s in fields.get("suites", "").split()]
    return out


def codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return ""


def backports_source() -> AptSource | None:
    """The backports suite: configured already, or on the mirror that serves the release suite."""
    name = codename()
    if not name:
        return None
    sources = apt_sources()
    for s in sources:
        if s.suite == f"{name}-backports":
            return s
    for s in sources:
        if s.suite == name:
            return AptSource(s.uri, f"{name}-backports", s.signed_by)
    return None


class PrivateApt:
    """apt reading one suite through its own sources/lists/cache: the host's apt state is untouched."""

    def __init__(self, src: AptSource, root: Path) -> None:
        self.root = root
        for d in ("lists/partial", "cache/archives/partial", "parts"):
            (root / d).mkdir(parents=True, exist_ok=True)
        keyring = src.signed_by or "/usr/share/keyrings/debian-archive-keyring.gpg"
        (root / "sources.list").write_text(f"deb [signed-by={keyring}] {src.uri} {src.suite} main\n")
        self.opts = [
            f"-oDir::Etc::SourceList={root}/sources.list",
            f"-oDir::Etc::SourceParts={root}/parts",
            f"-oDir::Etc::PreferencesParts={root}/parts",
            f"-oDir::Etc::Preferences={root}/parts/none",
            f"-oDir::State::Lists={root}/lists",
            f"-oDir::Cache={root}/cache",
            "-oAPT::Sandbox::User=root",
        ]

    def update(self) -> None:
        log(f"apt-get update (private: {(self.root / 'sources.list').read_text().strip()})")
        run(["apt-get", "-q", *self.opts, "update"], stdout=subprocess.DEVNULL)


def kernel_package(apt_opts: list[str]) -> str:
    """linux-image-amd64 is a metapackage: the versioned image package it depends on."""
    out = capture(["apt-cache", *apt_opts, "depends", "--important", KERNEL_META])
    for m in re.finditer(r"Depends:\s*(linux-image-\S+)", out):
        if not m.group(1).endswith("-dbg"):
            return m.group(1)
    raise Failure(f"apt knows no {KERNEL_META} (apt-cache depends printed nothing useful)")


def unpack_kernel(apt_opts: list[str], label: str) -> str:
    """Download the kernel's .deb and unpack it under the cache: nothing installed, /boot untouched."""
    pkg = kernel_package(apt_opts)
    ver = pkg.removeprefix("linux-image-")
    dest = KERNEL_CACHE / ver
    if (dest / "boot" / f"vmlinuz-{ver}").exists():
        return ver
    KERNEL_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=KERNEL_CACHE) as tmp:
        log(f"downloading {pkg} ({label}) and unpacking it into {dest}")
        cmd = ["apt-get", "-q", "-oAPT::Sandbox::User=root", *apt_opts, "download", pkg]
        run(cmd, cwd=tmp, stdout=subprocess.DEVNULL)
        debs = list(Path(tmp).glob("*.deb"))
        if len(debs) != 1:
            raise Failure(f"apt-get download {pkg} left {len(debs)} .deb files")
        deb = debs[0]
        root = Path(tmp) / "root"
        run(["dpkg-deb", "-x", str(deb), str(root)])
        if not (root / "lib").exists() and (root / "usr/lib/modules").is_dir():
            (root / "lib").symlink_to("usr/lib")  # virtme looks for <root>/lib/modules
        run(["depmod", "-b", str(root), ver], check=False)
        if dest.exists():
            shutil.rmtree(dest)
        root.rename(dest)
    return ver


def ensure_stock_kernel() -> None:
    loaders = boot_loaders()
    if loaders:
        log(f"boot loader found ({', '.join(loaders)}): the stock kernel is unpacked, not installed")
        apt_update()
        unpack_kernel([], "stock")
    else:
        log(
            "no boot loader on this machine (its kernel is booted directly by the hypervisor), so "
            "installing a kernel into /boot cannot change what it boots"
        )
        apt_install([KERNEL_META])


def ensure_backports_kernel() -> bool:
    src = backports_source()
    if src is None:
        log("no Debian release suite in the apt sources: cannot derive a backports suite")
        return False
    apt = PrivateApt(src, CACHE / f"apt-{src.suite}")
    try:
        apt.update()
        ver = unpack_kernel(apt.opts, src.suite)
    except (subprocess.CalledProcessError, Failure) as e:
        log(f"could not fetch the kernel from {src.suite}: {e}")
        return False
    (KERNEL_CACHE / "backports.version").write_text(ver + "\n")
    return True


def stock_series() -> str | None:
    """The series of the kernel the release suite's linux-image-amd64 installs (e.g. 6.1). Reads apt's
    lists as they are, and runs `apt-get update` only when they do not know the package."""
    for attempt in range(2):
        if attempt:
            apt_update()
        with contextlib.suppress(Failure):
            m = re.match(r"linux-image-(\d+\.\d+)", kernel_package([]))
            return m.group(1) if m else None
    return None


def ensure_kernels(specs: list[str], backports: bool) -> None:
    """Fetch the stock and/or backports kernel when the selection needs one that is not here."""
    running = os.uname().release
    kernels = find_kernels()
    series = {k.series_str for k in kernels}
    want_stock = want_bp = False
    if specs == ["default"]:
        want_stock = not [k for k in kernels if k.version != running]
    if "all" in specs:
        want_stock = want_bp = True
    unmatched = select(kernels, [s for s in specs if s not in ("default", "all")])[1]
    if want_stock or unmatched:
        stock = stock_series()
        if stock in unmatched:
            want_stock = True
            unmatched.remove(stock)
        if want_stock and stock in series:
            want_stock = False
    if any(re.fullmatch(r"\d+\.\d+", s) for s in unmatched):
        want_bp = True
    if want_stock:
        ensure_stock_kernel()
    marker = KERNEL_CACHE / "backports.version"
    if want_bp or backports:
        have = marker.read_text().strip() if marker.exists() else ""
        if not have or not (KERNEL_CACHE / have / "boot" / f"vmlinuz-{have}").exists():
            ensure_backports_kernel()


# --------------------------------------------------------------------------------------------------
# booting


@dataclass
class Result:
    kernel: Kernel
    accel: str = ""
    status: str = "not run"  # passed, failed, timeout, no result
    rc: int | None = None
    boot_s: float | None = None  # host: start of vng to the guest's first line
    test_s: float | None = None  # guest: the command's own time
    total_s: float = 0.0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (test id, first message line)
    probe: dict[str, str] = field(default_factory=dict)
    hooks: dict[str, str] = field(default_factory=dict)  # monitor -> kinds of hook it kept
    tail: list[str] = field(default_factory=list)
    note: str = ""


def vng_command(
    vng: Path, kernel: Kernel, accel: str, args: argparse.Namespace, rwdir: Path, script: str
) -> list[str]:
    cmd = [
        str(vng),
        "--run",
        str(kernel.image),
        "--user",
        "root",
        "-m",
        args.memory,
        "--cpus",
        str(args.cpus),
    ]
    if accel == "tcg":
        cmd += ["--disable-kvm", f"--qemu-opts={TCG_OPTS}"]
    cmd += ["--name", VM_NAME, "--overlay-rwdir=/root", f"--overlay-rwdir={args.repo}", f"--rwdir={rwdir}"]
    return [*cmd, "--", script]


def boot(
    cmd: list[str],
    timeout: float,
    console: Path,
    echo: str | None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[int | None, bool]:
    """Run vng in its own process group; stream its output (a pipe: qemu reopens stdout/stderr) to a
    log file and optionally to stderr. Returns (exit status, timed out)."""
    env = dict(os.environ, PATH=f"{VNG_VENV / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    env.pop("TERM", None)
    with console.open("w", errors="replace") as out:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=env,
            cwd=REPO,
            start_new_session=True,
        )
        _live[proc.pid] = proc

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                out.flush()
                if on_line is not None:
                    on_line(line)
                if echo is not None:
                    sys.stderr.write(f"{echo}{line}")
                    sys.stderr.flush()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            kill_group(proc)
        reader.join(timeout=10)
    return (None if timed_out else proc.returncode), timed_out


def detect_accel(vng: Path, kernel: Kernel, args: argparse.Namespace, workdir: Path) -> str:
    """kvm if a short trial boot under KVM works, else tcg. Never asks the user."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        log("accel: tcg (no usable /dev/kvm)")
        return "tcg"
    if Path("/sys/module/kvm_pvm").exists():
        log("accel: tcg (/dev/kvm is the PVM hypervisor (kvm_pvm), which cannot run a stock kernel)")
        return "tcg"
    probe = argparse.Namespace(**{**vars(args), "memory": "512M", "cpus": 1})
    seen: list[str] = []
    cmd = vng_command(vng, kernel, "kvm", probe, workdir, f"echo {MARK} kvm-ok")
    t0 = time.monotonic()
    rc, _ = boot(cmd, 90, workdir / "kvm-probe.log", None, lambda s: seen.append(s) if MARK in s else None)
    if rc == 0 and seen:
        log(f"accel: kvm (trial boot of {kernel.version} took {time.monotonic() - t0:.1f} s)")
        return "kvm"
    log(f"accel: tcg (KVM trial boot failed: see {workdir / 'kvm-probe.log'})")
    return "tcg"


def guest_script(args: argparse.Namespace, outdir: Path, junit: Path) -> str:
    if args.command:
        test_cmd = args.command
    else:
        paths = args.pytest_args or ["tests"]
        test_cmd = shlex.join(
            [
                ".venv/bin/python",
                "-m",
                "pytest",
                "-q",
                "-ra",
                "-p",
                "no:cacheprovider",
                "-p",
                "bpfkit_kernel_timeout",
                f"--junitxml={junit}",
                *paths,
            ]
        )
    o = shlex.quote(str(outdir))
    lines = [
        "#!/bin/sh",
        f'echo "{MARK} start $(cut -d" " -f1 /proc/uptime) $(uname -r)"',
        f"cd {shlex.quote(str(args.repo))} || exit 99",
        "export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"export BPFKIT_TEST_TIMEOUT={int(args.test_timeout)} PYTHONPATH={o}",
        f"export BPFKIT_JUNIT={shlex.quote(str(junit))} PYTHONUNBUFFERED=1",
        f"export BPFKIT_PROGRESS={o}/progress.log",
        f"cat /sys/kernel/security/lsm > {o}/lsm.txt 2>&1",
    ]
    if "CI" in os.environ:
        lines.insert(4, f"export CI={shlex.quote(os.environ['CI'])}")
    if not args.no_doctor:
        lines.append(f"timeout 300 .venv/bin/bpfkit doctor > {o}/doctor.txt 2>&1")
        # which hooks each monitor keeps on this kernel (--verbose, started and stopped at once)
        monitors = " ".join(shlex.quote(m) for m in MONITORS)
        lines.append(
            f"for t in {monitors}; do set -- $t; timeout 300 .venv/bin/bpfkit \"$@\" --verbose "
            f"--duration 0 2>&1 >/dev/null | grep \"^$1: \"; done > {o}/hooks.txt"
        )
    lines += [
        "t0=$(date +%s.%N)",
        # A backstop: the guest powers itself off even if this script was killed without ending qemu.
        f"timeout -k 30 {int(args.timeout)} sh -c {shlex.quote(test_cmd)}",
        "rc=$?",
        "t1=$(date +%s.%N)",
        f'echo "$rc" > {o}/rc',
        f'echo "{MARK} end $rc $(echo "$t1 - $t0" | awk \'{{print $1 - $3}}\')"',
        "sync",
        "exit $rc",
    ]
    return "\n".join(lines) + "\n"


def parse_junit(path: Path, res: Result) -> bool:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return False
    for case in root.iter("testcase"):
        cls = case.get("classname", "")
        name = case.get("name", "")
        test_id = f"{cls.replace('.', '/')}.py::{name}" if cls.startswith("tests.") else f"{cls}::{name}"
        bad = case.find("failure")
        if bad is not None:
            res.failed += 1
        elif (bad := case.find("error")) is not None:
            res.errors += 1
        if bad is not None:
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            res.failures.append((test_id, msg[0] if msg else ""))
        elif case.find("skipped") is not None:
            res.skipped += 1
        else:
            res.passed += 1
    return True


def parse_progress(path: Path, res: Result) -> None:
    """Partial results from the guest's progress log, for a run that wrote no JUnit file."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return
    running = None
    for line in lines:
        when, _, rest = line.partition(" ")
        if when in ("start", "end"):
            running = rest if when == "start" else None
            continue
        outcome, _, nodeid = rest.partition(" ")
        if outcome == "skipped":
            res.skipped += 1
        elif outcome == "failed":
            res.failures.append((nodeid, f"{when} failed (see console.log)"))
            if when == "call":
                res.failed += 1
            else:
                res.errors += 1
        elif when == "call":
            res.passed += 1
    if lines:
        res.note = "partial results (no JUnit file)" + (f"; was running {running}" if running else "")


# each monitor as run for its hook choices (no ZFS in the guest: snapaudit
# is pointed at another device, which changes nothing about its hooks)
MONITORS = ("fileopen", "fileaudit", "tcptrack", "dnswatch", "snapaudit --device /dev/null")
# --verbose: "TOOL: GROUP: PROG[+PROG] (KIND)[; ... skipped: why]"
HOOK_LINE = re.compile(r"^(\w+): ([\w ]+): (?!none )\S+ \((\w+)\)")


def parse_hooks(text: str) -> dict[str, str]:
    """monitor -> the kinds of hook its groups kept, best first ("lsm+tracepoint")."""
    order = ("lsm", "fentry", "fexit", "kprobe", "kretprobe", "tp_btf", "raw_tp", "tracepoint")
    kinds: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = HOOK_LINE.match(line)
        if m and not m[2].startswith("ring "):
            kinds.setdefault(m[1], set()).add(m[3])
    return {t: "+".join(sorted(k, key=lambda x: order.index(x) if x in order else len(order)))
            for t, k in kinds.items()}


def parse_probe(outdir: Path, res: Result) -> None:
    with contextlib.suppress(OSError):
        res.hooks = parse_hooks((outdir / "hooks.txt").read_text())
    with contextlib.suppress(OSError):
        lsm = (outdir / "lsm.txt").read_text().strip()
        res.probe["lsm"] = "bpf" if "bpf" in lsm.split(",") else "no bpf"
    with contextlib.suppress(OSError):
        for line in (outdir / "doctor.txt").read_text().splitlines():
            parts = line.split(None, 1)
            if len(parts) == 2 and parts[0] in ("kprobe", "fentry"):
                res.probe[parts[0]] = parts[1].split(":", 1)[0].split()[0]


def run_kernel(vng: Path, kernel: Kernel, accel: str, args: argparse.Namespace, results: Path) -> Result:
    res = Result(kernel, accel)
    outdir = results / kernel.version
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    (outdir / "bpfkit_kernel_timeout.py").write_text(TIMEOUT_PLUGIN)
    junit = outdir / "junit.xml"
    script = outdir / "guest.sh"
    script.write_text(guest_script(args, outdir, junit))
    script.chmod(0o755)
    cmd = vng_command(vng, kernel, accel, args, outdir, f"sh {shlex.quote(str(script))}")
    (outdir / "command.txt").write_text(shlex.join(cmd) + "\n")
    how = f"{accel}, {args.memory}, {args.cpus} vCPUs, timeout {args.timeout:.0f} s"
    log(f"{kernel.version}: booting ({how})")

    t0 = time.monotonic()
    tail: list[str] = []

    def on_line(line: str) -> None:
        tail.append(line.rstrip("\n"))
        del tail[:-40]
        if line.startswith(f"{MARK} start") and res.boot_s is None:
            res.boot_s = time.monotonic() - t0
        elif line.startswith(f"{MARK} end"):
            with contextlib.suppress(IndexError, ValueError):
                res.test_s = float(line.split()[3])

    echo = None if args.quiet else f"[{kernel.series_str}] "
    _, timed_out = boot(cmd, args.timeout, outdir / "console.log", echo, on_line)
    res.total_s = time.monotonic() - t0
    res.tail = tail
    with contextlib.suppress(OSError, ValueError):
        res.rc = int((outdir / "rc").read_text())
    parse_probe(outdir, res)
    have_junit = parse_junit(junit, res)
    if not have_junit:
        parse_progress(outdir / "progress.log", res)
    ran = res.passed + res.failed + res.errors + res.skipped
    if timed_out:
        res.status = "timeout"
    elif res.rc is None:
        res.status = "no result"  # the guest never got to the end of its script
    elif have_junit:
        res.status = "failed" if res.failed or res.errors or res.rc != 0 else "passed"
        if res.rc == 5 and not ran:
            res.status = "no tests"
    elif args.command:
        res.status = "passed" if res.rc == 0 else "failed"
    else:
        res.status = "no result"  # pytest wrote no JUnit file (usage error, crash)
    log(f"{kernel.version}: {res.status} in {res.total_s:.0f} s (console: {outdir / 'console.log'})")
    if res.status in ("no result", "timeout"):
        for line in tail[-15:]:
            log(f"  | {line}")
    return res


# --------------------------------------------------------------------------------------------------
# report


def fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f}s"


def report(results: list[Result], outdir: Path) -> str:
    head = (
        "kernel",
        "accel",
        "boot",
        "tests",
        "total",
        "passed",
        "failed",
        "errors",
        "skipped",
        "kprobe",
        "fentry",
        "lsm",
        "result",
    )
    rows = [head]
    for r in results:
        rows.append(
            (
                r.kernel.version,
                r.accel,
                fmt_s(r.boot_s),
                fmt_s(r.test_s),
                fmt_s(r.total_s),
                str(r.passed),
                str(r.failed),
                str(r.errors),
                str(r.skipped),
                r.probe.get("kprobe", "-"),
                r.probe.get("fentry", "-"),
                r.probe.get("lsm", "-"),
                r.status,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    for r in results:
        if r.hooks:
            lines.append(f"{r.kernel.version} hooks kept: "
                         + "; ".join(f"{t} {k}" for t, k in r.hooks.items()))
    for r in results:
        if r.failures or r.note:
            lines.append("")
            lines.append(f"{r.kernel.version}: {len(r.failures)} failed" + (f"; {r.note}" if r.note else ""))
            lines += [f"  {tid}: {msg}"[:300] for tid, msg in r.failures]
    lines.append("")
    files = "console.log, junit.xml, progress.log, doctor.txt, hooks.txt, guest.sh"
    lines.append(f"results: {outdir} (per kernel: {files})")
    text = "\n".join(lines) + "\n"
    (outdir / "report.txt").write_text(text)
    summary = [
        {
            "kernel": r.kernel.version,
            "image": str(r.kernel.image),
            "accel": r.accel,
            "status": r.status,
            "rc": r.rc,
            "boot_s": r.boot_s,
            "test_s": r.test_s,
            "total_s": round(r.total_s, 1),
            "passed": r.passed,
            "failed": r.failed,
            "errors": r.errors,
            "skipped": r.skipped,
            "failures": [{"test": t, "message": m} for t, m in r.failures],
            "probe": r.probe,
            "hooks": r.hooks,
            "note": r.note,
        }
        for r in results
    ]
    (outdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return text


def list_kernels() -> None:
    running = os.uname().release
    kernels = find_kernels()
    print(f"running kernel: {running} (never booted by this script)")
    if not kernels:
        print("no stock kernel found in /boot or the cache")
    for k in kernels:
        note = " (running)" if k.version == running else ""
        print(f"  {k.series_str:6} {k.version:28} {k.origin:5} {k.image}{note}")
    bp = backports_source()
    print(
        f"\n{KERNEL_META} (stock): "
        + ("installed" if deb_installed(KERNEL_META) else "not installed: fetched when a run needs it")
    )
    if bp:
        how = "--kernel all, --kernel <its series> or --backports"
        print(f"backports: {bp.suite} at {bp.uri}: fetched by {how}")
    else:
        print("backports: no Debian release suite in the apt sources")
    loaders = boot_loaders()
    print(f"boot loader: {', '.join(loaders) if loaders else 'none (kernels may be installed into /boot)'}")


# --------------------------------------------------------------------------------------------------


def fresh_results_dir(d: Path) -> bool:
    """Empty the results directory of the last run; refuse to empty a directory that is not ours."""
    stamp = d / ".bpfkit-test-kernels"
    if d.exists() and any(d.iterdir()):
        if not stamp.exists():
            log(f"{d} is not empty and was not made by this script: choose another --results-dir")
            return False
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    stamp.touch()
    return True


@contextlib.contextmanager
def one_vm_at_a_time() -> Iterator[None]:
    with LOCK_FILE.open("w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another test-kernels run holds {LOCK_FILE}: waiting for it")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def parse_args(argv: list[str]) -> argparse.Namespace:
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        description="Run bpfkit's tests under other kernels (qemu + virtme-ng).",
        epilog="Arguments after -- go to pytest (default: tests).",
    )
    p.add_argument("--list", action="store_true", help="list the kernels found and what can be fetched")
    p.add_argument(
        "--kernel",
        action="append",
        default=[],
        metavar="SPEC",
        help="6.1, 6.12, all, an exact version or an image path; repeatable, comma-separated "
        "(default: every stock kernel found, newest per series, except the running one)",
    )
    p.add_argument("--backports", action="store_true", help="fetch the backports kernel even if not selected")
    p.add_argument(
        "--command",
        help="shell command to run in the guest instead of pytest (cwd: the repo; "
        "$BPFKIT_JUNIT names a JUnit file the report reads if written)",
    )
    p.add_argument("--timeout", type=float, default=3600, help="wall-clock seconds per kernel (default 3600)")
    p.add_argument(
        "--test-timeout",
        type=float,
        default=600,
        help="seconds per test phase in the guest, 0 for none (default 600; under TCG the slowest "
        "test that passes took 100-180+ s)",
    )
    p.add_argument(
        "--results-dir",
        type=Path,
        default=DEFAULT_RESULTS,
        help=f"host directory for results, shared read-write with the guest ({DEFAULT_RESULTS})",
    )
    p.add_argument("--repo", type=Path, default=REPO, help="repository to test (default: this script's)")
    p.add_argument("--memory", default="2G")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument("--allow-failures", action="store_true", help="exit 0 even when tests failed")
    p.add_argument("--no-install", action="store_true", help="install nothing; use what is there")
    p.add_argument("--no-doctor", action="store_true", help="skip `bpfkit doctor` in the guest")
    p.add_argument("--quiet", action="store_true", help="do not echo the guest console")
    args = p.parse_args(argv)
    args.pytest_args = extra
    args.kernel = [s for spec in args.kernel for s in spec.split(",") if s]
    args.repo = args.repo.resolve()
    args.results_dir = args.results_dir.resolve()
    if args.results_dir.is_relative_to(args.repo):
        p.error("--results-dir must be outside the repository (the repository is an overlay in the guest)")
    if args.command and extra:
        p.error("arguments after -- go to pytest: not with --command")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.list:
        list_kernels()
        return 0
    if os.geteuid() != 0:
        log("run this as root (it installs packages, loads BPF programs in the guest and uses /dev/kvm)")
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    if not (args.repo / ".venv/bin/python").exists() and not args.command:
        log(f"{args.repo}/.venv is missing: run `make build` first (the guest uses the repo's venv)")
        return 2

    specs = args.kernel or ["default"]
    if args.no_install:
        vng = VNG_VENV / "bin" / "vng"
        if not vng.exists():
            log(f"virtme-ng is not installed ({vng}) and --no-install was given")
            return 2
    else:
        ensure_tools()
        vng = ensure_vng()
        ensure_kernels(specs, args.backports)

    kernels = find_kernels()
    if specs == ["default"]:
        chosen = newest_per_series([k for k in kernels if k.version != os.uname().release])
        missing = [] if chosen else ["(any stock kernel)"]
    else:
        chosen, missing = select(kernels, specs)
    if missing:
        found = ", ".join(k.version for k in kernels) or "none"
        log(f"no kernel matches: {', '.join(missing)} (found: {found})")
        return 3
    log("kernels: " + ", ".join(f"{k.version} ({k.image})" for k in chosen))

    results: list[Result] = []
    try:
        with one_vm_at_a_time():
            if not fresh_results_dir(args.results_dir):
                return 2
            kill_strays()
            accel = detect_accel(vng, chosen[0], args, args.results_dir)
            for k in chosen:
                results.append(run_kernel(vng, k, accel, args, args.results_dir))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        for proc in list(_live.values()):
            kill_group(proc)
        if results:
            print(report(results, args.results_dir), end="")
    broken = [r for r in results if r.status not in ("passed", "failed")]
    failed = [r for r in results if r.status == "failed"]
    total = {k: sum(getattr(r, k) for r in results) for k in ("passed", "failed", "errors", "skipped")}
    print(
        f"kernels: {total['passed']} passed, {total['failed'] + total['errors']} failed, "
        f"{total['skipped']} skipped"
    )
    if broken:
        return 3
    if failed and not args.allow_failures:
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Failure as e:
        log(str(e))
        sys.exit(1)
    except subprocess.CalledProcessError as e:
        log(f"command failed ({e.returncode}): {shlex.join(str(a) for a in e.cmd)}")
        sys.exit(1)
