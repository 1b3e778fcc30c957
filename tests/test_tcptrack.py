"""`bpfkit tcptrack` against real connections: loopback, and test hosts in
network namespaces this test creates (ip netns add + veth)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from conftest import BPFKIT, ROOT

pytestmark = pytest.mark.kernel

PEER = [sys.executable, str(ROOT / "tests" / "helpers" / "tcp_peer.py")]
SENT, RECEIVED = 123_457, 54_321  # client -> server, server -> client
HOST_NETNS = os.stat("/proc/self/ns/net").st_ino


class Tracer:
    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*BPFKIT, "tcptrack", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        banner = self.proc.stderr.readline()
        assert banner.strip() == "Tracing TCP connections. Ctrl+C to stop.", banner + self.proc.stderr.read()

    def stop(self) -> tuple[str, str]:
        import time

        time.sleep(0.3)  # longer than the poll interval: everything is printed
        self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return out, err

    def events(self) -> list[dict]:
        out, _ = self.stop()
        return [json.loads(line) for line in out.splitlines()]


class Connection:
    """Server (optionally inside a namespace) and client, different processes;
    SENT bytes one way, RECEIVED the other. The client waits for go()."""

    def __init__(self, host: str, port: int = 0, netns: str | None = None,
                 client_host: str | None = None, client_netns: str | None = None) -> None:
        ns = ["ip", "netns", "exec", netns] if netns else []
        self.server = subprocess.Popen([*ns, *PEER, "server", host, str(port), str(SENT), str(RECEIVED)],
                                       stdout=subprocess.PIPE, text=True)
        word, port_s = self.server.stdout.readline().split()
        assert word == "listening"
        self.port = int(port_s)
        cns = ["ip", "netns", "exec", client_netns] if client_netns else []
        self.client = subprocess.Popen([*cns, *PEER, "client", client_host or host, port_s, str(SENT),
                                        str(RECEIVED)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       text=True)

    def go(self) -> Connection:
        self.client.stdin.write("go\n")
        self.client.stdin.close()
        _, local = self.client.stdout.readline().split()
        self.local = int(local)
        assert self.client.wait(30) == 0 and self.server.wait(30) == 0
        return self


def connection(host: str, port: int = 0, netns: str | None = None, client_host: str | None = None,
               client_netns: str | None = None) -> Connection:
    return Connection(host, port, netns, client_host, client_netns).go()


def ours(events: list[dict], c: dict) -> list[dict]:
    return [e for e in events if {e["sport"], e["dport"]} == {c.port, c.local}]


@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", "ipv4"), ("::1", "ipv6")])
def test_connect_accept_close_once_each_with_pids_ports_and_exact_bytes(host: str, family: str) -> None:
    t = Tracer("--json")
    c = connection(host)
    events = ours(t.events(), c)
    by = {(e["event"], e["origin"]): e for e in events}
    assert sorted(by) == [("accept", "passive"), ("close", "active"), ("close", "passive"),
                          ("connect", "active")]
    assert len(events) == 4  # each exactly once
    conn, acc = by["connect", "active"], by["accept", "passive"]
    assert (conn["pid"], conn["sport"], conn["dport"]) == (c.client.pid, c.local, c.port)
    assert (acc["pid"], acc["sport"], acc["dport"]) == (c.server.pid, c.port, c.local)
    assert conn["comm"] == acc["comm"] == os.path.basename(sys.executable)[:15]
    assert conn["latency_ns"] > 0 and conn["alert"] is False
    cc, sc = by["close", "active"], by["close", "passive"]
    assert (cc["pid"], cc["bytes_sent"], cc["bytes_received"]) == (c.client.pid, SENT, RECEIVED)
    assert (sc["pid"], sc["bytes_sent"], sc["bytes_received"]) == (c.server.pid, RECEIVED, SENT)
    assert (cc["sport"], sc["sport"]) == (c.local, c.port)  # kept after the port is released
    assert all(e["family"] == family and e["netns"] == HOST_NETNS for e in events)
    assert all(e["saddr"] == e["daddr"] == host for e in events)
    assert cc["duration_ns"] >= conn["latency_ns"]


def test_v4_mapped_accept_on_a_dual_stack_listener_counts_as_ipv4() -> None:
    t = Tracer("--json", "-4", "--no-connect", "--no-close")
    c = connection("::", client_host="127.0.0.1")
    (acc,) = ours(t.events(), c)
    assert (acc["event"], acc["family"], acc["pid"]) == ("accept", "ipv6", c.server.pid)
    assert acc["daddr"] == "::ffff:127.0.0.1"


def test_refused_connect_only_with_failed() -> None:
    port = free_port()
    plain, failed = Tracer("--json", "--port", str(port)), Tracer("--json", "--port", str(port), "--failed")
    p = subprocess.Popen([*PEER, "refused", "127.0.0.1", str(port)], stdout=subprocess.PIPE, text=True)
    assert p.communicate(timeout=30)[0].strip() == "refused"
    assert plain.events() == []
    (e,) = failed.events()
    assert (e["event"], e["error"], e["dport"], e["pid"]) == ("connect-fail", "ECONNREFUSED", port, p.pid)
    assert e["sport"] > 0 and e["latency_ns"] > 0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def netns() -> Iterator[dict]:
    """A test host: namespace NAME with veth 10.X.Y.2/24 <-> host side 10.X.Y.1/24."""
    tag = uuid.uuid4().hex[:6]
    name, host_if, ns_if = f"bpfkit-{tag}", f"bk{tag}h", f"bk{tag}n"
    net = f"10.{0x40 + int(tag[:2], 16) % 64}.{int(tag[2:4], 16)}"

    def ip(*a: str) -> None:
        subprocess.run(["ip", *a], check=True, capture_output=True)

    ip("netns", "add", name)
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        ip("link", "set", ns_if, "netns", name)
        ip("addr", "add", f"{net}.1/24", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", name, "addr", "add", f"{net}.2/24", "dev", ns_if)
        ip("-n", name, "link", "set", ns_if, "up")
        ip("-n", name, "link", "set", "lo", "up")
        yield {"name": name, "host_ip": f"{net}.1", "ns_ip": f"{net}.2",
               "inode": os.stat(f"/run/netns/{name}").st_ino}
    finally:
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def test_each_event_carries_its_network_namespace(netns: dict) -> None:
    t = Tracer("--json")
    c = connection(netns["ns_ip"], netns=netns["name"])  # server in the namespace, client on the host
    events = ours(t.events(), c)
    by = {e["event"] + "/" + e["origin"]: e for e in events}
    assert by["accept/passive"]["netns"] == netns["inode"] != HOST_NETNS
    assert by["close/passive"]["netns"] == netns["inode"]
    assert by["connect/active"]["netns"] == by["close/active"]["netns"] == HOST_NETNS
    assert by["connect/active"]["daddr"] == netns["ns_ip"]
    assert by["accept/passive"]["daddr"] == netns["host_ip"]
    assert by["close/passive"]["bytes_received"] == SENT


def test_listener_on_a_suspicious_port_raises_an_alert(netns: dict) -> None:
    # Port 4444 inside the test's own namespace: nothing else can hold it there.
    t = Tracer("--alerts-only")
    c = connection("127.0.0.1", port=4444, netns=netns["name"], client_netns=netns["name"])
    out, _ = t.stop()
    lines = [ln for ln in out.splitlines() if f":{c.local}" in ln]
    assert len(lines) == 4 and all(ln.startswith("ALERT ") for ln in lines)
    accept = next(ln for ln in lines if " ACCEPT " in ln)
    assert f"pid={c.server.pid} " in accept and accept.endswith("(local port 4444 is on the alert list)")
    assert f"ns={netns['inode']}" in accept


def test_alert_ports_replace_the_default_list() -> None:
    t = Tracer("--json", "--alert-ports", "1,2")
    quiet = Tracer("--json", "--alert-ports", "1,2", "--alerts-only")
    c = connection("127.0.0.1")
    events = ours(t.events(), c)
    assert len(events) == 4 and not any(e["alert"] for e in events)
    assert ours(quiet.events(), c) == []  # --alerts-only leaves out the rest
    port = free_port()
    t = Tracer("--json", "--alert-ports", str(port), "--alerts-only")
    c = connection("127.0.0.1", port=port)
    events = ours(t.events(), c)
    assert {e["event"] for e in events} == {"connect", "accept", "close"}
    assert all(e["alert"] and str(port) in e["alert_reason"] for e in events)


@pytest.mark.parametrize(("args", "expect"), [
    (["--no-connect"], {"accept/passive", "close/active", "close/passive"}),
    (["--no-accept"], {"connect/active", "close/active", "close/passive"}),
    (["--no-close"], {"connect/active", "accept/passive"}),
    (["-6"], set()),
    (["-4"], {"connect/active", "accept/passive", "close/active", "close/passive"}),
    (["--pid", "CLIENT"], {"connect/active", "close/active"}),
    (["--pid", "SERVER"], {"accept/passive", "close/passive"}),
])
def test_filters_exclude_what_they_must(args: list[str], expect: set[str]) -> None:
    c = Connection("127.0.0.1")
    pids = {"CLIENT": str(c.client.pid), "SERVER": str(c.server.pid)}
    t = Tracer("--json", "--port", str(c.port), *(pids.get(a, a) for a in args))
    c.go()
    assert {e["event"] + "/" + e["origin"] for e in ours(t.events(), c)} == expect


def test_port_filter_leaves_out_other_connections() -> None:
    port = free_port()
    t = Tracer("--json", "--port", str(port))
    other = connection("127.0.0.1")
    mine = connection("127.0.0.1", port=port)
    events = t.events()
    assert ours(events, other) == [] and len(ours(events, mine)) == 4
    assert all(port in (e["sport"], e["dport"]) for e in events)
