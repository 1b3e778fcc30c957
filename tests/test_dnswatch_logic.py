"""dnswatch's user-space logic on synthetic bytes: the wire parser (checked against dnspython's
own text for every record type it handles), TCP reassembly, question/answer matching, timeouts
and stub links. No kernel."""

from __future__ import annotations

import pytest

from bpfkit.tools.dnswatch import Percentiles, address, parse_ports
from bpfkit.tools.dnswatch.track import LINK_WINDOW_NS, Matcher, Message, Stream, parse
from bpfkit.tools.dnswatch.wire import BadMessage, Header, answers, name_text, parse_type, read_name

pytest.importorskip("dns", reason="needs dnspython (pip install dnspython)")
import dns.flags
import dns.message
import dns.name
import dns.rrset

MS = 1_000_000


def query(name: str | dns.name.Name, qtype: str = "A", qid: int = 1234) -> bytes:
    q = dns.message.make_query(name, qtype)
    q.id = qid
    return q.to_wire()


def reply(name: str, qtype: str, *records: tuple[str, str, list[str]], qid: int = 1234, rcode: int = 0,
          tc: bool = False) -> bytes:
    q = dns.message.make_query(name, qtype)
    q.id = qid
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if tc:
        r.flags |= dns.flags.TC
    for owner, rtype, datas in records:
        r.answer.append(dns.rrset.from_text_list(dns.name.from_text(owner), 300, "IN", rtype, datas))
    return r.to_wire()


# --------------------------------------------------------------------------- the wire parser

CORPUS = [
    ("A", ["192.0.2.1", "10.0.0.255"]),
    ("AAAA", ["2001:db8::1", "::ffff:192.0.2.1", "::1.2.3.4", "fe80::1:0:0:1", "2001:db8:0:1:1:1:1:1",
              "::", "1::"]),
    ("CNAME", ["target.example.", "a\\.b.c."]),
    ("NS", ["ns1.example."]),
    ("PTR", ["host.example."]),
    ("DNAME", ["other.example."]),
    ("MX", ["10 mail.example.", "0 ."]),
    ("TXT", ['"hello world"', '"a\\"b\\\\c" "second"', '"\\010\\255\\027[31m"', '""']),
    ("SPF", ['"v=spf1 -all"']),
    ("SRV", ["0 5 5060 sip.example."]),
    ("SOA", ["ns.example. admin.example. 2024010101 7200 3600 1209600 300"]),
    ("CAA", ['0 issue "letsencrypt.org"']),  # dnspython's own text (fallback)
    ("HTTPS", ['1 . alpn="h2,h3"']),
    ("SSHFP", ["1 1 " + "ab" * 20]),
]


@pytest.mark.parametrize(("rtype", "datas"), CORPUS, ids=[c[0] for c in CORPUS])
def test_answers_read_as_dnspython_prints_them(rtype: str, datas: list[str]) -> None:
    wire = reply("www.example.test", rtype, ("www.example.test", rtype, datas))
    h = Header(wire)
    recs, complete = answers(wire, h)
    theirs = dns.message.from_wire(wire)
    assert complete and [a.data for a in recs] == [rd.to_text() for rs in theirs.answer for rd in rs]
    assert all(a.name == "www.example.test." and a.ttl == 300 for a in recs)


def test_header_question_and_compressed_answers() -> None:
    wire = reply("Alias.Example.TEST", "A", ("Alias.Example.TEST", "CNAME", ["www.example.test."]),
                 ("www.example.test", "A", ["192.0.2.1"]), qid=0xBEEF, rcode=3)
    h = Header(wire)
    assert (h.id, h.response, h.rcode, h.qtype, h.qclass, h.tc) == (0xBEEF, True, 3, 1, 1, False)
    assert h.qname == "Alias.Example.TEST" and h.qkey == (b"alias", b"example", b"test")
    recs, complete = answers(wire, h)
    theirs = dns.message.from_wire(wire)
    assert complete and [(a.name, a.rtype, a.data) for a in recs] == [
        (rs.name.to_text(), rs.rdtype, rd.to_text()) for rs in theirs.answer for rd in rs]
    assert [a.rtype for a in recs] == [5, 1] and recs[1].data == "192.0.2.1"
    assert b"\xc0" in wire  # names were compressed


