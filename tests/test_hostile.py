"""Hostile input and faults that need no BPF program: escaping, the output
file, `bpfkit build` targets, option values. (Kernel-side: tests/reliability/.)"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_cli, unescape

from bpfkit.output import JsonSink, Output, OutputError, TextSink, escape, fit, open_output


# -- 6. escaping: unambiguous, reversible, no forged lines or reordering ----------------------
@pytest.mark.parametrize(("raw", "shown"), [
    ("a\u2028b\u2029c", "a\\u2028b\\u2029c"),           # Unicode line/paragraph separators
    ("evil\u202etxt.exe", "evil\\u202etxt.exe"),       # RLO reorders the rest of the line
    ("x\u2066y\u2069", "x\\u2066y\\u2069"),             # isolates
    ("zero\u200bwidth", "zero\\u200bwidth"),
    ("\udcff", "\\xff"),                                # a real 0xFF byte (not UTF-8)
    ("\\xff", "\\\\xff"),                               # a name literally spelled \xff
    ("ok ünïcödé", "ok ünïcödé"),
])
def test_escape_is_unambiguous(raw: str, shown: str) -> None:
    assert escape(raw) == shown


@pytest.mark.parametrize("name", [b"plain", b"a\nb", b"\xff", b"\\xff", b"\\\\x", b"\x1b[31m",
                                  b"\xe2\x80\xae", b"\xc3\xa9t\xc3\xa9", b"mixed\xff\\xff\n\\"])
def test_escaped_names_read_back_to_their_bytes(name: bytes) -> None:
    assert unescape(escape(name.decode("utf-8", "surrogateescape"))) == name


def test_fit_cuts_a_column_without_splitting_an_escape() -> None:
    assert fit("short", 16) == "short"
    assert fit(escape("\udcff" * 10), 16) == "\\xff\\xff\\xff…"
    assert fit("a…b", 16) == "a\\u2026b"  # a literal ellipsis cannot pass for a cut
    assert all(len(fit(escape("x" * n + "\n" * n), 16)) <= 16 for n in range(20))


def test_json_keeps_the_exact_bytes_of_names_that_are_not_utf8(tmp_path) -> None:
    out = Output(str(tmp_path / "o.jsonl"))
    real, literal = b"f\xffile".decode("utf-8", "surrogateescape"), "f\\xffile"
    JsonSink(out).write_records([{"path": real, "n": 1}, {"path": literal},
                                 {"answers": [{"name": real}], "names": [real, "ok"]}])
    out.close()
    a, b, c = map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines())
    assert a["path"] == "f\ufffdile" and base64.b64decode(a["path_b64"]) == b"f\xffile"
    assert b == {"path": "f\\xffile"}  # valid UTF-8: no _b64, and distinct from the byte
    assert base64.b64decode(c["answers"][0]["name_b64"]) == b"f\xffile"
    assert [base64.b64decode(x) if x else None for x in c["names_b64"]] == [b"f\xffile", None]


# -- 4. the output file: private, no planted symlinks, no kernel knobs ---------------------------
def test_output_file_is_created_private(tmp_path) -> None:
    old = os.umask(0o022)
    try:
        Output(str(tmp_path / "log")).close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "log").st_mode) == 0o600


def test_output_group_makes_it_0640(tmp_path) -> None:
    Output(str(tmp_path / "log"), group=os.getgid()).close()
    assert stat.S_IMODE(os.stat(tmp_path / "log").st_mode) == 0o640


def test_a_planted_symlink_is_refused(tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp: anyone may plant a link here
    (shared / "log").symlink_to(victim)
    with pytest.raises(OutputError, match="symlink"):
        Output(str(shared / "log"))
    assert victim.read_text() == "untouched\n"


def test_trusted_symlinks_are_followed(tmp_path) -> None:
    os.chmod(tmp_path, 0o755)
    (tmp_path / "real").touch()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    out = Output(str(tmp_path / "link"))
    out.write("x\n")
    out.close()
    assert (tmp_path / "real").read_text() == "x\n"
    fd, _ = open_output("/dev/stdout")  # what systemd units and users write
    os.close(fd)


@pytest.mark.parametrize("path", ["/proc/sys/kernel/hostname", "/sys/kernel/mm/transparent_hugepage/enabled",
                                  "/tmp"])
def test_kernel_knobs_and_directories_are_refused(path: str) -> None:
    if not os.path.exists(path):
        pytest.skip(f"{path} not on this kernel")
    before = Path(path).read_text() if os.path.isfile(path) else None
    with pytest.raises(OutputError, match=r"refusing|Is a directory"):
        Output(path)
    if before is not None:
        assert Path(path).read_text() == before


# -- 2. a write error never kills the monitor, never leaves half a line -----------------------
def test_a_full_device_counts_lost_lines_and_keeps_going() -> None:
    out = Output("/dev/full")
    out.BACKLOG_BYTES = 64
    for i in range(10):
        assert out.write(f"line {i} " + "x" * 20 + "\n") is False
    out.close()
    assert out.lost_lines == 10 and out.failed_writes >= 10


def _run_in_private_tmpfs(code: str) -> subprocess.CompletedProcess[str]:
    script = ("mount -t tmpfs -o size=256k bpfkit-full /mnt && "
              f"exec {sys.executable} -c \"$0\"")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, code],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_full_disk_keeps_whole_lines_and_resumes_when_space_returns() -> None:
    code = """
import os
from bpfkit.output import Output
filler = '/mnt/filler'
out = Output('/mnt/log')
fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
try:
    while os.write(fd, b'x' * 4096):   # fill the disk
        pass
