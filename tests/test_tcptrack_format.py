"""tcptrack's pure formatting and option checks (no kernel needed)."""

from __future__ import annotations

import socket

import pytest
from conftest import run_cli

from bpfkit.argv import UsageError
from bpfkit.tools.tcptrack import address, endpoint, human_bytes, parse_ports


def test_endpoints_bracket_ipv6_and_keep_v4_mapped_visible() -> None:
    v4 = socket.inet_pton(socket.AF_INET, "10.0.0.5") + bytes(12)
    assert endpoint(socket.AF_INET, v4, 48832) == "10.0.0.5:48832"
    v6 = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    assert endpoint(socket.AF_INET6, v6, 443) == "[2001:db8::1]:443"
    mapped = socket.inet_pton(socket.AF_INET6, "::ffff:93.184.216.34")
    assert address(socket.AF_INET6, mapped) == "::ffff:93.184.216.34"


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (1023, "1023B"), (2048, "2KB"), (49_500, "48KB"),
                                         (3 * 1024 * 1024 + 512 * 1024, "3.5MB")])
def test_human_bytes(n: int, text: str) -> None:
    assert human_bytes(n) == text


def test_alert_ports_parse_and_reject_garbage() -> None:
    assert parse_ports("4444, 22") == {4444, 22}
    assert parse_ports("") == frozenset()
    for bad in ("0", "70000", "ssh", "-1"):
        with pytest.raises(UsageError, match="is not a port"):
            parse_ports(bad)


@pytest.mark.parametrize(("args", "msg"), [
    (["-4", "-6"], "-4 and -6 exclude each other"),
    (["--port", "0"], "argument --port: must be 1-65535, not '0'"),
    (["--alert-ports", "x"], "is not a port"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_usage_errors_are_one_line_and_exit_2(args: list[str], msg: str) -> None:
    r = run_cli("tcptrack", *args)
    assert r.returncode == 2 and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
