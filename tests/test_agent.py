"""`bpfkit agent`: every monitor in one process, one schema, metrics that add up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT, run_cli

from bpfkit.core.build import build

pytestmark = pytest.mark.kernel
SITE_TOOLS = ROOT / "tests" / "site_tools"
COMM = "bpfkit-agent-t"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Agent:
    def __init__(self, config: str, tmp: Path, *extra: str) -> None:
        self.path = tmp / "agent.toml"
        self.path.write_text(config)
        env = {**os.environ, "BPFKIT_TOOLS_PATH": str(SITE_TOOLS)}
        self.proc = subprocess.Popen([*BPFKIT, "agent", "--config", str(self.path), *extra],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                     text=True, env=env, cwd=ROOT)
        self.err = ""
        while "Ctrl+C" not in self.err:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"agent did not start: {self.err}")
            self.err += line

    def stop(self) -> tuple[str, str]:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        return out, self.err + err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def generate_open(path: Path) -> None:
    code = (f"with open('/proc/self/comm', 'w') as f: f.write({COMM!r})\n"
            f"try: open({str(path)!r}).close()\nexcept OSError: pass\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.fixture(scope="module", autouse=True)
def ghost_object() -> None:
    build(SITE_TOOLS / "ghost" / "ghost.bpf.c")


@pytest.mark.lane
def test_one_agent_every_monitor_one_schema_and_metrics_that_add_up(tmp_path: Path) -> None:
    port, mport = free_port(), free_port()
    watched = tmp_path / "watched"
    watched.mkdir()
    events = tmp_path / "events.jsonl"
    config = f"""
[agent]
json = true
output = "{events}"
metrics = "127.0.0.1:{mport}"

[monitors.fileopen]
comm = "{COMM}"

[monitors.tcptrack]
port = {port}
alert-ports = ""

[monitors.fileaudit]
watch = ["{watched}"]

