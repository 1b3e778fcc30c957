"""The DNS test harness works: the responder answers as configured and records what it is asked,
and every real client (glibc, musl, Go, dig, and the dnsmasq / systemd-resolved stubs) resolves
through it. No BPF here: these tests prove the tools the dnswatch tests are built on.

Root: network and mount namespaces. Clients whose binary is missing are skipped, naming the
Debian package."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("dns", reason="needs dnspython (pip install dnspython)")
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
import dns_clients as C
from dns_responder import DnsResponder, ResponderProcess, Zone, example_zone, framed
from netns import NetNS, current_inode

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network and mount namespaces")

WWW = "www.example.test"


def need(*tools: str) -> None:
    why = C.missing(*tools)
    if why:
        pytest.skip(why)


@pytest.fixture(scope="module")
def ns() -> Iterator[NetNS]:
    need("nsenter", "unshare", "ip")
    with NetNS() as n:
        n.add_link()  # addresses beside lo, as on a real host (glibc's AI_ADDRCONFIG ignores lo's)
        yield n


@pytest.fixture(scope="module")
def server(ns: NetNS) -> Iterator[DnsResponder]:
    """The example zone on port 53 of 127.0.0.1 and ::1 inside the namespace."""
    with DnsResponder(example_zone(), port=53, netns=ns) as r:
        yield r


@pytest.fixture
def resp(server: DnsResponder) -> DnsResponder:
    server.clear()
    return server


@pytest.fixture(scope="module")
def local() -> Iterator[DnsResponder]:
    """The example zone on an ephemeral port of the host's loopback (clients that take a port)."""
    with DnsResponder(example_zone()) as r:
        yield r


def asked(r: DnsResponder, transport: str | None = None) -> list[tuple[str, str]]:
    return sorted({(q.qname.rstrip("."), q.qtype) for q in r.queries if transport in (None, q.transport)})


# --------------------------------------------------------------------------- the responder


def udp(name: str, qtype: str, port: int, host: str = "127.0.0.1", **kw: object) -> dns.message.Message:
    return dns.query.udp(dns.message.make_query(name, qtype, **kw), host, port=port, timeout=2)


def rdata(m: dns.message.Message) -> list[str]:
    return [rd.to_text() for rrset in m.answer for rd in rrset]


def test_responder_answers_the_table(local: DnsResponder) -> None:
    local.clear()
    p = local.port
    assert rdata(udp(WWW, "A", p)) == ["192.0.2.1"]
    assert rdata(udp(WWW, "AAAA", p, "::1")) == ["2001:db8::1"]
    chain = ["alias2.example.test.", "www.example.test.", "192.0.2.1"]
    assert rdata(udp("alias.example.test", "A", p)) == chain
    assert rdata(udp("1.2.0.192.in-addr.arpa", "PTR", p)) == ["www.example.test."]
    assert sorted(rdata(udp("txt.example.test", "TXT", p))) == ['"hello world"', '"v=spf1 -all"']
    mx = ["10 mail.example.test.", "20 mail2.example.test."]
    assert sorted(rdata(udp("mx.example.test", "MX", p))) == mx
    assert udp("nx.example.test", "A", p).rcode() == dns.rcode.NXDOMAIN
    assert udp("unknown.example.test", "A", p).rcode() == dns.rcode.NXDOMAIN
    assert udp("fail.example.test", "A", p).rcode() == dns.rcode.SERVFAIL
    nodata = udp("v4only.example.test", "AAAA", p)
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(dns.message.make_query("hang.example.test", "A"), "127.0.0.1", port=p, timeout=0.3)
    q = local.find(WWW, "AAAA")[0]
    assert (q.transport, q.client[0], q.server) == ("udp", "::1", ("::1", p))
    assert len(local.queries) == 11 and all(x.id for x in local.queries)


def test_responder_truncation_and_tcp(local: DnsResponder) -> None:
    p = local.port
    tc = udp("tc.example.test", "A", p)
    assert tc.flags & dns.flags.TC and not tc.answer
    full = dns.query.tcp(dns.message.make_query("tc.example.test", "A"), "127.0.0.1", port=p, timeout=2)
    assert rdata(full) == ["192.0.2.53"]
    big = udp("large.example.test", "A", p)  # no EDNS: 512 bytes at most
    assert big.flags & dns.flags.TC and not big.answer
    edns = udp("large.example.test", "A", p, use_edns=0, payload=1232)
    assert len(edns.answer[0]) == 40 and len(edns.to_wire()) > 512
    assert local.find("large.example.test")[-1].edns == 1232


