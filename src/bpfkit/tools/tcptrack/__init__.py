"""`bpfkit tcptrack`: TCP connects, accepts and closes with latency, bytes,
network namespace and suspicious-port alerts. The hooks (fentry/fexit, else
kprobes, else tracepoints) are declared in tcptrack.bpf.c with BPFKIT_HOOKS;
every alternative sends the same events, so nothing here depends on which."""

from __future__ import annotations

import errno

# _socket, not socket: socket.py builds IntEnums at import (~3 ms of start-up)
from _socket import AF_INET, AF_INET6, inet_ntop

from ...argv import UsageError, pid, port
from ...output import escape
from ...runner.tool import Counter, Tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from ...core.object import BPFObject
    from ...runner.tool import Clock

# The seed's list, as BCC's connection monitor has it: common reverse shells,
# backdoors and remote desktop.
DEFAULT_ALERT_PORTS = (4444, 5555, 6666, 8888, 9999, 1337, 31337, 12345, 3389)

# enum tcptrack_kind member -> the event's name in text and JSON
EVENTS = {"TT_CONNECT": ("CONNECT", "connect"), "TT_ACCEPT": ("ACCEPT", "accept"),
          "TT_CLOSE": ("CLOSE", "close"), "TT_CONNECT_FAIL": ("CONNECT-FAIL", "connect-fail")}


def parse_ports(text: str) -> frozenset[int]:
    """'4444,5555' -> ports; an empty string turns alerts off."""
    ports = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        if not (part.isascii() and part.isdigit()) or not 0 < int(part) < 65536:
            raise UsageError(f"--alert-ports: {part!r} is not a port (1-65535)")
        ports.add(int(part))
    return frozenset(ports)


def address(family: int, raw: bytes) -> str:
    if family == AF_INET:
        return inet_ntop(AF_INET, raw[:4])
    return inet_ntop(AF_INET6, raw)


def endpoint(family: int, raw: bytes, port: int) -> str:
    addr = address(family, raw)
    return f"[{addr}]:{port}" if family == AF_INET6 else f"{addr}:{port}"


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n}B"
    if n < 1024 * 1024:
        return f"{n // 1024}KB"
    return f"{n / (1024 * 1024):.1f}MB"


def errno_name(err: int) -> str | None:
    return errno.errorcode.get(err, str(err)) if err else None


