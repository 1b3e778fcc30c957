"""Pinning under bpffs: pin, reopen from another process, reuse at load, unpin."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from bpfkit import BPFObject
from bpfkit.core.kernel.errors import BPFError
from bpfkit.core.maps import load_pinned_map

pytestmark = pytest.mark.kernel
KEY = {"addr": 0x0100007F, "port": 443, "proto": 6}


@pytest.fixture
def pin_dir():
    path = f"/sys/fs/bpf/bpfkit-test-{uuid.uuid4().hex[:8]}"
    yield path
    subprocess.run(["rm", "-rf", path], check=False)


def test_pin_reopen_from_another_process_and_unpin(bpf_obj, pin_dir: str) -> None:
    with BPFObject.open(bpf_obj("maps")) as obj:
        obj.load()
        flows = obj.maps.flows
        flows[KEY] = {"packets": 10, "name": "web"}
        path = flows.pin(f"{pin_dir}/flows")
        assert os.path.exists(path) and flows.pin_path == path
    # The object is closed: the pin keeps the map alive. Another process
    # opens it, typed from the kernel's BTF, and writes to it.
    child = (f"from bpfkit import load_pinned_map\n"
             f"m = load_pinned_map({path!r})\n"
             f"k, = m.keys()\n"
             f"v = m[k]\n"
             f"print(m.name, k.port, v.packets, v.name)\n"
             f"m[k] = {{'packets': v.packets + 1, 'name': 'web2'}}\n")
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
    assert r.stdout.split() == ["flows", "443", "10", "web"]
    with load_pinned_map(path) as m:
        assert m[KEY].packets == 11 and m[KEY].name == "web2"
    os.unlink(path)  # what obj.maps.flows.unpin() does
    with pytest.raises(BPFError, match="nothing is pinned at"):
        load_pinned_map(path)


def test_object_reuses_a_matching_pin(bpf_obj, pin_dir: str) -> None:
    path = f"{pin_dir}/arr"
    with BPFObject.open(bpf_obj("maps")) as first:
        first.maps.arr.pin_path = path  # created and pinned at load
        first.load()
        first.maps.arr[3] = -7
        assert os.path.exists(path)
        with BPFObject.open(bpf_obj("maps")) as second:
            second.maps.arr.pin_path = path  # reused: the same kernel map
            second.load()
            assert second.maps.arr[3] == -7
            second.maps.arr[4] = 9
            assert first.maps.arr[4] == 9
        assert first.maps.arr.unpin() and not os.path.exists(path)
        assert not first.maps.arr.unpin()


def test_a_pin_that_no_longer_matches_lists_the_differences(bpf_obj, pin_dir: str) -> None:
    path = f"{pin_dir}/arr"
    with BPFObject.open(bpf_obj("maps")) as old:
        old.load()
        old.maps.arr.pin(path)
    with BPFObject.open(bpf_obj("maps")) as new:
        new.maps.arr.max_entries = 16  # the program changed since the pin was made
        new.maps.arr.pin_path = path
        with pytest.raises(BPFError) as exc:
            new.load()
    assert str(exc.value) == (f"map 'arr' does not match the map pinned at {path}: max_entries 8 "
                              f"(pinned) != 16 (object); unpin it (rm {path}) or pin elsewhere")
    with BPFObject.open(bpf_obj("maps")) as other:
        other.maps.flows.pin_path = path  # a HASH where an ARRAY is pinned
        with pytest.raises(BPFError, match=r"type ARRAY \(pinned\) != HASH \(object\), key_size 4 "
                           r"\(pinned\) != 8 \(object\), value_size 8 \(pinned\) != 40 \(object\)"):
            other.load()


def test_pin_a_program(bpf_obj, pin_dir: str) -> None:
    with BPFObject.open(bpf_obj("ringbuf")) as obj:
        obj.load()
        prog = obj.progs.on_getppid
        path = prog.pin(f"{pin_dir}/prog")
        r = subprocess.run(["bpftool", "prog", "show", "pinned", path], capture_output=True, text=True)
        assert r.returncode == 0 and "on_getppid" in r.stdout
        with pytest.raises(BPFError, match="already pinned there"):
            prog.pin(path)
        assert prog.unpin() and not os.path.exists(path)


def test_pins_live_under_bpffs(bpf_obj, tmp_path) -> None:
    with BPFObject.open(bpf_obj("maps")) as obj:
        obj.load()
        with pytest.raises(BPFError, match="pins live under /sys/fs/bpf"):
            obj.maps.arr.pin(str(tmp_path / "arr"))


def test_bpffs_is_mounted_when_missing(bpf_obj) -> None:
    """In a private mount namespace without bpffs, pinning mounts it first."""
    code = (f"from bpfkit import BPFObject\n"
            f"obj = BPFObject.open({str(bpf_obj('maps'))!r}).load()\n"
            f"print(obj.maps.arr.pin('/sys/fs/bpf/bpfkit-ns-test'))\n")
    script = (f"umount /sys/fs/bpf 2>/dev/null; grep -c ' /sys/fs/bpf bpf ' /proc/self/mounts; "
              f"{sys.executable} -c \"$0\" && grep -c ' /sys/fs/bpf bpf ' /proc/self/mounts")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, code],
                       capture_output=True, text=True)
    assert r.stdout.split() == ["0", "/sys/fs/bpf/bpfkit-ns-test", "1"], r.stderr


def test_errors_carry_their_errno(bpf_obj, pin_dir: str) -> None:
    import errno

    with BPFObject.open(bpf_obj("maps")) as obj:
        obj.load()
        path = obj.maps.arr.pin(f"{pin_dir}/arr")
        with pytest.raises(BPFError) as exc:
            obj.maps.flows.pin(path)
        assert exc.value.errno == errno.EEXIST
    with pytest.raises(BPFError) as exc:
        load_pinned_map(f"{pin_dir}/nothing")
    assert exc.value.errno == errno.ENOENT