def test_responder_tcp_split_and_pipelining() -> None:
    with DnsResponder(tcp_split=3, tcp_split_pause=0.02) as r:
        with socket.create_connection(("127.0.0.1", r.port), timeout=2) as s:
            s.sendall(framed(dns.message.make_query(WWW, "A").to_wire()))
            chunks, data = 0, b""
            while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                data += s.recv(4096)
                chunks += 1
        assert chunks >= 2, "the reply came in one piece"
        assert rdata(dns.message.from_wire(data[2:])) == ["192.0.2.1"]
    with DnsResponder(tcp_coalesce=True) as r:
        names = [(WWW, "A"), (WWW, "AAAA"), ("nx.example.test", "A"), ("mx.example.test", "MX")]
        replies = C.pipeline("127.0.0.1", r.port, names)
        assert [m.question[0].name.to_text() for m in replies] == [n + "." for n, _ in names]
        assert [q.seq for q in r.queries] == [1, 2, 3, 4] and len({q.conn for q in r.queries}) == 1


def test_responder_subprocess(ns: NetNS, tmp_path: Path) -> None:
    """The script form: "ready PORT", then one JSON line per query; also inside the namespace."""
    zone = Zone().add("only.example.test", "A", "192.0.2.99")
    zone.save(tmp_path / "z.json")
    assert Zone.load(tmp_path / "z.json") == zone
    with ResponderProcess(zone) as r:
        assert rdata(udp("only.example.test", "A", r.port)) == ["192.0.2.99"]
        assert r.wait_for("only.example.test")[0].qtype == "A"
    with ResponderProcess(zone, port=5300, prefix=ns.prefix(), hosts=["127.0.0.1"]) as r:
        assert r.port == 5300
        res = ns.call(lambda: udp("only.example.test", "A", 5300))
        assert rdata(res) == ["192.0.2.99"]
        assert r.wait_for("only.example.test")


def test_netns_is_separate(ns: NetNS, server: DnsResponder) -> None:
    assert ns.inode != current_inode()

    def bind53() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 53))

    with pytest.raises(OSError, match="in use"):  # the responder holds it in there
        ns.call(bind53)
    assert ns.call(lambda: socket.if_nametoindex("lo")) == 1


# --------------------------------------------------------------------------- glibc


def test_glibc_udp(ns: NetNS, resp: DnsResponder) -> None:
    need("getent")
    r = C.getent(WWW, netns=ns).result().check()
    assert set(C.answers(r)) == {"192.0.2.1", "2001:db8::1"}
    assert asked(resp) == [(WWW, "A"), (WWW, "AAAA")]
    assert {q.transport for q in resp.queries} == {"udp"}
    assert len({q.client for q in resp.queries}) == 1  # both on one socket (sendmmsg)
    resp.clear()
    assert C.answers(C.getent(WWW, "ahostsv4", netns=ns).result().check()) == ["192.0.2.1"]
    v6 = C.getent("v6only.example.test", "ahostsv6", netns=ns).result().check()
    assert C.answers(v6) == ["2001:db8::6"]


def test_glibc_ipv6_server_and_tcp(ns: NetNS, resp: DnsResponder) -> None:
    need("getent")
    C.getent(WWW, netns=ns, nameservers=["::1"]).result().check()
    assert {q.client[0] for q in resp.queries} == {"::1"}
    resp.clear()
    C.getent(WWW, netns=ns, use_vc=True).result().check()
    assert asked(resp, "tcp") == [(WWW, "A"), (WWW, "AAAA")] and not resp.find(transport="udp")
    assert [q.seq for q in resp.queries] == [1, 2]  # pipelined on one connection


def test_glibc_nxdomain_timeout_truncation(ns: NetNS, resp: DnsResponder) -> None:
    need("getent")
    names = ("nx.example.test", "hang.example.test", "tc.example.test")
    nx, hang, tc = (C.getent(n, netns=ns) for n in names)
    assert nx.result().returncode == 2
    h = hang.result()
    assert h.returncode == 2 and h.seconds >= 0.9
    assert set(C.answers(tc.result().check())) == {"192.0.2.53", "2001:db8::53"}
    assert asked(resp, "tcp") == [("tc.example.test", "A"), ("tc.example.test", "AAAA")]
    assert ("nx.example.test", "AAAA") in asked(resp) and ("hang.example.test", "A") in asked(resp)


