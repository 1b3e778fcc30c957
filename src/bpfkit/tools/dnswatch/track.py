"""From captured messages to questions with their answers: TCP reassembly,
query/answer matching, timeouts and stub-resolver links. Pure logic, no
kernel: the unit tests drive it with synthetic bytes.

- ``Stream``: one direction of one TCP connection. DNS over TCP prefixes each
  message with its 2-byte length; a write may carry several messages (glibc
  pipelines A and AAAA in one writev) and a message may come in several
  reads (read(2) then read(len), or dnsmasq's byte-at-a-time length). A chunk
  captured only in part (longer than the capture limit) leaves a hole of
  known size: the framing stays in step, and a message that falls in the hole
  is handed on cut (its header and question are at its start).
- ``Matcher``: a question waits, keyed by (socket, id, qname, qtype, qclass),
  for its answer on the same socket; a second send of the same question on
  the same socket while it waits is a retransmission (tries + 1). A question
  with no answer ``timeout_ns`` after its last send is reported as a
  timeout; one still waiting when the run ends, as unanswered. An answer no
  waiting question matches is held briefly (two CPUs can put an answer in the
  ring before its question), then reported as a late answer (its question
  timed out) or an unmatched one (asked before the run started).
- Stub links: a question sent to a loopback server (a local stub such as
  dnsmasq or systemd-resolved) and a question for the same name and type sent
  by another process of the same network namespace, to another server, while
  the first still waits for its answer (and within LINK_WINDOW_NS), are the
  client's question and the stub's upstream one: each result names the other.
  Linked when the upstream question is seen, against the latest such client
  question of each process (a few per name), so a name asked thousands of
  times a second costs the same as any other.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque

from .wire import BadMessage, Header

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

MAX_TCP_MESSAGE = 65535
LINK_WINDOW_NS = 1_000_000_000  # a stub forwards a question within this after it arrived
EARLY_GRACE_NS = 500_000_000    # an answer may be read this long before its question
EXPIRED_KEEP = 4096             # timed-out questions remembered, for late answers
LINK_PIDS = 16                  # client processes remembered per (namespace, name, type)


class Stream:
    """One direction of a TCP connection: captured chunks in, whole DNS
    messages out, as (bytes, complete)."""

    __slots__ = ("buf", "desyncs", "holes")

    def __init__(self) -> None:
        self.buf = bytearray()
        self.holes: list[list[int]] = []  # [start, end) of bytes not captured, in buf offsets
        self.desyncs = 0  # times the framing was lost and the stream restarted

    def feed(self, data: bytes, total: int) -> list[tuple[bytes, bool]]:
        """``data``: the captured start of a chunk of ``total`` bytes."""
        missing = total - len(data)
        if missing > MAX_TCP_MESSAGE + 2:  # no DNS message is that long: not framing we can follow
            self.reset()
            return []
        self.buf += data
        if missing > 0:
            start = len(self.buf)
            self.buf += bytes(missing)
            self.holes.append([start, start + missing])
        out: list[tuple[bytes, bool]] = []
        buf = self.buf
        while len(buf) >= 2:
            if self._hole_before(2):  # the length itself was not captured
                self.reset()
                return out
            n = (buf[0] << 8) | buf[1]
            if n < 12:  # shorter than a header: not DNS, or out of step
                self.reset()
                return out
            if len(buf) < 2 + n:
                break
            first_hole = self._first_hole(2, 2 + n)
            if first_hole is None:
                out.append((bytes(buf[2: 2 + n]), True))
            else:
                out.append((bytes(buf[2: first_hole]), False))
            del buf[: 2 + n]
            self._shift(2 + n)
        return out

    def _hole_before(self, end: int) -> bool:
        return any(s < end for s, _ in self.holes)

    def _first_hole(self, start: int, end: int) -> int | None:
        for s, e in self.holes:
            if s < end and e > start:
                return max(s, start)
        return None

    def _shift(self, k: int) -> None:
        holes = []
        for s, e in self.holes:
            s, e = s - k, e - k
            if e > 0:
                holes.append([max(s, 0), e])
        self.holes = holes

    def reset(self) -> None:
        self.buf.clear()
        self.holes.clear()
        self.desyncs += 1

    @property
    def pending(self) -> int:
        return len(self.buf)


class Message:
    """One DNS message as a process sent or received it."""

    __slots__ = ("cgroup", "comm", "dir", "family", "h", "netns", "pcomm", "pid", "port", "server",
                 "sock", "syscall", "tid", "transport", "truncated", "ts", "uid", "wire")

    def __init__(self, ts: int, dir: int, sock: int, pid: int, tid: int, uid: int, comm: str, pcomm: str,
                 netns: int, cgroup: int, transport: str, family: str, server: str | None,
                 port: int | None, h: Header, wire: bytes, truncated: bool, syscall: str) -> None:
        self.ts, self.dir, self.sock, self.pid, self.tid, self.uid = ts, dir, sock, pid, tid, uid
        self.comm, self.pcomm, self.netns, self.cgroup = comm, pcomm, netns, cgroup
        self.transport, self.family, self.server, self.port = transport, family, server, port
        self.h, self.wire, self.truncated, self.syscall = h, wire, truncated, syscall


class Query:
    """A question and what became of it."""

    __slots__ = ("answer", "first_ts", "for_", "key", "last_ts", "msg", "servers", "state", "tries", "via")

    def __init__(self, msg: Message, key: tuple[Any, ...]) -> None:
        self.msg, self.key = msg, key
        self.first_ts = self.last_ts = msg.ts
        self.tries = 1
        self.servers = [(msg.server, msg.port)]
        self.answer: Message | None = None
        self.state = "waiting"  # answered, timeout, unanswered
        self.via: Query | None = None   # the stub's upstream question for this one
        self.for_: Query | None = None  # the client question this upstream one serves

    @property
    def latency_ns(self) -> int | None:
        if self.answer is None:
            return None
        return max(0, self.answer.ts - self.first_ts)

    @property
    def to_loopback(self) -> bool:
        s = self.msg.server
        return bool(s) and (s.startswith("127.") or s == "::1")


class Result:
    """What gets reported: kind is "answer" (a question and its answer),
    "timeout", "unanswered" (still waiting at the end), "late" (an answer
    after its question timed out) or "unmatched" (an answer whose question
    was not seen)."""

    __slots__ = ("answer", "kind", "query")

    def __init__(self, kind: str, query: Query | None, answer: Message | None) -> None:
        self.kind, self.query, self.answer = kind, query, answer

    @property
    def ts(self) -> int:
        if self.query is not None:
            return self.query.first_ts
        assert self.answer is not None
        return self.answer.ts


class Matcher:
    def __init__(self, timeout_ns: int) -> None:
        self.timeout_ns = timeout_ns
        self.waiting: dict[tuple[Any, ...], Query] = {}
        self._deadlines: list[tuple[int, int, tuple[Any, ...]]] = []
        self._seq = 0
        self.expired: OrderedDict[tuple[Any, ...], Query] = OrderedDict()
        self.early: list[Message] = []  # answers nothing waited for yet
        # (netns, qkey, qtype) -> pid -> that process's latest question to a
        # loopback server (a stub's client), for stub links; and when each was added
        self.clients: dict[tuple[Any, ...], dict[int, Query]] = {}
        self._client_order: deque[tuple[int, tuple[Any, ...]]] = deque()
        self.retransmits = 0

    @staticmethod
    def key(m: Message) -> tuple[Any, ...]:
        h = m.h
        return (m.sock, h.id, h.qkey, h.qtype, h.qclass)

    # -- input --------------------------------------------------------------------------------
    def question(self, m: Message) -> list[Result]:
        k = self.key(m)
        q = self.waiting.get(k)
        if q is not None:  # the same question again on the same socket: a retransmission
            q.tries += 1
            q.last_ts = m.ts
            if (m.server, m.port) not in q.servers:
                q.servers.append((m.server, m.port))
            self.retransmits += 1
            self._push(q)
            return []
        q = Query(m, k)
        self.waiting[k] = q
        self._push(q)
        self._link(q)
        if self.early:  # its answer may already be here
            for a in self.early:
                if self.key(a) == k and a.ts >= m.ts - EARLY_GRACE_NS:
                    self.early.remove(a)
                    return self.response(a)
        return []

    def response(self, m: Message) -> list[Result]:
        k = self.key(m)
        q = self.waiting.pop(k, None)
        if q is not None:
            q.answer = m
            q.state = "answered"
            if q.msg.port is None or not q.msg.server:
                q.msg.server, q.msg.port = m.server, m.port
            return [Result("answer", q, m)]
        q = self.expired.pop(k, None)
        if q is not None:
            q.answer = m
            return [Result("late", q, m)]
        self.early.append(m)
        return []

    def _push(self, q: Query) -> None:
        self._seq += 1
        heapq.heappush(self._deadlines, (q.last_ts + self.timeout_ns, self._seq, q.key))

    # -- time --------------------------------------------------------------------------------------
    def expire(self, now_ns: int) -> list[Result]:
        """Timeouts due by ``now_ns``, and answers held too long without a question."""
        out: list[Result] = []
        dl = self._deadlines
        while dl and dl[0][0] <= now_ns:
            deadline, _, k = heapq.heappop(dl)
            q = self.waiting.get(k)
            if q is None or q.last_ts + self.timeout_ns != deadline:
                continue  # answered, or sent again since
            del self.waiting[k]
            q.state = "timeout"
            self.expired[k] = q
            if len(self.expired) > EXPIRED_KEEP:
                self.expired.popitem(last=False)
            out.append(Result("timeout", q, None))
        if self.early:
            keep = []
            for a in self.early:
                if a.ts + EARLY_GRACE_NS <= now_ns:
                    out.append(Result("unmatched", None, a))
                else:
                    keep.append(a)
            self.early = keep
        self._prune_clients(now_ns)
        return out

    def finish(self) -> list[Result]:
        """The end of the run: what still waits."""
        out = []
        for q in self.waiting.values():
            q.state = "unanswered"
            out.append(Result("unanswered", q, None))
        self.waiting.clear()
        out += [Result("unmatched", None, a) for a in self.early]
        self.early.clear()
        return out

    # -- stub links ---------------------------------------------------------------------------------
    def _link(self, q: Query) -> None:
        """A new question: the upstream one of a stub for a recent client question
        to a loopback server from another process (the latest of them), and, when
        it goes to a loopback server itself, a client question for later ones."""
        m = q.msg
        rk = (m.netns, m.h.qkey, m.h.qtype)
        waiting = self.clients.get(rk)
        if waiting:
            best = None
            for pid, c in waiting.items():
                # a stub forwards while its client waits, and not to the address it serves on
                if (pid != m.pid and c.via is None and c.state == "waiting"
                        and (c.msg.server, c.msg.port) != (m.server, m.port)
                        and c.first_ts <= q.first_ts <= c.first_ts + LINK_WINDOW_NS
                        and (best is None or c.first_ts > best.first_ts)):
                    best = c
            if best is not None:
                best.via, q.for_ = q, best
        if q.to_loopback:
            if waiting is None:
                waiting = self.clients[rk] = {}
            waiting.pop(m.pid, None)
            waiting[m.pid] = q  # latest last
            if len(waiting) > LINK_PIDS:
                del waiting[next(iter(waiting))]
            self._client_order.append((q.first_ts, rk))

    def _prune_clients(self, now_ns: int) -> None:
        order = self._client_order
        while order and order[0][0] + LINK_WINDOW_NS < now_ns:
            _, rk = order.popleft()
            waiting = self.clients.get(rk)
            if waiting is None:
                continue
            for pid in [p for p, c in waiting.items() if c.first_ts + LINK_WINDOW_NS < now_ns]:
                del waiting[pid]
            if not waiting:
                del self.clients[rk]


def parse(data: bytes) -> Header | None:
    try:
        return Header(data)
    except BadMessage:
        return None


def sorted_by_ts(items: Iterable[Any]) -> list[Any]:
    return sorted(items, key=lambda ev: ev.ts_ns)


__all__ = ["LINK_WINDOW_NS", "Matcher", "Message", "Query", "Result", "Stream", "parse", "sorted_by_ts"]
