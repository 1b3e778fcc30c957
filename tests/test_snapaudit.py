"""`bpfkit snapaudit` against the REAL libzfs_core (Debian's, fetched by scripts/fetch-zfs-libs.sh)
issuing its genuine ioctls on a fake /dev/zfs in a private mount namespace (tests/helpers/lzc.py):
the node is character device 1:3, the kernel's /dev/null, so every ZFS ioctl fails with ENOTTY
after the syscall carried its real number and zfs_cmd_t. The tracer is pointed at that device
with --device /dev/null (same device number) and run with --attempts, since every call fails."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import pytest
from conftest import BPFKIT, ROOT

pytestmark = pytest.mark.kernel

HELPERS = ROOT / "tests" / "helpers"
sys.path.insert(0, str(HELPERS))
import lzc  # noqa: E402

DRIVER = HELPERS / "zfs_calls.py"
FETCH = ROOT / "scripts" / "fetch-zfs-libs.sh"
# What an offline machine's apt-get says (the fetch script passes its first error line on).
NO_NETWORK = ("Temporary failure resolving", "Could not resolve", "Network is unreachable",
              "Failed to fetch", "Connection timed out", "Connection refused", "No route to host",
              "Unable to connect", "Cannot initiate the connection")


@pytest.fixture(scope="module")
def libs():
    """Debian's libzfs_core and libnvpair, unpacked. `make test` fetches them first; if they are
    missing, fetch them now; skip (with the reason) only when the download is impossible."""
    try:
        return lzc.Libs.get()
    except (lzc.LibsMissing, OSError):
        pass
    r = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        why = (r.stderr.strip().splitlines() or ["no output"])[-1]
        if any(s in r.stderr for s in NO_NETWORK):
            pytest.skip(f"ZFS libraries not fetched and no network to fetch them: {why}")
        pytest.fail(f"scripts/fetch-zfs-libs.sh failed: {why}")
    return lzc.Libs.get()


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _no_tracer_outlives_its_test():
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Tracer:
    """`bpfkit snapaudit --device /dev/null ARGS`, started and ready."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*BPFKIT, "snapaudit", "--device", "/dev/null", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL)
        _started.append(self.proc)
        banner = self.proc.stderr.readline().decode()
        assert banner.startswith("Auditing ZFS"), banner + self.proc.stderr.read().decode()
        self.buf = b""

    def lines(self, n: int, timeout: float = 10.0) -> list[str]:
        """The next n lines of output, as they come (before the tracer is stopped)."""
        fd, deadline = self.proc.stdout.fileno(), time.monotonic() + timeout
        while self.buf.count(b"\n") < n:
            left = deadline - time.monotonic()
            got = self.buf.count(b"\n")
            assert left > 0 and select.select([fd], [], [], left)[0], (
                f"{got} of {n} lines after {timeout} s: {self.buf.decode()[-2000:]}")
            chunk = os.read(fd, 1 << 20)
            assert chunk, "tracer ended"
            self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n", n)
        return [x.decode() for x in lines]

    def stop(self) -> tuple[str, str]:
        time.sleep(0.3)  # longer than the poll interval
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err.decode()
        return (self.buf + out).decode(), err.decode()