def test_names_are_escaped_like_dnspython_for_every_byte() -> None:
    for start in range(0, 256, 120):
        labels = [bytes(range(i, min(i + 40, 256))) for i in range(start, min(start + 120, 256), 40)]
        n = dns.name.Name([*labels, b""])
        h = Header(query(n))
        assert h.qname + "." == n.to_text()
        assert h.labels == labels
    # a dot inside a label and a separator are told apart; control bytes never reach the text
    assert name_text([b"a.b", b"c"]) == "a\\.b.c." and name_text([b"a", b"b", b"c"]) == "a.b.c."
    assert name_text([b"x\ny\x1b"], final_dot=False) == "x\\010y\\027"
    assert name_text([]) == "."


def test_cut_capture_keeps_header_and_question() -> None:
    many = [f"198.18.0.{i}" for i in range(1, 41)]
    wire = reply("large.example.test", "A", ("large.example.test", "A", many))
    cut = wire[:200]
    h = Header(cut)
    assert h.qname == "large.example.test" and h.ancount == 40
    recs, complete = answers(cut, h)
    assert not complete and 0 < len(recs) < 40
    whole = [rd.to_text() for rs in dns.message.from_wire(wire).answer for rd in rs]
    assert [a.data for a in recs] == whole[: len(recs)]
    with pytest.raises(BadMessage):
        Header(wire[:20])  # the question itself is cut


def test_bad_messages_are_refused() -> None:
    good = query("a.example")
    loop = good[:12] + b"\xc0\x0c" + good[-4:]  # a pointer to itself
    forward = good[:12] + b"\xc0\x20" + good[-4:]
    for bad in (b"", b"\0" * 11, loop, forward, good[:4] + b"\0\0" + good[6:]):  # qdcount 0
        with pytest.raises(BadMessage):
            Header(bad)
    long_name = b"".join(bytes([63]) + b"x" * 63 for _ in range(4)) + b"\0"
    with pytest.raises(BadMessage, match="255"):
        read_name(long_name, 0)
    assert parse(b"not dns at all, no") is None


def test_types_and_ports() -> None:
    assert [parse_type(t) for t in ("a", "AAAA", "TYPE65", "65", "https")] == [1, 28, 65, 65, 65]
    for bad in ("BOGUS", "TYPE70000", "-1", "\u0661"):  # an Arabic-Indic digit is no number here
        with pytest.raises(ValueError):
            parse_type(bad)
    assert parse_ports("53, 5353") == [53, 5353]
    assert address(10, b"\0" * 10 + b"\xff\xff" + bytes([127, 0, 0, 1])) == ("127.0.0.1", "ipv4")
    assert address(10, bytes(15) + b"\1") == ("::1", "ipv6")


def test_percentiles_are_within_two_percent() -> None:
    p = Percentiles()
    for i in range(1, 1001):
        p.add(i * MS)
    assert abs(p.value(0.5) - 500) / 500 < 0.025 and abs(p.value(0.99) - 990) / 990 < 0.025
    assert Percentiles().value(0.5) is None


# --------------------------------------------------------------------------- TCP reassembly


def framed(*msgs: bytes) -> bytes:
    return b"".join(len(m).to_bytes(2, "big") + m for m in msgs)


def test_stream_several_messages_in_one_write() -> None:
    a, b = query("a.example", qid=1), query("b.example", "AAAA", qid=2)
    out = Stream().feed(framed(a, b), len(framed(a, b)))
    assert out == [(a, True), (b, True)]


def test_stream_message_across_reads() -> None:
    """dnsmasq reads the length a byte at a time, glibc read(2) then read(len)."""
    m = reply("www.example.test", "A", ("www.example.test", "A", ["192.0.2.1"]))
    data = framed(m)
    s = Stream()
    assert s.feed(data[:1], 1) == [] and s.feed(data[1:2], 1) == []
    assert s.feed(data[2:10], 8) == [] and s.pending == 10
    assert s.feed(data[10:], len(data) - 10) == [(m, True)] and s.pending == 0


