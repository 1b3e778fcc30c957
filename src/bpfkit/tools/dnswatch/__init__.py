"""`bpfkit dnswatch`: every DNS question and its answer, with the process that
asked, for every resolver (glibc, musl, Go, dig, stub resolvers), UDP and
TCP, IPv4 and IPv6, on tracepoints (no kprobes).

The kernel side (dnswatch.bpf.c) hands over each DNS message a process sends
to a DNS port, or receives on such a socket, with its process and socket.
Here: TCP streams are put back into messages, each question is matched with
its answer (same socket, id and question), timeouts are found, a local stub
resolver's upstream question is linked to the client question it serves,
and the results are written once per --interval (a question is printed when
its answer, or its timeout, is known).
"""

from __future__ import annotations

import os
import time
from _socket import AF_INET, AF_INET6, inet_ntop
from math import log

from ...argv import UsageError, milliseconds, pid, uid
from ...output import escape
from ...runner.tool import Counter, Histogram, Tool
from .track import Matcher, Message, Stream, parse
from .wire import QTYPES, RCODES, answers, parse_type, rcode_name, type_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock, Metric
    from .track import Query, Result

DEFAULT_TIMEOUT_MS = 5000.0  # glibc, musl, Go and dig all give up on a try after 5 s
DEFAULT_PORTS = "53"
IPPROTO_TCP, IPPROTO_UDP = 6, 17
DW_SEND, DW_RECV = 1, 2
F_TRUNCATED, F_NO_PAYLOAD, F_ADDR_CALL, F_MMSG_GUESS = 1, 2, 4, 8
SYSCALLS = ("other", "read", "write", "readv", "writev", "sendto", "recvfrom", "sendmsg", "recvmsg",
            "sendmmsg", "recvmmsg", "iov_iter")
MAX_STREAMS = 4096
# counts said on exit when not zero: what was seen on DNS sockets but not read as DNS
ODD_STATS = (("unparsed", "captures not DNS"), ("no_payload", "without reachable bytes (io_uring, splice)"),
             ("truncated", "cut at the capture limit"), ("server_role", "server-side messages"),
             ("desyncs", "TCP streams resynchronised"),
             ("mmsg_uncaptured", "sendmmsg/recvmmsg messages past the 4 read (syscall hooks)"))
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0, 10.0)

def parse_ports(text: str) -> list[int]:
    ports = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not (part.isascii() and part.isdigit()) or not 0 < int(part) < 65536:
            raise UsageError(f"--ports: {part!r} is not a port (1-65535)")
        ports.append(int(part))
    if not ports:
        raise UsageError("--ports: give at least one port")
    return ports


def address(family: int, raw: bytes) -> tuple[str | None, str | None]:
    """(address text, "ipv4"/"ipv6"); a v4-mapped IPv6 address is IPv4 (it is, on the wire)."""
    if family == AF_INET:
        return inet_ntop(AF_INET, raw[:4]), "ipv4"
    if family == AF_INET6:
        if raw[:12] == b"\0" * 10 + b"\xff\xff":
            return inet_ntop(AF_INET, raw[12:16]), "ipv4"
        return inet_ntop(AF_INET6, raw[:16]), "ipv6"
    return None, None


def safe(s: str) -> str:
    """Text output of a string made here from traced bytes: names and record
    data are printable ASCII already (presentation form); anything else is escaped."""
    return s if s.isascii() and s.isprintable() else escape(s)


class Percentiles:
    """Latencies in log buckets (2 % wide): bounded memory, p50/p99 within 2 %."""

    __slots__ = ("buckets", "count")
    STEP = log(1.02)

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        self.count = 0

    def add(self, ns: int) -> None:
        b = int(log(max(ns, 1)) / self.STEP)
        self.buckets[b] = self.buckets.get(b, 0) + 1
        self.count += 1

    def value(self, q: float) -> float | None:
        """The q-quantile in ms (upper edge of its bucket), None without data."""
        if not self.count:
            return None
        rank, seen = q * self.count, 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if seen >= rank:
                return 1.02 ** (b + 1) / 1e6
        return None


class Tally:
    __slots__ = ("failed", "lat", "queries", "timeouts")

    def __init__(self) -> None:
        self.queries = self.failed = self.timeouts = 0
        self.lat = Percentiles()