def calls(*spec, argv_prefix: tuple[str, ...] = (), python: str = sys.executable, env=None) -> dict:
    """Run the driver in the fake /dev/zfs namespace; who it was and each call's errno."""
    r = lzc.run_in_fake_zfs_namespace([*argv_prefix, python, str(DRIVER)], input=json.dumps(spec),
                                      capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def records(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def b(raw: bytes) -> dict:
    return {"$b": raw.hex()}


# What lzc.all_ops() does, call by call: (op, ioctl, names, fields the record must have).
ALL_OPS = [
    ("CREATE", "CREATE", ["tank/fs"], {"type": "filesystem", "props": {"compression": 2}}),
    ("SNAPSHOT", "SNAPSHOT", ["tank/fs@a", "tank/fs@b"], {"props": {"user:why": "audit"}}),
    ("DESTROY", "DESTROY_SNAPS", ["tank/fs@a", "tank/fs@b"], {"deferred": True, "severity": "HIGH"}),
    ("DESTROY", "DESTROY", ["tank/fs"], {"deferred": False, "severity": "HIGH"}),
    ("RENAME", "RENAME", ["tank/fs@a", "tank/fs@b"], {"new_name": "tank/fs@b", "recursive": False}),
    ("ROLLBACK", "ROLLBACK", ["tank/fs"], {"target": None, "severity": "HIGH"}),
    ("ROLLBACK", "ROLLBACK", ["tank/fs", "tank/fs@a"], {"target": "tank/fs@a"}),
    ("HOLD", "HOLD", ["tank/fs@a"], {"holds": {"tank/fs@a": "keep"}, "temporary": False}),
    ("RELEASE", "RELEASE", ["tank/fs@a"], {"holds": {"tank/fs@a": ["keep"]}}),
    ("SNAPSHOT", "TMP_SNAPSHOT", [], {"dataset": "tank/fs", "prefix": "zfs-diff-1234", "temporary": True}),
    ("BOOKMARK", "BOOKMARK", ["tank/fs#bm", "tank/fs@a"], {"bookmarks": {"tank/fs#bm": "tank/fs@a"}}),
    ("DESTROY_BOOKMARK", "DESTROY_BOOKMARKS", ["tank/fs#bm"], {}),
    ("REDACT", "REDACT", ["tank/fs@b", "tank/fs#redact1"], {"redaction_snapshots": ["tank/clone@x"]}),
    ("CLONE", "CLONE", ["tank/clone", "tank/fs@a"], {"origin": "tank/fs@a"}),
    ("PROMOTE", "PROMOTE", ["tank/clone"], {}),
    ("RECEIVE", "RECV", ["tank/fs/new@r"], {"force": True, "origin": None, "severity": "HIGH"}),
    ("PROGRAM", "CHANNEL_PROGRAM", [], {"program": "return zfs.sync.snapshot(...)",
                                        "program_args": {"argv": ["tank/fs@cp"]}, "sync": True}),
]


@pytest.mark.lane
def test_every_operation_reported_once_with_names_and_who(libs) -> None:
    t = Tracer("--attempts", "--json", "--history-wait", "60")
    who = calls(["all"])
    # The process logged its command line (LOG_HISTORY) and exited: every call leaves at once,
    # long before --history-wait 60 runs out, with that command line.
    got = records("\n".join(t.lines(len(ALL_OPS), timeout=15)))
    out, err = t.stop()
    assert records(out) == [], out  # nothing more: the history call is not a record of its own
    assert set(who["results"][0].values()) == {25}
    assert [(r["op"], r["ioctl"], r["names"]) for r in got] == [(o, i, n) for o, i, n, _ in ALL_OPS]
    for r, (_, _, _, fields) in zip(got, ALL_OPS, strict=True):
        for k, v in fields.items():
            assert r[k] == v, (r["ioctl"], k, r[k])
        assert (r["result"], r["errno"], r["pool"]) == (25, "ENOTTY", "tank"), r
        assert (r["pid"], r["tid"], r["ppid"], r["uid"], r["euid"]) == (
            who["pid"], who["tid"], os.getpid(), 0, 0)
        assert r["comm"] == who["comm"] and r["parent_comm"] == Path("/proc/self/comm").read_text().strip()
        assert r["cmdline"] == [sys.executable, str(DRIVER)]
        assert r["zfs_command"] == "zfs snapshot tank/fs@a"
        assert r["truncated"] is False and "capture" not in r
        assert r["tool"] == "snapaudit" and r["event"] == "zfs"
    assert [r["ts"] for r in got] == sorted(r["ts"] for r in got)
    # Each call once; read-only calls (OBJSET_STATS of receive, GET_HOLDS, GET_BOOKMARKS) never
    # reached the ring: 17 calls + the history call + the process's exit record.
    assert f"events: {len(ALL_OPS) + 2}, dropped: 0" in err, err


def test_uid_of_an_unprivileged_caller_and_the_uid_filter(libs, tmp_path_factory) -> None:
    """Run by uid 65534 through setpriv; --uid 65534 (in the kernel) leaves root's calls out."""
    python = shutil.which("python3", path="/usr/bin:/bin")
    if python is None:
        pytest.skip("needs a python3 that uid 65534 can run (/usr/bin/python3)")
    # Everything the unprivileged process reads must be readable to it: a world-readable copy
    # of the driver, lzc.py and the unpacked libraries.
    base = Path(tempfile.mkdtemp(prefix="bpfkit-snapaudit-"))
    try:
        shutil.copy(DRIVER, base)
        shutil.copy(HELPERS / "lzc.py", base)
        shutil.copytree(lzc.DEFAULT_CACHE / "root", base / "libs" / "root", symlinks=True)
        for d, _, files in os.walk(base):
            os.chmod(d, 0o755)
            for f in files:
                if not os.path.islink(os.path.join(d, f)):
                    os.chmod(os.path.join(d, f), 0o644)
        env = {**os.environ, "BPFKIT_ZFS_LIBS": str(base / "libs")}
        t = Tracer("--attempts", "--json", "--uid", "65534", "--history-wait", "0")
        calls(["snapshot", ["tank/root@x"]])  # root: left out in the kernel
        who = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", python, str(base / DRIVER.name)],
            input=json.dumps([["snapshot", ["tank/home@by-nobody"]], ["destroy_snaps", ["tank/home@old"]]]),
            preexec_fn=lzc.enter_fake_zfs_namespace, capture_output=True, text=True, env=env, timeout=60)
        assert who.returncode == 0, who.stderr
        who = json.loads(who.stdout)
        out, err = t.stop()
    finally:
        shutil.rmtree(base)
    got = records(out)
    assert who["uid"] == 65534
    assert [(r["op"], r["names"], r["uid"], r["euid"], r["pid"], r["errno"]) for r in got] == [
        ("SNAPSHOT", ["tank/home@by-nobody"], 65534, 65534, who["pid"], "ENOTTY"),
        ("DESTROY", ["tank/home@old"], 65534, 65534, who["pid"], "ENOTTY")]
    assert got[0]["cmdline"][0] == python and got[0]["comm"] == who["comm"]
    assert "events: 2, dropped: 0" in err


def snaps(n: int, tag: str) -> list[str]:
    return [f"tank/home/user{i:05d}/projects@autosnap_2026-11-22_03:00:01_{tag}" for i in range(n)]


def test_recursive_snapshot_of_many_datasets_chunked_or_visibly_cut(libs) -> None:
    """500 names (~40 KB of nvlist) arrive whole, in chunk records; 2000 names (~160 KB, over the
    64 KiB capture limit) arrive cut, flagged, counted in the kernel and said on stderr."""
    t = Tracer("--attempts", "--json", "--history-wait", "0")
    calls(["snapshot", snaps(500, "daily")], ["snapshot", snaps(2000, "hourly")])
    out, err = t.stop()
    whole, cut = records(out)
    assert whole["names"] == snaps(500, "daily")
    assert whole["nvlist_bytes"] > 32768 and "nvlist_captured" not in whole
    assert whole["truncated"] is False and "capture" not in whole
    assert cut["truncated"] is True and cut["capture"] == ["nvlist_cut"]
    assert cut["nvlist_bytes"] > 150_000 and cut["nvlist_captured"] == 65536
    assert 0 < len(cut["names"]) < 2000 and cut["names"] == snaps(2000, "hourly")[:len(cut["names"])]
    # 3 chunks + call, 4 chunks + call
    assert "events: 9, dropped: 0" in err, err
    assert f"nvlist bytes beyond the capture limit: {cut['nvlist_bytes'] - 65536}" in err, err
    assert "nvlists longer than the capture limit: 1" in err


def test_chunked_calls_through_perf_buffers(libs) -> None:
    """Kernels before 5.8 (or --perf-buffer): chunk records fit a perf sample (< 64 KiB)."""
    t = Tracer("--attempts", "--json", "--history-wait", "0", "--perf-buffer")
    calls(["snapshot", snaps(500, "daily")], ["destroy_snaps", ["tank/fs@x"]])
    out, err = t.stop()
    big, small = records(out)
    assert big["names"] == snaps(500, "daily") and big["truncated"] is False
    assert small["names"] == ["tank/fs@x"]
    assert "events: 5, dropped: 0" in err, err


def test_lower_capture_limit_and_text_marks_the_cut(libs) -> None:
    t = Tracer("--attempts", "--max-nvlist-kb", "4", "--history-wait", "0")
    calls(["snapshot", snaps(500, "daily")])
    out, _ = t.stop()
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("TIME     SEV    OP"), out
    assert " SNAPSHOT " in lines[1] and "(truncated: nvlist_cut)" in lines[1]
    assert lines[1].count("@autosnap_") < 500


def test_a_crafted_name_cannot_forge_a_line(libs) -> None:
    forged = b"\n03:00:01 HIGH   DESTROY   0    1      zfs         ok      tank/home@all"
    evil = [b"tank/fs@x" + forged + b"\x1b[2K\r", b"tank/fs@y, tank/other@z => tank", b"tank/fs@\xff\xfe"]
    t = Tracer("--attempts", "--history-wait", "0")
    calls(["snapshot", [b(n) for n in evil]], ["rename", b(evil[0]), "tank/fs@ok"])
    out, _ = t.stop()
    lines = out.splitlines()
    assert len(lines) == 3, out  # the header, two calls
    snap, ren = lines[1], lines[2]
    assert " SNAPSHOT " in snap and " RENAME " in ren
    # Each name is one quoted, escaped token: no newline, no ESC, no CR; a ", " or " => "
    # inside a name stays inside its quotes.
    assert '"tank/fs@x\\n03:00:01 HIGH   DESTROY' in snap and "tank/home@all\\x1b[2K\\r\"" in snap
    assert '"tank/fs@y, tank/other@z => tank"' in snap
    assert '"tank/fs@\\xff\\xfe"' in snap  # bytes that are not UTF-8
    assert ren.count(" => ") == 1 and '\\x1b[2K\\r" => tank/fs@ok' in ren
    assert all("\x1b" not in line and "\r" not in line for line in lines)


def test_non_zfs_ioctls_cost_no_ring_event(libs) -> None:
    """TCGETS (and ZFS-numbered ioctls on a tty) are rejected in the kernel; one real call after
    the flood is the only event."""
    t = Tracer("--attempts", "--json", "--history-wait", "0")
    master, slave = pty.openpty()
    try:
        for _ in range(100_000):
            termios.tcgetattr(slave)
        zc = bytearray(13744)
        for cmd in (0x5A23, 0x5A3B, 0x5A18):  # ZFS numbers on the wrong device
            with pytest.raises(OSError):
                fcntl.ioctl(slave, cmd, zc)
    finally:
        os.close(master)
        os.close(slave)
    calls(["destroy_snaps", ["tank/fs@after-the-flood"]])
    out, err = t.stop()
    assert [(r["op"], r["names"]) for r in records(out)] == [("DESTROY", ["tank/fs@after-the-flood"])]
    assert "events: 1, dropped: 0" in err, err


def test_filters_pool_op_severity_failed(libs) -> None:
    t = Tracer("--failed", "--json", "--pool", "tank", "--op", "destroy,rollback", "--op", "rename",
               "--min-severity", "high", "--history-wait", "0")
    calls(["destroy_snaps", ["tank/fs@a"]], ["destroy_snaps", ["other/fs@a"]],
          ["rollback_to", "tank/fs", "tank/fs@a"], ["rename", "tank/fs@a", "tank/fs@b"],
          ["snapshot", ["tank/fs@c"]])
    out, err = t.stop()
    # --op in the kernel: the snapshot never reached the ring; --pool and --min-severity in user
    # space: other/ and the MEDIUM rename are left out.
    assert [(r["op"], r["names"]) for r in records(out)] == [
        ("DESTROY", ["tank/fs@a"]), ("ROLLBACK", ["tank/fs", "tank/fs@a"])]
    assert "events: 4, dropped: 0" in err, err


def test_failed_calls_are_counted_not_reported_by_default(libs) -> None:
    t = Tracer("--json")
    calls(["snapshot", ["tank/fs@a"]], ["destroy", "tank/fs@a"])
    out, err = t.stop()
    assert out == "" and "events: 0, dropped: 0" in err
    assert "snapaudit: 2 failed calls not reported (--attempts reports them)" in err


def test_zfs_command_line_joined_per_process(libs) -> None:
    """A process that logs its command line gets it on its calls; one that does not is reported
    once it exits (not after --history-wait); a message with no call is reported on its own."""
    t = Tracer("--attempts", "--json", "--history-wait", "60")
    cmd = "zfs rollback -r tank/fs@0"
    a = calls(["destroy_snaps", ["tank/fs@1"]], ["rollback", "tank/fs"], ["log_history", cmd])
    b_ = calls(["snapshot", ["tank/fs@2"]])
    c = calls(["log_history", "zfs set compression=on tank"])
    got = records("\n".join(t.lines(4, timeout=15)))
    t.stop()
    assert [(r["op"], r["pid"], r["zfs_command"]) for r in got] == [
        ("DESTROY", a["pid"], cmd), ("ROLLBACK", a["pid"], cmd),
        ("SNAPSHOT", b_["pid"], None), ("HISTORY", c["pid"], None)]
    assert got[3]["message"] == "zfs set compression=on tank" and got[3]["ioctl"] == "LOG_HISTORY"


def test_key_material_never_leaves_the_tool(libs) -> None:
    key = bytes(range(0xA0, 0xC0))  # 32 bytes, as a raw wrapping key
    t = Tracer("--attempts", "--json", "--history-wait", "0")
    calls(["create_encrypted", "tank/secret"], env={**os.environ, "ZFS_TEST_KEY": key.hex()})
    out, _ = t.stop()
    (r,) = records(out)
    assert r["op"] == "CREATE" and r["names"] == ["tank/secret"]
    assert r["hidden_args"] == {"wkeydata": "[redacted]"}
    # in no form: hex, a JSON list of its bytes, Python's repr of them
    assert key.hex() not in out and ",".join(map(str, key[:8])) not in out.replace(" ", "")
    assert repr(key)[2:20] not in out


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="ia32 syscalls: x86-64")
def test_32bit_callers_are_seen_with_compat(libs) -> None:
    """Syscall tracepoints skip compat syscalls: a 32-bit program (here `int $0x80`) reaches ZFS
    unseen by default. --compat sees it on the raw sys_enter/sys_exit tracepoints."""
    plain = Tracer("--attempts", "--json", "--history-wait", "0")
    compat = Tracer("--attempts", "--json", "--history-wait", "0", "--compat")
    who = calls(["compat_snapshot", ["tank/fs@by-a-32-bit-caller"]], ["snapshot", ["tank/fs@64"]])
    out_plain, _ = plain.stop()
    out_compat, err = compat.stop()
    assert who["results"] == [25, 25]
    assert [(r["names"], r["compat"]) for r in records(out_plain)] == [(["tank/fs@64"], False)]
    got = records(out_compat)
    assert [(r["op"], r["names"], r["compat"], r["errno"], r["pid"]) for r in got] == [
        ("SNAPSHOT", ["tank/fs@by-a-32-bit-caller"], True, "ENOTTY", who["pid"]),
        ("SNAPSHOT", ["tank/fs@64"], False, "ENOTTY", who["pid"])]
    assert "events: 2, dropped: 0" in err


def test_usage_errors() -> None:
    for args, what in ((["--op", "explode"], "--op"), (["--max-nvlist-kb", "65"], "--max-nvlist-kb"),
                       (["--device", "/etc/passwd"], "--device"), (["--pool", "a/b"], "--pool"),
                       (["--history-wait", "61"], "--history-wait")):
        r = subprocess.run([*BPFKIT, "snapaudit", *args], capture_output=True, text=True)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and what in r.stderr, (args, r.stderr)
