"""`bpfkit tcptrack` against real connections: loopback, and test hosts in
network namespaces this test creates (ip netns add + veth).

The tests run with the hooks this kernel offers (tracepoints here; fentry/fexit
on Debian's stock kernel, under `make test-kernels`). The hook alternatives
are also each forced in turn (--hooks: the loader then chooses among that
kind's alternatives alone, BPFObject.restrict_hooks), and must report the
same events; what only the better hooks can see is tested too."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator

import pytest
from conftest import BPFKIT, ROOT, needs

pytestmark = pytest.mark.kernel

PEER = [sys.executable, str(ROOT / "tests" / "helpers" / "tcp_peer.py")]
SENT, RECEIVED = 123_457, 54_321  # client -> server, server -> client
HOST_NETNS = os.stat("/proc/self/ns/net").st_ino


CHOSEN = {  # what --verbose says was kept, per group
    mode: {"state": "on_state (tp_btf)",
           **{f"connect{v}": f"connect{v}_{kind}+connect{v}_{ret} ({kind})" for v in (4, 6)},
           "accept": f"accept_{kind} ({kind})"}
    for mode, kind, ret in (("fentry", "fentry", "fexit"), ("kprobe", "kprobe", "kretprobe"))
}
CHOSEN["tracepoint"] = {"state": "on_state (tp_btf)", "connect4": "on_state (tp_btf)",
                        "connect6": "on_state (tp_btf)",
                        "accept": "exit_accept4+exit_accept (tracepoint)"}
MODES = [pytest.param("fentry", marks=needs("fentry", "fexit")),
         pytest.param("kprobe", marks=needs("kprobe")), "tracepoint"]
class Tracer:
    def __init__(self, *args: str, mode: str | None = None) -> None:
        cmd = [*BPFKIT, "tcptrack", *args, *(["--hooks", mode] if mode else [])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.said: list[str] = []  # --verbose: the hooks kept, the links
        for line in self.proc.stderr:
            if line.strip() == "Tracing TCP connections. Ctrl+C to stop.":
                break
            self.said.append(line.rstrip("\n"))
        else:
            raise AssertionError("tcptrack did not start:\n" + "\n".join(self.said))

    def chosen(self) -> dict[str, str]:
        """--verbose's "tcptrack: GROUP: KEPT (KIND)[; ... skipped: why]", by group."""
        lines = (ln.split(": ", 2) for ln in self.said if ln.startswith("tcptrack: "))
        return {p[1]: p[2].split("; ")[0] for p in lines if len(p) == 3 and p[1] in CHOSEN["fentry"]}

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


def check_connection(events: list[dict], c: Connection, host: str, family: str) -> None:
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


@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", "ipv4"), ("::1", "ipv6")])
def test_connect_accept_close_once_each_with_pids_ports_and_exact_bytes(host: str, family: str) -> None:
    t = Tracer("--json")
    c = connection(host)
    check_connection(ours(t.events(), c), c, host, family)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("host", "family"), [("127.0.0.1", "ipv4"), ("::1", "ipv6")])
def test_every_hook_alternative_reports_the_same_events(mode: str, host: str, family: str) -> None:
    t = Tracer("--json", "--verbose", mode=mode)
    assert t.chosen() == CHOSEN[mode]
    c = connection(host)
    check_connection(ours(t.events(), c), c, host, family)


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


def wait_in_accept(pid: int) -> None:
    """Until process ``pid`` sleeps in the kernel's accept (inet_csk_accept,
    or inet_csk_wait_for_connect where that is not inlined)."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 30
    while not Path(f"/proc/{pid}/wchan").read_text().startswith("inet_csk_"):
        assert time.monotonic() < deadline, "the server never waited in accept()"
        time.sleep(0.01)


@pytest.mark.parametrize("mode", MODES)
def test_a_server_already_waiting_in_accept_is_seen(mode: str) -> None:
    """A server blocked in accept() before the tracer starts (any idle
    server): the accept hook must fire once accept() returns, though the call
    began before it was attached (an exit hook on inet_csk_accept() would
    never see that call return)."""
    c = Connection("127.0.0.1")
    wait_in_accept(c.server.pid)
    t = Tracer("--json", "--port", str(c.port), mode=mode)
    c.go()
    by = {e["event"] + "/" + e["origin"]: e for e in ours(t.events(), c)}
    assert sorted(by) == ["accept/passive", "close/active", "close/passive", "connect/active"]
    assert by["accept/passive"]["pid"] == by["close/passive"]["pid"] == c.server.pid
    assert by["close/passive"]["bytes_received"] == SENT


# A server that accepts through io_uring (IORING_OP_ACCEPT), so no accept(2)
# or accept4(2) runs. Plain ctypes: no liburing needed. Prints "listening
# PORT" (or "no-io_uring ERRNO"), waits for a line on stdin (the client has
# connected: the accept completes inline, in this process), reads to EOF.
URING_SERVER = r"""
import ctypes, mmap, socket, struct, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SETUP, ENTER = 425, 426  # io_uring_setup/io_uring_enter: x86-64 and asm-generic alike
OP_ACCEPT, ENTER_GETEVENTS = 13, 1
params = ctypes.create_string_buffer(120)  # struct io_uring_params
ring = libc.syscall(SETUP, 4, params)
if ring < 0:
    print("no-io_uring", ctypes.get_errno(), flush=True)
    sys.exit(0)
