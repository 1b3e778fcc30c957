"""A DNS server for tests, built on dnspython.

Serves UDP and TCP on 127.0.0.1 and ::1 (one port for all four sockets: the caller's, or a free
ephemeral one) from a `Zone` table, and records every query it receives.

The table (`Zone`) maps a name and a query type to answers (A, AAAA, CNAME chains, PTR, TXT, MX,
anything dnspython parses), and lists names that get NXDOMAIN, SERVFAIL, no answer at all
(timeouts), TC=1 over UDP (clients retry over TCP), or an answer after a delay. A reply larger
than the client's UDP payload (512 bytes without EDNS, else the EDNS size) gets TC=1 with an
empty answer section, as a real server does: `Zone.large()` makes such names.

TCP: every connection is served until the client closes it, so pipelined queries on one
connection all get answers. `tcp_split=N` sends each framed reply in N writes (TCP_NODELAY and a
short pause between them, so they leave as separate segments); `tcp_coalesce=True` answers all
queries that arrived in one read with a single write (several DNS messages in one segment).

In-process (threads; `netns=` creates the sockets inside a network namespace, see
`netns.NetNS`)::

    with DnsResponder(zone) as dns:
        ... dns.port, dns.queries ...

As a subprocess (for clients in other namespaces)::

    python dns_responder.py [--port N] --zone zone.json [--host 127.0.0.1 --host ::1]
                            [--tcp-split N] [--tcp-coalesce]

prints "ready PORT" once listening, then one JSON line per query received (`Query.to_dict`);
stops on SIGTERM/SIGINT or when stdin reaches EOF (with --stdin-eof). `ResponderProcess` in this
module runs it and collects those lines.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import heapq
import itertools
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

HERE = Path(__file__).resolve().parent
DEFAULT_HOSTS = ("127.0.0.1", "::1")
EDNS_PAYLOAD = 1232  # what we advertise, and the most we send over UDP to an EDNS client


def _name(n: str) -> str:
    """Canonical key: lower case, absolute."""
    n = n.strip().lower()
    return n if n.endswith(".") else n + "."


# --------------------------------------------------------------------------- the table


@dataclasses.dataclass
class Zone:
    """What the responder answers. Names are case-insensitive; a missing final dot is added.

    records:   name -> qtype -> rdata texts, e.g. {"www.example.test.": {"A": ["192.0.2.1"]}}.
               A name with a CNAME is followed (chains up to 8 deep) for every other qtype.
    nxdomain:  names answered NXDOMAIN (so is any name that has no records at all, see `default`)
    servfail:  names answered SERVFAIL
    refused:   names answered REFUSED
    drop:      names never answered (UDP: no reply; TCP: the connection stays open, silent)
    truncate:  names answered with TC=1 and no answers over UDP; full answer over TCP
    delay:     name -> seconds to wait before answering
    default:   rcode for names not in `records`: "NXDOMAIN" (default) or e.g. "REFUSED"
    """

    records: dict[str, dict[str, list[str]]] = dataclasses.field(default_factory=dict)
    nxdomain: set[str] = dataclasses.field(default_factory=set)
    servfail: set[str] = dataclasses.field(default_factory=set)
    refused: set[str] = dataclasses.field(default_factory=set)
    drop: set[str] = dataclasses.field(default_factory=set)
    truncate: set[str] = dataclasses.field(default_factory=set)
    delay: dict[str, float] = dataclasses.field(default_factory=dict)
    default: str = "NXDOMAIN"
    ttl: int = 60

    def __post_init__(self) -> None:
        self.records = {_name(n): {t.upper(): list(v) for t, v in r.items()} for n, r in self.records.items()}
        for f in ("nxdomain", "servfail", "refused", "drop", "truncate"):
            setattr(self, f, {_name(n) for n in getattr(self, f)})
        self.delay = {_name(n): float(s) for n, s in self.delay.items()}

    # building
    def add(self, name: str, qtype: str, *rdatas: str) -> Zone:
        self.records.setdefault(_name(name), {}).setdefault(qtype.upper(), []).extend(rdatas)
        return self

    def ptr(self, address: str, target: str) -> Zone:
        """PTR record for an IPv4 or IPv6 address (in-addr.arpa / ip6.arpa name made for you)."""
        return self.add(dns.reversename.from_address(address).to_text(), "PTR", _name(target))

    def large(self, name: str, count: int = 40, prefix: str = "198.18") -> Zone:
        """`count` A records under `name`: 40 make a ~700-byte reply (> 512, < 1232: fits EDNS)."""
        for i in range(count):
            self.add(name, "A", f"{prefix}.{i // 250}.{i % 250 + 1}")
        return self

    # (de)serialising, for the subprocess
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for f in ("nxdomain", "servfail", "refused", "drop", "truncate"):
            d[f] = sorted(d[f])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Zone:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - fields
        if unknown:
            raise ValueError(f"unknown zone keys: {sorted(unknown)}")
        return cls(**{k: (set(v) if isinstance(v, list) else v) for k, v in d.items()})

    def save(self, path: str | os.PathLike[str]) -> Path:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Zone:
        return cls.from_dict(json.loads(Path(path).read_text()))


def example_zone() -> Zone:
    """The zone the harness tests use: one name per behaviour, under example.test."""
    z = Zone()
    z.add("www.example.test", "A", "192.0.2.1").add("www.example.test", "AAAA", "2001:db8::1")
    z.add("v4only.example.test", "A", "192.0.2.4")
    z.add("v6only.example.test", "AAAA", "2001:db8::6")
    z.add("alias.example.test", "CNAME", "alias2.example.test.")
    z.add("alias2.example.test", "CNAME", "www.example.test.")
    z.ptr("192.0.2.1", "www.example.test").ptr("2001:db8::1", "www.example.test")
    z.add("txt.example.test", "TXT", '"hello world"', '"v=spf1 -all"')
    z.add("mx.example.test", "MX", "10 mail.example.test.", "20 mail2.example.test.")
    z.add("mail.example.test", "A", "192.0.2.25")
    z.add("tc.example.test", "A", "192.0.2.53").add("tc.example.test", "AAAA", "2001:db8::53")
    z.truncate.add("tc.example.test.")
    z.large("large.example.test", 40)
    z.nxdomain.add("nx.example.test.")
    z.servfail.add("fail.example.test.")
    z.drop.add("hang.example.test.")
    z.add("slow.example.test", "A", "192.0.2.9")
    z.delay["slow.example.test."] = 0.3
    return z


# --------------------------------------------------------------------------- queries seen


@dataclasses.dataclass
class Query:
    """One query received. `client`/`server` are (address, port); `conn` numbers TCP connections
    (0 for UDP) and `seq` is the query's index on its connection."""

    transport: str  # "udp" | "tcp"
    client: tuple[str, int]
    server: tuple[str, int]
    id: int
    qname: str  # "" when the message did not parse
    qtype: str
    edns: int | None  # the client's EDNS UDP payload size, None without EDNS
    time: float
    conn: int = 0
    seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Query:
        d = dict(d, client=tuple(d["client"]), server=tuple(d["server"]))
        return cls(**d)