class TcpTrack(Tool):
    name = "tcptrack"
    help = "trace TCP connects, accepts and closes with latency, bytes and port alerts"
    banner = "Tracing TCP connections. Ctrl+C to stop."
    # --hooks (tcptrack.bpf.c's BPFKIT_HOOKS): state changes are tp_btf in all
    hook_kinds = {"fentry": frozenset({"fentry", "fexit", "tp_btf"}),
                  "kprobe": frozenset({"kprobe", "kretprobe", "tp_btf"}),
                  "tracepoint": frozenset({"tracepoint", "tp_btf"})}

    @classmethod
    def add_arguments(cls, p: argparse.ArgumentParser) -> None:
        f = p.add_argument_group("filters (in the kernel)")
        f.add_argument("--pid", type=pid, help="only connections of this process")
        f.add_argument("--port", type=port, help="only connections with this port on either side")
        f.add_argument("--no-connect", action="store_true", help="leave out CONNECT events")
        f.add_argument("--no-accept", action="store_true", help="leave out ACCEPT events")
        f.add_argument("--no-close", action="store_true", help="leave out CLOSE events")
        f.add_argument("--failed", action="store_true",
                       help="also show failed connects (CONNECT-FAIL: refused, timed out)")
        f.add_argument("-4", "--ipv4", action="store_true", help="only IPv4 (and v4-mapped IPv6)")
        f.add_argument("-6", "--ipv6", action="store_true", help="only IPv6")
        cls.add_hooks_argument(p)
        a = p.add_argument_group("alerts")
        a.add_argument("--alert-ports", metavar="LIST",
                       help="comma-separated ports to alert on (default: "
                            + ",".join(map(str, DEFAULT_ALERT_PORTS)) + "; empty: none)")
        a.add_argument("--alerts-only", action="store_true", help="print only alerts")

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        if args.ipv4 and args.ipv6:
            raise UsageError("-4 and -6 exclude each other")
        if args.no_connect and args.no_accept and args.no_close and not args.failed:
            raise UsageError("--no-connect, --no-accept and --no-close together leave nothing to trace")
        self.alert_ports = (frozenset(DEFAULT_ALERT_PORTS) if args.alert_ports is None
                            else parse_ports(args.alert_ports))
        if args.alerts_only and not self.alert_ports:
            raise UsageError("--alerts-only with no alert ports (--alert-ports '') would print nothing")
        if not args.alerts_only:
            self.keep = None  # no per-event filter call at all
        self.m_conns = Counter("bpfkit_tcp_connections_total",
                               "TCP connections seen, by direction and result", ["direction", "result"])
        self.m_bytes = Counter("bpfkit_tcp_bytes_total", "payload bytes of closed connections", ["direction"])
        self.m_alerts = Counter("bpfkit_tcp_alerts_total", "connections on an alert port, by port", ["port"])

    def configure(self, obj: BPFObject) -> None:
        args, ro = self.args, obj.rodata
        if args.pid is not None:
            ro.targ_tgid = args.pid
        if args.port is not None:
            ro.targ_port = args.port
        ro.targ_family = 4 if args.ipv4 else 6 if args.ipv6 else 0
        ro.trace_connect = not args.no_connect
        ro.trace_accept = not args.no_accept
        ro.trace_close = not args.no_close
        ro.trace_failed = bool(args.failed)

    # -- per event ---------------------------------------------------------------------
    def alert(self, ev: Any) -> str | None:
        """Why this connection is suspicious, or None. The service port is the
        remote one for a connection we made, the local one for one we accepted."""
        if ev.origin.name == "TT_PASSIVE":
            port, side = ev.sport, "local"
        else:
            port, side = ev.dport, "remote"
        if port in self.alert_ports:
            return f"{side} port {port} is on the alert list"
        return None

    def event_kind(self, ev: Any) -> str:
        return EVENTS[ev.kind.name][1]

    def metrics(self) -> list[Any]:
        return [self.m_conns, self.m_bytes, self.m_alerts]

    def observe(self, ev: Any) -> None:
        kind = ev.kind.name
        direction = "inbound" if ev.origin.name == "TT_PASSIVE" else "outbound"
        if kind == "TT_CONNECT":
            self.m_conns.inc((direction, "established"))
        elif kind == "TT_ACCEPT":
            self.m_conns.inc((direction, "accepted"))
        elif kind == "TT_CONNECT_FAIL":
            self.m_conns.inc((direction, errno_name(ev.error) or "failed"))
        elif kind == "TT_CLOSE":
            self.m_bytes.inc(("sent",), ev.bytes_sent)
            self.m_bytes.inc(("received",), ev.bytes_received)
        if kind != "TT_CLOSE" and self.alert(ev):
            port = ev.sport if ev.origin.name == "TT_PASSIVE" else ev.dport
            self.m_alerts.inc((str(port),))

    def keep(self, ev: Any) -> bool:  # type: ignore[override]
        return self.alert(ev) is not None  # --alerts-only

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        kind = ev.kind.name
        fam = ev.family
        local = endpoint(fam, ev.saddr, ev.sport)
        remote = endpoint(fam, ev.daddr, ev.dport)
        arrow = "<-" if ev.origin.name == "TT_PASSIVE" else "->"
        line = (f"{self.clock.hms(ev.ts_ns)} {EVENTS[kind][0]:<7} pid={ev.pid} uid={ev.uid} "
                f"{escape(ev.comm)} {local} {arrow} {remote}")
        if kind == "TT_CONNECT":
            line += f"  lat={ev.latency_ns / 1e6:.3f}ms"
        elif kind == "TT_CLOSE":
            line += (f"  sent={human_bytes(ev.bytes_sent)} recv={human_bytes(ev.bytes_received)}"
                     f"  dur={ev.duration_ns / 1e9:.3f}s")
        elif kind == "TT_CONNECT_FAIL":
            line += f"  error={errno_name(ev.error) or 'unknown'}"
        line += f"  ns={ev.netns}"
        why = self.alert(ev)
        if why:
            line = f"ALERT {line}  ({why})"
        return (line,)

    def record(self, ev: Any) -> dict[str, Any] | None:
        kind = ev.kind.name
        fam = ev.family
        why = self.alert(ev)
        rec: dict[str, Any] = {
            "event": EVENTS[kind][1], "pid": ev.pid, "uid": ev.uid, "comm": ev.comm,
            "family": "ipv4" if fam == AF_INET else "ipv6",
            "origin": "passive" if ev.origin.name == "TT_PASSIVE" else "active",
            "saddr": address(fam, ev.saddr), "sport": ev.sport,
            "daddr": address(fam, ev.daddr), "dport": ev.dport, "netns": ev.netns,
            "alert": why is not None, "alert_reason": why,
        }
        if kind in ("TT_CONNECT", "TT_CONNECT_FAIL"):
            rec["latency_ns"] = ev.latency_ns
        if kind == "TT_CLOSE":
            rec.update(duration_ns=ev.duration_ns or None, bytes_sent=ev.bytes_sent,
                       bytes_received=ev.bytes_received)
        if kind == "TT_CONNECT_FAIL":
            rec["error"] = errno_name(ev.error)
        return rec


TOOL = TcpTrack
