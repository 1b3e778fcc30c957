"""`bpfkit doctor` reports what this kernel really allows."""

from __future__ import annotations

import pytest
from conftest import run_cli

from bpfkit.core.kernel import features
from bpfkit.probes import KINDS

pytestmark = pytest.mark.kernel


def test_doctor_lists_every_kind_and_exits_0() -> None:
    r = run_cli("doctor", check=True)
    rows = {line.split()[0]: line.split(None, 1)[1] for line in r.stdout.splitlines()}
    for key in ("kernel", "libbpf", "btf", "lockdown", "tracefs", "ringbuf", *KINDS):
        assert key in rows, key
    assert rows["btf"].startswith("yes") and rows["ringbuf"] == "yes"
    for kind in ("tracepoint", "raw_tp", "tp_btf", "uprobe"):
        assert rows[kind] == "yes"
    if not features.kprobes_supported():  # this machine: kprobes are not compiled in
        assert rows["kprobe"].startswith("no") and "kprobe support" in rows["kprobe"]
    assert rows["fentry"] in ("yes",) or rows["fentry"].startswith("no: fentry programs are refused")
    assert r.stderr == ""


def test_tracefs_is_mounted_when_missing() -> None:
    import subprocess

    from conftest import BPFKIT

    # In a private mount namespace, take tracefs away: the library mounts it back.
    script = ("umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; "
              "umount /sys/kernel/debug 2>/dev/null; "
              f"test ! -e /sys/kernel/tracing/events && exec {' '.join(BPFKIT)} doctor")
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "tracefs      /sys/kernel/tracing (was missing: mounted it now)" in r.stdout
    assert "tracepoint   yes" in r.stdout