def test_gate_holds_the_client(ns: NetNS, resp: DnsResponder) -> None:
    need("getent")
    with C.getent(WWW, "ahostsv4", netns=ns, gate=True) as c:
        time.sleep(0.2)
        assert not resp.queries
        comm = Path(f"/proc/{c.pid}/comm").read_text().strip()
        assert comm == "sh"  # the wrapper, which execs getent on release: same pid
        c.release()
        assert C.answers(c.result().check()) == ["192.0.2.1"]


def test_client_pid_is_the_resolver(ns: NetNS, resp: DnsResponder) -> None:
    """Client.pid is the process that sends the queries (the wrappers exec), in the namespace."""
    need("getent", "musl-gcc", "go")
    slow = "slow.example.test"  # answered after 0.3 s: time to look at the waiting clients
    # Gated, then released together: a client that starts slowly (a cold Go
    # build) must not find the first one already answered and gone.
    clients = {"getent": C.getent(slow, "ahostsv4", netns=ns, gate=True),
               "musl_resolve": C.musl(slow, 4, netns=ns, gate=True),
               "go_resolve": C.go("ip4", slow, netns=ns, gate=True)}
    try:
        for c in clients.values():
            c.release()
        assert len(resp.wait_for(slow, count=3, timeout=5)) >= 3
        for comm, c in clients.items():
            assert Path(f"/proc/{c.pid}/comm").read_text().strip() == comm
            assert os.stat(f"/proc/{c.pid}/ns/net").st_ino == ns.inode
        for c in clients.values():
            assert "192.0.2.9" in c.result().check().stdout
    finally:
        for c in clients.values():
            c.kill()


# --------------------------------------------------------------------------- musl


def test_musl(ns: NetNS, resp: DnsResponder) -> None:
    need("musl-gcc")
    ok = C.musl(WWW, netns=ns)
    v6 = C.musl(WWW, 6, netns=ns, nameservers=["::1"])
    nx = C.musl("nx.example.test", netns=ns)
    hang = C.musl("hang.example.test", netns=ns)
    assert set(ok.result().check().lines) == {"192.0.2.1", "2001:db8::1"}
    assert v6.result().check().lines == ["2001:db8::1"]
    assert nx.result().returncode == 2
    h = hang.result()
    assert h.returncode == 3 and h.seconds >= 0.9
    assert ("::1", "www.example.test.", "AAAA") in {(q.client[0], q.qname, q.qtype) for q in resp.queries}


def test_musl_truncation_has_no_tcp_fallback(ns: NetNS, resp: DnsResponder) -> None:
    """musl 1.2.3 (Debian 12) takes a TC=1 reply as it is; TCP fallback came in musl 1.2.4."""
    need("musl-gcc")
    r = C.musl("tc.example.test", netns=ns).result()
    if not resp.find(transport="tcp"):
        assert r.returncode == 2
    assert asked(resp, "udp") == [("tc.example.test", "A"), ("tc.example.test", "AAAA")]


# --------------------------------------------------------------------------- Go


def test_go(ns: NetNS, resp: DnsResponder) -> None:
    need("go")
    cases = {
        ("host", WWW): ["A 192.0.2.1", "AAAA 2001:db8::1"],
        ("mx", "mx.example.test"): ["MX 10 mail.example.test.", "MX 20 mail2.example.test."],
        ("txt", "txt.example.test"): ["TXT hello world", "TXT v=spf1 -all"],
        ("ptr", "192.0.2.1"): ["PTR www.example.test."],
        ("cname", "alias.example.test"): ["CNAME www.example.test."],
        ("host", "tc.example.test"): ["A 192.0.2.53", "AAAA 2001:db8::53"],
    }
    started = {k: C.go(*k, netns=ns) for k in cases}
    nx = C.go("host", "nx.example.test", netns=ns)
    hang = C.go("host", "hang.example.test", netns=ns, timeout=3)
    for k, c in started.items():
        assert sorted(c.result().check().lines) == cases[k], k
    assert nx.result().returncode == 2
    assert hang.result().returncode == 3
    assert asked(resp, "tcp") == [("tc.example.test", "A"), ("tc.example.test", "AAAA")]
    assert ("1.2.0.192.in-addr.arpa", "PTR") in asked(resp)


