"""Attach kinds against real events; links detach on close and die with the process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bpfkit import BPFAttachError, BPFError, BPFKernelFeatureError, BPFObject
from bpfkit.core.kernel import features
from bpfkit.probes import libc_path

pytestmark = pytest.mark.kernel


def opened(bpf_obj, *progs: str) -> BPFObject:
    obj = BPFObject.open(bpf_obj("attach"))
    for p in obj.progs:
        p.autoload = p.name in progs
    obj.load()
    obj.bss.target_tgid = os.getpid()
    return obj


def test_optional_tracepoints_the_kernel_lacks_are_switched_off(bpf_obj) -> None:
    """What a tool's optional_programs declare: an optional hook group of one."""
    obj = BPFObject.open(bpf_obj("attach"))
    for p in obj.progs:
        p.autoload = p.name in ("on_tp", "on_missing")
    for name in ("on_tp", "on_missing"):
        obj.declare_hooks(name, name, optional=True)
    obj.load()
    skipped = obj.chosen_hooks["on_missing"].skipped
    assert skipped == [("on_missing", "no tracepoint syscalls:sys_enter_bpfkit_no_such_call")]
    assert (obj.progs.on_tp.loaded, obj.progs.on_missing.loaded) == (True, False)
    assert [link.program.name for link in obj.attach()] == ["on_tp"]  # no attach error
    obj.close()


def test_tracepoint_raw_tp_and_tp_btf(bpf_obj) -> None:
    with opened(bpf_obj, "on_tp", "on_raw", "on_fork") as obj:
        links = obj.attach()
        assert sorted(link.program.name for link in links) == ["on_fork", "on_raw", "on_tp"]
        for _ in range(7):
            os.getpgid(0)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        assert obj.bss.tp_hits == 7
        assert obj.bss.raw_hits >= 8  # every syscall of ours
        assert obj.bss.btf_hits == 1


def test_uprobe_and_uretprobe_on_a_libc_symbol(bpf_obj) -> None:
    with opened(bpf_obj, "on_uprobe", "on_uretprobe") as obj:
        assert obj.attach() == []  # bare SEC("uprobe") names no target: nothing auto-attached
        obj.progs.on_uprobe.attach_uprobe(libc_path(), "getpid", pid=os.getpid())
        obj.progs.on_uretprobe.attach_uprobe(libc_path(), "getpid", pid=os.getpid())
        before = (obj.bss.uprobe_hits, obj.bss.uretprobe_hits)
        for _ in range(5):
            os.getpid()
        assert (obj.bss.uprobe_hits - before[0], obj.bss.uretprobe_hits - before[1]) == (5, 5)


def test_uprobe_missing_symbol_is_a_clear_error(bpf_obj) -> None:
    with opened(bpf_obj, "on_uprobe") as obj, pytest.raises(BPFAttachError, match="no_such_fn"):
        obj.progs.on_uprobe.attach_uprobe(libc_path(), "no_such_fn")


def test_autoload_off_program_is_not_loaded(bpf_obj) -> None:
    with opened(bpf_obj, "on_tp") as obj:
        assert obj.progs.on_tp.loaded and not obj.progs.on_raw.loaded
        with pytest.raises(BPFError, match="not loaded"):
            obj.progs.on_raw.attach()


def test_autoattach_off_is_skipped(bpf_obj) -> None:
    with opened(bpf_obj, "on_tp", "on_raw") as obj:
        obj.progs.on_raw.autoattach = False
        assert [link.program.name for link in obj.attach()] == ["on_tp"]


@pytest.mark.skipif(features.kprobes_supported(), reason="this kernel has kprobes")
def test_kprobe_refused_names_the_missing_feature(bpf_obj) -> None:
    with opened(bpf_obj, "on_kprobe") as obj, pytest.raises(
            BPFKernelFeatureError, match=r"kprobe.*no kprobe support.*CONFIG_KPROBE"):
        obj.attach()


def test_fentry_refused_or_working(bpf_obj) -> None:
    try:
        obj = opened(bpf_obj, "on_fentry")
    except BPFKernelFeatureError as exc:
        assert "fentry programs are refused by this kernel" in str(exc)
        return
    with obj:  # a kernel with trampolines: it must really work
        obj.attach()
        open("/dev/null").close()
        assert obj.bss.fentry_hits >= 1


def _our_links(name: str) -> list[dict]:
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True, check=True)
    return [p for p in json.loads(out.stdout) if p.get("name") == name]


def _wait_gone(name: str) -> bool:
    deadline = time.monotonic() + 5  # the kernel frees programs after an RCU grace period
    while _our_links(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _our_links(name)


def test_close_detaches_and_is_idempotent(bpf_obj) -> None:
    obj = opened(bpf_obj, "on_tp")
    obj.attach()
    assert _our_links("on_tp")
    obj.close()
    obj.close()
    assert _wait_gone("on_tp")
    with pytest.raises(BPFError, match="closed"):
        obj.load()


def test_everything_released_when_the_process_dies(bpf_obj) -> None:
    code = (
        "import sys, time; from bpfkit import BPFObject\n"
        f"o = BPFObject.open({str(bpf_obj('attach'))!r})\n"
        "[setattr(p, 'autoload', p.name == 'on_raw') for p in o.progs]\n"
        "o.load(); o.attach(); print('ready', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    assert _our_links("on_raw")
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert _wait_gone("on_raw")
