"""Kernel facts asked at every start are answered without asking the kernel
again (or at all, where the release says): each answer is a syscall or a
load on the path of every monitor's start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bpfkit.core.kernel import features, system
from bpfkit.core.kernel.uapi import MapType


@pytest.fixture
def fresh() -> Iterator[None]:
    features.forget()
    yield
    features.forget()  # what the tests cached is not this process's real answer


def test_tracefs_is_looked_for_once(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def at(path: str) -> str:
        asked.append(path)
        return "ok" if path == system.TRACEFS else "missing"

    monkeypatch.setattr(system, "_tracefs_at", at)
    assert system.ensure_tracefs() == (system.TRACEFS, False)
    first = len(asked)
    assert first and system.ensure_tracefs() == (system.TRACEFS, False)
    assert len(asked) == first  # fileopen asks 14 times per start
    features.forget()  # tests that change what the process sees start over
    system.ensure_tracefs()
    assert len(asked) == 2 * first


def test_a_tracefs_not_found_is_looked_for_again(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a readable tracefs is remembered: a refusal stays a live question."""
    monkeypatch.setattr(system, "_tracefs_at", lambda path: "denied")
    for _ in range(2):
        with pytest.raises(system.BPFPermissionError):
            system.ensure_tracefs()
    monkeypatch.setattr(system, "_tracefs_at", lambda path: "ok")
    assert system.ensure_tracefs() == (system.DEBUGFS_TRACING, False)


def test_ring_buffers_are_probed_only_before_5_8(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    probed: list[int] = []
    monkeypatch.setattr(features, "map_type_supported", lambda t: probed.append(t) or False)
    monkeypatch.setattr(system, "kernel_version", lambda: (5, 8))
    assert features.ringbuf_supported() and probed == []
    monkeypatch.setattr(system, "kernel_version", lambda: (4, 18))  # RHEL 8 backports them
    assert not features.ringbuf_supported() and probed == [MapType.RINGBUF]


def test_a_tracefs_gone_is_looked_for_again(fresh: None, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """A tracepoint is not said missing because the tracefs found earlier went away."""
    first, second = tmp_path / "debug-tracing", tmp_path / "tracing"
    (first / "events").mkdir(parents=True)
    (second / "events" / "syscalls" / "sys_enter_openat").mkdir(parents=True)
    monkeypatch.setattr(system, "DEBUGFS_TRACING", str(first))
    monkeypatch.setattr(system, "TRACEFS", str(second))
    assert not features.tracepoint_exists("syscalls", "sys_enter_openat")  # found first: a real no
    (first / "events").rmdir()  # unmounted
    assert features.tracepoint_exists("syscalls", "sys_enter_openat")
    assert system.ensure_tracefs() == (str(second), False)
