"""A monitor under the faults an operator meets: it never harms the host, never
dies on a survivable fault, and never loses an event without counting it."""

from __future__ import annotations

import base64
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import unescape
from monitor import (
    COMM,
    Monitor,
    counts,
    fill,
    generate,
    go,
    json_lines,
    our_bpf_ids,
    private_tmpfs,
    wait_idle,
    wait_until,
)

pytestmark = pytest.mark.kernel


def test_kill_9_leaves_no_program_link_or_map_behind(tmp_path: Path) -> None:
    before = our_bpf_ids()
    monitors = [Monitor("fileopen", "--comm", COMM), Monitor("tcptrack"),
                Monitor("fileaudit", "--watch", str(tmp_path))]
    try:
        ours = {k: v - before[k] for k, v in our_bpf_ids().items()}
        assert all(ours.values()), ours  # each kind was created
        for m in monitors:
            m.proc.send_signal(signal.SIGKILL)
            m.proc.wait()
        # the kernel frees them after an RCU grace period
        assert wait_until(lambda: not any(ours[k] & v for k, v in our_bpf_ids().items())), our_bpf_ids()
    finally:
        for m in monitors:
            m.kill()


def test_sigterm_under_load_delivers_every_event_exactly_once(tmp_path: Path) -> None:
    n = 100_000
    out = tmp_path / "events.jsonl"
    gen = generate(n)
    m = Monitor("fileopen", "--comm", COMM, "--json", "--output", str(out), "--ring-buffer-kb", "65536")
    try:
        go(gen)
        _, err = m.stop(signal.SIGTERM)  # at once: what is queued must still be written
    finally:
        m.kill()
    assert m.proc.returncode == 0, err
    events = json_lines(out.read_text())
    assert counts(err) == (n, 0)
    assert len(events) == n and all(e["comm"] == COMM and e["path"] == "/dev/null" for e in events)


@pytest.mark.parametrize("transport", ["ring", "perf"])
def test_sigstop_under_load_counts_every_drop_exactly(tmp_path: Path, transport: str) -> None:
    n = 60_000
    out = tmp_path / "events.jsonl"
    extra = ["--perf-buffer"] if transport == "perf" else []
    gen = generate(n)
    m = Monitor("fileopen", "--comm", COMM, "--json", "--output", str(out), "--ring-buffer-kb", "64", *extra)
    try:
        os.kill(m.proc.pid, signal.SIGSTOP)  # a reader that does not read
        go(gen)
        os.kill(m.proc.pid, signal.SIGCONT)
        time.sleep(0.3)
        _, err = m.stop(signal.SIGINT)
    finally:
        m.kill()
    events = [e for e in json_lines(out.read_text()) if e.get("event") == "open"]
    lost_records = sum(e["dropped"] for e in json_lines(out.read_text()) if e.get("event") == "lost")
    delivered, dropped = counts(err)
    assert dropped > 0 and "events dropped" in err
    assert (f"({'perf' if transport == 'perf' else 'ring'} buffer full;") in err
    assert len(events) == delivered and delivered + dropped == n
    assert lost_records == dropped  # the JSON stream says so too


def test_sigstop_under_load_fileaudit(tmp_path: Path) -> None:
    n = 20_000
    watched = tmp_path / "watched"
    watched.mkdir()
    target = watched / "f"
    target.write_text("x")
    out = tmp_path / "audit.jsonl"
    code = ("import os, sys\nwith open('/proc/self/comm', 'w') as f: f.write(sys.argv[1])\n"
            "sys.stdin.readline()\n"
            f"[os.chmod({str(target)!r}, 0o600 | (i & 1)) for i in range({n})]\n")
    gen = subprocess.Popen([os.sys.executable, "-c", code, COMM], stdin=subprocess.PIPE, text=True)
    m = Monitor("fileaudit", "--watch", str(watched), "--json", "--output", str(out),
                "--ring-buffer-kb", "64")
    try:
        os.kill(m.proc.pid, signal.SIGSTOP)
        go(gen)
        os.kill(m.proc.pid, signal.SIGCONT)
        time.sleep(0.3)
        _, err = m.stop(signal.SIGTERM)
    finally:
        m.kill()
    chmods = [e for e in json_lines(out.read_text()) if e.get("op") == "CHMOD"]
    delivered, dropped = counts(err)
    assert dropped > 0 and len(chmods) == delivered and delivered + dropped == n


def test_full_disk_keeps_tracing_and_resumes(tmp_path: Path) -> None:
    """A small tmpfs (in the monitor's own mount namespace) fills up: the
    monitor keeps tracing, holds or counts what it cannot write, and resumes."""
    first, second = 30_000, 1_000
    m = Monitor("fileopen", "--comm", COMM, "--json", "--output", "/mnt/log",
                preexec=private_tmpfs("/mnt", "8m"))
    mnt = os.open(f"/proc/{m.proc.pid}/root/mnt", os.O_RDONLY | os.O_DIRECTORY)  # outlives the namespace
    try:
        fill(f"/proc/{m.proc.pid}/root/mnt/filler")
        go(generate(first))
        assert wait_until(lambda: "cannot write to /mnt/log" in _peek_err(m), 10)
        # Space comes back only once the monitor has read all of the first
        # batch: its held backlog is bounded, so some lines were lost by then
        # (a slow machine would otherwise still be reading the ring).
        assert wait_idle(m.proc.pid)
        os.unlink("filler", dir_fd=mnt)  # space comes back
        go(generate(second))
        time.sleep(0.5)
        _, err = m.stop(signal.SIGTERM)
        fd = os.open("log", os.O_RDONLY, dir_fd=mnt)
        with os.fdopen(fd) as f:
            text = f.read()
    finally:
        m.kill()
        os.close(mnt)
    assert m.proc.returncode == 0, err
    assert "No space left on device (still tracing" in err and "writing to /mnt/log again" in err
    assert text.endswith("\n")  # whole lines only
    written = json_lines(text)  # and every one of them valid JSON
    lost = int(err.split("output errors: ")[1].split()[0])
    assert counts(err) == (first + second, 0)
    assert 0 < lost < first and len(written) + lost == first + second