sq_entries, cq_entries = struct.unpack_from("<II", params, 0)
sq_tail, sq_mask, sq_array = (struct.unpack_from("<7I", params, 40)[i] for i in (1, 2, 6))
cq_head, cq_mask, cqes = (struct.unpack_from("<6I", params, 80)[i] for i in (0, 2, 5))
sq = mmap.mmap(ring, sq_array + sq_entries * 4, offset=0)
cq = mmap.mmap(ring, cqes + cq_entries * 16, offset=0x8000000)
sqes = mmap.mmap(ring, sq_entries * 64, offset=0x10000000)
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen()
print("listening", srv.getsockname()[1], flush=True)
sys.stdin.readline()
struct.pack_into("<BBHiQQIIQ", sqes, 0, OP_ACCEPT, 0, 0, srv.fileno(), 0, 0, 0, 0, 1)
tail = struct.unpack_from("<I", sq, sq_tail)[0]
struct.pack_into("<I", sq, sq_array + (tail & struct.unpack_from("<I", sq, sq_mask)[0]) * 4, 0)
struct.pack_into("<I", sq, sq_tail, tail + 1)
if libc.syscall(ENTER, ring, 1, 1, ENTER_GETEVENTS, None, 0) != 1:
    sys.exit(f"io_uring_enter: errno {ctypes.get_errno()}")
head = struct.unpack_from("<I", cq, cq_head)[0]
res = struct.unpack_from("<i", cq, cqes + (head & struct.unpack_from("<I", cq, cq_mask)[0]) * 16 + 8)[0]
if res < 0:
    sys.exit(f"io_uring accept: errno {-res}")
conn = socket.socket(fileno=res)
while conn.recv(1 << 16):
    pass
