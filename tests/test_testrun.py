"""BPF_PROG_TEST_RUN: programs run by the kernel on input we build."""

from __future__ import annotations

import socket
import struct

import pytest

from bpfkit import BPFError, BPFObject

pytestmark = pytest.mark.kernel

XDP_DROP, XDP_PASS = 1, 2


def tcp_packet(src: str, dst: str, sport: int = 40000, dport: int = 443) -> bytes:
    """Ethernet / IPv4 / TCP SYN, checksums left zero (XDP does not look)."""
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", 0x0800)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x02, 65535, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 1, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return eth + ip + tcp


@pytest.fixture
def obj(bpf_obj):
    with BPFObject.open(bpf_obj("testrun")) as o:
        o.load()
        yield o


def test_xdp_drops_a_blocked_source_and_passes_another(obj: BPFObject) -> None:
    obj.maps.blocked[socket.inet_aton("10.0.0.66")] = 0
    prog = obj.progs.xdp_filter
    bad, good = tcp_packet("10.0.0.66", "10.0.0.1"), tcp_packet("10.0.0.7", "10.0.0.1")
    r = prog.test_run(data=bad)
    assert r.retval == XDP_DROP and r.data_out == bad
    r = prog.test_run(data=good)
    assert r.retval == XDP_PASS and r.data_out == good
    assert obj.maps.blocked[socket.inet_aton("10.0.0.66")] == 1


def test_repeat_reports_ns_per_run(obj: BPFObject) -> None:
    r = obj.progs.xdp_filter.test_run(data=tcp_packet("10.0.0.7", "10.0.0.1"), repeat=1_000_000)
    assert r.retval == XDP_PASS
    assert 0 < r.duration_ns < 10_000  # mean per run, ns


def test_raw_tracepoint_program_gets_its_arguments_as_context(obj: BPFObject) -> None:
    r = obj.progs.sum_args.test_run(ctx=struct.pack("=QQ", 40, 2))
    assert r.retval == 7 and obj.bss.last_sum == 42


def test_errors_say_what_failed(obj: BPFObject) -> None:
    with pytest.raises(BPFError, match="test run of 'xdp_filter' failed"):
        obj.progs.xdp_filter.test_run(data=b"\0" * 4)  # shorter than an Ethernet header