# --------------------------------------------------------------------------- answering


def _rcode(text: str) -> dns.rcode.Rcode:
    return dns.rcode.from_text(text)


def answer(
    zone: Zone, query: dns.message.Message, transport: str
) -> tuple[dns.message.Message | None, float]:
    """The reply to `query` (None: do not answer) and the delay before sending it."""
    if not query.question:
        return dns.message.make_response(query), 0.0
    q = query.question[0]
    qname = q.name.to_text().lower()
    delay = zone.delay.get(qname, 0.0)
    if qname in zone.drop:
        return None, 0.0
    resp = dns.message.make_response(query, recursion_available=True, our_payload=EDNS_PAYLOAD)
    resp.flags |= dns.flags.AA
    if qname in zone.servfail:
        resp.set_rcode(dns.rcode.SERVFAIL)
        return resp, delay
    if qname in zone.refused:
        resp.set_rcode(dns.rcode.REFUSED)
        return resp, delay
    if qname in zone.nxdomain:
        resp.set_rcode(dns.rcode.NXDOMAIN)
        return resp, delay
    if transport == "udp" and qname in zone.truncate:
        resp.flags |= dns.flags.TC
        return resp, delay
    qtype = dns.rdatatype.to_text(q.rdtype)
    name, seen = qname, set()
    while name in zone.records and name not in seen and len(seen) < 8:
        seen.add(name)
        recs = zone.records[name]
        if qtype in recs or qtype == "ANY":
            for t, datas in recs.items():
                if t == qtype or qtype == "ANY":
                    resp.answer.append(dns.rrset.from_text_list(name, zone.ttl, "IN", t, datas))
            break
        if "CNAME" in recs:
            target = recs["CNAME"][0]
            resp.answer.append(dns.rrset.from_text_list(name, zone.ttl, "IN", "CNAME", [target]))
            name = _name(target)
            continue
        break  # the name exists, not with this type: NODATA
    if not seen and qname not in zone.records:
        resp.set_rcode(_rcode(zone.default))
    return resp, delay


