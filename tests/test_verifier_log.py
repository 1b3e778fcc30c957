"""The verifier log, on request, for a program that loads fine."""

from __future__ import annotations

import pytest

from bpfkit import BPFError, BPFObject

pytestmark = pytest.mark.kernel


@pytest.mark.parametrize("level", [1, 2])
def test_log_of_a_successful_load(bpf_obj, level: int) -> None:
    with BPFObject.open(bpf_obj("valuemaps")) as obj:
        prog = obj.progs.read_maps
        prog.log_level = level
        obj.load()
        log = prog.verifier_log
    assert "processed" in log and "insns" in log  # the verifier's summary line
    # level 2: every instruction, with the register state
    assert ("R1=ctx" in log) == ("call bpf_map_pop_elem" in log) == (level == 2)


def test_log_must_be_asked_for_before_load(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("valuemaps")) as obj:
        obj.load()
        prog = obj.progs.read_maps
        with pytest.raises(BPFError, match=r"set log_level = 1 or 2 before obj\.load"):
            _ = prog.verifier_log
        with pytest.raises(BPFError, match=r"before obj\.load"):
            prog.log_level = 1
