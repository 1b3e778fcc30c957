"""`bpfkit fileopen` against real opens made by a helper process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT

pytestmark = pytest.mark.kernel

HELPER = [sys.executable, str(ROOT / "tests" / "helpers" / "opener.py")]


class Session:
    """The helper (paused until go()) and a tracer filtered on the helper's pid."""

    def __init__(self, plan: list[tuple[str, str]], *tracer_args: str, pid_filter: bool = True) -> None:
        self.helper = subprocess.Popen([*HELPER, json.dumps(plan)], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
        assert self.helper.stdout.readline().strip() == "waiting"
        args = ["fileopen", *(["--pid", str(self.helper.pid)] if pid_filter else []), *tracer_args]
        self.tracer = subprocess.Popen([*BPFKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       stdin=subprocess.DEVNULL, text=True)
        banner = self.tracer.stderr.readline()
        self.verbose = ""  # what --verbose said before the banner
        while "--verbose" in tracer_args and banner.startswith("fileopen: "):
            self.verbose += banner
            banner = self.tracer.stderr.readline()
        assert banner.strip() == "Tracing file opens. Ctrl+C to stop.", banner + self.tracer.stderr.read()

    def go(self) -> list[dict]:
        self.helper.stdin.write("go\n")
        self.helper.stdin.flush()
        return self.expected()

    def expected(self, until_pause: bool = False) -> list[dict]:
        out = []
        for line in self.helper.stdout:
            if line.strip() == "paused":
                break
            out.append(json.loads(line))
        return out

    def finish(self) -> tuple[str, str]:
        self.helper.stdin.close()
        self.helper.wait(30)
        time.sleep(0.3)  # longer than the poll interval: everything is printed
        self.tracer.send_signal(signal.SIGINT)
        out, err = self.tracer.communicate(timeout=30)
        assert self.tracer.returncode == 0, err
        return out, err


def json_events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    os.chmod(tmp_path, 0o755)
    (tmp_path / "exists.txt").write_text("x")
    evil = tmp_path / "evil\n[HIGH  ] 14:30:15 fake\x1b[31m.txt"
    evil.write_text("x")
    deep = tmp_path
    while 3000 - len(str(deep)) - 1 > 255:  # a name may have 255 bytes at most
        deep = deep / ("d" * 200)
    deep.mkdir(parents=True)
    long_path = deep / ("f" * (3000 - len(str(deep)) - 1))
    long_path.write_text("x")
    assert len(str(long_path)) == 3000
    secret = tmp_path / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    return {"exists": str(tmp_path / "exists.txt"), "missing": str(tmp_path / "missing"),
            "evil": str(evil), "long": str(long_path), "secret": str(secret),
            "new": str(tmp_path / "new.txt"), "creat": str(tmp_path / "creat.txt")}


@pytest.mark.lane
@pytest.mark.parametrize("transport", ["ringbuf", "perf buffer"])
def test_every_open_reported_once_with_pid_uid_result_and_path(tree: dict[str, str], transport: str) -> None:
    plan = [("openat", tree["exists"]), ("openat", tree["missing"]), ("openat", tree["evil"]),
            ("openat", tree["long"]), ("create", tree["new"]), ("creat", tree["creat"]),
            ("openat2", tree["exists"]), ("setuid", "65534"), ("openat", tree["secret"])]
    s = Session(plan, "--json", "--verbose", *(["--perf-buffer"] if transport != "ringbuf" else []))
    expected = s.go()
    out, err = s.finish()
    assert f"fileopen: ring events: {transport}\n" in s.verbose
    events = json_events(out)
    ours = [e for e in events if e["path"].startswith(str(Path(tree["exists"]).parent))]
    got = [(e["syscall"], e["path"], e["ret"]) for e in ours]
    want = [(x["syscall"], x["path"], x["ret"]) for x in expected]
    # Perf buffers are read CPU by CPU: order holds within a CPU only.
    assert got == want if transport == "ringbuf" else sorted(got) == sorted(want)
    by_path = {e["path"]: e for e in ours}
    assert by_path[tree["missing"]]["errno"] == "ENOENT" and by_path[tree["missing"]]["fd"] is None
    assert by_path[tree["secret"]]["errno"] == "EACCES" and by_path[tree["secret"]]["uid"] == 65534
    assert by_path[tree["exists"]]["uid"] == 0 and by_path[tree["long"]]["truncated"] is False
    assert all(e["pid"] == s.helper.pid and e["tool"] == "fileopen" and e["ts"].endswith("Z")
               for e in ours)
    assert all(e["latency_ns"] > 0 for e in ours)
    assert f"events: {len(events)}, dropped: 0" in err


def test_text_output_escapes_names_and_keeps_columns(tree: dict[str, str]) -> None:
    s = Session([("openat", tree["evil"]), ("openat", tree["missing"])])
    s.go()
    out, _ = s.finish()
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "PID", "UID", "COMM", "LATENCY", "FD", "FILENAME"]
    body = [ln for ln in lines[1:] if str(Path(tree["evil"]).parent) in ln]
    assert len(body) == 2  # the newline in the name did not make a line of its own
    assert not any(ln.startswith("[HIGH") for ln in lines) and "\x1b" not in out
    assert body[0].endswith("evil\\n[HIGH  ] 14:30:15 fake\\x1b[31m.txt")
    cols = body[1].split()
    assert cols[1] == str(s.helper.pid) and cols[5] == "-ENOENT"


@pytest.mark.parametrize(("args", "keep"), [
    (["--failed"], {"missing", "secret"}),  # ENOENT and EACCES
    (["--uid", "65534"], {"secret"}),
    (["--name", "exists"], {"exists"}),
    (["--min-lat-ms", "5000"], set()),
])
def test_filters_exclude_what_they_must(tree: dict[str, str], args: list[str], keep: set[str]) -> None:
    names = ["exists", "missing", "secret"]
    s = Session([("openat", tree["exists"]), ("openat", tree["missing"]), ("setuid", "65534"),
                 ("openat", tree["secret"])], "--json", *args)
    s.go()
    out, _ = s.finish()
    seen = {n for n in names for e in json_events(out) if e["path"] == tree[n]}
    assert seen == keep


def test_comm_filter(tree: dict[str, str]) -> None:
    s = Session([("openat", tree["exists"])], "--json", "--comm", "nosuchcommand")
    s.go()
    out, _ = s.finish()
    assert json_events(out) == []


def test_sighup_reopens_the_output_file(tree: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "fileopen.log"
    s = Session([("openat", tree["exists"]), ("pause", ""), ("openat", tree["missing"])],
                "--json", "--output", str(log))
    s.go()
    time.sleep(0.3)
    log.rename(tmp_path / "fileopen.log.1")
    s.tracer.send_signal(signal.SIGHUP)
    time.sleep(0.3)
    s.helper.stdin.write("more\n")
    s.helper.stdin.flush()
    s.expected()
    s.finish()
    old = [e["path"] for e in json_events((tmp_path / "fileopen.log.1").read_text())]
    new = [e["path"] for e in json_events(log.read_text())]
    assert tree["exists"] in old and tree["missing"] not in old
    assert new == [tree["missing"]]


def test_tiny_ring_counts_every_drop(tree: dict[str, str]) -> None:
    n = 20_000
    s = Session([("burst", f"{n}:{tree['exists']}")], "--json", "--ring-buffer-kb", "4")
    s.go()
    out, err = s.finish()
    events = json_events(out)
    delivered = sum(1 for e in events if e.get("event") == "open" and e["path"] == tree["exists"])
    lost = [e for e in events if e.get("event") == "lost"]
    summary = err.strip().splitlines()[-1]
    dropped = int(summary.split("dropped: ")[1])
    assert dropped > 0 and lost and sum(e["dropped"] for e in lost) == dropped
    assert delivered + dropped == n
    assert "events dropped (ring buffer full" in err


def test_bad_options_are_usage_errors() -> None:
    for args, msg in ((["--ring-buffer-kb", "3"], "power of two"), (["--pid", "-4"], "--pid"),
                      (["--bogus"], "unrecognized arguments")):
        r = subprocess.run([*BPFKIT, "fileopen", *args], capture_output=True, text=True)
        assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_ready_notification_only_once_attached(tmp_path: Path) -> None:
    import socket

    addr = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(addr)
        sock.settimeout(20)
        proc = subprocess.Popen([*BPFKIT, "fileopen", "--duration", "1", "--pid", str(os.getpid())],
                                env={**os.environ, "NOTIFY_SOCKET": addr}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        assert sock.recv(64) == b"READY=1"
        # ready means attached: an open made now is reported
        marker = tmp_path / "after-ready"
        marker.write_text("x")
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and err.startswith("Tracing file opens.")
    assert str(marker) in out


def test_unwritable_output_is_one_line(tmp_path: Path) -> None:
    r = subprocess.run([*BPFKIT, "fileopen", "--output", str(tmp_path / "no" / "dir" / "log")],
                       capture_output=True, text=True, stdin=subprocess.DEVNULL)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"bpfkit: cannot open {tmp_path / 'no' / 'dir' / 'log'} for writing: " \
                               "No such file or directory"
