"""`bpfkit service`: the units and logrotate config it writes, checked by
systemd's own tools (systemd is not PID 1 here: files and commands, not a
running unit), and the agent run under the unit's own constraints."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT, run_cli

from bpfkit import service

needs_systemd_analyze = pytest.mark.skipif(not shutil.which("systemd-analyze"),
                                           reason="needs systemd-analyze (package systemd)")


def install(root: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return run_cli("service", "install", *argv, "--root", str(root), check=True)


def test_dry_run_shows_a_hardened_unit_and_writes_nothing(tmp_path: Path) -> None:
    r = run_cli("service", "install", "fileaudit", "--dry-run", "--root", str(tmp_path),
                "--perf-events", "perfmon", check=True)
    assert "--- /etc/systemd/system/bpfkit@.service (0644)" in r.stdout
    for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "UMask=0077",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "MemoryDenyWriteExecute=yes",
                 "CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYSLOG\n",
                 "StartLimitBurst=5", "ReadWritePaths=/var/log/bpfkit -/sys/fs/bpf"):
        assert line in r.stdout, line
    assert "$ systemctl enable --now bpfkit@fileaudit.service" in r.stdout
    assert list(tmp_path.iterdir()) == []


def test_install_writes_units_env_and_logrotate_privately(tmp_path: Path) -> None:
    install(tmp_path, "fileaudit", "--watch", "/etc", "--attempts")
    install(tmp_path, "agent")
    env = tmp_path / "etc/bpfkit/fileaudit.env"
    assert env.read_text().splitlines()[-1] == 'BPFKIT_ARGS="--watch /etc --attempts"'
    assert stat.S_IMODE(env.stat().st_mode) == 0o640
    assert stat.S_IMODE((tmp_path / "etc/bpfkit/agent.toml").stat().st_mode) == 0o640
    assert 'output = "/var/log/bpfkit/events.jsonl"' in (tmp_path / "etc/bpfkit/agent.toml").read_text()
    rotate = (tmp_path / "etc/logrotate.d/bpfkit").read_text()
    assert "postrotate" in rotate and "systemctl reload" in rotate and "copytruncate" not in rotate
    assert (tmp_path / "var/log/bpfkit").is_dir()


def test_bad_monitor_options_are_refused_at_install(tmp_path: Path) -> None:
    r = run_cli("service", "install", "tcptrack", "--port", "0", "--root", str(tmp_path))
    assert r.returncode == 2 and "--port: must be 1-65535" in r.stderr
    r = run_cli("service", "install", "nosuch", "--root", str(tmp_path))
    assert r.returncode == 2 and "no monitor 'nosuch'" in r.stderr
    assert not (tmp_path / "etc").exists()


def test_units_allow_sys_admin_only_where_perf_events_need_it(tmp_path: Path) -> None:
    """Debian's and Ubuntu's kernel.perf_event_paranoid 3 opens perf events
    (tracepoint and probe attachment) only to CAP_SYS_ADMIN; elsewhere the
    unit does without it. auto follows this host's sysctl."""
    def caps(*flags: str) -> str:
        r = run_cli("service", "install", "fileaudit", "--dry-run", "--root", str(tmp_path), *flags,
                    check=True)
        return next(x for x in r.stdout.splitlines() if x.startswith("CapabilityBoundingSet="))

    assert caps("--perf-events", "sys-admin").endswith(" CAP_SYSLOG CAP_SYS_ADMIN")
    assert caps("--perf-events=perfmon").endswith(" CAP_SYSLOG")
    assert caps().endswith("CAP_SYS_ADMIN") == service.perf_needs_sys_admin()


@needs_systemd_analyze
@pytest.mark.parametrize(("perf", "most"), [("perfmon", 2.6), ("sys-admin", 2.8)])
def test_units_verify_and_score(tmp_path: Path, perf: str, most: float) -> None:
    install(tmp_path, "fileaudit", "--perf-events", perf)
    install(tmp_path, "agent", "--perf-events", perf)
    units = tmp_path / "etc/systemd/system"
    shutil.copy(units / "bpfkit@.service", tmp_path / "bpfkit@fileaudit.service")  # an instance of it
    for u in (units / "bpfkit-agent.service", tmp_path / "bpfkit@fileaudit.service"):
        r = subprocess.run(["systemd-analyze", "verify", str(u)], capture_output=True, text=True)
        assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(u)], capture_output=True,
                           text=True)
        score = float(r.stdout.split("Overall exposure level for")[1].split(":")[1].split()[0])
        assert score <= most, r.stdout  # README: the scores of both variants


def test_logrotate_accepts_the_config(tmp_path: Path) -> None:
    if not shutil.which("logrotate"):
        pytest.skip("needs logrotate")
    conf = tmp_path / "bpfkit"
    conf.write_text(service.logrotate_config())
    r = subprocess.run(["logrotate", "--debug", "-s", str(tmp_path / "state"), str(conf)],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stderr.lower(), r.stderr


@pytest.mark.lane
@pytest.mark.kernel
def test_monitors_run_within_the_units_constraints(tmp_path: Path) -> None:
    """Root with only the unit's capability bounding set, no new privileges,
    and no writable+executable memory (MemoryDenyWriteExecute, as the kernel's
    PR_SET_MDWE): every monitor this kernel can run starts, ctypes included."""
    unit_caps = service.CAPABILITIES.split() + (["CAP_SYS_ADMIN"] if service.perf_needs_sys_admin() else [])
    caps = ",".join("+" + c.removeprefix("CAP_").lower() for c in unit_caps)
    # PR_SET_MDWE (Linux 6.3+) refuses W+X as MemoryDenyWriteExecute does (systemd
    # uses seccomp for it on older kernels, where this check cannot be made).
    code = ("import ctypes, errno, sys\n"
            "libc = ctypes.CDLL(None, use_errno=True)\n"
            "assert libc.prctl(65, 1, 0, 0, 0) == 0 or ctypes.get_errno() == errno.EINVAL\n"
            "sys.argv = ['bpfkit', *sys.argv[1:]]\nfrom bpfkit.cli import main\nsys.exit(main())\n")
    agent = ["agent", "--only", "fileopen,tcptrack,fileaudit", "--duration", "1", "--metrics", "off"]
    cmd = ["setpriv", f"--bounding-set=-all,{caps}", "--no-new-privs", sys.executable, "-c", code, *agent]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "running fileaudit, fileopen, tcptrack" in r.stderr and "not started" not in r.stderr
    assert os.geteuid() == 0 and BPFKIT
