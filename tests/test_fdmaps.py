"""PROG_ARRAY tail calls and ARRAY/HASH_OF_MAPS, against the real kernel."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from bpfkit import BPFObject
from bpfkit.core.codecs.types import IntCodec

pytestmark = pytest.mark.kernel
MAGIC = 0x7FFFF123


def args(*values: int) -> bytes:
    return struct.pack(f"<{len(values)}Q", *values)


def test_tail_call_dispatch_and_empty_slot_falls_through(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("tailcall")) as obj:
        obj.load()
        progs = obj.maps.progs
        progs[0] = obj.progs.handle_root
        progs[1] = obj.progs.handle_user
        assert progs[0] is obj.progs.handle_root and progs[1] is obj.progs.handle_user
        assert progs.get(2) is None
        run = obj.progs.dispatch.test_run
        assert run(ctx=args(0)).retval == 1
        assert run(ctx=args(1)).retval == 2
        assert run(ctx=args(2)).retval == 99  # empty slot: the dispatcher goes on
        assert (obj.bss.ran_root, obj.bss.ran_user, obj.bss.fell_through) == (1, 1, 1)
        del progs[1]
        assert run(ctx=args(1)).retval == 99
        assert obj.bss.fell_through == 2 and obj.bss.ran_user == 1


def test_tail_call_by_uid_on_live_syscalls(bpf_obj) -> None:
    """The tracepoint dispatcher picks the handler by the caller's uid; the
    uid slot left empty falls through and is counted by the dispatcher."""
    call = f"import os\ntry: os.getpgid({MAGIC})\nexcept OSError: pass"
    with BPFObject.open(bpf_obj("tailcall")) as obj:
        obj.load()
        obj.maps.by_uid[0] = obj.progs.uid_is_root
        obj.attach("uid_dispatch")
        subprocess.run([sys.executable, "-c", call], check=True)
        nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", call]
        subprocess.run(nobody, check=True)
        assert (obj.bss.uid_root, obj.bss.uid_user, obj.bss.uid_fell) == (1, 0, 1)
        obj.maps.by_uid[1] = obj.progs.uid_is_user
        subprocess.run(nobody, check=True)
        assert (obj.bss.uid_root, obj.bss.uid_user, obj.bss.uid_fell) == (1, 1, 1)


def test_array_of_maps_set_inner_and_read_through(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("mapinmap")) as obj:
        obj.load()
        a, b, outer = obj.maps.inner_a, obj.maps.inner_b, obj.maps.outer
        a[0], b[0] = 111, 222
        outer[0] = a
        outer[1] = b
        assert outer[0] is a and outer[1] is b
        run = obj.progs.read_outer.test_run
        assert run(ctx=args(1, 7)).retval == 0 and obj.bss.seen == 222
        assert b[1] == 7 and a[1] == 0  # the program wrote through the inner map it found
        outer[1] = a  # swap the inner map under the program
        assert run(ctx=args(1, 9)).retval == 0 and obj.bss.seen == 111 and a[1] == 9
        assert outer[1][1] == 9  # Python reads through the outer map too
        del outer[1]
        assert outer.get(1) is None
        assert run(ctx=args(1, 0)).retval == (-1 & 0xFFFFFFFF)
        with pytest.raises(TypeError, match="holds maps"):
            outer[0] = obj.progs.read_outer


def test_hash_of_maps(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("mapinmap")) as obj:
        obj.load()
        tenants = obj.maps.by_tenant
        obj.maps.inner_b[0] = 5
        tenants[1001] = obj.maps.inner_b
        assert dict(tenants.items()) == {1001: obj.maps.inner_b}
        assert obj.progs.read_tenant.test_run(ctx=args(1001, 3)).retval == 0
        assert obj.bss.seen == 5 and tenants[1001][1] == 3
        assert obj.progs.read_tenant.test_run(ctx=args(1002, 3)).retval == (-1 & 0xFFFFFFFF)


def test_inner_map_not_of_this_object_is_opened_by_id(bpf_obj) -> None:
    """An inner map that belongs to another object comes back as a map
    opened by id, typed from the kernel's BTF for it."""
    with BPFObject.open(bpf_obj("mapinmap")) as donor, BPFObject.open(bpf_obj("mapinmap")) as obj:
        donor.load()
        obj.load()
        donor.maps.inner_a[0] = 4242
        obj.maps.outer[0] = donor.maps.inner_a
        inner = obj.maps.outer[0]
        assert inner is not donor.maps.inner_a
        assert inner[0] == 4242 and isinstance(inner.value_codec, IntCodec)  # typed, not bytes
        inner[1] = 17
        assert donor.maps.inner_a[1] == 17
        inner.close()
