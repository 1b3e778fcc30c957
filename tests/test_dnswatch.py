"""`bpfkit dnswatch` against real resolvers: glibc (UDP, TCP, IPv6 server), musl, Go, dig (UDP,
TCP), the dnsmasq and systemd-resolved stubs, all through the test responder (dnspython) inside a
network namespace this test makes (tests/helpers/netns.py) or on the host loopback.

One tracer watches port 53 for the resolver tests (each test picks its own client's records by
pid); the option, negative and escaping tests run their own tracer on a port of their own, so
that the host's DNS traffic cannot change what they count."""

from __future__ import annotations

import json
import os
import pwd
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import BPFKIT

pytest.importorskip("dns", reason="needs dnspython (pip install dnspython)")
import dns.message
import dns.name
import dns.rcode

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
import dns_clients as C
from dns_responder import DnsResponder, example_zone
from netns import NetNS

pytestmark = pytest.mark.kernel  # @pytest.mark.lane: also in CI's second-kernel lane (fentry/fexit)

WWW = "www.example.test"
BANNER = "Tracing DNS. Ctrl+C to stop."


def need(*tools: str) -> None:
    why = C.missing(*tools)
    if why:
        pytest.skip(why)


class Tracer:
    """`bpfkit dnswatch ARGS --output FILE`, started and ready (banner seen); records are read
    from the file while it runs. Always stopped by the fixture or the with block."""

    def __init__(self, *args: str, json_mode: bool = True) -> None:
        fd, name = tempfile.mkstemp(prefix="dnswatch-", suffix=".out")
        os.close(fd)
        self.path = Path(name)
        self.json = json_mode
        argv = [*BPFKIT, "dnswatch", *args, "--output", str(self.path), "--interval", "0.05"]
        if json_mode:
            argv.append("--json")
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.err = ""
        line = self.proc.stderr.readline()
        if line.strip() != BANNER:
            self.proc.kill()
            raise AssertionError(line + self.proc.stderr.read())

    def lines(self) -> list[str]:
        return self.path.read_text(errors="surrogateescape").splitlines()

    def records(self) -> list[dict]:
        return [json.loads(ln) for ln in self.lines()]  # every line must parse

    def wait(self, pred: Callable[[dict], bool], count: int = 1, timeout: float = 8.0,
             settle: float = 0.3) -> list[dict]:
        """Records matching pred once there are `count` (then `settle` s more, so that a
        duplicate would show), or whatever came by the timeout."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len([r for r in self.records() if pred(r)]) >= count:
                time.sleep(settle)
                break
            time.sleep(0.05)
        return [r for r in self.records() if pred(r)]

    def stop(self) -> str:
        """SIGINT; stderr (the final counts)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        self.err = err
        return err

    def events(self) -> int:
        """The runner's final 'events: N' (ring events read), after stop()."""
        for ln in self.err.splitlines():
            if ln.startswith("events: "):
                return int(ln.split()[1].rstrip(","))
        raise AssertionError(self.err)

    def close(self) -> None:
        self.stop()
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> Tracer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def ns() -> Iterator[NetNS]:
    need("nsenter", "unshare", "ip")
    with NetNS() as n:
        n.add_link()  # addresses beside lo: glibc's AI_ADDRCONFIG, systemd-resolved
        yield n


@pytest.fixture(scope="module")
def server(ns: NetNS) -> Iterator[DnsResponder]:
    with DnsResponder(example_zone(), port=53, netns=ns) as r:
        yield r


@pytest.fixture(scope="module")
def local() -> Iterator[DnsResponder]:
    """The example zone on an ephemeral port of the host's loopback (dig takes a port)."""
    with DnsResponder(example_zone()) as r:
        yield r


@pytest.fixture(scope="module")
def tracer(server: DnsResponder, local: DnsResponder) -> Iterator[Tracer]:
    """One tracer for the resolver tests: port 53 (the namespace's responder) and the local
    responder's port; a short timeout so that a dropped question is reported within a test."""
    with Tracer("--ports", f"53,{local.port}", "--timeout-ms", "1500") as t:
        yield t