_stderr_seen: dict[int, str] = {}


def _peek_err(m: Monitor) -> str:
    """What the monitor said on stderr so far, without blocking."""
    import fcntl

    fd = m.proc.stderr.fileno()
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    try:
        chunk = os.read(fd, 65536).decode(errors="replace")
    except BlockingIOError:
        chunk = ""
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, fl)
    _stderr_seen[m.proc.pid] = _stderr_seen.get(m.proc.pid, "") + chunk
    m.banner += chunk
    return _stderr_seen[m.proc.pid]


@pytest.mark.skipif(not shutil.which("logrotate"), reason="needs logrotate (make test installs it)")
def test_logrotate_with_hup_loses_nothing(tmp_path: Path) -> None:
    rounds, per_round = 10, 10_000
    log = tmp_path / "events.log"
    m = Monitor("fileopen", "--comm", COMM, "--json", "--output", str(log), "--ring-buffer-kb", "65536")
    conf = tmp_path / "logrotate.conf"
    conf.write_text(f"{log} {{\n  rotate {rounds + 5}\n  missingok\n  nocompress\n"
                    f"  postrotate\n    kill -HUP {m.proc.pid}\n  endscript\n}}\n")
    try:
        for _ in range(rounds):
            gen = generate(per_round)
            gen.stdin.write("go\n")
            gen.stdin.close()
            subprocess.run(["logrotate", "-f", "-s", str(tmp_path / "state"), str(conf)], check=True)
            assert gen.wait(60) == 0
            # the HUP is handled between batches: a monitor still busy with
            # earlier events reopens a moment later, and until then the next
            # logrotate finds no file to rotate (missingok)
            deadline = time.monotonic() + 30
            while not log.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        time.sleep(0.3)
        _, err = m.stop(signal.SIGTERM)
    finally:
        m.kill()
    files = sorted(tmp_path.glob("events.log*"))
    assert len(files) >= rounds  # every rotation made a file
    events = []
    for f in files:
        text = f.read_text()
        assert not text or text.endswith("\n"), f  # no line split across files
        events += json_lines(text)
    assert len(events) == rounds * per_round == counts(err)[0]


CRAFTED = [b"evil\n[HIGH  ] 14:30:15 fake", b"ansi\x1b[31mred", b"cr\rover", b"bad\xff\xfeutf8",
           b"quote\"'`", "sep\u2028line".encode(), "rlo\u202etxt.exe".encode(), b"back\\x41slash",
           b"tab\tname"]


def test_crafted_names_cannot_forge_lines_and_read_back_exactly(tmp_path: Path) -> None:
    d = tmp_path / "names"
    d.mkdir()
    paths = [os.path.join(os.fsencode(d), n) for n in CRAFTED]
    deep = os.fsencode(d) + b"/" + b"/".join([b"x" * 250] * 15)
    os.makedirs(deep)
    paths.append(deep + b"/" + b"long")
    for p in paths:
        open(p, "wb").close()
    code = ("import os, sys\nwith open('/proc/self/comm', 'w') as f: f.write(sys.argv[1])\n"
            "sys.stdin.readline()\n"
            f"[os.close(os.open(p, os.O_RDONLY)) for p in {paths!r}]\n")
    outs = {}
    for mode in ("text", "json"):
        gen = subprocess.Popen([os.sys.executable, "-c", code, COMM], stdin=subprocess.PIPE, text=True)
        m = Monitor("fileopen", "--comm", COMM, *(["--json"] if mode == "json" else []))
        try:
            go(gen)
            time.sleep(0.3)
            outs[mode], _ = m.stop(signal.SIGINT)
        finally:
            m.kill()
    header, *rows = outs["text"].splitlines()
    assert header.split() == ["TIME", "PID", "UID", "COMM", "LATENCY", "FD", "FILENAME"]
    assert len(rows) == len(paths)  # one line per event, whatever the name
    at = header.index("FILENAME")
    assert [unescape(r[at:]) for r in rows] == paths
    records = json_lines(outs["json"])
    assert len(records) == len(paths)
    got = [base64.b64decode(r["path_b64"]) if "path_b64" in r else r["path"].encode() for r in records]
    assert got == paths


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
def test_builtin_rotation_loses_and_splits_nothing(tmp_path: Path, gz: bool) -> None:
    """--rotate-size for hosts without logrotate: lines generated == lines
    across every file, each file whole lines, all private."""
    import gzip
    import stat

    n = 40_000
    log = tmp_path / "events.log"
    m = Monitor("fileopen", "--comm", COMM, "--json", "--output", str(log), "--rotate-size", "256K",
                "--rotate-keep", "100", *(["--rotate-gzip"] if gz else []), "--ring-buffer-kb", "65536")
    try:
        go(generate(n))
        time.sleep(0.3)
        _, err = m.stop(signal.SIGTERM)
    finally:
        m.kill()
    files = sorted(tmp_path.glob("events.log*"))
    assert len(files) > 10, files  # it rotated, many times
    total = 0
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
        text = gzip.decompress(f.read_bytes()).decode() if f.suffix == ".gz" else f.read_text()
        assert not text or text.endswith("\n"), f
        total += len(json_lines(text))
    if gz:
        assert any(f.suffix == ".gz" for f in files)
    assert total == n == counts(err)[0]