conn.close()
"""


@pytest.mark.parametrize("mode", MODES)
def test_io_uring_accepts_are_seen_by_the_accept_hooks_only(mode: str) -> None:
    """security_sock_graft() sees every accept; the accept(2)/accept4(2) exits do
    not see one made through io_uring: no ACCEPT, and no passive CLOSE (the
    connection never got a process)."""
    import socket

    t = Tracer("--json", mode=mode)
    server = subprocess.Popen([sys.executable, "-c", URING_SERVER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    word, value = server.stdout.readline().split()
    if word == "no-io_uring":
        t.stop()
        pytest.skip(f"io_uring_setup failed here (errno {value})")
    port = int(value)
    client = socket.create_connection(("127.0.0.1", port), timeout=10)
    local = client.getsockname()[1]
    server.stdin.write("go\n")
    server.stdin.close()
    client.sendall(b"c" * SENT)
    client.close()
    assert server.wait(30) == 0
    mine = [e for e in t.events() if {e["sport"], e["dport"]} == {port, local}]
    seen = {e["event"] + "/" + e["origin"]: e for e in mine}
    assert len(seen) == len(mine)  # each once
    if mode == "tracepoint":
        assert sorted(seen) == ["close/active", "connect/active"]
        return
    assert sorted(seen) == ["accept/passive", "close/active", "close/passive", "connect/active"]
    acc, sc = seen["accept/passive"], seen["close/passive"]
    assert (acc["pid"], acc["sport"], acc["dport"], acc["daddr"]) == (server.pid, port, local, "127.0.0.1")
    assert (sc["pid"], sc["bytes_received"], sc["bytes_sent"]) == (server.pid, SENT, 0)


# In a namespace whose only local port is PORT_RANGE: c1 takes it, c2 finds
# none (EADDRNOTAVAIL, after SYN_SENT), c3 has no route (ENETUNREACH, before it).
FAILING_CONNECTS = r"""
import errno, socket, sys
srv = socket.socket()
srv.bind(("127.0.0.1", int(sys.argv[1])))
srv.listen()
c1 = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
mapped = sys.argv[2] == "mapped"  # an IPv6 socket: tcp_v6_connect() calls tcp_v4_connect()
for host in ("127.0.0.1", "192.0.2.1"):
    try:
        if mapped:
            socket.socket(socket.AF_INET6).connect(("::ffff:" + host, int(sys.argv[1])))
        else:
            socket.socket().connect((host, int(sys.argv[1])))
    except OSError as exc:
        print(errno.errorcode[exc.errno], flush=True)
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("mapped", [False, True], ids=["ipv4", "v4-mapped"])
def test_connects_failing_inside_connect_carry_their_errno(mode: str, mapped: bool, netns: dict) -> None:
    """The exit of tcp_v4_connect() has the errno of a connect() that fails
    in the call: the state changes show none for no free local port (SYN_SENT
    -> CLOSE with sk_err 0) and nothing at all for no route (still CLOSE).
    From an IPv6 socket to a v4-mapped address the calls nest (v6 -> v4):
    one event each still, with the address as the caller gave it."""
    subprocess.run(["ip", "netns", "exec", netns["name"], "sysctl", "-qw",
                    "net.ipv4.ip_local_port_range=40000 40000"], check=True)
    port = 40001
    t = Tracer("--json", "--failed", "--no-connect", "--no-close", mode=mode)
    p = subprocess.Popen(["ip", "netns", "exec", netns["name"], sys.executable, "-c", FAILING_CONNECTS,
                          str(port), "mapped" if mapped else "ipv4"], stdout=subprocess.PIPE, text=True)
    assert p.communicate(timeout=30)[0].split() == ["EADDRNOTAVAIL", "ENETUNREACH"]
    events = [e for e in t.events() if e["netns"] == netns["inode"]]
    assert all(e["event"] == "connect-fail" and e["pid"] == p.pid and e["dport"] == port for e in events)
    assert all(e["sport"] == 0 and e["latency_ns"] > 0 for e in events)
    got = [(e["daddr"], e["error"]) for e in events]
    v4 = "::ffff:" if mapped else ""
    if mode == "tracepoint":
        assert got == [(f"{v4}127.0.0.1", None)]
    else:
        assert got == [(f"{v4}127.0.0.1", "EADDRNOTAVAIL"), (f"{v4}192.0.2.1", "ENETUNREACH")]


MPTCP_PEERS = r"""
import socket, sys
try:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)  # IPPROTO_MPTCP
except OSError:
    print("no-mptcp", flush=True)
    sys.exit(0)
srv.bind(("127.0.0.1", 0))
srv.listen()
c = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
c.connect(srv.getsockname())
conn = srv.accept()[0]
c.sendall(b"c" * 1000)
conn.recv(1000)
print(srv.getsockname()[1], c.getsockname()[1], flush=True)
c.close()
conn.close()
"""


@pytest.mark.parametrize("mode", MODES)
def test_an_mptcp_connection_is_accepted_once(mode: str) -> None:
    """An MPTCP connection is accepted as its MPTCP sock (not IPPROTO_TCP),
    by every accept hook, once. (Its passive side has no CLOSE: the MPTCP
    sock's state changes do not pass through inet_sock_set_state.)"""
    t = Tracer("--json", mode=mode)
    p = subprocess.Popen([sys.executable, "-c", MPTCP_PEERS], stdout=subprocess.PIPE, text=True)
    out = p.communicate(timeout=30)[0].split()
    if out == ["no-mptcp"]:
        t.stop()
        pytest.skip("no MPTCP here")
    port, local = map(int, out)
    events = [e for e in t.events() if {e["sport"], e["dport"]} == {port, local}]
    kinds = sorted(e["event"] + "/" + e["origin"] for e in events)
    assert kinds == ["accept/passive", "close/active", "connect/active"]
    assert all(e["pid"] == p.pid for e in events)


def test_accepts_on_other_sockets_are_not_reported(tmp_path) -> None:
    """accept(2) takes AF_UNIX listeners too: not a TCP connection."""
    t = Tracer("--json")
    p = subprocess.Popen([sys.executable, "-c", "import socket, sys\n"
                          "srv = socket.socket(socket.AF_UNIX)\n"
                          "srv.bind(sys.argv[1])\n"
                          "srv.listen()\n"
                          "c = socket.socket(socket.AF_UNIX)\n"
                          "c.connect(sys.argv[1])\n"
                          "srv.accept()[0].close()\n", str(tmp_path / "sock")])
    assert p.wait(30) == 0
    assert [e for e in t.events() if e["pid"] == p.pid] == []
