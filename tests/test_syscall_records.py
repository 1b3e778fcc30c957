"""bpfkit.bpf.h's syscall tracepoint records (used without CO-RE, so loading
never parses the kernel BTF) must match this kernel's tracefs formats."""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from bpfkit import BPFObject
from bpfkit.core.codecs.btf import Kind
from bpfkit.core.kernel import system

pytestmark = pytest.mark.kernel

FIELD = re.compile(r"field:.*?(\w+)(?:\[\d+\])?;\s*offset:(\d+);\s*size:(\d+);")


def tracefs_fields(event: str) -> dict[str, tuple[int, int]]:
    path, _ = system.ensure_tracefs()
    with open(f"{path}/events/syscalls/{event}/format") as f:
        return {m[1]: (int(m[2]), int(m[3])) for m in FIELD.finditer(f.read())}


def btf_members(struct: str) -> dict[str, tuple[int, int]]:
    with BPFObject.open(ROOT / "src/bpfkit/tools/fileopen/fileopen.bpf.o") as obj:
        t = obj.btf.find(Kind.STRUCT, struct)
        assert t is not None, f"{struct} not in the object's BTF"
        return {m.name: (m.bit_offset // 8, obj.btf.size_of(m.type_id)) for m in t.members}


@pytest.mark.parametrize("event", ["sys_enter_openat", "sys_enter_execve", "sys_enter_renameat2"])
def test_sys_enter_layout(event: str) -> None:
    have = btf_members("bpfkit_sys_enter")
    want = tracefs_fields(event)
    assert have["nr"] == want["__syscall_nr"]
    first_arg = min(off for name, (off, _) in want.items()
                    if not name.startswith("common_") and name != "__syscall_nr")
    assert have["args"][0] == first_arg
    # every argument is one 8-byte slot, in order
    args = sorted(off for name, (off, _) in want.items()
                  if not name.startswith("common_") and name != "__syscall_nr")
    assert args == list(range(first_arg, first_arg + 8 * len(args), 8))


def test_sys_exit_layout() -> None:
    have, want = btf_members("bpfkit_sys_exit"), tracefs_fields("sys_exit_openat")
    assert (have["nr"], have["ret"]) == (want["__syscall_nr"], want["ret"])