def test_go_server_and_tcp(ns: NetNS, resp: DnsResponder, local: DnsResponder) -> None:
    need("go")
    local.clear()
    r = C.go("ip6", WWW, server=f"[::1]:{local.port}", tcp=True).result().check()  # host loopback, no netns
    assert r.lines == ["AAAA 2001:db8::1"]
    assert [(q.transport, q.client[0]) for q in local.queries] == [("tcp", "::1")]
    C.go("ip4", WWW, netns=ns, use_vc=True).result().check()
    assert asked(resp, "tcp") == [(WWW, "A")]


# --------------------------------------------------------------------------- dig


def test_dig(local: DnsResponder) -> None:
    need("dig")
    local.clear()
    p = local.port
    a = C.dig(WWW, port=p)
    aaaa = C.dig(WWW, "AAAA", server="::1", port=p, tcp=True)
    nx = C.dig("nx.example.test", port=p)
    hang = C.dig("hang.example.test", port=p)
    tc = C.dig("tc.example.test", port=p)
    big = C.dig("large.example.test", port=p, extra=["+noedns"])
    assert C.answers(a.result().check()) == ["192.0.2.1"]
    assert C.answers(aaaa.result().check()) == ["2001:db8::1"]
    assert C.dig_status(nx.result()) == "NXDOMAIN"
    h = hang.result()
    assert h.returncode == 9 and C.dig_status(h) is None
    assert C.answers(tc.result().check()) == ["192.0.2.53"]
    assert len(C.answers(big.result().check())) == 40
    assert {(q.qname, q.transport) for q in local.queries if q.transport == "tcp"} == {
        ("www.example.test.", "tcp"), ("tc.example.test.", "tcp"), ("large.example.test.", "tcp")}


def test_dig_sends_from_its_isc_net_thread(local: DnsResponder) -> None:
    """dig's queries leave from a libuv thread named isc-net-0000, not from the main thread."""
    need("dig")
    local.clear()
    with C.dig("slow.example.test", port=local.port) as c:
        assert local.wait_for("slow.example.test", timeout=5)
        comms = {int(t.name): (t / "comm").read_text().strip() for t in Path(f"/proc/{c.pid}/task").iterdir()}
        assert C.answers(c.result().check()) == ["192.0.2.9"]
    assert comms[c.pid] == "dig"
    assert "isc-net-0000" in comms.values()


# --------------------------------------------------------------------------- stub resolvers


def test_dnsmasq_stub(ns: NetNS, resp: DnsResponder) -> None:
    need("dnsmasq", "getent", "dig")
    with C.Dnsmasq(ns) as stub:
        r = C.getent(WWW, netns=ns, nameservers=["127.0.0.2"]).result().check()
        assert set(C.answers(r)) == {"192.0.2.1", "2001:db8::1"}
        d = C.dig("tc.example.test", server="127.0.0.2", netns=ns, tcp=True).result().check()
        assert C.answers(d) == ["192.0.2.53"]
        assert Path(f"/proc/{stub.pid}/comm").read_text().strip() == "dnsmasq"
    assert (WWW, "A") in asked(resp, "udp") and (WWW, "AAAA") in asked(resp, "udp")
    assert ("tc.example.test", "A") in asked(resp, "tcp")  # TCP from the client: TCP upstream
    assert {q.client[0] for q in resp.queries} == {"127.0.0.1"}


def test_systemd_resolved_stub(ns: NetNS, resp: DnsResponder) -> None:
    need("getent")
    if C.find_systemd_resolved() is None:
        pytest.skip(f"needs systemd-resolved unpacked into {C.resolved_root()} (apt-get download "
                    "systemd-resolved libsystemd-shared + dpkg-deb -x, as dns_clients.fetch_systemd_resolved "
                    "does; never apt-get install it: it rewrites /etc/resolv.conf)")
    with C.SystemdResolved(ns) as stub:
        r = C.getent(WWW, netns=ns, nameservers=["127.0.0.53"]).result().check()
        assert set(C.answers(r)) == {"192.0.2.1", "2001:db8::1"}
        assert Path(f"/proc/{stub.pid}/comm").read_text().strip() == "systemd-resolve"
        nx = C.getent("nx.example.test", netns=ns, nameservers=["127.0.0.53"]).result()
        assert nx.returncode == 2
    assert (WWW, "A") in asked(resp) and ("nx.example.test", "A") in asked(resp)
