"""The .deb, the .rpm and the single-file bpfkit.pyz (scripts/package.py):
their contents and scripts, and the installed files really running: the .deb
installed into a throwaway root with dpkg --root (the host's dpkg database is
never touched), run from there with the host's /usr/bin/python3; the package
seen at its real paths (/usr overlaid in a private mount namespace) for
`service install --dry-run` and for the shipped minimal BTF, with
/sys/kernel/btf hidden under a tmpfs."""

from __future__ import annotations

import itertools
import os
import platform
import select
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "bpfkit"
VMLINUX = Path("/sys/kernel/btf/vmlinux")
RELEASE = os.uname().release
DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
RPM_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(platform.machine(), platform.machine())
SYSTEM_PYTHON = "/usr/bin/python3"  # what the package's /usr/bin/bpfkit runs
HARDENING = ("Type=notify", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
             "PrivateTmp=yes", "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYSLOG",
             "MemoryDenyWriteExecute=yes", "UMask=0077", "Restart=on-failure",
             "ExecReload=/bin/kill -HUP $MAINPID")

root_only = pytest.mark.skipif(os.geteuid() != 0,
                               reason="installs into a root-owned tree, loads BPF: run as root")


def shipped_objects() -> list[str]:
    return sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.bpf.o"))


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "BPFKIT_")) and k not in ("NOTIFY_SOCKET", "VIRTUAL_ENV")}
    return env | extra


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """deb, rpm and zipapp, built once (with minimal BTF for this kernel when it has BTF)."""
    out = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, str(ROOT / "scripts/package.py"), "all", "--out", str(out)]
    if VMLINUX.is_file():
        cmd += ["--btf-kernel", f"{RELEASE}={VMLINUX}"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, f"package.py failed:\n{r.stderr}"
    found = {p.suffix.lstrip("."): p for p in out.iterdir()}
    assert set(found) == {"deb", "rpm", "pyz"}, found
    return found


@pytest.fixture(scope="module")
def installed(dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The .deb installed into a throwaway root; its maintainer scripts run on the
    host against that root (--force-script-chrootless sets DPKG_ROOT)."""
    if os.geteuid() != 0:
        pytest.skip("dpkg --root as another user: run as root")
    root = tmp_path_factory.mktemp("root")
    r = subprocess.run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
                        f"--log={root}.dpkg.log", "-i", str(dist["deb"])], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return root


def in_namespace(root: Path, *cmd: str, hide_btf: bool = False, hide_shipped_btf: bool = False,
                 **kw) -> subprocess.Popen[str]:
    """cmd in a private mount namespace where the installed tree is at its real
    paths (root/usr and root/etc overlaid on /usr and /etc, read-only), optionally
    with /sys/kernel/btf hidden."""
    mounts = [f"mount -t overlay overlay -o lowerdir={root}/{d}:/{d} /{d}" for d in ("usr", "etc")]
    if hide_btf:
        mounts.append("mount -t tmpfs none /sys/kernel/btf")
    if hide_shipped_btf:
        mounts.append("mount -t tmpfs none /usr/lib/bpfkit/btf")
    script = " && ".join(mounts) + ' && exec "$@"'
    unshare = ["unshare", "--mount", "--propagation", "private"]
    return subprocess.Popen([*unshare, "sh", "-c", script, "sh", *cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def popen(cmd: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def run_monitor(start, tmp: Path, trigger) -> tuple[int, str, str]:
    """start(env) a monitor (its READY=1 on $NOTIFY_SOCKET says it is attached), run
    trigger() then, and return (exit code, stdout, stderr) once its --duration ends."""
    sock_path = tmp / "notify.sock"
    sock_path.unlink(missing_ok=True)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(sock_path))
        proc = start(clean_env(NOTIFY_SOCKET=str(sock_path)))
        deadline = time.monotonic() + 30
        ready = b""
        while b"READY=1" not in ready:
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate(timeout=30)
                return proc.returncode if proc.returncode is not None else -1, out, err or "(no READY=1)"
            if select.select([sock], [], [], 0.1)[0]:
                ready += sock.recv(4096)
        trigger()
        out, err = proc.communicate(timeout=30)
        return proc.returncode, out, err


# -- the packages' contents ---------------------------------------------------------------------------
def test_deb_holds_the_objects_units_configs_docs_and_scripts(dist: dict[str, Path], tmp_path: Path) -> None:
    deb = str(dist["deb"])
    fields = {f: subprocess.run(["dpkg-deb", "-f", deb, f], capture_output=True, text=True,
                                check=True).stdout.strip() for f in ("Package", "Architecture", "Depends")}
    assert fields["Package"] == "bpfkit" and fields["Architecture"] == DEB_ARCH
    assert fields["Depends"] == ("python3 (>= 3.11), libbpf1, python3-dnspython, python3-prometheus-client, "
                                 "python3-pyelftools")
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
    entries = {line.split()[-1].lstrip("."): line.split()[0] for line in listing.splitlines()}
    for obj in shipped_objects():
        assert f"/usr/lib/bpfkit/bpfkit/{obj}" in entries, obj
    for path in ("/usr/bin/bpfkit", "/usr/lib/bpfkit/bpfkit/include/bpfkit.bpf.h",
                 "/usr/lib/systemd/system/bpfkit@.service", "/usr/lib/systemd/system/bpfkit-agent.service",
                 "/etc/logrotate.d/bpfkit", "/etc/bpfkit/agent.toml", "/usr/share/doc/bpfkit/README.md",
                 "/usr/share/doc/bpfkit/help/bpfkit.txt", "/usr/share/doc/bpfkit/help/bpfkit-fileaudit.txt",
                 "/usr/share/doc/bpfkit/help/bpfkit-service.txt"):
        assert path in entries, path
    if VMLINUX.is_file():
        assert f"/usr/lib/bpfkit/btf/{RELEASE}.btf" in entries
    assert entries["/usr/bin/bpfkit"] == "-rwxr-xr-x"
    assert entries["/var/log/bpfkit/"] == "drwxr-x---"
    assert entries["/etc/bpfkit/agent.toml"] == "-rw-r-----"
    assert not [p for p in entries if p.endswith(".pyc") or "__pycache__" in p], "bytecode is made at install"
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "-e", deb, str(control)], check=True)
    conffiles = (control / "conffiles").read_text().split()
    assert conffiles == ["/etc/bpfkit/agent.toml", "/etc/logrotate.d/bpfkit"]
    assert "compileall" in (control / "postinst").read_text()
    assert "__pycache__" in (control / "prerm").read_text()
    for script in ("postinst", "prerm", "postrm"):
        text = (control / script).read_text()
        assert "systemctl enable" not in text and "systemctl start" not in text, script
        assert "[ -d /run/systemd/system ]" in text, script


def test_rpm_file_list_and_scripts(dist: dict[str, Path]) -> None:
    if not shutil.which("rpm"):
        pytest.skip("rpm is not installed (Debian package `rpm`; scripts/install-system-deps.sh installs it)")
    rpm = str(dist["rpm"])
    r = subprocess.run(["rpm", "-qlp", "--scripts", rpm], capture_output=True, text=True, check=True)
    files = set(r.stdout.split())
    for obj in shipped_objects():
        assert f"/usr/lib/bpfkit/bpfkit/{obj}" in files, obj
    for path in ("/usr/bin/bpfkit", "/usr/lib/systemd/system/bpfkit@.service",
                 "/usr/lib/systemd/system/bpfkit-agent.service", "/etc/logrotate.d/bpfkit",
                 "/etc/bpfkit/agent.toml", "/var/log/bpfkit", "/usr/share/doc/bpfkit/README.md"):
        assert path in files, path
    scripts = r.stdout.split("scriptlet (using /bin/sh):")
    by_name = {head.strip().splitlines()[-1]: body for head, body in itertools.pairwise(scripts)}
    assert "compileall" in by_name["postinstall"]
    assert "__pycache__" in by_name["preuninstall"]
    assert "postuninstall" in by_name
    arch = subprocess.run(["rpm", "-qp", "--qf", "%{ARCH}", rpm], capture_output=True, text=True, check=True)
    assert arch.stdout == RPM_ARCH
    requires = subprocess.run(["rpm", "-qp", "--requires", rpm], capture_output=True, text=True,
                              check=True).stdout.splitlines()
    for dep in ("python3 >= 3.11", "libbpf", "python3-dns", "python3-prometheus_client",
                "python3-pyelftools"):
        assert dep in requires, dep
    flags = subprocess.run(["rpm", "-qp", "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]", rpm],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    config = sorted(line.split()[1] for line in flags if line.split()[0].startswith("c"))
    assert config == ["/etc/bpfkit/agent.toml", "/etc/logrotate.d/bpfkit"]
    assert all("n" in line.split()[0] for line in flags if line.split()[0].startswith("c")), "noreplace"


# -- the installed .deb ------------------------------------------------------------------------------
def test_dpkg_root_install_compiles_and_leaves_the_host_alone(installed: Path) -> None:
    status = (installed / "var/lib/dpkg/status").read_text()
    assert "Package: bpfkit\nStatus: install ok installed" in status
    assert "Package: bpfkit\n" not in Path("/var/lib/dpkg/status").read_text(), "the host's database changed"
    tag = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; print(sys.implementation.cache_tag)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert (installed / f"usr/lib/bpfkit/bpfkit/__pycache__/cli.{tag}.pyc").is_file(), "postinst compiles"
    assert (installed / f"usr/lib/bpfkit/bpfkit/tools/fileopen/__pycache__/__init__.{tag}.pyc").is_file()
    assert (installed / "var/log/bpfkit").stat().st_mode & 0o777 == 0o750


@root_only
def test_purge_removes_all_but_the_logs(dist: dict[str, Path], tmp_path: Path) -> None:
    """prerm removes the bytecode postinst made, so dpkg can remove every directory it owns."""
    root = tmp_path / "root"
    root.mkdir()
    dpkg = ["dpkg", f"--root={root}", "--force-script-chrootless", f"--log={tmp_path}/dpkg.log"]
    subprocess.run([*dpkg, "--force-depends", "-i", str(dist["deb"])], capture_output=True, check=True)
    (root / "etc/bpfkit/fileopen.env").write_text('BPFKIT_ARGS=""\n')  # as `service install` writes it
    (root / "var/log/bpfkit/fileopen.log").write_text("a line\n")
    r = subprocess.run([*dpkg, "--purge", "bpfkit"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    left = [p for p in left if p != "var/lib" and not p.startswith("var/lib/")]  # the throwaway dpkg database
    assert left == ["var", "var/log", "var/log/bpfkit", "var/log/bpfkit/fileopen.log"], left


def test_system_python_has_what_the_package_depends_on() -> None:
    """/usr/bin/bpfkit runs /usr/bin/python3: Debian's must be 3.11+ with the
    distribution's dnspython, prometheus_client and pyelftools."""
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import sys; assert sys.version_info >= (3, 11), sys.version\n"
                        "import dns.message, prometheus_client, elftools.elf.elffile"],
                       capture_output=True, text=True)
    assert r.returncode == 0, ("/usr/bin/python3 lacks the package's dependencies: apt-get install "
                               "python3-dnspython python3-prometheus-client python3-pyelftools "
                               f"(scripts/install-system-deps.sh)\n{r.stderr}")


