"""Hook fallbacks declared once (BPFKIT_HOOKS / obj.declare_hooks): the first
alternative this kernel offers is kept, the others never reach the kernel."""

from __future__ import annotations

import os
import subprocess

import pytest

from bpfkit import BPFObject
from bpfkit.core.kernel.errors import BPFKernelFeatureError
from bpfkit.core.kernel.features import kprobes_supported

pytestmark = [pytest.mark.kernel, pytest.mark.lane]  # all in the second-kernel lane


def open_hooks(bpf_obj) -> BPFObject:
    obj = BPFObject.open(bpf_obj("hooks"))
    obj.progs.never_tp.autoload = False
    obj.progs.never_kprobe.autoload = False
    return obj


@pytest.mark.skipif(kprobes_supported(), reason="this kernel has kprobes: kprobe would be chosen")
def test_declared_fallbacks_choose_the_tracepoint_here(bpf_obj, tmp_path) -> None:
    with open_hooks(bpf_obj) as obj:
        obj.load()
        unlink, exec_ = obj.chosen_hooks["unlink"], obj.chosen_hooks["exec"]
        assert (unlink.program, unlink.kind) == ("unlink_tp", "tracepoint")
        reasons = dict(unlink.skipped)
        assert reasons["unlink_fentry"] == "fentry programs are refused by this kernel"
        assert reasons["unlink_kprobe"] == "no kprobe support in this kernel"
        assert (exec_.program, exec_.kind, exec_.skipped) == ("exec_btf", "tp_btf", [])
        assert str(unlink) == ("unlink: unlink_tp (tracepoint); unlink_fentry skipped: fentry "
                               "programs are refused by this kernel; unlink_kprobe skipped: no "
                               "kprobe support in this kernel")
        assert not obj.progs.unlink_fentry.loaded and not obj.progs.unlink_kprobe.loaded
        assert not obj.progs.exec_raw.loaded
        obj.attach()
        obj.bss.target_tgid = os.getpid()
        victim = tmp_path / "victim"
        victim.write_text("x")
        dfd = os.open(tmp_path, os.O_RDONLY)
        os.unlink("victim", dir_fd=dfd)  # unlinkat(2)
        os.close(dfd)
        subprocess.run(["true"], check=True)
        assert (obj.bss.hits_tp, obj.bss.hits_fentry, obj.bss.hits_kprobe) == (1, 0, 0)
        assert obj.bss.execs_btf >= 1 and obj.bss.execs_raw == 0


def test_python_declaration_overrides_the_order(bpf_obj) -> None:
    with open_hooks(bpf_obj) as obj:
        obj.declare_hooks("exec", "exec_raw", "exec_btf")
        obj.load()
        assert obj.chosen_hooks["exec"].program == "exec_raw"
        obj.attach()
        subprocess.run(["true"], check=True)
        assert obj.bss.execs_raw >= 1 and obj.bss.execs_btf == 0


def test_missing_tracepoint_falls_back_to_the_next(bpf_obj) -> None:
    with open_hooks(bpf_obj) as obj:
        obj.declare_hooks("unlink2", "never_tp", "unlink_tp")
        obj.load()
        choice = obj.chosen_hooks["unlink2"]
        assert choice.program == "unlink_tp"
        assert choice.skipped == [("never_tp", "no tracepoint bpfkit_none:no_such_event")]


def test_a_group_nothing_can_run_is_one_clear_error(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("hooks")) as obj:
        obj.declare_hooks("never", "never_tp", "never_kprobe")
        with pytest.raises(BPFKernelFeatureError) as exc:
            obj.load()
        msg = str(exc.value)
        assert msg.startswith("no hook of 'never' works on this kernel (never_tp: no tracepoint "
                              "bpfkit_none:no_such_event; never_kprobe: ")
        assert "\n" not in msg


def test_unknown_program_in_a_declaration(bpf_obj) -> None:
    with open_hooks(bpf_obj) as obj, pytest.raises(Exception, match="no_such_prog"):
        obj.declare_hooks("x", "unlink_tp", "no_such_prog")
