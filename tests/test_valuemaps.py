"""QUEUE, STACK, BLOOM_FILTER and LPM_TRIE maps from Python, read back by a BPF program."""

from __future__ import annotations

import os

import pytest

from bpfkit import BPFError, BPFObject, MapType

pytestmark = pytest.mark.kernel


@pytest.fixture
def obj(bpf_obj):
    with BPFObject.open(bpf_obj("valuemaps")) as o:
        o.load()
        o.attach()
        o.bss.target_tgid = os.getpid()
        yield o


def test_queue_is_fifo_and_stack_is_lifo(obj: BPFObject) -> None:
    fifo, lifo = obj.maps.fifo, obj.maps.lifo
    assert (fifo.type, lifo.type) == (MapType.QUEUE, MapType.STACK)
    for v in (1, 2, 3):
        fifo.push(v)
        lifo.push(v)
    assert (fifo.peek(), lifo.peek()) == (1, 3)  # peek leaves it in place
    assert [fifo.pop(), fifo.pop()] == [1, 2] and [lifo.pop(), lifo.pop()] == [3, 2]
    assert (fifo.pop(), fifo.pop(), fifo.peek()) == (3, None, None)  # empty: None


def test_full_queue_raises_or_overwrites_the_oldest(obj: BPFObject) -> None:
    fifo = obj.maps.fifo
    for v in range(4):
        fifo.push(v)
    with pytest.raises(BPFError, match="fifo"):
        fifo.push(9)
    fifo.push(9, overwrite=True)
    assert list(fifo) == [1, 2, 3, 9]


def test_the_bpf_side_pops_what_python_pushed(obj: BPFObject) -> None:
    obj.maps.fifo.push(77)
    obj.maps.fifo.push(78)
    os.getppid()
    assert obj.bss.popped == 77 and obj.maps.fifo.pop() == 78


def test_bloom_filter_has_no_false_negatives(obj: BPFObject) -> None:
    seen = obj.maps.seen
    pushed = range(0, 2000, 4)
    for v in pushed:
        seen.push(v)
    assert all(v in seen for v in pushed)
    absent = [v for v in range(1, 2000, 4) if v in seen]
    assert len(absent) < 100  # a few false positives are allowed, not many
    obj.bss.probe = 400
    os.getppid()
    assert obj.bss.probe_hit == 1
    with pytest.raises(BPFError, match="no keys"):
        seen[1]


def test_lpm_trie_longest_prefix_wins(obj: BPFObject) -> None:
    rules = obj.maps.rules4
    rules["10.0.0.0/8"] = "ALLOW"
    rules["10.0.0.0/24"] = "DENY"
    assert rules["10.0.0.5"].name == "DENY" and rules["10.1.0.1"].name == "ALLOW"
    assert rules.get("192.168.1.1") is None
    assert sorted(rules.keys()) == ["10.0.0.0/24", "10.0.0.0/8"]
    rules[(16, bytes([10, 1, 0, 0]))] = "DENY"  # (prefixlen, address bytes) works too
    assert rules["10.1.0.1"].name == "DENY"
    for addr, verdict in [("10.0.0.5", 2), ("10.2.0.1", 1), ("11.0.0.1", 0)]:
        obj.bss.probe_addr = bytes(int(x) for x in addr.split("."))
        os.getppid()
        assert obj.bss.probe_verdict == verdict, addr
    del rules["10.0.0.0/24"]
    assert rules["10.0.0.5"].name == "ALLOW"


def test_lpm_trie_ipv6_and_wrong_keys(obj: BPFObject) -> None:
    rules = obj.maps.rules6
    rules["2001:db8::/32"] = "ALLOW"
    rules["2001:db8:bad::/48"] = "DENY"
    assert rules["2001:db8:bad::1"].name == "DENY" and rules["2001:db8:1::1"].name == "ALLOW"
    with pytest.raises(ValueError, match="not an IPv6 prefix"):
        rules["10.0.0.0/8"] = "ALLOW"
    with pytest.raises(TypeError, match="LPM key"):
        rules[5] = "ALLOW"