@root_only
def test_installed_bpfkit_runs_doctor_and_fileopen(installed: Path, tmp_path: Path) -> None:
    bpfkit = str(installed / "usr/bin/bpfkit")
    r = subprocess.run([bpfkit, "doctor"], capture_output=True, text=True, env=clean_env(PYTHONVERBOSE="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "tracepoint   yes" in r.stdout
    # the installed modules, from the bytecode postinst compiled (not the checkout, not the venv)
    assert f"code object from '{installed}/usr/lib/bpfkit/bpfkit/__pycache__/cli." in r.stderr
    assert str(ROOT / "src") not in r.stderr
    target = tmp_path / "opened-by-the-test"
    target.write_text("x")
    port = free_port()
    metrics = []

    def trigger() -> None:
        for _ in range(3):
            with open(target):
                pass
        metrics.append(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())

    cmd = [bpfkit, "fileopen", "--name", target.name, "--metrics", f"127.0.0.1:{port}", "--duration", "2"]
    code, out, err = run_monitor(lambda env: popen(cmd, env), tmp_path, trigger)
    assert code == 0, err
    assert str(target) in out, out + err
    assert "bpfkit_events_total" in metrics[0]  # the distribution's prometheus_client serves it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@root_only
def test_service_install_dry_run_from_the_package_shows_a_hardened_unit(installed: Path) -> None:
    """The issue's "done when": dpkg -i bpfkit_*.deb && bpfkit service install fileaudit --dry-run."""
    before = os.path.exists("/etc/bpfkit/fileaudit.env")
    proc = in_namespace(installed, "/usr/bin/bpfkit", "service", "install", "fileaudit", "--dry-run",
                        env=clean_env(), cwd="/")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "--- /usr/lib/systemd/system/bpfkit@.service" in out, \
        f"--dry-run does not show the unit the package installed:\n{out}"
    assert "ExecStart=/usr/bin/bpfkit %i --output /var/log/bpfkit/%i.log $BPFKIT_ARGS" in out
    for line in HARDENING:
        assert line in out, line
    assert "--- /etc/bpfkit/fileaudit.env (0640)" in out
    assert "--- /etc/logrotate.d/bpfkit (0644)" not in out, "the package's config file is left alone"
    assert "$ systemctl enable --now bpfkit@fileaudit.service" in out
    assert os.path.exists("/etc/bpfkit/fileaudit.env") == before, "--dry-run wrote a file"


@root_only
@pytest.mark.skipif(not VMLINUX.is_file(),
                    reason="needs this kernel's BTF to cut the package's minimal BTF from")
def test_shipped_min_btf_runs_fileaudit_where_kernel_btf_is_hidden(installed: Path, tmp_path: Path) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    cmd = ["/usr/bin/bpfkit", "fileaudit", "--watch", str(watched), "--json"]
    # without the package's BTF file: the loader has nothing for CO-RE
    proc = in_namespace(installed, *cmd, "--duration", "0", hide_btf=True, hide_shipped_btf=True,
                        env=clean_env())
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "has no BTF" in err, err
    # with it: fileaudit attaches and reports a change
    code, out, err = run_monitor(
        lambda env: in_namespace(installed, *cmd, "--duration", "2", hide_btf=True, env=env),
        tmp_path, lambda: (watched / "changed").write_text("x"))
    assert code == 0, err
    assert f'"path":"{watched}/changed"' in out, out + err


# -- the single-file deploy ----------------------------------------------------------------------------
def test_zipapp_holds_objects_and_bytecode(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["pyz"]) as z:
        names = set(z.namelist())
    for obj in shipped_objects():
        assert f"bpfkit/{obj}" in names, obj
    modules = [n for n in names if n.endswith(".py")]
    assert "__main__.py" in names and "bpfkit/cli.py" in names
    assert all(n + "c" in names for n in modules), "a .pyc beside every module"
    assert not [n for n in names if n.endswith((".c", ".h")) or "__pycache__" in n]
    for dep in ("dns/message.py", "prometheus_client/__init__.py", "elftools/elf/elffile.py"):
        assert dep in names, dep
    assert dist["pyz"].read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(dist["pyz"], os.X_OK)


@root_only
def test_zipapp_runs_doctor_and_fileopen(dist: dict[str, Path], tmp_path: Path) -> None:
    pyz = str(dist["pyz"])
    # -S: no site-packages at all, so nothing installed with pip or apt is used
    python = [SYSTEM_PYTHON, "-S"]
    r = subprocess.run([*python, pyz, "doctor"], capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert "tracepoint   yes" in r.stdout
    r = subprocess.run([*python, "-c", f"import sys; sys.path.insert(0, {pyz!r})\n"
                        "import bpfkit.cli, dns.message, prometheus_client, elftools.elf.elffile\n"
                        "print(bpfkit.cli.__file__)"], capture_output=True, text=True, env=clean_env())
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{pyz}/bpfkit/cli.pyc", "imported from its bytecode"
    r = subprocess.run([pyz, "--version"], capture_output=True, text=True, env=clean_env())  # its #! line
    assert r.returncode == 0 and r.stdout.startswith("bpfkit "), r.stderr
    target = tmp_path / "opened-by-the-zipapp-test"
    target.write_text("x")
    cmd = [*python, pyz, "fileopen", "--name", target.name, "--duration", "1.5"]
    code, out, err = run_monitor(lambda env: popen(cmd, env), tmp_path, target.read_text)
    assert code == 0, err
    assert str(target) in out, out + err