[monitors.ghost]
required = false
"""
    agent = Agent(config, tmp_path)
    try:
        assert "ghost not started: no hook of 'ghost' works on this kernel" in agent.err
        generate_open(tmp_path / "README-copy")  # fileopen: one open (ENOENT)
        (watched / "secret").write_text("x")  # fileaudit: one create
        srv = socket.create_server(("127.0.0.1", port))
        cli = socket.create_connection(("127.0.0.1", port))  # tcptrack: connect, accept, 2 closes
        conn, _ = srv.accept()
        cli.close(), conn.close(), srv.close()
        time.sleep(0.5)
        m = scrape(mport)
        _, err = agent.stop()
    finally:
        agent.kill()
    assert agent.proc.returncode == 0, err
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    host = os.uname().nodename
    assert all(r["host"] == host and r["ts"].endswith("Z") and r["monitor"] == r["tool"] for r in recs)
    by = {mon: [r for r in recs if r["monitor"] == mon] for mon in ("fileopen", "tcptrack", "fileaudit")}
    assert [r["path"] for r in by["fileopen"]] == [str(tmp_path / "README-copy")]
    assert [(r["op"], r["path"]) for r in by["fileaudit"]] == [("CREATE", str(watched / "secret"))]
    assert sorted(r["event"] for r in by["tcptrack"]) == ["accept", "close", "close", "connect"]
    assert m['bpfkit_monitor_up{monitor="ghost"}'] == 0 and m['bpfkit_monitor_up{monitor="fileopen"}'] == 1
    assert m['bpfkit_events_total{event="open-failed",monitor="fileopen"}'] == 1
    assert m['bpfkit_events_total{event="create",monitor="fileaudit"}'] == 1
    assert m['bpfkit_events_total{event="connect",monitor="tcptrack"}'] == 1
    assert m['bpfkit_events_total{event="close",monitor="tcptrack"}'] == 2
    assert all(v == 0 for k, v in m.items() if k.startswith("bpfkit_events_lost_total"))
    ring = 'bpfkit_hook_info{group="ring events",kind="transport",monitor="tcptrack",program="ringbuf"}'
    assert m[ring] == 1
    runs = 'bpfkit_bpf_program_runs_total{monitor="fileaudit"'
    assert any(k.startswith(runs) and v > 0 for k, v in m.items())
    assert m["bpfkit_process_resident_memory_bytes"] > 0
    # each monitor's own metrics
    assert m['bpfkit_tcp_connections_total{direction="outbound",result="established"}'] == 1
    assert m['bpfkit_tcp_connections_total{direction="inbound",result="accepted"}'] == 1
    assert m['bpfkit_fileaudit_changes_total{op="create",result="ok",severity="low"}'] == 1
    assert m['bpfkit_fileopen_latency_seconds_count{result="failed"}'] == 1


def test_a_required_monitor_that_cannot_start_stops_the_agent(tmp_path: Path) -> None:
    (tmp_path / "agent.toml").write_text("[monitors.ghost]\nrequired = true\n[monitors.fileopen]\n")
    env = {**os.environ, "BPFKIT_TOOLS_PATH": str(SITE_TOOLS)}
    r = subprocess.run([*BPFKIT, "agent", "--config", str(tmp_path / "agent.toml"), "--duration", "5"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert r.returncode == 1 and "no hook of 'ghost' works on this kernel" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


@pytest.mark.parametrize(("config", "message"), [
    ("[monitors.nosuch]\n", "[monitors.nosuch]: unknown monitor (there are "),
    ("[monitors.fileopen]\nfrobnicate = 1\n", "[monitors.fileopen]: unknown option 'frobnicate'"),
    ("[monitors.fileopen]\nmin-lat-ms = \"soon\"\n", "[monitors.fileopen] argument --min-lat-ms: must be"),
    ("[monitors.tcptrack]\nport = 0\n", "[monitors.tcptrack] argument --port: must be 1-65535"),
    ("[monitors.fileopen]\nfailed = 3\n", "[monitors.fileopen]: failed is true or false"),
    ("[agent]\njsn = true\n", "[agent] unknown option 'jsn'"),
    ("[monitors.fileopen\n", "Expected ']'"),
])
def test_config_mistakes_are_one_line_exit_2_and_start_nothing(tmp_path: Path, config: str,
                                                                message: str) -> None:
    (tmp_path / "agent.toml").write_text(config)
    r = run_cli("agent", "--config", str(tmp_path / "agent.toml"), "--duration", "5", timeout=30)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "running" not in r.stderr


def test_the_default_config_is_valid_and_lists_every_monitor(tmp_path: Path) -> None:
    r = run_cli("agent", "--print-default-config", check=True)
    import tomllib

    cfg = tomllib.loads(r.stdout)
    from bpfkit.tools import names

    assert set(cfg["monitors"]) == set(names())
    (tmp_path / "agent.toml").write_text(r.stdout)
    r = run_cli("agent", "--config", str(tmp_path / "agent.toml"), "--only", "fileopen", "--duration", "0",
                "--metrics", "off", timeout=60)
    assert r.returncode == 0, r.stderr


def test_drops_under_a_stopped_agent_add_up_per_monitor(tmp_path: Path) -> None:
    n_open, n_chmod, mport = 20_000, 5_000, free_port()
    watched = tmp_path / "watched"
    watched.mkdir()
    target = watched / "f"
    target.write_text("x")
    events = tmp_path / "events.jsonl"
    config = f"""
[agent]
json = true
output = "{events}"
metrics = "127.0.0.1:{mport}"
[monitors.fileopen]
comm = "{COMM}"
ring-buffer-kb = 64
[monitors.fileaudit]
watch = ["{watched}"]
ring-buffer-kb = 64
"""
    code = (f"import os\nwith open('/proc/self/comm', 'w') as f: f.write({COMM!r})\n"
            f"[os.close(os.open('/dev/null', os.O_RDONLY)) for _ in range({n_open})]\n"
            f"[os.chmod({str(target)!r}, 0o600 | (i & 1)) for i in range({n_chmod})]\n")
    agent = Agent(config, tmp_path)
    try:
        os.kill(agent.proc.pid, signal.SIGSTOP)
        subprocess.run([sys.executable, "-c", code], check=True)
        os.kill(agent.proc.pid, signal.SIGCONT)
        time.sleep(0.5)
        m = scrape(mport)
        _, err = agent.stop()
    finally:
        agent.kill()
    recs = [json.loads(line) for line in events.read_text().splitlines()]
    opens = sum(1 for r in recs if r["monitor"] == "fileopen" and r.get("event") == "open")
    chmods = sum(1 for r in recs if r["monitor"] == "fileaudit" and r.get("op") == "CHMOD")
    lost_open = m['bpfkit_events_lost_total{monitor="fileopen",reason="ring_full"}']
    lost_chmod = m['bpfkit_events_lost_total{monitor="fileaudit",reason="ring_full"}']
    assert lost_open > 0 and lost_chmod > 0
    assert opens + lost_open == n_open and chmods + lost_chmod == n_chmod, err
    assert f"fileopen: events: {opens}, dropped: {int(lost_open)}" in err