def of(pid: int) -> Callable[[dict], bool]:
    return lambda r: r["pid"] == pid


def by_type(recs: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for r in recs:
        assert r["qtype"] not in out, f"reported twice: {r}"
        out[r["qtype"]] = r
    return out


def check_answered(r: dict, pid: int, comm: str, qname: str = WWW, *, transport: str = "udp",
                   server: str = "127.0.0.1", port: int = 53, uid: int = 0) -> None:
    assert r["event"] == "answer", r
    assert (r["pid"], r["main_comm"], r["qname"], r["rcode"]) == (pid, comm, qname, "NOERROR"), r
    assert (r["transport"], r["server"], r["server_port"]) == (transport, server, port), r
    assert r["latency_ns"] > 0 and r["timeout"] is False and r["truncated"] is False, r
    assert r["answers_complete"] is True and r["qclass"] == "IN", r
    assert r["uid"] == uid and r["cgroup_id"] > 0, r


def datas(r: dict) -> list[str]:
    return [a["data"] for a in r["answers"]]


# --------------------------------------------------------------------------- resolvers


def a_and_aaaa(tracer: Tracer, c: Any) -> dict[str, dict]:
    """The client succeeded, and its A and AAAA questions were reported, by type."""
    c.result().check()
    got = by_type(tracer.wait(of(c.pid), 2))
    assert set(got) == {"A", "AAAA"}
    return got


@pytest.mark.lane
def test_glibc_udp(ns: NetNS, tracer: Tracer) -> None:
    """getent ahosts: A and AAAA in one sendmmsg on one connected socket, replies by recvfrom."""
    need("getent")
    c = C.getent(WWW, netns=ns)
    got = a_and_aaaa(tracer, c)
    for qt, data in (("A", "192.0.2.1"), ("AAAA", "2001:db8::1")):
        r = got[qt]
        check_answered(r, c.pid, "getent")
        assert datas(r) == [data] and r["answers"][0]["ttl"] == 60 and r["answers"][0]["type"] == qt
        assert (r["comm"], r["netns"], r["family"], r["tries"]) == ("getent", ns.inode, "ipv4", 1)
        assert r["syscall"] == "sendmmsg" and r["answer_syscall"] == "recvfrom", r
    assert got["A"]["id"] != got["AAAA"]["id"]


@pytest.mark.lane
def test_glibc_tcp(ns: NetNS, tracer: Tracer) -> None:
    """options use-vc: both questions pipelined in one writev of 4 iovecs, replies read as
    read(2) + read(len): the TCP stream is reassembled."""
    need("getent")
    c = C.getent(WWW, netns=ns, use_vc=True)
    got = a_and_aaaa(tracer, c)
    for r in got.values():
        check_answered(r, c.pid, "getent", transport="tcp")
        assert r["syscall"] == "writev" and r["answer_syscall"] == "read", r
    assert datas(got["AAAA"]) == ["2001:db8::1"]


def test_glibc_ipv6_server(ns: NetNS, tracer: Tracer) -> None:
    need("getent")
    c = C.getent(WWW, netns=ns, nameservers=["::1"])
    got = a_and_aaaa(tracer, c)
    for r in got.values():
        check_answered(r, c.pid, "getent", server="::1")
        assert r["family"] == "ipv6"


@pytest.mark.lane
def test_musl(ns: NetNS, tracer: Tracer) -> None:
    """musl: sendto with an address on an unconnected socket; the replies are known by the socket."""
    need("musl-gcc")
    c = C.musl(WWW, netns=ns)
    got = a_and_aaaa(tracer, c)
    for r in got.values():
        check_answered(r, c.pid, "musl_resolve")
        assert r["syscall"] == "sendto" and r["answer_syscall"] == "recvfrom", r
    assert datas(got["A"]) == ["192.0.2.1"]


@pytest.mark.lane
def test_go(ns: NetNS, tracer: Tracer) -> None:
    """Go's pure resolver: plain write/read on connected sockets, from any thread."""
    need("go")
    c = C.go("host", WWW, netns=ns)
    got = a_and_aaaa(tracer, c)
    for r in got.values():
        check_answered(r, c.pid, "go_resolve")
        assert r["syscall"] == "write" and r["answer_syscall"] == "read", r
    mx = C.go("mx", "mx.example.test", netns=ns)
    mx.result().check()
    (r,) = tracer.wait(of(mx.pid))
    check_answered(r, mx.pid, "go_resolve", "mx.example.test")
    assert sorted(datas(r)) == ["10 mail.example.test.", "20 mail2.example.test."]


@pytest.mark.lane
def test_dig_udp_and_tcp(local: DnsResponder, tracer: Tracer) -> None:
    """dig sends from its isc-net-0000 thread (sendmmsg, recvmsg; +tcp: writev, read)."""
    need("dig")
    # Answers are expected: 5 s, not dig's 1 s used for the unanswered ones (an
    # emulated CPU under a tracer took longer than 1 s to take a TCP query).
    a = C.dig(WWW, port=local.port, timeout=5)
    t = C.dig("txt.example.test", "TXT", server="::1", port=local.port, tcp=True, timeout=5)
    a.result().check()
    t.result().check()
    (ra,) = tracer.wait(of(a.pid))
    check_answered(ra, a.pid, "dig", port=local.port)
    assert ra["comm"] == "isc-net-0000" and ra["tid"] != a.pid and datas(ra) == ["192.0.2.1"]
    assert ra["syscall"] == "sendmmsg" and ra["answer_syscall"] == "recvmsg", ra
    (rt,) = tracer.wait(of(t.pid))
    check_answered(rt, t.pid, "dig", "txt.example.test", transport="tcp", server="::1", port=local.port)
    assert rt["comm"] == "isc-net-0000" and rt["qtype"] == "TXT"
    assert sorted(datas(rt)) == ['"hello world"', '"v=spf1 -all"']


def test_nxdomain_servfail_and_timeout(local: DnsResponder, tracer: Tracer) -> None:
    """A dropped question is reported when its timeout expires (1.5 s here), while the tracer
    runs: rcode null, timeout true."""
    need("dig")
    nx = C.dig("nx.example.test", port=local.port)
    fail = C.dig("fail.example.test", port=local.port)
    t0 = time.monotonic()
    hang = C.dig("hang.example.test", port=local.port)
    assert C.dig_status(nx.result()) == "NXDOMAIN"
    assert C.dig_status(fail.result()) == "SERVFAIL"
    (rn,) = tracer.wait(of(nx.pid))
    assert (rn["event"], rn["rcode"], rn["answers"], rn["timeout"]) == ("answer", "NXDOMAIN", [], False)
    assert rn["latency_ns"] > 0
    (rf,) = tracer.wait(of(fail.pid))
    assert rf["rcode"] == "SERVFAIL"
    (rh,) = tracer.wait(of(hang.pid), timeout=6)
    waited = time.monotonic() - t0
    assert (rh["event"], rh["rcode"], rh["timeout"], rh["latency_ns"]) == ("timeout", None, True, None), rh
    assert rh["qname"] == "hang.example.test" and rh["main_comm"] == "dig"
    assert 1.4 < waited < 6, waited  # at its timeout, while the tracer runs (not at exit)
    hang.result()


def test_dnsmasq_stub(ns: NetNS, tracer: Tracer) -> None:
    """getent -> dnsmasq (127.0.0.2) -> responder: two questions per type, linked both ways.
    dnsmasq forwards with sendto on a fresh unconnected socket per question."""
    need("dnsmasq", "getent", "dig")
    with C.Dnsmasq(ns) as stub:
        c = C.getent("alias.example.test", netns=ns, nameservers=["127.0.0.2"])
        c.result().check()
        client = by_type(tracer.wait(of(c.pid), 2))
        upstream = tracer.wait(lambda r: r["pid"] == stub.pid and r["qname"] == "alias.example.test", 2)
        # over TCP: a forked dnsmasq child forwards with sendto(MSG_FASTOPEN), no connect()
        d = C.dig("mx.example.test", "MX", server="127.0.0.2", netns=ns, tcp=True)
        d.result().check()
        (dr,) = tracer.wait(of(d.pid))
        (tr,) = tracer.wait(lambda r: r["main_comm"] == "dnsmasq" and r["qname"] == "mx.example.test")
    assert set(client) == {"A", "AAAA"}
    for r in client.values():
        check_answered(r, c.pid, "getent", "alias.example.test", server="127.0.0.2")
        via = r["via"]
        assert via["main_comm"] == "dnsmasq" and via["pid"] == stub.pid, r
        assert (via["server"], via["server_port"], via["rcode"]) == ("127.0.0.1", 53, "NOERROR")
        assert r["answers"][0] == {"name": "alias.example.test.", "type": "CNAME", "ttl": 60,
                                   "data": "alias2.example.test."}
    up = by_type(upstream)
    assert set(up) == {"A", "AAAA"}
    for r in up.values():
        check_answered(r, stub.pid, "dnsmasq", "alias.example.test", uid=pwd.getpwnam("nobody").pw_uid)
        assert r["for"] == {"pid": c.pid, "comm": "getent", "main_comm": "getent"}, r
        assert r["syscall"] == "sendto" and r["via"] is None
    assert datas(up["A"])[-1] == "192.0.2.1"
    check_answered(dr, d.pid, "dig", "mx.example.test", transport="tcp", server="127.0.0.2")
    check_answered(tr, tr["pid"], "dnsmasq", "mx.example.test", transport="tcp",
                   uid=pwd.getpwnam("nobody").pw_uid)
    assert tr["pid"] != stub.pid and tr["syscall"] == "sendto" and tr["for"]["pid"] == d.pid, tr
    assert dr["via"]["pid"] == tr["pid"] and sorted(datas(tr)) == sorted(datas(dr))


def test_systemd_resolved_stub(ns: NetNS, tracer: Tracer) -> None:
    """resolved probes each datagram with recvfrom(NULL, 0, MSG_PEEK|MSG_TRUNC) before reading it:
    no answer is reported twice. Its upstream questions go by write() on connected sockets."""
    need("getent")
    if C.find_systemd_resolved() is None:
        pytest.skip(f"needs systemd-resolved unpacked into {C.resolved_root()} (tests/helpers/"
                    "dns_clients.py fetch_systemd_resolved(): apt-get download + dpkg-deb -x; never "
                    "apt-get install it, it rewrites /etc/resolv.conf)")
    name = f"r{os.getpid()}.example.test"  # resolved reuses a transaction for a repeated name
    with C.SystemdResolved(ns) as stub:
        c = C.getent(name, "ahostsv4", netns=ns, nameservers=["127.0.0.53"])
        assert c.result().returncode == 2  # NXDOMAIN
        (r,) = tracer.wait(of(c.pid))
        ups = tracer.wait(lambda x: x["pid"] == stub.pid and x["qname"] == name, settle=0.5)
    assert (r["event"], r["rcode"], r["server"]) == ("answer", "NXDOMAIN", "127.0.0.53"), r
    assert r["via"]["main_comm"] == "systemd-resolve" and r["via"]["rcode"] == "NXDOMAIN", r
    # resolved may ask again on a new socket (same id: its server feature probing); each
    # question on the wire is one record, and one of them is linked to getent's
    linked = [u for u in ups if u["for"] is not None]
    assert len(linked) == 1 and linked[0]["for"]["pid"] == c.pid, ups
    for u in ups:
        assert (u["main_comm"], u["rcode"], u["syscall"], u["server"]) == ("systemd-resolve", "NXDOMAIN",
                                                                         "write", "127.0.0.1"), u
    assert r["via"]["latency_ns"] == linked[0]["latency_ns"]


@pytest.mark.lane
def test_other_hooks_give_the_same_records(ns: NetNS, server: DnsResponder, local: DnsResponder) -> None:
    """The other hook alternatives, forced (the rest of this file runs on the best one the kernel
    offers: tp_btf here, fentry/fexit where the kernel allows them): the same records for glibc's
    two-message sendmmsg, dig over UDP and over TCP. raw_tp and tp_btf need the sock_*_length
    tracepoints (6.3+); the syscall tracepoints are the path for older kernels."""
    need("dig", "getent")
    have_tp = any(Path(d, "events/sock/sock_send_length").exists()
                  for d in ("/sys/kernel/tracing", "/sys/kernel/debug/tracing"))
    for hooks in ("tp_btf", "raw_tp", "syscalls") if have_tp else ("syscalls",):
        with Tracer("--ports", f"53,{local.port}", "--hooks", hooks) as t:
            g = C.getent(WWW, netns=ns)
            a = C.dig(WWW, "AAAA", port=local.port)
            b = C.dig(WWW, port=local.port, tcp=True)
            for c in (g, a, b):
                c.result().check()
            rg = by_type(t.wait(of(g.pid), 2))
            (ra,) = t.wait(of(a.pid))
            (rb,) = t.wait(of(b.pid))
        assert set(rg) == {"A", "AAAA"}, hooks
        for r in rg.values():
            check_answered(r, g.pid, "getent")
            assert r["syscall"] == "sendmmsg"
        check_answered(ra, a.pid, "dig", port=local.port)
        check_answered(rb, b.pid, "dig", transport="tcp", port=local.port)
        assert datas(ra) == ["2001:db8::1"] and datas(rb) == ["192.0.2.1"], hooks


# --------------------------------------------------------------------------- TCP framing


def test_tcp_split_and_coalesced_replies() -> None:
    """Replies in 3 TCP segments (a message across reads), and 4 pipelined questions in one
    write answered in one segment (several messages per read)."""
    need("dig")
    with DnsResponder(tcp_split=3, tcp_split_pause=0.02) as split, DnsResponder(tcp_coalesce=True) as co, \
            Tracer("--ports", f"{split.port},{co.port}") as t:
        d = C.dig("mx.example.test", "MX", port=split.port, tcp=True)
        d.result().check()
        p = C.pipeline_client("127.0.0.1", co.port, [WWW, f"{WWW}/AAAA", "nx.example.test",
                                                     "mx.example.test/MX"])
        p.result().check()
        (rd,) = t.wait(of(d.pid))
        rp = t.wait(of(p.pid), 4)
    assert sorted(datas(rd)) == ["10 mail.example.test.", "20 mail2.example.test."]
    assert rd["transport"] == "tcp"
    assert sorted((r["qname"], r["qtype"], r["rcode"]) for r in rp) == [
        ("mx.example.test", "MX", "NOERROR"), ("nx.example.test", "A", "NXDOMAIN"),
        (WWW, "A", "NOERROR"), (WWW, "AAAA", "NOERROR")]
    assert all(r["transport"] == "tcp" and r["latency_ns"] > 0 for r in rp)


def test_long_tcp_answer_is_cut_visibly() -> None:
    """An answer longer than the 4096 bytes captured per TCP read: header, question and the
    answers that fit are reported, marked truncated; the framing stays in step for the next."""
    need("dig")
    zone = example_zone().large("big.example.test", 300)  # ~5 KB
    with DnsResponder(zone) as r, Tracer("--ports", str(r.port)) as t:
        d = C.dig("big.example.test", port=r.port, tcp=True)
        assert len(C.answers(d.result().check())) == 300
        (rec,) = t.wait(of(d.pid))
    assert (rec["rcode"], rec["truncated"], rec["answers_complete"]) == ("NOERROR", True, False), rec
    assert 100 < len(rec["answers"]) < 300


# --------------------------------------------------------------------------- negative


def _libc_recv(fd: int, buf: object, n: int, flags: int) -> int:
    """recv(2) itself: Python's recv_into() returns 0 for a 0-byte buffer without the syscall."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    return libc.recv(fd, buf, n, flags)


def _query(name: str, qtype: str = "A") -> bytes:
    return dns.message.make_query(name, qtype).to_wire()


@pytest.mark.lane
def test_peek_and_eagain_are_not_captured(local: DnsResponder) -> None:
    """A non-blocking recv before the answer is there (EAGAIN), a MSG_PEEK|MSG_TRUNC size probe
    with no buffer and a MSG_PEEK read, then the real read: one send and one receive reach
    the ring, and the answer is reported once."""
    with Tracer("--ports", str(local.port)) as t, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("127.0.0.1", local.port))
        s.setblocking(False)
        s.send(_query("slow.example.test"))  # answered after 0.3 s
        with pytest.raises(BlockingIOError):
            s.recv(512)
        select.select([s], [], [], 3)
        n = _libc_recv(s.fileno(), None, 0, socket.MSG_PEEK | socket.MSG_TRUNC)  # as resolved does
        assert n > 12
        s.settimeout(3)
        s.recv(512, socket.MSG_PEEK)
        reply = dns.message.from_wire(s.recv(512))
        assert reply.answer
        (r,) = t.wait(of(os.getpid()))
        t.stop()
        assert t.events() == 2
    assert r["qname"] == "slow.example.test" and r["latency_ns"] >= 250_000_000, r
    assert datas(r) == ["192.0.2.9"]


def test_non_dns_traffic_costs_no_ring_event(local: DnsResponder) -> None:
    """UDP on another port (connected send, unconnected sendto, sendmmsg-free recvfrom) and a TCP
    transfer on another port: nothing reaches the ring buffer (the runner's final count)."""
    with Tracer("--ports", str(local.port)) as t:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            rx.bind(("127.0.0.1", 0))
            dst = rx.getsockname()
            payload = _query(WWW)  # a valid DNS question, but not to a DNS port
            for _ in range(200):
                tx.sendto(payload, dst)
                rx.recvfrom(512)
            tx.connect(dst)
            for _ in range(200):
                tx.send(payload)
                rx.recv(512)
        with socket.create_server(("127.0.0.1", 0)) as srv:
            cl = socket.create_connection(srv.getsockname())
            conn, _ = srv.accept()
            with cl, conn:
                cl.sendall(b"x" * 1_000_000)
                got = 0
                while got < 1_000_000:
                    got += len(conn.recv(65536))
        t.stop()
        assert t.events() == 0, t.err
        assert t.records() == []


def test_a_crafted_name_cannot_forge_a_line(local: DnsResponder) -> None:
    """Labels holding a newline, CR, ANSI escapes, a dot, a backslash and non-UTF-8 bytes: one
    line each in text, in master-file escapes that tell them apart; valid JSON."""
    evil = [b"evil\nline\x1b[31m", b"a.b", b"c\\d\r", b"\xff\xfe", b"example", b"test"]
    dotted = [b"a", b"b", b"example", b"test"]
    expect = "evil\\010line\\027[31m.a\\.b.c\\\\d\\013.\\255\\254.example.test"

    def ask(labels: list[bytes]) -> None:
        q = dns.message.make_query(dns.name.Name([*labels, b""]), "A")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(q.to_wire(), ("127.0.0.1", local.port))
            s.recv(4096)


    with Tracer("--ports", str(local.port), json_mode=False) as text, \
            Tracer("--ports", str(local.port)) as js:
        ask(evil)
        ask(dotted)
        js.wait(of(os.getpid()), 2)
        time.sleep(0.2)
        lines = text.lines()
        recs = js.records()
    assert len(lines) == 3, lines  # the header and one line per question
    assert lines[1].split()[5] == expect and lines[2].split()[5] == "a.b.example.test", lines
    assert all(ch.isprintable() for ln in lines for ch in ln)
    assert [r["qname"] for r in recs] == [expect, "a.b.example.test"]
    assert recs[0]["rcode"] == "NXDOMAIN"


# --------------------------------------------------------------------------- options


def test_filters(local: DnsResponder) -> None:
    """--failed keeps NXDOMAIN/SERVFAIL/timeouts; --qtype and --name filter by type and by whole
    labels; --comm by process or thread name."""
    need("dig")
    p = str(local.port)
    with Tracer("--ports", p, "--failed", "--timeout-ms", "600") as failed, \
            Tracer("--ports", p, "--qtype", "AAAA,MX", "--name", "example.test") as typed, \
            Tracer("--ports", p, "--comm", "isc-net-0000", "--name", "www.example.test") as comm:
        cs = [C.dig(WWW, port=local.port), C.dig(WWW, "AAAA", port=local.port),
              C.dig("nx.example.test", port=local.port), C.dig("fail.example.test", "MX", port=local.port),
              C.dig("hang.example.test", port=local.port)]
        for c in cs:
            c.result()
        ok, aaaa, nx, fail, hang = (c.pid for c in cs)
        got_failed = failed.wait(lambda r: r["pid"] in (nx, fail, hang), 3, timeout=5)
        got_typed = typed.wait(lambda r: r["pid"] in (aaaa, fail), 2)
        got_comm = comm.wait(lambda r: r["pid"] in (ok, aaaa), 2)
        # a python client: neither dig nor isc-net-0000
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(_query(WWW), ("127.0.0.1", local.port))
            s.recv(512)
        time.sleep(0.3)
        all_failed, all_typed, all_comm = failed.records(), typed.records(), comm.records()
    assert sorted((r["pid"], r["rcode"], r["event"]) for r in got_failed) == sorted(
        [(nx, "NXDOMAIN", "answer"), (fail, "SERVFAIL", "answer"), (hang, None, "timeout")])
    assert {r["pid"] for r in all_failed} <= {nx, fail, hang}
    assert sorted(r["qtype"] for r in got_typed) == ["AAAA", "MX"]
    assert {r["pid"] for r in all_typed} <= {aaaa, fail}
    assert {r["pid"] for r in got_comm} == {ok, aaaa} and {r["pid"] for r in all_comm} == {ok, aaaa}


def test_summary(local: DnsResponder) -> None:
    need("dig")
    with Tracer("--ports", str(local.port), "--summary", json_mode=False) as t:
        cs = [C.dig(WWW, port=local.port), C.dig("nx.example.test", port=local.port)]
        for c in cs:
            c.result()
        time.sleep(0.3)
        t.stop()
        text = t.path.read_text()
    lines = text.splitlines()
    assert lines[0].split() == ["PROCESS", "PID", "QUERIES", "FAILED", "TIMEOUTS", "P50(ms)", "P99(ms)"]
    rows = {ln.split()[1]: ln.split() for ln in lines[1:] if ln.startswith("dig ")}
    assert rows[str(cs[0].pid)][2:5] == ["1", "0", "0"] and rows[str(cs[1].pid)][2:5] == ["1", "1", "0"]
    assert float(rows[str(cs[0].pid)][5]) > 0
    names = {ln.split()[0]: ln.split() for ln in lines if ln.endswith(("-", "0")) or "example" in ln}
    assert names["nx.example.test"][1:4] == ["1", "1", "0"]


@pytest.mark.lane
def test_verbose_names_the_best_hooks_this_kernel_offers() -> None:
    """fentry/fexit where the kernel allows them (then every other test here ran on them), else
    the tp_btf pair (6.3+), else the syscall tracepoints."""
    from bpfkit.core.kinds import KINDS

    if KINDS["fexit"].refusal("inet_sendmsg") is None:
        want = "fentry_send4+fexit_send4+fentry_send6+fexit_send6 (fentry)"
    elif KINDS["tp_btf"].refusal("sock_send_length") is None:
        want = "tp_send (tp_btf)"
    else:
        want = "sys_enter_write+sys_exit_write"
    r = subprocess.run([*BPFKIT, "dnswatch", "--verbose", "--duration", "0"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("dnswatch: send: ")]
    kept = line.split(";")[0].removeprefix("dnswatch: send: ").removeprefix("send: ")  # then: skipped ones
    assert kept.startswith(want), line


def test_bad_options_fail_before_loading() -> None:
    for args, msg in ((["--ports", "0"], "--ports: '0' is not a port"),
                      (["--qtype", "BOGUS"], "--qtype: 'BOGUS' is not a record type"),
                      (["--name", "a..b"], "--name: 'a..b' is not a domain name"),
                      (["--timeout-ms", "0"], "--timeout-ms: must be more than 0")):
        r = subprocess.run([*BPFKIT, "dnswatch", *args], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and msg in r.stderr, (args, r.stderr)