class Cgroups:
    """cgroup v2 id -> path (and container id), by walking the cgroup2 mount: a
    cgroup's id is its directory's inode number. Walked again on a miss, at
    most every 10 s."""

    def __init__(self) -> None:
        self.paths: dict[int, str] = {}
        self.found: dict[int, tuple[str | None, str | None]] = {}
        self.last_walk = -1e9
        self.root = self.mountpoint()
        self.v2 = self.root is not None

    @staticmethod
    def mountpoint() -> str | None:
        """Where cgroup2 is mounted (/sys/fs/cgroup, or .../unified on hybrid hosts)."""
        try:
            with open("/proc/self/mountinfo") as f:
                for line in f:
                    fields = line.split()
                    if "-" in fields and fields[fields.index("-") + 1] == "cgroup2":
                        return fields[4].replace("\\040", " ")
        except OSError:
            pass
        return None

    def lookup(self, cg: int, now: float) -> tuple[str | None, str | None]:
        """(path, container id) of a cgroup id, cached."""
        hit = self.found.get(cg)
        if hit is None:
            p = self.path(cg, now)
            hit = (p, self.container(p))
            if p is not None:
                self.found[cg] = hit
        return hit

    def path(self, cg: int, now: float) -> str | None:
        if not self.v2 or not cg:
            return None
        p = self.paths.get(cg)
        if p is None and now - self.last_walk >= 10.0:
            self.last_walk = now
            root = self.root or "/"
            for d, _, _ in os.walk(root):
                try:
                    self.paths[os.stat(d).st_ino] = d[len(root):] or "/"
                except OSError:
                    continue
            p = self.paths.get(cg)
        return p

    @staticmethod
    def container(path: str | None) -> str | None:
        """The 64-hex container id in a path (docker, containerd, CRI-O, podman)."""
        if not path:
            return None
        for part in reversed(path.split("/")):
            stem = part.rsplit(".", 1)[0] if part.endswith(".scope") else part
            tail = stem.rsplit("-", 1)[-1]
            if len(tail) == 64 and all(c in "0123456789abcdef" for c in tail):
                return tail
        return None