def to_wire(resp: dns.message.Message, query: dns.message.Message, transport: str) -> bytes:
    """Wire form; over UDP a reply larger than the client's payload becomes TC=1, no answers."""
    if transport == "tcp":
        return resp.to_wire(max_size=65535)
    limit = 512 if query.edns < 0 else max(512, min(query.payload, EDNS_PAYLOAD))
    try:
        return resp.to_wire(max_size=limit)
    except dns.exception.TooBig:
        resp.answer.clear()
        resp.authority.clear()
        resp.additional.clear()
        resp.flags |= dns.flags.TC
        return resp.to_wire(max_size=limit)


def framed(wire: bytes) -> bytes:
    """A DNS message as sent over TCP: 2-byte big-endian length first."""
    return len(wire).to_bytes(2, "big") + wire


def _split(data: bytes, parts: int) -> list[bytes]:
    parts = max(1, min(parts, len(data)))
    step = -(-len(data) // parts)
    return [data[i : i + step] for i in range(0, len(data), step)]


# --------------------------------------------------------------------------- the server


def _bind(family: int, kind: int, host: str, port: int) -> socket.socket:
    s = socket.socket(family, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((host, port))
        if kind == socket.SOCK_STREAM:
            s.listen(64)
    except OSError:
        s.close()
        raise
    return s


def bind_all(hosts: Iterable[str], port: int = 0, tries: int = 20) -> tuple[int, list[socket.socket]]:
    """UDP and TCP sockets on every host, all on one port (a free ephemeral one when port is 0)."""
    hosts = list(hosts)
    for _ in range(tries):
        socks: list[socket.socket] = []
        try:
            p = port
            for h in hosts:
                fam = socket.AF_INET6 if ":" in h else socket.AF_INET
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = _bind(fam, kind, h, p)
                    socks.append(s)
                    p = s.getsockname()[1]
            return p, socks
        except OSError:
            for s in socks:
                s.close()
            if port:
                raise
    raise OSError(f"no free port shared by UDP and TCP on {hosts}")


class QueryLog:
    """The queries a responder received, with filters and waiting."""

    queries: list[Query]
    _cond: threading.Condition

    def _match(self, qname: str | None, qtype: str | None, transport: str | None) -> list[Query]:
        return [
            q
            for q in self.queries
            if (qname is None or q.qname == _name(qname))
            and (qtype is None or q.qtype == qtype.upper())
            and (transport is None or q.transport == transport)
        ]

    def find(
        self, qname: str | None = None, qtype: str | None = None, transport: str | None = None
    ) -> list[Query]:
        """Queries received so far matching every filter given (qname, qtype like "AAAA", "udp"/"tcp")."""
        with self._cond:
            return self._match(qname, qtype, transport)

    def wait_for(
        self,
        qname: str | None = None,
        qtype: str | None = None,
        transport: str | None = None,
        count: int = 1,
        timeout: float = 5.0,
    ) -> list[Query]:
        """Matching queries once there are `count` of them, or whatever came by the timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self._match(qname, qtype, transport)
                left = end - time.monotonic()
                if len(found) >= count or left <= 0:
                    return found
                self._cond.wait(left)

    def _add(self, q: Query) -> None:
        with self._cond:
            self.queries.append(q)
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self.queries.clear()


class _Conn:
    def __init__(self, sock: socket.socket, num: int) -> None:
        self.sock, self.num, self.buf, self.seq = sock, num, b"", 0


class DnsResponder(QueryLog):
    """In-process responder: one thread runs a selector loop over every socket.

    zone:         the table (a `Zone`, or a dict in its JSON form)
    port:         0 picks a free port shared by all sockets
    hosts:        addresses to listen on
    tcp_split:    send each TCP reply in this many writes (segments)
    tcp_split_pause: seconds between those writes
    tcp_coalesce: answer the queries of one read with one write
    netns:        an object with `call(fn)` running fn inside a network namespace (`netns.NetNS`);
                  the sockets are made there, the thread runs here
    on_query:     called with each `Query` (from the server thread)
    """

    def __init__(
        self,
        zone: Zone | dict[str, Any] | None = None,
        *,
        port: int = 0,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        tcp_split: int = 1,
        tcp_split_pause: float = 0.005,
        tcp_coalesce: bool = False,
        netns: Any = None,
        on_query: Callable[[Query], None] | None = None,
    ) -> None:
        self.zone = zone if isinstance(zone, Zone) else Zone.from_dict(zone) if zone else example_zone()
        self.hosts = tuple(hosts)
        self.req_port = port
        self.tcp_split, self.tcp_split_pause, self.tcp_coalesce = tcp_split, tcp_split_pause, tcp_coalesce
        self.netns = netns
        self.on_query = on_query
        self.port = 0
        self.queries: list[Query] = []
        self._cond = threading.Condition()
        self._socks: list[socket.socket] = []
        self._conns: dict[int, _Conn] = {}
        self._conn_ids = itertools.count(1)
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ids = itertools.count()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._sel = selectors.DefaultSelector()

    # lifecycle
    def start(self) -> DnsResponder:
        def make() -> tuple[int, list[socket.socket]]:
            return bind_all(self.hosts, self.req_port)

        self.port, self._socks = self.netns.call(make) if self.netns is not None else make()
        for s in self._socks:
            s.setblocking(False)
            self._sel.register(s, selectors.EVENT_READ, "udp" if s.type == socket.SOCK_DGRAM else "listen")
        self._sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        self._thread = threading.Thread(target=self._loop, name="dns-responder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(5)
        for s in [*self._socks, *(c.sock for c in self._conns.values()), self._wake_r, self._wake_w]:
            s.close()
        self._conns.clear()
        self._sel.close()

    def __enter__(self) -> DnsResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # the loop
    def _record(self, q: Query) -> None:
        self._add(q)
        if self.on_query is not None:
            self.on_query(q)

    def _loop(self) -> None:
        while not self._stopping:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            for key, _ in self._sel.select(timeout):
                if self._stopping:
                    return
                try:
                    self._ready(key)
                except OSError:
                    if key.data not in ("udp", "listen", "wake"):
                        self._close(key.data)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, fn = heapq.heappop(self._timers)
                with contextlib.suppress(OSError):
                    fn()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        if delay <= 0:
            fn()
        else:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._timer_ids), fn))

    def _ready(self, key: selectors.SelectorKey) -> None:
        sock: socket.socket = key.fileobj  # type: ignore[assignment]
        if key.data == "wake":
            sock.recv(64)
        elif key.data == "udp":
            data, peer = sock.recvfrom(65535)
            self._udp(sock, data, peer)
        elif key.data == "listen":
            c, _ = sock.accept()
            c.setblocking(False)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Conn(c, next(self._conn_ids))
            self._conns[conn.num] = conn
            self._sel.register(c, selectors.EVENT_READ, conn.num)
        else:
            self._tcp(self._conns[key.data])

    def _parse(
        self, data: bytes, transport: str, client: Any, server: Any, conn: int, seq: int
    ) -> dns.message.Message | None:
        try:
            msg = dns.message.from_wire(data)
        except dns.exception.DNSException:
            self._record(Query(transport, tuple(client[:2]), tuple(server[:2]), 0, "", "", None,
                               time.time(), conn, seq))
            return None
        q = msg.question[0] if msg.question else None
        self._record(
            Query(
                transport,
                tuple(client[:2]),
                tuple(server[:2]),
                msg.id,
                q.name.to_text().lower() if q is not None else "",
                dns.rdatatype.to_text(q.rdtype) if q is not None else "",
                int(msg.payload) if msg.edns >= 0 else None,
                time.time(),
                conn,
                seq,
            )
        )
        return msg

    def _udp(self, sock: socket.socket, data: bytes, peer: Any) -> None:
        msg = self._parse(data, "udp", peer, sock.getsockname(), 0, 0)
        if msg is None:
            return
        resp, delay = answer(self.zone, msg, "udp")
        if resp is not None:
            wire = to_wire(resp, msg, "udp")
            self._later(delay, lambda: sock.sendto(wire, peer))

    def _tcp(self, conn: _Conn) -> None:
        data = conn.sock.recv(65535)
        if not data:
            self._close(conn.num)
            return
        conn.buf += data
        out: list[tuple[float, bytes]] = []
        while len(conn.buf) >= 2:
            n = int.from_bytes(conn.buf[:2], "big")
            if len(conn.buf) < 2 + n:
                break
            raw, conn.buf = conn.buf[2 : 2 + n], conn.buf[2 + n :]
            conn.seq += 1
            peer, me = conn.sock.getpeername(), conn.sock.getsockname()
            msg = self._parse(raw, "tcp", peer, me, conn.num, conn.seq)
            if msg is None:
                continue
            resp, delay = answer(self.zone, msg, "tcp")
            if resp is not None:
                out.append((delay, framed(resp.to_wire(max_size=65535))))
        if self.tcp_coalesce and out:
            delay = max(d for d, _ in out)
            blob = b"".join(w for _, w in out)
            self._later(delay, lambda: self._send_tcp(conn, blob))
        else:
            for delay, wire in out:
                self._later(delay, lambda w=wire: self._send_tcp(conn, w))

    def _send_tcp(self, conn: _Conn, data: bytes) -> None:
        if conn.num not in self._conns:
            return
        conn.sock.setblocking(True)
        try:
            chunks = _split(data, self.tcp_split)
            for i, chunk in enumerate(chunks):
                if i:
                    time.sleep(self.tcp_split_pause)
                conn.sock.sendall(chunk)
        finally:
            conn.sock.setblocking(False)

    def _close(self, num: int) -> None:
        conn = self._conns.pop(num, None)
        if conn is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(conn.sock)
            conn.sock.close()


# --------------------------------------------------------------------------- as a subprocess


class ResponderProcess(QueryLog):
    """Runs this file as a subprocess (optionally through `prefix`, e.g. an nsenter command line)
    and collects the queries it prints. Same query API as `DnsResponder` (find, wait_for)."""

    def __init__(
        self,
        zone: Zone | None = None,
        *,
        port: int = 0,
        hosts: Iterable[str] = DEFAULT_HOSTS,
        tcp_split: int = 1,
        tcp_coalesce: bool = False,
        prefix: Iterable[str] = (),
        pass_fds: Iterable[int] = (),
        workdir: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
    ) -> None:
        self.zone = zone or example_zone()
        self.args = [str(port), list(hosts), tcp_split, tcp_coalesce]
        self.prefix, self.pass_fds, self.python = list(prefix), tuple(pass_fds), python
        self.workdir = Path(workdir) if workdir else None
        self.proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.queries: list[Query] = []
        self._cond = threading.Condition()
        self._reader: threading.Thread | None = None
        self._tmp: Any = None

    def start(self, timeout: float = 10.0) -> ResponderProcess:
        import tempfile

        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dns-responder-")
            self.workdir = Path(self._tmp.name)
        zfile = self.zone.save(self.workdir / "zone.json")
        port, hosts, split, coalesce = self.args
        argv = [*self.prefix, self.python, str(HERE / "dns_responder.py"), "--port", port,
                "--zone", str(zfile), "--tcp-split", str(split), "--stdin-eof"]
        for h in hosts:
            argv += ["--host", h]
        if coalesce:
            argv.append("--tcp-coalesce")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     pass_fds=self.pass_fds)
        try:
            line = _readline(self.proc, timeout)
            if not line.startswith("ready "):
                raise RuntimeError(f"dns_responder.py did not start: {line!r}")
            self.port = int(line.split()[1])
        except BaseException:
            self.stop()
            raise
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                q = Query.from_dict(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue
            self._add(q)

    def stop(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self._reader is not None:
                self._reader.join(2)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> ResponderProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of proc's stdout, or an error naming its exit status after `timeout`."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise TimeoutError(f"{proc.args!r}: no output in {timeout} s")
    finally:
        sel.close()
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{proc.args!r} exited with {proc.wait()}")
    return line.strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--zone", help="zone JSON (Zone.to_dict); default: example_zone()")
    ap.add_argument("--host", action="append", help="listen address (repeatable); default 127.0.0.1 and ::1")
    ap.add_argument("--tcp-split", type=int, default=1)
    ap.add_argument("--tcp-split-pause", type=float, default=0.005)
    ap.add_argument("--tcp-coalesce", action="store_true")
    ap.add_argument("--stdin-eof", action="store_true", help="stop when stdin reaches EOF")
    a = ap.parse_args(argv)
    zone = Zone.load(a.zone) if a.zone else example_zone()
    done = threading.Event()
    out_lock = threading.Lock()

    def emit(q: Query) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(q.to_dict()) + "\n")
            sys.stdout.flush()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    with DnsResponder(zone, port=a.port, hosts=a.host or DEFAULT_HOSTS, tcp_split=a.tcp_split,
                      tcp_split_pause=a.tcp_split_pause, tcp_coalesce=a.tcp_coalesce, on_query=emit) as srv:
        with out_lock:
            print("ready", srv.port, flush=True)
        if a.stdin_eof:
            threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