def test_stream_keeps_framing_across_a_hole() -> None:
    """A chunk longer than the capture: the message in the hole comes out cut (its start), the
    next message is whole."""
    big = reply("big.example.test", "A", ("big.example.test", "A", [f"198.18.{i // 250}.{i % 250 + 1}"
                                                                    for i in range(300)]))
    small = query("after.example", qid=7)
    data = framed(big, small)
    cap = 4096
    s = Stream()
    out = s.feed(data[:cap], cap + 100)  # 100 bytes of big not captured
    assert out == [] and s.holes
    out = s.feed(data[cap + 100:], len(data) - cap - 100)
    assert len(out) == 2
    (cut, complete), (whole, ok) = out
    assert not complete and cut == big[:cap - 2] and (whole, ok) == (small, True)
    h = Header(cut)
    assert h.qname == "big.example.test"
    recs, done = answers(cut, h)
    assert not done and len(recs) > 200


def test_stream_resyncs_on_garbage_and_lost_length() -> None:
    s = Stream()
    assert s.feed(b"\x00\x03abc", 5) == [] and s.desyncs == 1 and s.pending == 0  # shorter than a header
    m = query("x.example")
    assert s.feed(b"", 2) == [] and s.desyncs == 2  # the length itself was not captured
    assert s.feed(framed(m), len(framed(m))) == [(m, True)]
    assert s.feed(b"", 10_000_000) == [] and s.desyncs == 3  # not DNS framing


# --------------------------------------------------------------------------- matching


def msg(data: bytes, ts: int, *, sock: int = 1, pid: int = 100, netns: int = 4026531840,
        server: str | None = "127.0.0.1", port: int | None = 53, direction: int = 1) -> Message:
    return Message(ts=ts, dir=direction, sock=sock, pid=pid, tid=pid, uid=0, comm="c", pcomm="c",
                   netns=netns, cgroup=1, transport="udp", family="ipv4", server=server, port=port,
                   h=Header(data), wire=data, truncated=False, syscall="sendto")


def test_question_meets_its_answer_on_the_same_socket_only() -> None:
    m = Matcher(timeout_ns=1000 * MS)
    assert m.question(msg(query("a.example", qid=5), 10 * MS)) == []
    ans = reply("a.example", "A", ("a.example", "A", ["192.0.2.1"]), qid=5)
    assert m.response(msg(ans, 11 * MS, sock=2, server=None, port=None, direction=2)) == []  # other socket
    assert m.response(msg(reply("a.example", "A", qid=6), 11 * MS, direction=2)) == []  # other id
    assert m.response(msg(reply("a.example", "AAAA", qid=5), 11 * MS, direction=2)) == []  # other type
    (r,) = m.response(msg(ans, 12 * MS, server=None, port=None, direction=2))
    assert (r.kind, r.query.latency_ns, r.query.msg.server) == ("answer", 2 * MS, "127.0.0.1")
    assert m.waiting == {}
    assert [x.kind for x in m.expire(5000 * MS)] == ["unmatched"] * 3  # the three strays, after the grace


def test_case_of_the_name_does_not_matter() -> None:
    m = Matcher(timeout_ns=1000 * MS)
    m.question(msg(query("WwW.Example.Test", qid=9), 0))
    (r,) = m.response(msg(reply("www.example.test", "A", qid=9), 3 * MS, direction=2))
    assert r.kind == "answer"


def test_retransmission_timeout_late_and_unanswered() -> None:
    m = Matcher(timeout_ns=1000 * MS)
    q = query("slow.example", qid=3)
    m.question(msg(q, 0))
    m.question(msg(q, 800 * MS, server="127.0.0.2"))  # sent again before its timeout
    assert m.expire(1500 * MS) == []  # 1 s after the last send, not the first
    (t,) = m.expire(1800 * MS)
    assert (t.kind, t.query.tries, t.query.servers) == ("timeout", 2, [("127.0.0.1", 53), ("127.0.0.2", 53)])
    (late,) = m.response(msg(reply("slow.example", "A", qid=3), 2500 * MS, direction=2))
    assert late.kind == "late" and late.query.latency_ns == 2500 * MS
    m.question(msg(query("never.example", qid=4), 3000 * MS))
    (u,) = m.finish()
    assert u.kind == "unanswered" and u.query.answer is None


def test_an_answer_read_before_its_question_is_matched() -> None:
    """Two CPUs: the answer's record can come out of the ring before the question's."""
    m = Matcher(timeout_ns=1000 * MS)
    assert m.response(msg(reply("a.example", "A", qid=1), 5 * MS, direction=2)) == []
    (r,) = m.question(msg(query("a.example", qid=1), 4 * MS))
    assert r.kind == "answer" and r.query.latency_ns == MS and m.early == []