class DnsWatch(Tool):
    name = "dnswatch"
    help = "trace DNS questions and answers with the process that asked (UDP and TCP, any resolver)"
    banner = "Tracing DNS. Ctrl+C to stop."
    # --hooks (dnswatch.bpf.c's BPFKIT_HOOKS, send and recv alike)
    hook_kinds = {"fentry": frozenset({"fentry", "fexit"}), "tp_btf": frozenset({"tp_btf"}),
                  "raw_tp": frozenset({"raw_tp"}), "syscalls": frozenset({"tracepoint"})}
    interval_default = 0.1
    interval_help = ("longest time a question waits, once its answer or timeout is known, before "
                     "it is printed (default 0.1)")

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("filters")
        f.add_argument("--pid", type=pid, help="only questions of this process")
        f.add_argument("--uid", type=uid, help="only questions of this user")
        f.add_argument("--comm", metavar="NAME", help="only processes or threads with this name")
        f.add_argument("--qtype", metavar="TYPES", help="only these query types (A,AAAA,MX,TYPE65...)")
        f.add_argument("--name", metavar="SUFFIX",
                       help="only names ending in these labels (example.com: also www.example.com)")
        f.add_argument("--failed", action="store_true",
                       help="only failures: an rcode other than NOERROR (NXDOMAIN, SERVFAIL...), "
                            "timeouts and questions left unanswered")
        f.add_argument("--min-lat-ms", type=milliseconds, metavar="MS",
                       help="only answers that took at least MS (and timeouts)")
        c = p.add_argument_group("capture")
        c.add_argument("--ports", metavar="LIST", default=DEFAULT_PORTS,
                       help="DNS server ports, comma-separated (default 53; add 5353 for mDNS, "
                            "5355 for LLMNR)")
        c.add_argument("--timeout-ms", type=milliseconds, metavar="MS",
                       help=f"a question with no answer after MS since it was last sent is reported "
                            f"as a timeout (default {DEFAULT_TIMEOUT_MS:.0f}: the per-try timeout of "
                            f"glibc, musl, Go and dig)")
        cls.add_hooks_argument(p)
        p.add_argument("--summary", action="store_true",
                       help="no line per question: per-process and per-name totals (questions, "
                            "failures, timeouts, p50/p99 latency) when the run ends")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        self.ports = parse_ports(args.ports)
        timeout_ms = DEFAULT_TIMEOUT_MS if args.timeout_ms is None else args.timeout_ms
        if timeout_ms <= 0:
            raise UsageError("--timeout-ms: must be more than 0")
        self.qtypes: frozenset[int] | None = None
        if args.qtype is not None:
            try:
                self.qtypes = frozenset(parse_type(t) for t in args.qtype.split(",") if t.strip())
            except ValueError as exc:
                raise UsageError(f"--qtype: {exc.args[0]!r} is not a record type (A, AAAA, TYPE65...)") \
                    from None
            if not self.qtypes:
                raise UsageError("--qtype: give at least one type")
        self.suffix: tuple[bytes, ...] | None = None
        if args.name is not None:
            labels = args.name.strip().rstrip(".").split(".")
            if not all(labels) or not args.name.strip():
                raise UsageError(f"--name: {args.name!r} is not a domain name")
            self.suffix = tuple(x.lower().encode(errors="surrogateescape") for x in labels)
        self.comm = args.comm
        self.summary_only = args.summary
        self.matcher = Matcher(int(timeout_ms * 1e6))
        self.streams: dict[tuple[int, int], Stream] = {}
        self.inbox: list[Any] = []
        self.out: list[tuple[str, dict[str, Any]]] = []
        self.report_every = args.interval if args.interval is not None else 0.1
        self.cgroups = Cgroups()
        self.obj: BPFObject | None = None
        self.dropped_seen = 0
        self.by_process: dict[tuple[str, int], Tally] = {}
        self.by_name: dict[str, Tally] = {}
        self.stats = dict.fromkeys(("messages", "questions", "answers", "unparsed", "no_payload",
                                    "truncated", "server_role", "desyncs", "mmsg_uncaptured"), 0)
        self.m_queries = Counter("dnswatch_queries_total", "DNS questions by type and outcome (rcode, "
                                 "or TIMEOUT)", ("qtype", "rcode"))
        self.m_timeouts = Counter("dnswatch_timeouts_total", "DNS questions with no answer in time",
                                  ("qtype",))
        self.m_latency = Histogram("dnswatch_latency_seconds", "question to answer", LATENCY_BUCKETS)
        self.m_dropped = Counter("dnswatch_dropped_events_total", "captures lost: ring buffer full")
        self.m_truncated = Counter("dnswatch_truncated_captures_total",
                                   "messages longer than the capture limit (answers parsed up to it)")
        self.m_uncaptured = Counter("dnswatch_uncaptured_total", "DNS socket traffic not read as DNS",
                                    ("reason",))

    # -- before load ----------------------------------------------------------------------------
    def configure(self, obj: BPFObject) -> None:
        bitmap = bytearray(8192)
        for port in self.ports:
            bitmap[port >> 3] |= 1 << (port & 7)
        obj.rodata.dns_ports = bytes(bitmap)

    def loaded(self, obj: BPFObject) -> None:
        self.obj = obj

    # -- per event: collect; the work happens in report() -----------------------------------------
    def row(self, ev: Any) -> tuple[Any, ...] | None:
        self.inbox.append(ev)
        return None

    def record(self, ev: Any) -> dict[str, Any] | None:
        self.inbox.append(ev)
        return None

    def process(self, now_ns: int) -> list[Result]:
        """Everything read so far, in time order (two CPUs fill the ring out of
        order by microseconds), then what timed out by now."""
        results: list[Result] = []
        inbox, self.inbox = self.inbox, []
        inbox.sort(key=_ts)
        for ev in inbox:
            results += self.ingest(ev)
        results += self.matcher.expire(now_ns)
        return results

    def ingest(self, ev: Any) -> list[Result]:
        st = self.stats
        st["messages"] += 1
        flags, total = ev.flags, ev.len
        if flags & F_TRUNCATED:
            st["truncated"] += 1
            self.m_truncated.inc()
        data = bytes(ev.data[: ev.cap_len]) if not flags & F_NO_PAYLOAD else b""
        if flags & F_NO_PAYLOAD:
            st["no_payload"] += 1
            self.m_uncaptured.inc(("no_payload",))
        if ev.proto == IPPROTO_TCP:
            key = (ev.sock, ev.dir)
            stream = self.streams.pop(key, None) or Stream()
            self.streams[key] = stream  # most recent last: the oldest goes first
            if len(self.streams) > MAX_STREAMS:
                del self.streams[next(iter(self.streams))]
            before = stream.desyncs
            msgs = stream.feed(data, total)
            st["desyncs"] += stream.desyncs - before
            transport = "tcp"
        else:
            if flags & F_NO_PAYLOAD:
                return []
            msgs = [(data, not flags & F_TRUNCATED)]
            transport = "udp"
        out: list[Result] = []
        if not msgs:
            return out
        server, family = address(ev.dfamily, ev.daddr) if ev.dport else (None, None)
        if family is None:
            family = "ipv6" if ev.family == AF_INET6 else "ipv4"
        for wire, complete in msgs:
            h = parse(wire)
            if h is None:
                st["unparsed"] += 1
                self.m_uncaptured.inc(("unparsed",))
                continue
            m = Message(ev.ts_ns, ev.dir, ev.sock, ev.pid, ev.tid, ev.uid, ev.comm, ev.pcomm, ev.netns,
                        ev.cgroup_id, transport, family, server, ev.dport or None, h, wire, not complete,
                        SYSCALLS[ev.syscall] if ev.syscall < len(SYSCALLS) else str(ev.syscall))
            if ev.dir == DW_SEND and not h.response:
                st["questions"] += 1
                out += self.matcher.question(m)
            elif ev.dir == DW_RECV and h.response:
                st["answers"] += 1
                out += self.matcher.response(m)
            else:  # a question received or an answer sent: a server on a client's socket
                st["server_role"] += 1
        return out

    # -- filters ------------------------------------------------------------------------------------
    def wanted(self, r: Result) -> bool:
        a = self.args
        m = r.query.msg if r.query is not None else r.answer
        assert m is not None
        if a.pid is not None and m.pid != a.pid:
            return False
        if a.uid is not None and m.uid != a.uid:
            return False
        if self.comm is not None and self.comm not in (m.comm, m.pcomm):
            return False
        h = m.h
        if self.qtypes is not None and h.qtype not in self.qtypes:
            return False
        if self.suffix is not None:
            n = len(self.suffix)
            if len(h.qkey) < n or h.qkey[len(h.qkey) - n:] != self.suffix:
                return False
        answered = r.kind in ("answer", "late", "unmatched")
        rcode = r.answer.h.rcode if r.answer is not None else None
        if a.failed and answered and rcode == 0:
            return False
        if a.min_lat_ms is not None and r.kind in ("answer", "late"):
            lat = r.query.latency_ns if r.query is not None else None
            if lat is None or lat < a.min_lat_ms * 1e6:
                return False
        return True

    # -- output --------------------------------------------------------------------------------------
    def columns(self) -> list[tuple[Any, ...]]:
        if self.summary_only:
            return []
        return [("TIME", 8), ("PID", 7), ("COMM", 15), ("UID", 5), ("QTYPE", 5), ("NAME", 29),
                ("RCODE", 8), ("LAT(ms)", -8), ("ANSWERS", 0)]

    def report(self, final: bool) -> list[tuple[str, dict[str, Any]]]:
        results = self.process(time.monotonic_ns())
        if final:
            results += self.matcher.finish()
        self._drops()
        out = self.out
        show = None if self.summary_only else self.json if self.args.json else self.text
        for r in results:
            if not self.wanted(r):
                continue
            self._count(r)
            if show is not None:  # the runner writes one of the pair: only it is made
                out.append(("", show(r)) if show == self.json else (show(r), {}))
        if final and self.summary_only:
            out += self._summary_blocks()
        self.out = []
        return out

    def _drops(self) -> None:
        """Kernel-side losses into the metrics: ring full, and sendmmsg/recvmmsg
        messages past those the syscall path reads."""
        obj = self.obj
        if obj is None:
            return
        try:
            total = int(obj.bss.bpfkit_ring_events.dropped)
            mmsg = int(obj.bss.mmsg_uncaptured)
        except Exception:  # an object without them: nothing to add
            return
        if total > self.dropped_seen:
            self.m_dropped.inc(by=total - self.dropped_seen)
            self.dropped_seen = total
        if mmsg > self.stats["mmsg_uncaptured"]:
            self.m_uncaptured.inc(("mmsg",), by=mmsg - self.stats["mmsg_uncaptured"])
            self.stats["mmsg_uncaptured"] = mmsg

    def _count(self, r: Result) -> None:
        m = r.query.msg if r.query is not None else r.answer
        assert m is not None
        qtype = m.h.qtype
        qt = QTYPES.get(qtype, "other")
        if r.kind in ("answer", "late", "unmatched"):
            assert r.answer is not None
            rc = r.answer.h.rcode
            self.m_queries.inc((qt, RCODES.get(rc, "other")))
        elif r.kind == "timeout":
            self.m_queries.inc((qt, "TIMEOUT"))
            self.m_timeouts.inc((qt,))
        lat = r.query.latency_ns if r.query is not None and r.kind == "answer" else None
        if lat is not None:
            self.m_latency.observe(lat / 1e9)
        if not self.summary_only or r.kind == "unmatched":
            return
        failed = r.kind in ("timeout", "unanswered") or (r.answer is not None and r.answer.h.rcode != 0)
        for tally in (self.by_process.setdefault((m.pcomm, m.pid), Tally()),
                      self.by_name.setdefault(m.h.qname, Tally())):
            tally.queries += 1
            tally.failed += failed
            tally.timeouts += r.kind == "timeout"
            if lat is not None:
                tally.lat.add(lat)

    def text(self, r: Result) -> str:
        q, a = r.query, r.answer
        m = q.msg if q is not None else a
        assert m is not None
        h = m.h
        notes = []
        if r.kind == "timeout":
            rcode, lat = "TIMEOUT", "-"
        elif r.kind == "unanswered":
            rcode, lat = "PENDING", "-"
        else:
            assert a is not None
            rcode = rcode_name(a.h.rcode)
            ns = q.latency_ns if q is not None else None
            lat = f"{ns / 1e6:.2f}" if ns is not None else "-"
            if r.kind == "late":
                notes.append("late: after its timeout")
            elif r.kind == "unmatched":
                notes.append("question not seen")
        data = "-"
        if a is not None:
            recs, complete = answers(a.wire, a.h)
            if recs:  # the data of the type asked for; "TYPE data" for the rest (a CNAME chain)
                data = ", ".join(safe(x.data) if x.rtype == h.qtype else
                                 f"{type_name(x.rtype)} {safe(x.data)}" for x in recs)
            if not complete or a.truncated:
                notes.append("cut")
            if a.h.tc:
                notes.append("TC")
        if m.transport == "tcp":
            notes.append("tcp")
        if q is not None:
            if q.tries > 1:
                notes.append(f"{q.tries} tries")
            if q.via is not None:
                notes.append(f"via {escape(q.via.msg.pcomm)} pid {q.via.msg.pid}")
            if q.for_ is not None:
                notes.append(f"for {escape(q.for_.msg.pcomm)} pid {q.for_.msg.pid}")
        if notes:
            data += " [" + "] [".join(notes) + "]"
        # the widths of columns(): the runner prints that header
        return (f"{self.clock.hms(r.ts):<8} {m.pid:<7} {escape(m.pcomm):<15} {m.uid:<5} "
                f"{type_name(h.qtype):<5} {safe(h.qname):<29} {rcode:<8} {lat:>8} {data}")

    def json(self, r: Result) -> dict[str, Any]:
        q, a = r.query, r.answer
        m = q.msg if q is not None else a
        assert m is not None
        h = m.h
        cg_path, container = self.cgroups.lookup(m.cgroup, m.ts / 1e9)
        rec: dict[str, Any] = {
            "ts": self.clock.iso(r.ts), "event": r.kind, "pid": m.pid, "tid": m.tid, "comm": m.comm,
            "main_comm": m.pcomm, "uid": m.uid, "netns": m.netns, "cgroup_id": m.cgroup,
            "cgroup": cg_path, "container": container,
            "server": m.server, "server_port": m.port, "transport": m.transport, "family": m.family,
            "id": h.id, "qname": h.qname, "qtype": type_name(h.qtype), "qclass": _class(h.qclass),
            "rcode": None, "timeout": r.kind in ("timeout", "late"), "latency_ns": None,
            "answers": [], "answers_complete": None, "tc": None, "truncated": m.truncated,
            "syscall": m.syscall,
        }
        if q is not None:
            rec["tries"] = q.tries
            if len(q.servers) > 1:
                rec["servers"] = [{"server": s, "server_port": p} for s, p in q.servers]
        if a is not None:
            recs, complete = answers(a.wire, a.h)
            rec.update(rcode=rcode_name(a.h.rcode), answers=[x.as_dict() for x in recs],
                       answers_complete=complete and not a.truncated, tc=a.h.tc,
                       truncated=m.truncated or a.truncated)
            if q is not None:
                rec["latency_ns"] = q.latency_ns
                rec["answer_syscall"] = a.syscall
                if a.tid != m.tid:
                    rec["answer_tid"] = a.tid
        rec["via"] = _peer(q.via, True) if q is not None and q.via is not None else None
        rec["for"] = _peer(q.for_, False) if q is not None and q.for_ is not None else None
        return rec

    def _summary_blocks(self) -> list[tuple[str, dict[str, Any]]]:
        counts = f"{'QUERIES':>8} {'FAILED':>7} {'TIMEOUTS':>8} {'P50(ms)':>9} {'P99(ms)':>9}"
        lines = [f"{'PROCESS':<16} {'PID':>7} {counts}"]
        recs = []
        for (comm, p), t in sorted(self.by_process.items(), key=lambda kv: -kv[1].queries):
            p50, p99 = t.lat.value(0.5), t.lat.value(0.99)
            lines.append(f"{escape(comm):<16} {p:>7} {t.queries:>8} {t.failed:>7} {t.timeouts:>8} "
                         f"{_ms(p50):>9} {_ms(p99):>9}")
            recs.append({"event": "summary", "by": "process", "main_comm": comm, "pid": p,
                         "queries": t.queries, "failed": t.failed, "timeouts": t.timeouts,
                         "p50_ms": p50, "p99_ms": p99})
        lines.append("")
        lines.append(f"{'NAME':<40} {counts}")
        for name, t in sorted(self.by_name.items(), key=lambda kv: -kv[1].queries):
            p50, p99 = t.lat.value(0.5), t.lat.value(0.99)
            lines.append(f"{safe(name):<40} {t.queries:>8} {t.failed:>7} {t.timeouts:>8} "
                         f"{_ms(p50):>9} {_ms(p99):>9}")
            recs.append({"event": "summary", "by": "name", "qname": name, "queries": t.queries,
                         "failed": t.failed, "timeouts": t.timeouts, "p50_ms": p50, "p99_ms": p99})
        if not self.args.json:
            return [("\n".join(lines), {})]
        return [("", rec) for rec in recs]

    def summary(self) -> list[str]:
        s = self.stats
        lines = [f"{s['questions']} questions, {s['answers']} answers in {s['messages']} captures; "
                 f"{self.matcher.retransmits} retransmissions"]
        odd = [f"{s[k]} {what}" for k, what in ODD_STATS if s[k]]
        if odd:
            lines.append(", ".join(odd))
        return lines

    def metrics(self) -> list[Metric]:
        return [self.m_queries, self.m_timeouts, self.m_latency, self.m_dropped, self.m_truncated,
                self.m_uncaptured]


def _ts(ev: Any) -> int:
    return ev.ts_ns


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _class(c: int) -> str:
    return "IN" if c == 1 else f"CLASS{c}"


def _peer(q: Query, upstream: bool) -> dict[str, Any]:
    m = q.msg
    rec: dict[str, Any] = {"pid": m.pid, "comm": m.comm, "main_comm": m.pcomm}
    if upstream:
        rec.update(server=m.server, server_port=m.port, transport=m.transport,
                   rcode=rcode_name(q.answer.h.rcode) if q.answer is not None else None,
                   latency_ns=q.latency_ns)
    return rec


TOOL = DnsWatch
