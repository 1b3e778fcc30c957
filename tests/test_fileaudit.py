"""`bpfkit fileaudit` against real changes made by a helper process, in a
temporary watched tree (the machine's /etc is never touched)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT

pytestmark = pytest.mark.kernel

HELPER = [sys.executable, str(ROOT / "tests" / "helpers" / "fileops.py")]


@pytest.fixture
def trees():
    # Under /tmp itself (pytest's tmp_path is 0700): uid 65534 must reach it.
    base = Path(tempfile.mkdtemp(prefix="bpfkit-fileaudit-"))
    watched, outside = base / "watched", base / "outside"
    watched.mkdir()
    outside.mkdir()
    for p in (base, watched, outside):
        os.chmod(p, 0o755)
    yield watched, outside
    shutil.rmtree(base)


class Audit:
    """The tracer on a watched tree, and the helper that changes files."""

    def __init__(self, watched: Path, outside: Path, *tracer_args: str, deny: Path | None = None,
                 json_out: bool = True) -> None:
        self.tracer = start_tracer(watched, *(["--json"] if json_out else []), *tracer_args)
        self.helper = subprocess.Popen(
            [*HELPER, str(watched), str(outside), *(["--deny", str(deny)] if deny else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.helper.stdout.readline().strip() == "waiting"

    def run(self) -> list[dict]:
        self.helper.stdin.write("go\n")
        self.helper.stdin.close()
        expected = []
        for line in self.helper.stdout:
            if line.strip() == "done":
                break
            expected.append(json.loads(line))
        assert self.helper.wait(30) == 0
        return expected

    def finish(self) -> tuple[str, str]:
        return stop_tracer(self.tracer)


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_tracer_outlives_its_test():
    """A failed assert must not leave a tracer running (it would slow every later test)."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_tracer(watched: Path, *args: str) -> subprocess.Popen:
    tracer = subprocess.Popen([*BPFKIT, "fileaudit", "--watch", str(watched), *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, text=True)
    _started.append(tracer)
    banner = tracer.stderr.readline()
    assert banner.startswith("Auditing"), banner + tracer.stderr.read()
    return tracer


def stop_tracer(tracer: subprocess.Popen) -> tuple[str, str]:
    time.sleep(0.3)  # longer than the poll interval: everything is written
    tracer.send_signal(signal.SIGINT)
    out, err = tracer.communicate(timeout=30)
    assert tracer.returncode == 0, err
    return out, err


def key(e: dict) -> tuple:
    return (e["op"], e["path"], e.get("new_path"), e["result"])


def test_every_change_by_every_syscall_reported_once(trees) -> None:
    watched, outside = trees
    secret = watched / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    audit = Audit(watched, outside, "--attempts", deny=secret)
    expected = audit.run()
    out, err = audit.finish()
    got = [json.loads(line) for line in out.splitlines()]
    assert sorted(map(key, got)) == sorted(map(key, expected))  # each exactly once
    # The ring buffer carried nothing else: the outside tree cost no event.
    assert f"events: {len(expected)}, dropped: 0" in err
    me = os.getpid()
    my_comm = Path("/proc/self/comm").read_text().strip()
    by_key = {key(e): e for e in got}
    for x in expected:
        e = by_key[key(x)]
        assert e["pid"] == audit.helper.pid and e["ppid"] == me and e["parent_comm"] == my_comm
        if x["syscall"] is not None:
            assert e["syscall"] == x["syscall"], (x, e)
    denied = by_key[("WRITE", str(secret), None, 13)]
    assert denied["errno"] == "EACCES" and denied["uid"] == 65534
    ops = {e["op"] for e in got}
    assert ops == {"WRITE", "CREATE", "TRUNCATE", "RENAME", "DELETE", "CHMOD", "CHOWN", "LINK",
                   "SYMLINK", "MKDIR"}
    chmod = next(e for e in got if e["syscall"] == "fchmod")
    assert chmod["mode"] == 0o644 and chmod["severity"] == "MEDIUM"
    chown = next(e for e in got if e["syscall"] == "lchown")
    assert (chown["owner"], chown["group"]) == (0, None)
    # mode 0604 asked with fchmodat2 (Linux 6.6+); relative and dirfd paths came back absolute
    if any(x["syscall"] == "fchmodat2" for x in expected):
        assert {e["path"] for e in got if e["syscall"] == "fchmodat2"} == {
            f"{watched}/m3-{s}" for s in ("abs", "rel", "dirfd")}


def test_failed_attempts_only_with_the_option(trees) -> None:
    watched, outside = trees
    secret = watched / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    audit = Audit(watched, outside, deny=secret)
    expected = [x for x in audit.run() if x["result"] == 0]
    out, _ = audit.finish()
    got = [json.loads(line) for line in out.splitlines()]
    assert sorted(map(key, got)) == sorted(map(key, expected))
    assert all(e["result"] == 0 and e["errno"] is None for e in got)


def test_a_file_name_cannot_forge_a_line(trees) -> None:
    watched, _ = trees
    evil = "x\n[HIGH  ] 14:30:15 RENAME   pid=1 uid=0 init (parent: x pid=0) etc-shadow\x1b[2K"
    tracer = start_tracer(watched)
    (watched / evil).write_text("x")
    os.unlink(watched / evil)
    out, _ = stop_tracer(tracer)
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert lines[0].startswith("[LOW   ] ") and " CREATE   " in lines[0]
    assert lines[1].startswith("[MEDIUM] ") and " DELETE   " in lines[1]
    assert all(r"x\n[HIGH  ] 14:30:15 RENAME" in line and "\\x1b[2K" in line for line in lines)
    assert f"pid={os.getpid()} uid=0 " in lines[0]


def test_filters(trees) -> None:
    watched, _ = trees
    target = watched / "f"
    code = f"open({str(target)!r}, 'w').close(); import os; os.chmod({str(target)!r}, 0o600)"
    tracer = start_tracer(watched, "--json",
                               "--exclude-comm", "excluded-one", "--min-severity", "medium")
    # the same change by an excluded command, then by another
    script = Path(watched.parent / "excluded-one")
    script.write_text(f"#!{sys.executable}\n{code}\n")
    script.chmod(0o755)
    subprocess.run([str(script)], check=True)  # comm is the script's name: excluded
    subprocess.run([sys.executable, "-c", code], check=True)
    out, _ = stop_tracer(tracer)
    got = [json.loads(line) for line in out.splitlines()]
    # --min-severity medium: the CREATE (LOW) is left out, the CHMOD kept;
    # --exclude-comm: the script's changes are not there
    python_comm = os.path.basename(sys.executable)[:15]  # comm: the name exec()ed
    assert [(e["op"], e["comm"]) for e in got] == [("CHMOD", python_comm)]


def test_uid_filter(trees) -> None:
    watched, _ = trees
    os.chmod(watched, 0o777)
    tracer = start_tracer(watched, "--json", "--uid", "65534")
    (watched / "by-root").write_text("x")
    subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "touch",
                    str(watched / "by-nobody")], check=True)
    out, _ = stop_tracer(tracer)
    got = [json.loads(line) for line in out.splitlines()]
    assert [(e["op"], e["path"], e["uid"]) for e in got] == [("CREATE", str(watched / "by-nobody"), 65534)]


