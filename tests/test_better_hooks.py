"""Kinds this project's kernel refuses, where a kernel offers them (Debian's
stock kernels in `make test-kernels`): they must really work, and the hook
fallbacks must prefer them."""

from __future__ import annotations

import ctypes
import os
import subprocess
from pathlib import Path

import pytest
from conftest import needs

from bpfkit import BPFObject

pytestmark = [pytest.mark.kernel, pytest.mark.lane]  # all in the second-kernel lane
MAGIC = 0x7FFFF0F0


def loaded(bpf_obj, *progs: str) -> BPFObject:
    obj = BPFObject.open(bpf_obj("better"))
    for p in obj.progs:
        p.autoload = p.name in progs
    obj.load()
    obj.bss.target_tgid = os.getpid()
    obj.attach()
    return obj


def unlink_n(tmp_path: Path, n: int) -> None:
    for i in range(n):
        f = tmp_path / f"x{i}"
        f.write_text("x")
        os.unlink(f)


@needs("kprobe")
def test_kprobe_and_kretprobe_count_every_call(bpf_obj, tmp_path: Path) -> None:
    with loaded(bpf_obj, "on_kprobe", "on_kretprobe") as obj:
        unlink_n(tmp_path, 5)
        assert (obj.bss.kprobe_hits, obj.bss.kretprobe_hits) == (5, 5)


@needs("kprobe")
def test_ksyscall_sees_the_syscall_arguments(bpf_obj) -> None:
    with loaded(bpf_obj, "on_ksyscall") as obj:
        libc = ctypes.CDLL(None, use_errno=True)
        for _ in range(3):
            libc.getpgid(MAGIC)
        assert obj.bss.ksyscall_hits == 3


@needs("fentry", "fexit")
def test_fentry_and_fexit_with_the_return_value(bpf_obj, tmp_path: Path) -> None:
    with loaded(bpf_obj, "on_fentry", "on_fexit") as obj:
        unlink_n(tmp_path, 4)
        try:
            os.unlink(tmp_path / "absent")
        except FileNotFoundError:
            pass
        assert (obj.bss.fentry_hits, obj.bss.fexit_hits) == (5, 5)
        assert obj.bss.fexit_ret == -2  # the last call: ENOENT


@needs("lsm")
def test_bpf_lsm_sees_file_opens(bpf_obj, tmp_path: Path) -> None:
    with loaded(bpf_obj, "on_lsm") as obj:
        for _ in range(3):
            (tmp_path / "f").open("w").close()
        assert obj.bss.lsm_hits >= 3


@needs("fentry")
def test_declared_fallbacks_prefer_fentry(bpf_obj, tmp_path: Path) -> None:
    with BPFObject.open(bpf_obj("hooks")) as obj:
        obj.progs.never_tp.autoload = False
        obj.progs.never_kprobe.autoload = False
        obj.load()
        assert obj.chosen_hooks["unlink"].program == "unlink_fentry"
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        unlink_n(tmp_path, 3)
        subprocess.run(["true"], check=True)
        assert (obj.bss.hits_fentry, obj.bss.hits_kprobe, obj.bss.hits_tp) == (3, 0, 0)


@needs("kprobe")
def test_declared_fallbacks_take_kprobe_over_the_tracepoint(bpf_obj, tmp_path: Path) -> None:
    with BPFObject.open(bpf_obj("hooks")) as obj:
        obj.progs.never_tp.autoload = False
        obj.progs.never_kprobe.autoload = False
        obj.declare_hooks("unlink", "unlink_kprobe", "unlink_tp")
        obj.load()
        assert obj.chosen_hooks["unlink"].program == "unlink_kprobe"
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        unlink_n(tmp_path, 2)
        assert (obj.bss.hits_kprobe, obj.bss.hits_tp) == (2, 0)