def test_stub_links_client_and_upstream_questions() -> None:
    """getent -> 127.0.0.2 (dnsmasq) -> 127.0.0.1: the upstream question is another process's
    question for the same name and type in the same namespace, just after the client's."""
    m = Matcher(timeout_ns=1000 * MS)
    client = msg(query("w.example", qid=1), 0, sock=1, pid=100, server="127.0.0.2")
    upstream = msg(query("w.example", qid=2), 1 * MS, sock=2, pid=200, server="192.0.2.53")
    elsewhere = msg(query("w.example", qid=3), 1 * MS, sock=3, pid=300, netns=1, server="192.0.2.53")
    later = msg(query("w.example", qid=4), LINK_WINDOW_NS + 1, sock=4, pid=400, server="192.0.2.53")
    for x in (client, upstream, elsewhere, later):
        m.question(x)
    (ru,) = m.response(msg(reply("w.example", "A", qid=2), 3 * MS, sock=2, pid=200, direction=2))
    assert ru.query.for_ is not None and ru.query.for_.msg.pid == 100
    (rc,) = m.response(msg(reply("w.example", "A", qid=1), 4 * MS, sock=1, pid=100, direction=2))
    assert rc.query.via is ru.query
    for sock, pid, qid in ((3, 300, 3), (4, 400, 4)):
        (r,) = m.response(msg(reply("w.example", "A", qid=qid), 5 * MS, sock=sock, pid=pid, direction=2))
        assert r.query.via is None and r.query.for_ is None
    m.expire(LINK_WINDOW_NS * 3)
    assert m.clients == {}  # forgotten once too old to link


def test_no_link_to_an_answered_question_or_one_to_the_same_server() -> None:
    """Two programs asking the same stub (127.0.0.53) the same name one after the other: the
    second is not the stub's upstream question of the first."""
    m = Matcher(timeout_ns=1000 * MS)
    m.question(msg(query("w.example", qid=1), 0, sock=1, pid=100, server="127.0.0.53"))
    m.question(msg(query("w.example", qid=2), MS, sock=2, pid=200, server="127.0.0.53"))  # same server
    (r,) = m.response(msg(reply("w.example", "A", qid=1), 2 * MS, sock=1, pid=100, direction=2))
    (r2,) = m.response(msg(reply("w.example", "A", qid=2), 3 * MS, sock=2, pid=200, direction=2))
    m.question(msg(query("w.example", qid=3), 4 * MS, sock=3, pid=300, server="192.0.2.1"))  # both answered
    assert r.query.via is None and r2.query.via is None and r2.query.for_ is None
    assert all(q.for_ is None for q in m.waiting.values())


def test_a_question_to_a_remote_server_is_nobody_s_client() -> None:
    m = Matcher(timeout_ns=1000 * MS)
    a = msg(query("w.example", qid=1), 0, sock=1, pid=100, server="192.0.2.1")
    b = msg(query("w.example", qid=2), MS, sock=2, pid=200, server="192.0.2.1")
    m.question(a)
    m.question(b)
    for qid, sock in ((1, 1), (2, 2)):
        (r,) = m.response(msg(reply("w.example", "A", qid=qid), 2 * MS, sock=sock, direction=2))
        assert r.query.via is None and r.query.for_ is None


def test_one_process_asking_a_name_often_links_nothing_and_stays_small() -> None:
    """A hot name asked by one process through a loopback server: nothing to link to, and the
    link table keeps one question per process."""
    m = Matcher(timeout_ns=1000 * MS)
    for i in range(5000):
        m.question(msg(query("hot.example", qid=i), i * 1000, sock=1, pid=100))
        m.response(msg(reply("hot.example", "A", qid=i), i * 1000 + 500, sock=1, pid=100, direction=2))
    assert len(m.clients) == 1 and len(next(iter(m.clients.values()))) == 1
    assert all(q.via is None for q in m.waiting.values())


# --------------------------------------------------------------------------- the tool, on fake ring events


def tool(*argv: str):
    from bpfkit.cli import parse_args
    from bpfkit.runner.tool import Clock
    from bpfkit.tools.dnswatch import DnsWatch

    return DnsWatch(parse_args(["dnswatch", *argv]), Clock())