def test_usage_errors() -> None:
    r = subprocess.run([*BPFKIT, "fileaudit", "--min-severity", "urgent"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--min-severity" in r.stderr
    r = subprocess.run([*BPFKIT, "fileaudit", "--uid", "-3"], capture_output=True, text=True)
    assert r.returncode == 2 and "--uid" in r.stderr


def test_prefix_matches_whole_components_in_the_kernel(trees) -> None:
    watched, _ = trees
    sibling = Path(str(watched) + "2")  # shares the watched prefix as a string
    sibling.mkdir()
    tracer = start_tracer(watched, "--json")
    (sibling / "f").write_text("x")
    (watched / "f").write_text("x")
    out, err = stop_tracer(tracer)
    assert [json.loads(line)["path"] for line in out.splitlines()] == [str(watched / "f")]
    assert "events: 1, dropped: 0" in err  # the sibling cost no ring buffer event


def test_a_directory_moved_into_the_watched_tree_is_watched_at_once(trees) -> None:
    """The kernel remembers directories too deep to be watched; moving one
    into the watched tree must end that at once."""
    watched, outside = trees
    deep = outside / "a-directory-whose-path-is-longer-than-any-watched-prefix"
    deep.mkdir()
    tracer = start_tracer(watched, "--json")
    for i in range(3):  # remembered as unwatched from the first create on
        (deep / f"before{i}").write_text("x")
    os.rename(deep, watched / deep.name)
    (watched / deep.name / "after").write_text("x")
    out, err = stop_tracer(tracer)
    got = [(e["op"], e["path"]) for e in map(json.loads, out.splitlines())]
    assert got == [("RENAME", str(deep)), ("CREATE", str(watched / deep.name / "after"))]
    assert "events: 2, dropped: 0" in err
