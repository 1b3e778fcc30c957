"""snapaudit's user-space logic on synthetic input (no kernel, no download): what each ZFS call
means (the captured nvlists of tests/fixtures/nvlist), errno names, text that cannot be forged,
key redaction, the join of `zfs` command lines to calls, and the reassembly of chunked nvlists
(a lost chunk is visible, never silent)."""

from __future__ import annotations

import struct
from pathlib import Path
from types import SimpleNamespace

import pytest

from bpfkit.output import escape
from bpfkit.runner.tool import Clock
from bpfkit.tools.snapaudit import SnapAudit, kernel_dev
from bpfkit.tools.snapaudit.history import HistoryJoin
from bpfkit.tools.snapaudit.nvlist import decode
from bpfkit.tools.snapaudit.ops import (
    IOCTLS,
    errno_name,
    interpret,
    name_text,
    op_names,
    pool_of,
    redact,
    target_text,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvlist"
NO_SCALARS = {"cookie": 0, "cookie_out": 0, "guid": 0, "objset_type": 0, "obj_out": 0, "defer_destroy": 0,
              "cleanup_fd": 0}
CMD = {name: cmd for cmd, (name, _) in IOCTLS.items()}


def nv(fixture: str) -> dict:
    return decode((FIXTURES / f"{fixture}.bin").read_bytes()).values


def call(ioctl: str, name: str = "tank", fixture: str | None = None, value: str = "", string: str = "",
         exit_str: str = "", result: int = 0, **scalars: int) -> dict:
    return interpret(CMD[ioctl], name, value, string, exit_str, nv(fixture) if fixture else {},
                     {**NO_SCALARS, **scalars}, result)


def test_the_ioctl_numbers_are_openzfs_linux_ones() -> None:
    # ZFS_IOC_FIRST ('Z' << 8) + the zfs_ioc_t index, shared/notes/zfs.md section 2
    assert {n: hex(c) for c, (n, _) in IOCTLS.items()} == {
        "CREATE": "0x5a17", "DESTROY": "0x5a18", "ROLLBACK": "0x5a19", "RENAME": "0x5a1a", "RECV": "0x5a1b",
        "PROMOTE": "0x5a22", "SNAPSHOT": "0x5a23", "HOLD": "0x5a30", "RELEASE": "0x5a31",
        "TMP_SNAPSHOT": "0x5a37", "DESTROY_SNAPS": "0x5a3b", "LOG_HISTORY": "0x5a3f", "CLONE": "0x5a42",
        "BOOKMARK": "0x5a43", "DESTROY_BOOKMARKS": "0x5a45", "RECV_NEW": "0x5a46",
        "CHANNEL_PROGRAM": "0x5a48", "REDACT": "0x5a51"}


def test_names_of_every_operation_from_captured_nvlists() -> None:
    r = call("SNAPSHOT", fixture="snapshot")
    assert (r["op"], r["names"], r["props"], r["severity"]) == (
        "SNAPSHOT", ["tank/fs@2024-06-01", "tank/fs/sub@2024-06-01"], {"user:reason": "before upgrade"},
        "LOW")
    r = call("DESTROY_SNAPS", fixture="destroy_snaps")
    assert (r["op"], r["names"], r["deferred"], r["severity"]) == (
        "DESTROY", ["tank/fs@2024-06-01", "tank/fs/sub@2024-06-01"], True, "HIGH")
    r = call("DESTROY", "tank/fs@x", "destroy", defer_destroy=1)
    assert (r["names"], r["deferred"], r["pool"]) == (["tank/fs@x"], True, "tank")
    r = call("ROLLBACK", "tank/fs", "rollback_to")
    assert (r["names"], r["target"], r["severity"]) == (
        ["tank/fs", "tank/fs@2024-06-01"], "tank/fs@2024-06-01", "HIGH")
    r = call("RENAME", "tank/a@s", value="tank/b@s", exit_str="tank/a/child@s", result=-17, cookie=1)
    assert (r["names"], r["new_name"], r["recursive"], r["failed_name"]) == (
        ["tank/a@s", "tank/b@s"], "tank/b@s", True, "tank/a/child@s")
    r = call("HOLD", fixture="hold")
    assert (r["names"], r["holds"], r["temporary"]) == (
        ["tank/fs@2024-06-01", "tank/fs/sub@2024-06-01"],
        {"tank/fs@2024-06-01": "keep", "tank/fs/sub@2024-06-01": "keep"}, True)
    r = call("RELEASE", fixture="release")
    assert (r["names"], r["holds"]) == (["tank/fs@2024-06-01"], {"tank/fs@2024-06-01": ["keep", "backup"]})
    r = call("BOOKMARK", fixture="bookmark")
    assert r["bookmarks"] == {"tank/fs#b1": "tank/fs@2024-06-01", "tank/fs#b2": "tank/fs#b1"}
    assert r["names"] == ["tank/fs#b1", "tank/fs#b2", "tank/fs@2024-06-01", "tank/fs#b1"]
    r = call("DESTROY_BOOKMARKS", fixture="destroy_bookmarks")
    assert (r["op"], r["names"]) == ("DESTROY_BOOKMARK", ["tank/fs#b1", "tank/fs#b2"])
    r = call("CLONE", "tank/c", "clone")
    assert (r["names"], r["origin"]) == (["tank/c", "tank/fs@2024-06-01"], "tank/fs@2024-06-01")
    r = call("REDACT", "tank/fs@b", "redact")
    assert (r["bookmark"], r["redaction_snapshots"]) == ("tank/fs#r1", ["tank/clone@x"])
    r = call("RECV_NEW", "tank/fs", "recv_new")
    assert (r["op"], r["names"], r["force"]) == ("RECEIVE", ["tank/fs/new@r"], "force" in nv("recv_new"))
    r = call("RECV", "tank/fs", value="tank/fs/new@r", string="tank/o@s", guid=1, cookie_out=312)
    assert (r["names"], r["origin"], r["force"], r["severity"], r["bytes"]) == (
        ["tank/fs/new@r"], "tank/o@s", True, "HIGH", 312)
    r = call("TMP_SNAPSHOT", "tank/fs", value="zfs-diff-7", exit_str="tank/fs@zfs-diff-7-00000000deadbeef")
    assert (r["op"], r["names"], r["temporary"]) == (
        "SNAPSHOT", ["tank/fs@zfs-diff-7-00000000deadbeef"], True)
    r = call("PROMOTE", "tank/c", exit_str="tank/fs@clash", result=-17)
    assert (r["names"], r["conflict"]) == (["tank/c"], "tank/fs@clash")
    r = call("CHANNEL_PROGRAM", fixture="channel_program")
    assert r["program"].startswith("args = ...") and r["program_args"] == {"argv": ["tank/fs@a", "tank/fs@b"]}
    assert (r["op"], r["severity"], r["sync"], r["pool"]) == ("PROGRAM", "HIGH", True, "tank")
    r = call("LOG_HISTORY", "", fixture="log_history")
    assert (r["op"], r["message"], r["pool"]) == ("HISTORY", "zfs destroy tank/fs@2024-06-01", None)


def test_a_cut_nvlist_gives_the_names_before_the_cut() -> None:
    d = decode((FIXTURES / "many_snaps_cut.bin").read_bytes(), 20068)
    r = interpret(CMD["SNAPSHOT"], "tank", "", "", "", d.values, NO_SCALARS, 0)
    assert d.truncated and 0 < len(r["names"]) < 500
    assert r["names"] == [f"tank/fs@auto-{i:04d}" for i in range(len(r["names"]))]


def test_key_material_is_redacted() -> None:
    r = call("CREATE", "tank/enc", "create_encrypted")
    assert r["hidden_args"] == {"wkeydata": "[redacted]"}
    assert r["props"] == {"encryption": 8, "keyformat": 3}
    assert redact({"a": [{"wkeydata": b"k"}], "hidden_args": "x"}) == {
        "a": [{"wkeydata": "[redacted]"}], "hidden_args": "[redacted]"}


def test_errno_names_include_zfs_codes() -> None:
    assert errno_name(0) is None
    assert errno_name(-25) == "ENOTTY" and errno_name(-1) == "EPERM"
    assert errno_name(-1024) == "ZFS_ERR_CHECKPOINT_EXISTS"
    assert errno_name(-1029) == "ZFS_ERR_IOC_CMD_UNAVAIL"
    assert errno_name(-1030) == "ZFS_ERR_IOC_ARG_UNAVAIL"
    assert errno_name(-1032) == "ZFS_ERR_IOC_ARG_BADTYPE"
    assert errno_name(-1044) == "ZFS_ERR_BADPROP" and errno_name(-1045) == "ZFS_ERR_VDEV_NOTSUP"
    assert errno_name(-5000) == "E5000"


def test_names_print_unambiguously() -> None:
    assert name_text("tank/home@daily-2026-11-22", escape) == "tank/home@daily-2026-11-22"
    assert name_text("tank/fs@a%b", escape) == "tank/fs@a%b"
    for evil in ("a\nb", "a, b", "a => b", "x\x1b[2K", 'q"uote', "back\\slash", "", "tank/my fs@x",
                 "rtl\u202eevil", "ls\u2028ep"):
        out = name_text(evil, escape)
        assert out.startswith('"') and out.endswith('"') and out.isprintable(), (evil, out)
        inner = out[1:-1]
        assert '"' not in inner.replace('\\"', ""), out  # every inner quote is escaped
    rec = call("SNAPSHOT", fixture="snapshot")
    rec["names"] = ["a, b", "c"]
    assert target_text(rec, escape) == '"a, b", c'


def test_op_names_and_pools() -> None:
    assert op_names("destroy, Rollback,destroy-bookmark") == ["DESTROY", "ROLLBACK", "DESTROY_BOOKMARK"]
    with pytest.raises(ValueError):
        op_names("destroy,explode")
    assert [pool_of(n) for n in ("tank", "tank/a@b", "tank@s", "tank#b", "")] == ["tank"] * 4 + [""]
    assert kernel_dev(0x0103) == (1 << 20) | 3  # /dev/null: 1:3


# -- the zfs command line, joined by process ----------------------------------------------------

MS = 1_000_000


def hist(msg: str) -> dict:
    return {"op": "HISTORY", "message": msg}


def test_history_attaches_to_the_calls_before_it_and_releases_them() -> None:
    j = HistoryJoin(5000 * MS)
    a1, a2, b = {"op": "DESTROY"}, {"op": "ROLLBACK"}, {"op": "SNAPSHOT"}
    j.call(1 * MS, 100, a1)
    j.call(2 * MS, 200, b)
    j.call(3 * MS, 100, a2)
    assert j.ready(4 * MS) == []  # a1 waits for its command line
    j.history(5 * MS, 100, hist("zfs rollback -r tank/fs@0"))
    assert a1["zfs_command"] == a2["zfs_command"] == "zfs rollback -r tank/fs@0"
    assert [i.rec for i in j.ready(6 * MS)] == [a1]  # b (pid 200) still waits, a2 behind it
    j.exited(200)
    assert [i.rec for i in j.ready(7 * MS)] == [b, a2]
    assert b["zfs_command"] is None and len(j) == 0


def test_history_delivered_first_and_history_alone() -> None:
    j = HistoryJoin(5000 * MS)
    late = {"op": "SNAPSHOT"}
    j.history(10 * MS, 100, hist("zfs snapshot tank@x"))  # perf buffers: the message came first
    j.call(9 * MS, 100, late)
    assert late["zfs_command"] == "zfs snapshot tank@x"
    assert [i.rec["op"] for i in j.ready(11 * MS)] == ["SNAPSHOT"]  # the message went with it
    alone = hist("zfs set compression=on tank")
    j.history(20 * MS, 300, alone)
    assert j.ready(21 * MS) == []
    assert [i.rec for i in j.ready(20 * MS + 5000 * MS)] == [alone]


def test_wait_expires_and_order_is_kept() -> None:
    j = HistoryJoin(100 * MS)
    x, y = {"op": "SNAPSHOT"}, {"op": "DESTROY"}
    j.call(5 * MS, 1, y)
    j.call(1 * MS, 2, x)  # delivered out of order
    assert j.ready(50 * MS) == []
    assert [i.rec for i in j.ready(106 * MS)] == [x, y]
    j0 = HistoryJoin(0)
    j0.call(1, 1, x)
    j0.history(2, 1, hist("zfs snapshot"))
    assert [i.rec["op"] for i in j0.ready(3)] == ["SNAPSHOT", "HISTORY"]


# -- records in, reassembly ----------------------------------------------------------------------

def tool(**over) -> SnapAudit:
    args = SimpleNamespace(op=None, max_nvlist_kb="64", history_wait=0.0, pool=None, min_severity="low",
                           compat=False, attempts=True, failed=False, device="/dev/null", interval=0.1,
                           uid=None, verbose=False, **over)
    return SnapAudit(args, Clock())


def event(cmd: int, name: bytes, nv: bytes, *, tid: int = 7, call_id: int = 42, inline: bool = True,
          **kw) -> SimpleNamespace:
    """A call record as struct snapaudit_event decodes (strings: name, value, string, argv, exit)."""
    args = b"zfs\0snapshot\0tank@x\0"
    tail = name + b"\0" + b"\0" + b"\0" + args + b"\0" + b"\0" + (nv if inline else b"")
    base = dict(ts_ns=10**9, call_id=call_id, enter_ns=10**9 - 5000, cgroup_id=1, nv_size=len(nv),
                cookie=0, cookie_out=0, guid=0, objset_type=0, obj_out=0, pid=1234, tid=tid, ppid=1, uid=0,
                euid=0, loginuid=1000, gid=0, result=0, cmd=cmd, nv_captured=len(nv),
                nv_offset=0, data_len=0, defer_destroy=0, cleanup_fd=-1, name_len=len(name), value_len=0,
                string_len=0, exit_len=0, args_len=len(args), nv_inline=len(nv) if inline else 0, flags=0,
                kind=1, exit_what=0, comm="zfs", pcomm="bash", data=tail)
    base.update(kw)
    return SimpleNamespace(**base)


def chunk(data: bytes, offset: int, tid: int = 7, call_id: int = 42) -> SimpleNamespace:
    return SimpleNamespace(kind=2, tid=tid, call_id=call_id, nv_offset=offset, data_len=len(data), data=data)


def snapshot_nv(n: int) -> bytes:
    # NV_ENCODE_NATIVE {snaps: {name: BOOLEAN...}} as libnvpair packs it (shared/notes/zfs.md 5)
    def pair(name: bytes, dtype: int, nelem: int, value: bytes = b"") -> bytes:
        nsz = len(name) + 1
        hdr = (16 + nsz + 7) & ~7
        size = hdr + ((len(value) + 7) & ~7)
        return struct.pack("<ihhii", size, nsz, 0, nelem, dtype) + name + b"\0" * (hdr - 16 - len(name)) + \
            value + b"\0" * (((len(value) + 7) & ~7) - len(value))
    body = b"".join(pair(f"tank/fs{i:04d}@s".encode(), 1, 0) for i in range(n))
    snaps = pair(b"snaps", 19, 1, struct.pack("<iIQIi", 0, 1, 0, 0, 0))
    return b"\x00\x01\x00\x00" + struct.pack("<iI", 0, 1) + snaps + body + b"\0" * 4 + b"\0" * 4


def test_a_call_record_becomes_one_json_record() -> None:
    t = tool()
    raw = snapshot_nv(3)
    assert decode(raw, len(raw)).values["snaps"] == {f"tank/fs{i:04d}@s": True for i in range(3)}
    assert t.keep(event(CMD["SNAPSHOT"], b"tank", raw)) is False  # taken in, written by report()
    (text, rec), = t.report(False)
    assert rec["names"] == [f"tank/fs{i:04d}@s" for i in range(3)]
    assert (rec["op"], rec["uid"], rec["loginuid"], rec["cmdline"], rec["truncated"]) == (
        "SNAPSHOT", 0, 1000, ["zfs", "snapshot", "tank@x"], False)
    assert " SNAPSHOT  0/1000 1234 " in text and text.endswith('cmd="zfs snapshot tank@x"')
    assert t.m_ops.get(("SNAPSHOT", "ok", "LOW")) == 1


def test_chunks_are_reassembled_and_a_lost_one_is_visible() -> None:
    raw = snapshot_nv(400)
    half = len(raw) // 2
    t = tool()
    t.keep(chunk(raw[:half], 0))
    t.keep(chunk(raw[half:], half))
    t.keep(event(CMD["SNAPSHOT"], b"tank", raw, inline=False))
    (_, whole), = t.report(False)
    assert len(whole["names"]) == 400 and whole["truncated"] is False
    t = tool()
    t.keep(chunk(raw[:half], 0, call_id=43))  # the second chunk found the ring full
    t.keep(event(CMD["SNAPSHOT"], b"tank", raw, inline=False, call_id=43, flags=0x0200))
    (text, cut), = t.report(False)
    assert cut["truncated"] is True and set(cut["capture"]) == {"chunk_lost", "nvlist_cut"}
    assert 0 < len(cut["names"]) < 400 and "(truncated: chunk_lost, nvlist_cut)" in text


def test_bytes_that_are_not_an_nvlist_are_reported_not_fatal() -> None:
    t = tool()
    t.keep(event(CMD["DESTROY_SNAPS"], b"tank", b"\x07garbage-garbage"))
    (_, rec), = t.report(False)
    assert rec["op"] == "DESTROY" and rec["names"] == [] and rec["capture"] == ["nvlist_invalid"]
    assert rec["truncated"] is True and "encoding" in rec["nvlist_error"]
    assert any("not a packed nvlist" in line for line in t.summary())
