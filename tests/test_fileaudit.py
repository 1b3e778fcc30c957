"""`bpfkit fileaudit` against real changes made by a helper process, in a
temporary watched tree (the machine's /etc is never touched)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT, kernel_has, needs

pytestmark = pytest.mark.kernel

HELPER = [sys.executable, str(ROOT / "tests" / "helpers" / "fileops.py")]

# --hooks: auto everywhere; where auto keeps better hooks, the syscall
# tracepoints forced (the fallback still works on that kernel), and where it
# keeps the LSM, fentry forced (the kernels whose lsm= list lacks "bpf").
HOOKS = [pytest.param("auto", id="auto"),
         pytest.param("syscalls", id="syscalls", marks=needs("fexit")),
         pytest.param("fentry", id="fentry", marks=needs("fentry", "lsm"))]
KINDS = {"syscalls": {"tracepoint"}, "fentry": {"fentry", "fexit"}, "lsm": {"lsm", "fexit"}}


def best_hooks() -> str:
    """What auto keeps on this kernel: the best kind it offers."""
    if kernel_has("lsm") and kernel_has("fexit"):
        return "lsm"
    return "fentry" if kernel_has("fentry") and kernel_has("fexit") else "syscalls"


def kept_kinds(preamble: list[str]) -> set[str]:
    """The kinds of the hooks --verbose says each group kept."""
    return {m[1] for line in preamble if (m := re.match(r"fileaudit: \w+: (?!none )[\w+]+ \((\w+)\)", line))}


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
                 json_out: bool = True, hooks: str = "auto") -> None:
        self.tracer = start_tracer(watched, *(["--json"] if json_out else []), "--verbose",
                                   "--hooks", hooks, *tracer_args)
        self.kinds = kept_kinds(self.tracer.preamble)
        assert self.kinds == KINDS[best_hooks() if hooks == "auto" else hooks], self.tracer.preamble
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
    # --verbose lines come first: kept as tracer.preamble
    preamble: list[str] = []
    while not (banner := tracer.stderr.readline()).startswith("Auditing") and banner:
        preamble.append(banner.rstrip("\n"))
    assert banner.startswith("Auditing"), "".join(preamble) + banner + tracer.stderr.read()
    tracer.preamble = preamble
    return tracer


def stop_tracer(tracer: subprocess.Popen) -> tuple[str, str]:
    time.sleep(0.3)  # longer than the poll interval: everything is written
    tracer.send_signal(signal.SIGINT)
    out, err = tracer.communicate(timeout=30)
    assert tracer.returncode == 0, err
    return out, err


def key(e: dict) -> tuple:
    return (e["op"], e["path"], e.get("new_path"), e["result"])


@pytest.mark.parametrize("hooks", HOOKS)
def test_every_change_by_every_syscall_reported_once(trees, hooks: str) -> None:
    watched, outside = trees
    secret = watched / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    audit = Audit(watched, outside, "--attempts", deny=secret, hooks=hooks)
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


@pytest.mark.parametrize("hooks", HOOKS)
def test_failed_attempts_only_with_the_option(trees, hooks: str) -> None:
    watched, outside = trees
    secret = watched / "secret"
    secret.write_text("x")
    os.chmod(secret, 0o600)
    audit = Audit(watched, outside, deny=secret, hooks=hooks)
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


@pytest.mark.parametrize("choice", ["lsm", "fentry", "syscalls"])
def test_hooks_option_keeps_one_kind_in_every_group(choice: str) -> None:
    """--hooks picks, from the alternatives the object declares, one kind."""
    from bpfkit import BPFObject
    from bpfkit.tools.fileaudit import FileAudit

    with BPFObject.open(FileAudit.object_path()) as obj:
        obj.restrict_hooks(FileAudit.hook_kinds[choice])
        kept = {p.name for p in obj.progs if p.autoload and p.name != "finish"}
        assert {obj.progs[n].kind for n in kept} == FileAudit.hook_kinds[choice]
        if choice == "syscalls":  # the whole tracepoint path, as before
            assert {n for n in kept if n.startswith(("enter_", "exit_"))} == {
                f"{side}_{call}" for side in ("enter", "exit") for call in (
                    "open", "openat", "openat2", "creat", "truncate", "ftruncate", "rename",
                    "renameat", "renameat2", "unlink", "unlinkat", "rmdir", "chmod", "fchmod",
                    "fchmodat", "fchmodat2", "chown", "lchown", "fchown", "fchownat", "link",
                    "linkat", "symlink", "symlinkat", "mkdir", "mkdirat")}
        else:  # every family has its before-hook, every call its fexit
            assert {n.split("_", 1)[1] for n in kept if not n.startswith("fexit_")} == {
                "unlink", "rmdir", "rename", "link", "symlink", "mkdir", "chmod", "chown", "truncate"}
            assert {n.removeprefix("fexit_") for n in kept if n.startswith("fexit_")} == {
                "open", "unlink", "rmdir", "rename", "link", "symlink", "mkdir",  # do_*()
                "truncate", "ftruncate", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown",
                "lchown", "fchown", "fchownat"}  # the syscalls' own entry points


@pytest.mark.skipif(kernel_has("lsm"), reason="this kernel offers the BPF LSM")
def test_forcing_hooks_the_kernel_lacks_is_one_clear_error() -> None:
    r = subprocess.run([*BPFKIT, "fileaudit", "--hooks", "lsm"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("bpfkit: no hook of ") and "works on this kernel" in r.stderr


def changes(out: str) -> list[tuple]:
    return [(e["op"], e["path"], e.get("new_path"), e["syscall"]) for e in map(json.loads, out.splitlines())]


# The LSM/fentry/fexit hooks see the inode a call resolved: the rest of the
# file is what the syscall tracepoints cannot see (README: known limits).

@needs("fentry", "fexit")
def test_a_symlink_in_the_last_component_is_judged_by_its_target(trees) -> None:
    watched, outside = trees
    target = watched / "target"
    target.write_text("x")
    link = outside / "link"
    link.symlink_to(target)
    tracer = start_tracer(watched, "--json")
    os.chmod(link, 0o600)  # chmod, truncate and chown follow a symlink
    os.truncate(link, 0)
    os.chown(link, 0, 0)
    dfd = os.open(outside, os.O_RDONLY)
    os.chmod("link", 0o644, dir_fd=dfd)  # fchmodat(2)
    os.close(dfd)
    out, err = stop_tracer(tracer)
    got = [(op, path) for op, path, _, _ in changes(out)]
    assert got == [("CHMOD", str(target)), ("TRUNCATE", str(target)), ("CHOWN", str(target)),
                   ("CHMOD", str(target))]
    assert "events: 4, dropped: 0" in err


@needs("fentry", "fexit")
def test_a_watched_file_is_watched_through_its_hard_links(trees) -> None:
    watched, outside = trees
    old, early = watched / "old", outside / "early"
    old.write_text("x")
    os.link(old, early)  # before the tracer: found through the file's other name
    tracer = start_tracer(watched, "--json")
    new, late = watched / "new", outside / "late"
    new.write_text("x")
    os.link(new, late)  # while it runs: reported, and the file stays watched by inode
    early.write_text("y")
    with open(late, "r+") as f:
        f.write("y")
    os.chmod(late, 0o600)
    os.unlink(late)
    alone = outside / "alone"  # a file with one name, outside: not watched
    alone.write_text("x")
    os.chmod(alone, 0o600)
    out, err = stop_tracer(tracer)
    assert [c[:3] for c in changes(out)] == [
        ("CREATE", str(new), None), ("LINK", str(new), str(late)), ("TRUNCATE", str(early), None),
        ("WRITE", str(late), None), ("CHMOD", str(late), None), ("DELETE", str(late), None)]
    assert "events: 6, dropped: 0" in err


@needs("fentry", "fexit")
def test_a_watched_tree_is_watched_through_a_bind_mount(trees) -> None:
    watched, outside = trees
    view = outside / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(watched), str(view)], check=True)
    try:
        tracer = start_tracer(watched, "--json")
        (view / "f").write_text("x")
        os.rename(view / "f", view / "g")
        os.unlink(view / "g")
        out, _ = stop_tracer(tracer)
    finally:
        subprocess.run(["umount", str(view)], check=True)
    assert [c[:3] for c in changes(out)] == [
        ("CREATE", str(view / "f"), None), ("RENAME", str(view / "f"), str(view / "g")),
        ("DELETE", str(view / "g"), None)]


@needs("fentry", "fexit")
def test_a_failed_change_leaves_the_marks_alone(trees) -> None:
    """The before-hooks run ahead of the kernel's own permission checks: a
    failed `rmdir` of the watched tree must not unwatch it, a failed `ln` of
    anyone's file into it must not watch that file."""
    watched, outside = trees
    (watched / "keep").write_text("x")
    mine = outside / "mine"
    mine.write_text("x")
    os.chown(mine, 65534, 65534)
    view = outside / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(watched), str(view)], check=True)
    try:
        tracer = start_tracer(watched, "--json")
        with pytest.raises(OSError):
            os.rmdir(watched)  # ENOTEMPTY, after security_path_rmdir()
        ln = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                             "ln", str(mine), str(watched / "x")], capture_output=True, text=True)
        assert ln.returncode != 0 and "Permission denied" in ln.stderr, ln.stderr
        (view / "f").write_text("x")  # still watched through the bind mount
        mine.write_text("y")  # never watched
        out, err = stop_tracer(tracer)
    finally:
        subprocess.run(["umount", str(view)], check=True)
    assert [c[:2] for c in changes(out)] == [("CREATE", str(view / "f"))]
    assert "events: 1, dropped: 0" in err


@needs("fentry", "fexit")
def test_a_file_renamed_over_a_watched_one_is_watched_by_inode(trees) -> None:
    """passwd, visudo and editors replace a file by renaming a new one over
    it: the new file is the watched one, through any other path to it."""
    watched, outside = trees
    passwd, new = watched / "passwd", watched / "passwd.new"
    passwd.write_text("x")
    new.write_text("y")
    view = outside / "view"
    view.mkdir()
    subprocess.run(["mount", "--bind", str(watched), str(view)], check=True)
    try:
        tracer = start_tracer(passwd, "--json")
        os.rename(new, passwd)
        (view / "passwd").write_text("z")
        (view / "other").write_text("z")  # not watched: only passwd is
        out, err = stop_tracer(tracer)
    finally:
        subprocess.run(["umount", str(view)], check=True)
    assert [c[:3] for c in changes(out)] == [("RENAME", str(new), str(passwd)),
                                             ("TRUNCATE", str(view / "passwd"), None)]
    assert "events: 2, dropped: 0" in err
