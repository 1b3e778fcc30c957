"""Choosing among declared hook alternatives (pure logic: programs stand in
with the refusal their kernel would give)."""

from __future__ import annotations

import pytest

from bpfkit.core.hooks import HookGroup, choose, restrict
from bpfkit.core.kernel.errors import BPFKernelFeatureError


class _Kind:
    def __init__(self, reason: str | None) -> None:
        self.reason = reason

    def refusal(self, target: str) -> str | None:
        return self.reason


class FakeProgram:
    def __init__(self, name: str, kind: str, refused: str | None = None) -> None:
        self.name, self.kind, self.section = name, kind, f"{kind}/x"
        self.attach_kind = _Kind(refused)
        self.autoload = True


def progs(*items: FakeProgram) -> dict[str, FakeProgram]:
    return {p.name: p for p in items}


def test_the_first_offered_alternative_is_kept_and_the_rest_switched_off() -> None:
    p = progs(FakeProgram("f", "fentry", "fentry programs are refused by this kernel"),
              FakeProgram("k", "kprobe", "no kprobe support in this kernel"), FakeProgram("t", "tracepoint"))
    (choice,) = choose([HookGroup("unlink", ["f", "k", "t"])], p).values()
    assert (choice.program, choice.kind) == ("t", "tracepoint")
    assert choice.skipped == [("f", "fentry programs are refused by this kernel"),
                              ("k", "no kprobe support in this kernel")]
    assert [q.autoload for q in p.values()] == [False, False, True]


def test_a_program_two_groups_share_loads_when_either_keeps_it() -> None:
    """On a kernel with fentry, "unlink" keeps the fentry program; "unlink2"
    still keeps the tracepoint program they share (6.1 gave KeyError 'unlink2')."""
    p = progs(FakeProgram("f", "fentry"), FakeProgram("t", "tracepoint"),
              FakeProgram("never", "tracepoint", "no tracepoint x:y"))
    p["never"].autoload = False  # switched off by hand: not a reason to skip the group
    choices = choose([HookGroup("unlink", ["f", "t"]), HookGroup("unlink2", ["never", "t"])], p)
    assert choices["unlink"].program == "f" and choices["unlink2"].program == "t"
    assert (p["f"].autoload, p["t"].autoload, p["never"].autoload) == (True, True, False)


def test_alternatives_of_several_programs_need_them_all() -> None:
    p = progs(FakeProgram("fexit_open", "fexit", "fexit programs are refused by this kernel"),
              FakeProgram("enter", "tracepoint"), FakeProgram("exit", "tracepoint", "no tracepoint a:b"),
              FakeProgram("raw", "raw_tp"))
    group = HookGroup.parse("open", "fexit_open, enter+exit, raw")
    (choice,) = choose([group], p).values()
    assert choice.program == "raw"
    assert choice.skipped[1] == ("enter+exit", "no tracepoint a:b")
    assert not p["enter"].autoload and not p["exit"].autoload


def test_an_optional_group_may_keep_nothing() -> None:
    p = progs(FakeProgram("enter_open", "tracepoint", "no tracepoint syscalls:sys_enter_open"),
              FakeProgram("exit_open", "tracepoint", "no tracepoint syscalls:sys_exit_open"))
    (choice,) = choose([HookGroup.parse("open", "?enter_open+exit_open")], p).values()
    assert choice.programs is None and str(choice).startswith("open: none (optional); enter_open+exit_open")
    assert not p["enter_open"].autoload and not p["exit_open"].autoload
    p["enter_open"].autoload = p["exit_open"].autoload = True
    with pytest.raises(BPFKernelFeatureError, match="no hook of 'open' works on this kernel"):
        choose([HookGroup.parse("open", "enter_open+exit_open")], p)


def test_a_group_switched_off_by_hand_is_left_alone() -> None:
    p = progs(FakeProgram("a", "kprobe", "no kprobe support in this kernel"), FakeProgram("b", "tracepoint"))
    p["a"].autoload = p["b"].autoload = False
    assert choose([HookGroup("g", ["a", "b"])], p) == {}
    assert not p["b"].autoload


def test_a_forced_kind_keeps_its_alternatives_alone_and_shared_programs_stay() -> None:
    """--hooks tracepoint on tcptrack's shape: "connect" loses its fentry and
    kprobe alternatives, the tp_btf program "state" also uses stays on."""
    p = progs(FakeProgram("state", "tp_btf"), FakeProgram("cf", "fentry"), FakeProgram("cx", "fexit"),
              FakeProgram("ck", "kprobe"), FakeProgram("acc_f", "fentry"), FakeProgram("acc_t", "tracepoint"))
    groups = [HookGroup("state", ["state"]), HookGroup("connect", ["cf+cx", "ck", "state"]),
              HookGroup("accept", ["acc_f", "acc_t"])]
    kept = restrict(groups, p, frozenset({"tracepoint", "tp_btf"}))
    assert {g: k.alternatives for g, k in kept.items()} == {
        "state": [("state",)], "connect": [("state",)], "accept": [("acc_t",)]}
    assert {n for n, q in p.items() if q.autoload} == {"state", "acc_t"}
    choices = choose(kept.values(), p)
    assert {g: c.program for g, c in choices.items()} == {"state": "state", "connect": "state",
                                                          "accept": "acc_t"}
    with pytest.raises(ValueError, match="'accept' has no alternative made of kprobe programs"):
        restrict(groups[2:], p, frozenset({"kprobe"}))