except OSError:
    pass
os.close(fd)
out.BACKLOG_BYTES = 1 << 20
n = 0
for batch in range(100):
    text = ''.join(f'event {n + i:06d} ' + 'y' * 90 + '\\n' for i in range(10))
    n += 10
    out.write(text)
os.unlink(filler)   # space comes back
out.write('event last\\n')
out.close()
lines = open('/mnt/log').read().split('\\n')
assert lines[-1] == '', 'the file ends with a whole line'
lines = lines[:-1]
assert all(l.startswith('event ') and (l == 'event last' or len(l) == 103) for l in lines), 'no half lines'
assert len(lines) == n + 1 - out.lost_lines, (len(lines), n, out.lost_lines)
assert out.lost_lines == 0, 'the backlog held what did not fit until space returned'
print(len(lines))
"""
    r = _run_in_private_tmpfs(code)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout) == 1001
    assert "cannot write to /mnt/log: No space left on device (still tracing" in r.stderr
    assert "writing to /mnt/log again" in r.stderr


def test_text_header_is_not_repeated_when_appending(tmp_path) -> None:
    path = str(tmp_path / "log")
    for _ in range(2):
        out = Output(path)
        sink = TextSink(out, [("TIME", 8), ("NAME", 0)])
        sink.write_header()
        sink.write_rows([("12:00:00", "x")])
        out.close()
    assert Path(path).read_text().splitlines() == ["TIME     NAME", "12:00:00 x", "12:00:00 x"]


# -- 1. `bpfkit build -o` replaces only regular files ----------------------------------------
@pytest.mark.parametrize("kind", ["device", "symlink", "directory"])
def test_build_never_replaces_what_is_not_a_regular_file(tmp_path, kind: str) -> None:
    target = tmp_path / "out.bpf.o"
    if kind == "device":
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null of our own
    elif kind == "symlink":
        (tmp_path / "precious").write_text("keep\n")
        target.symlink_to(tmp_path / "precious")
    else:
        target.mkdir()
    before = os.lstat(target)
    r = run_cli("build", str(ROOT / "examples" / "hello.bpf.c"), "-o", str(target))
    assert r.returncode == 1 and "refusing to replace it" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    after = os.lstat(target)
    assert (after.st_mode, after.st_ino) == (before.st_mode, before.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"device": ["out.bpf.o"], "symlink": ["out.bpf.o", "precious"], "directory": ["out.bpf.o"]}[kind])


def test_build_in_a_read_only_directory_is_one_line_and_leaves_nothing(tmp_path) -> None:
    code = (f"mount -t tmpfs -o ro none {tmp_path} && exec {sys.executable} -m bpfkit build "
            f"{ROOT / 'examples' / 'hello.bpf.c'} -o {tmp_path}/x.bpf.o")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", code],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "Read-only file system" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_build_with_an_unwritable_cache_names_the_way_out(tmp_path) -> None:
    r = subprocess.run([sys.executable, "-m", "bpfkit", "build", str(ROOT / "examples" / "hello.bpf.c"),
                        "-o", str(tmp_path / "x.bpf.o"), "--force"],
                       env={**os.environ, "XDG_CACHE_HOME": "/proc/nope"}, capture_output=True, text=True)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "XDG_CACHE_HOME" in r.stderr and len(r.stderr.strip().splitlines()) == 1


# -- 3/7/9. option values: checked, finite, one line, exit 2 ---------------------------------
@pytest.mark.parametrize("argv", [
    ["fileopen", "--interval", "nan"], ["fileopen", "--interval", "inf"], ["fileopen", "--interval", "1e7"],
    ["fileopen", "--duration", "nan"], ["fileopen", "--duration", "1e400"], ["fileopen", "--duration", "-1"],
    ["fileopen", "--min-lat-ms", "nan"], ["fileopen", "--min-lat-ms", "inf"],
    ["fileopen", "--min-lat-ms", "1e30"], ["fileopen", "--pid", "4294967296"], ["fileopen", "--uid", "-1"],
    ["tcptrack", "--alert-ports", "²"], ["tcptrack", "--no-connect", "--no-accept", "--no-close"],
    ["tcptrack", "--alert-ports", "", "--alerts-only"],
    ["fileaudit", "--watch", "/" + "a" * 4100], ["run", "x.bpf.o", "--duration", "nan"],
    ["fileopen", "--ring-buffer-kb", "3"], ["fileopen", "--output-group", "no-such-group-x"],
])
def test_bad_values_are_usage_errors(argv: list[str]) -> None:
    r = run_cli(*argv)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith(f"bpfkit {argv[0]}: "), r.stderr


def test_undecodable_option_bytes_are_no_traceback(tmp_path) -> None:
    bad = b"\xff\xfe".decode("utf-8", "surrogateescape")
    hello = str(ROOT / "examples" / "hello.bpf.o")
    for argv in (["fileopen", "--comm", bad, "--duration", "0"],
                 ["fileaudit", "--exclude-comm", bad, "--watch", f"{tmp_path}/{bad}", "--duration", "0"],
                 ["run", hello, "--set", f"target_uid={bad}", "--duration", "0"]):
        r = subprocess.run([sys.executable, "-m", "bpfkit", *argv], capture_output=True, cwd=ROOT)
        assert b"Traceback" not in r.stderr and r.returncode in (0, 2), (argv, r.stderr)


def test_closed_stdout_is_one_line() -> None:
    r = subprocess.run(f"exec {sys.executable} -m bpfkit fileopen --duration 0 >&-", shell=True,
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 1 and "standard output is closed" in r.stderr and "Traceback" not in r.stderr