def event(data: bytes, ts: int, direction: int, *, proto: int = 17, sock: int = 7, length: int | None = None,
          pid: int = 42, flags: int = 0, dport: int = 53):
    from types import SimpleNamespace

    length = len(data) if length is None else length
    return SimpleNamespace(
        ts_ns=ts, sock=sock, cgroup_id=0, pid=pid, tid=pid, uid=1000, netns=4026531840, len=length,
        cap_len=len(data), family=2, proto=proto, sport=40000, dport=dport, dfamily=2 if dport else 0,
        saddr=bytes([127, 0, 0, 1]) + bytes(12), daddr=bytes([127, 0, 0, 53]) + bytes(12),
        dir=direction, syscall=5, flags=flags | (1 if len(data) < length else 0), mmsg_index=0,
        comm="worker", pcomm="app", data=data)


def test_tool_turns_events_into_records_and_metrics() -> None:
    import time

    t = tool("--json", "--timeout-ms", "100")
    now = time.monotonic_ns()
    q = query("www.example.test", qid=1)
    a = reply("www.example.test", "A", ("www.example.test", "A", ["192.0.2.1"]), qid=1)
    tcp_q = framed(query("t.example", qid=2), query("t.example", "AAAA", qid=3))
    tcp_a = framed(reply("t.example", "A", qid=2, rcode=3), reply("t.example", "AAAA", qid=3, rcode=3))
    for ev in (event(q, now - 50 * MS, 1), event(a, now - 48 * MS, 2, dport=0),
               event(tcp_q, now - 40 * MS, 1, proto=6, sock=8),
               event(tcp_a[:1], now - 39 * MS, 2, proto=6, sock=8),  # the length's first byte alone
               event(tcp_a[1:], now - 38 * MS, 2, proto=6, sock=8),
               event(query("lost.example", qid=4), now - 200 * MS, 1)):
        assert t.record(ev) is None  # the records come with the report
    recs = [rec for _, rec in t.report(final=False)]
    assert [(r["event"], r["qname"], r["qtype"], r["rcode"]) for r in recs] == [
        ("answer", "www.example.test", "A", "NOERROR"), ("answer", "t.example", "A", "NXDOMAIN"),
        ("answer", "t.example", "AAAA", "NXDOMAIN"), ("timeout", "lost.example", "A", None)]
    www = recs[0]
    assert (www["latency_ns"], www["server"], www["server_port"], www["comm"], www["main_comm"]) == (
        2 * MS, "127.0.0.53", 53, "worker", "app")
    assert www["answers"] == [{"name": "www.example.test.", "type": "A", "ttl": 300, "data": "192.0.2.1"}]
    assert recs[1]["transport"] == "tcp" and recs[1]["latency_ns"] == 2 * MS
    metrics = {m.name: m for m in t.metrics()}
    assert metrics["dnswatch_queries_total"].values == {("A", "NOERROR"): 1, ("A", "NXDOMAIN"): 1,
                                                        ("AAAA", "NXDOMAIN"): 1, ("A", "TIMEOUT"): 1}
    assert metrics["dnswatch_timeouts_total"].values == {("A",): 1}
    assert metrics["dnswatch_latency_seconds"].cumulative()[1] == 3
    assert t.report(final=True) == []


def test_tool_text_rows_escape_and_mark_what_was_cut() -> None:
    t = tool("--failed")
    evil = dns.name.Name([b"x\n\x1b[2J", b"example", b""])
    big = reply("big.example", "A", ("big.example", "A", [f"198.18.0.{i}" for i in range(1, 60)]), rcode=2)
    t.row(event(query(evil, qid=5), 1 * MS, 1))  # long ago: timed out by now
    t.row(event(reply("ok.example", "A", qid=5), 2 * MS, 2))  # no question: unmatched, NOERROR: not failed
    t.row(event(query("big.example", qid=1234), 3 * MS, 1))
    t.row(event(big[:300], 4 * MS, 2, length=len(big)))  # capture cut at 300 bytes
    (big_line, _), (evil_line, _) = t.report(final=False)
    assert big_line.split()[5:8] == ["big.example", "SERVFAIL", "1.00"] and big_line.endswith("[cut]")
    assert evil_line.split()[5:8] == ["x\\010\\027[2J.example", "TIMEOUT", "-"]
    assert all(c.isprintable() for c in big_line + evil_line)
    assert t.report(final=True) == []
