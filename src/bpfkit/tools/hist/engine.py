"""The Python side of the engine: presets as data, options -> .rodata and
maps, and the periodic dump-and-reset of the kernel's histograms and counts.

Per event the Python side does nothing: the kernel aggregates; every report
flips the buffer index, waits for the programs still adding to the old
buffers (engine.bpf.h explains how), reads them whole and empties them.
"""

from __future__ import annotations

import os

from ...argv import UsageError
from ...output import escape
from . import kernel
from .printer import SLOTS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ...core.object import BPFObject

HERE = os.path.dirname(os.path.abspath(__file__))
LITE = os.path.join(HERE, "lite.bpf.o")  # no CO-RE: loads without the kernel BTF parse
FULL = os.path.join(HERE, "hist.bpf.o")  # + tp_btf presets

# enum hist_by (hist.h)
BY = {"none": 0, "comm": 1, "pid": 2, "tid": 3, "cpu": 4, "syscall": 5, "disk": 6, "iface": 7,
      "function": 8, "port": 9, "field": 10, "peer": 11}
# enum hist_stat (hist.h)
ST_STARTS, ST_MATCHED, ST_ORPHAN_ENDS, ST_RESTARTS, ST_CANCELLED, ST_KEYS_FULL, ST_COUNTED = range(7)
NSTATS = 8
MAX_SPANS = 8
# labels Prometheus may carry: values from a small, fixed set
BOUNDED_BY = {"none", "syscall", "cpu", "disk", "iface", "function"}
UNITS = {"ns": (1, "nsecs"), "us": (1000, "usecs"), "ms": (1_000_000, "msecs")}


class Span:
    """One histogram family of a preset: its span id in the kernel, its name
    in output, and what it may be keyed by."""

    __slots__ = ("by", "by_choices", "id", "name", "title")

    def __init__(self, id_: int, name: str, title: str, by: str, by_choices: tuple[str, ...]) -> None:
        self.id, self.name, self.title = id_, name, title
        self.by, self.by_choices = by, by_choices


class Preset:
    """Which programs to load (ends attached before starts, so a span begun
    while the end is not yet attached cannot be counted as lost), the spans,
    and the object (lite: no kernel BTF needed)."""

    __slots__ = ("counts", "ends", "help", "key", "name", "object", "spans", "starts")

    def __init__(self, name: str, help: str, *, object: str, ends: tuple[str, ...], starts: tuple[str, ...],
                 key: str, spans: tuple[Span, ...], counts: dict[int, str] | None = None) -> None:
        self.name, self.help, self.object = name, help, object
        self.ends, self.starts, self.key, self.spans = ends, starts, key, spans
        self.counts = counts or {}

    @property
    def programs(self) -> tuple[str, ...]:
        return (*self.ends, *self.starts)


TASK_BY = ("none", "comm", "pid", "tid", "cpu")
WG_TX_PROGS = ("wg_dev_xmit", "wg_xmit_fentry", "wg_xmit_kprobe")
WG_RX_PROGS = ("wg_rx_start", "wg_receive_fentry", "wg_receive_kprobe")

PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("syscall", "syscall entry -> exit of the same thread (raw_syscalls)", object=LITE,
           ends=("sys_exit",), starts=("sys_enter",), key="tid",
           spans=(Span(0, "syscall", "syscall latency", "syscall", ("syscall", *TASK_BY)),)),
    Preset("runqlat", "run-queue latency: woken (or preempted) -> running (sched tp_btf)", object=FULL,
           ends=("rq_switch",), starts=("rq_wakeup", "rq_wakeup_new"), key="tid",
           spans=(Span(0, "runqlat", "run-queue latency", "none", TASK_BY),)),
    Preset("biolatency", "block I/O: issued to the device -> completed (block tp_btf)", object=FULL,
           ends=("bio_complete",), starts=("bio_issue",), key="req",
           spans=(Span(0, "biolatency", "block I/O latency", "none", ("none", "disk", "comm", "pid")),)),
    Preset("tcpconnlat", "TCP connect: SYN sent -> established (sock:inet_sock_set_state)", object=FULL,
           ends=(), starts=("tcp_state",), key="sock",
           spans=(Span(0, "tcpconnlat", "TCP connect latency", "none", ("none", "comm", "pid", "port")),)),
    Preset("wireguard", "WireGuard: packets through wg devices, crypto work, handshakes", object=FULL,
           ends=("wg_udp_tx", "wg_rx_end", "wg_wq_end", "wg_wq_start", "wg_udp_rx", "wg_napi",
                 "wg_rx_poll_fexit", "wg_staged_fentry", "wg_staged_kprobe"),
           starts=(*WG_TX_PROGS, *WG_RX_PROGS, "wg_wq_queue"), key="skb",
           spans=(Span(0, "tx", "wg device xmit -> underlay xmit (same skb)", "iface", ("iface", "none")),
                  Span(1, "rx", "underlay receive -> wg device GRO (same skb)", "iface", ("iface", "none")),
                  Span(2, "crypt_queue", "crypto/tx work queued -> started", "function",
                       ("function", "none")),
                  Span(3, "crypt_run", "crypto/tx work started -> done", "function", ("function", "none")),
                  Span(4, "handshake_rtt", "handshake initiation sent -> response received", "peer",
                       ("peer", "none")),
                  Span(5, "handshake_resp", "handshake initiation received -> response sent", "peer",
                       ("peer", "none"))),
           counts={0: "peer_tx", 1: "peer_rx", 2: "napi_polls", 3: "staged_sends"}),
)}

# Generic spans: which record fields identify the span, by key kind.
KEY_FIELDS = {
    "skb": (("skbaddr",), ("skb",)),
    "work": (("work",),),
    "req": (("rq",), ("req",), ("request",), ("dev", "sector")),
    "sock": (("skaddr",), ("sk",)),
}
KEY_KINDS = ("tid", *KEY_FIELDS)


# -- generic tracepoints: the configuration the tp_generic program reads ---------------------
def key_fields(fmt: kernel.EventFormat, key: str) -> list[kernel.Field]:
    """The record fields that identify a span: a pointer (skb, work item,
    request, sock), or for block requests without one, dev + sector."""
    for names in KEY_FIELDS[key]:
        fields = [fmt.fields.get(n) for n in names]
        if all(f is not None for f in fields) and (len(names) > 1 or fields[0].pointer):  # type: ignore[union-attr]
            return fields  # type: ignore[return-value]
    options = " or ".join("+".join(n) for n in KEY_FIELDS[key])
    raise UsageError(f"--key {key}: {fmt.label} has no {options} field")


def field_kind(f: kernel.Field) -> int:
    if f.loc:
        return 3  # FIELD_LOC
    if f.array:
        return 2  # FIELD_STR
    return 1  # FIELD_NUM


def parse_where(text: str | None, fmt: kernel.EventFormat) -> dict[str, Any]:
    """--where FIELD=VALUE against the start tracepoint's fields."""
    if not text:
        return {}
    name, sep, value = text.partition("=")
    if not sep or name not in fmt.fields:
        known = ", ".join(sorted(fmt.fields))
        raise UsageError(f"--where: {name!r} is not a field of {fmt.label} (fields: {known})")
    f = fmt.fields[name]
    kind = field_kind(f)
    conf: dict[str, Any] = {"filt_off": f.offset, "filt_size": min(f.size, 8) if kind == 1 else f.size,
                            "filt_kind": kind}
    if kind == 1:
        try:
            n = int(value, 0)
        except ValueError:
            raise UsageError(f"--where: {name} is a number, not {value!r}") from None
        conf["filt_num"] = n & ((1 << (8 * min(f.size, 8))) - 1)
    else:
        if len(value.encode()) >= 16:
            raise UsageError("--where: string values are compared on their first 15 bytes: too long")
        conf["filt_str"] = value
    return conf


def tp_conf(fmt: kernel.EventFormat, *, role: int, span: int, key: str, by: str,
            by_field: kernel.Field | None, where: dict[str, Any]) -> dict[str, Any]:
    conf: dict[str, Any] = {"role": role, "span": span, "key_kind": 0 if key == "tid" else 1,
                            "by": BY["field"] if by_field is not None else BY.get(by, 0),
                            "key_off": [0, 0], "key_size": [0, 0]}
    if key != "tid" and role & 3:
        fields = key_fields(fmt, key)
        for i, f in enumerate(fields):
            conf["key_off"][i] = f.offset
            conf["key_size"][i] = min(f.size, 8)
    if by_field is not None:
        kind = field_kind(by_field)
        conf.update(by_off=by_field.offset, by_size=min(by_field.size, 8) if kind == 1 else 0, by_kind=kind)
    conf.update(where)
    return conf


# -- the runtime ---------------------------------------------------------------------------------
class Engine:
    """Flip, wait, read, reset: every call of ``dump()`` returns what the
    programs added since the previous one, to the increment."""

    def __init__(self, obj: BPFObject, *, hists: bool, counts: bool) -> None:
        self.obj, self.hists, self.counts = obj, hists, counts
        self.cur = 0
        self.stats_seen = [[0] * NSTATS for _ in range(MAX_SPANS)]

    def dump(self) -> tuple[dict[Any, list], dict[Any, list[int]]]:
        """({hist_key: [count, sum_ns, slots]}, {hist_key: [count, sum]}) since the last dump."""
        obj, old = self.obj, self.cur
        self.cur = 1 - old
        obj.bss.hist_buf = self.cur
        # A map-in-map update returns once every program that could be
        # running has finished: none still adds to the old buffers.
        obj.maps.fence[0] = obj.maps.fence_map
        suffix = "ab"[old]
        hists = _drain_hists(obj.maps[f"hists_{suffix}"]) if self.hists else {}
        counts = _drain_counts(obj.maps[f"counts_{suffix}"]) if self.counts else {}
        return hists, counts

    def stats(self) -> list[list[int]]:
        """Per span, the kernel's counters since start (enum hist_stat)."""
        out = [[0] * NSTATS for _ in range(MAX_SPANS)]
        for span, percpu in self.obj.maps.stats.items():
            if 0 <= span < MAX_SPANS:
                row = out[span]
                for cpu in percpu:
                    for i, v in enumerate(cpu.v):
                        row[i] += v
        return out

    def open_starts(self) -> list[int]:
        """Per span, starts still waiting for their end."""
        out = [0] * MAX_SPANS
        for key in self.obj.maps.starts:
            if 0 <= key.span < MAX_SPANS:
                out[key.span] += 1
        return out


def _drain_hists(m: Any) -> dict[Any, list]:
    out: dict[Any, list] = {}
    for key, percpu in m.items():
        count = total = 0
        slots = [0] * SLOTS
        for v in percpu:
            if not v.count:
                continue
            count += v.count
            total += v.sum_ns
            for i, c in enumerate(v.slots):
                if c:
                    slots[i] += c
        if count:
            out[key] = [count, total, slots]
    m.clear()
    return out


def _drain_counts(m: Any) -> dict[Any, list[int]]:
    out: dict[Any, list[int]] = {}
    for key, percpu in m.items():
        count = sum(v.count for v in percpu)
        if count:
            out[key] = [count, sum(v.sum for v in percpu)]
    m.clear()
    return out


def unmatched(stats: list[int], open_: int) -> dict[str, int]:
    """The span's bookkeeping since start: nothing it missed stays hidden."""
    lost = stats[ST_STARTS] - stats[ST_MATCHED] - stats[ST_CANCELLED] - open_ - stats[ST_KEYS_FULL]
    return {"starts": stats[ST_STARTS], "matched": stats[ST_MATCHED],
            "ends_without_start": stats[ST_ORPHAN_ENDS], "starts_without_end": max(lost, 0),
            "open": open_, "restarts": stats[ST_RESTARTS], "cancelled": stats[ST_CANCELLED],
            "table_full": stats[ST_KEYS_FULL]}


# -- keys -> labels -------------------------------------------------------------------------------
class Labels:
    """hist_key -> (bpftrace key text, JSON fields), per --by; names found once."""

    def __init__(self, by: str, field: str | None = None) -> None:
        self.by, self.field = by, field
        self._funcs: dict[int, str] = {}

    def function(self, addr: int) -> str:
        if addr not in self._funcs:
            found = kernel.kallsyms(addresses={addr})
            self._funcs[addr] = found.get(addr, hex(addr))
        return self._funcs[addr]

    def __call__(self, k: Any) -> tuple[str, dict[str, Any]]:
        by = self.by
        if by == "none":
            return "", {}
        if by == "comm":
            return escape(k.name), {"comm": k.name}
        if by in ("pid", "tid"):
            return f"{k.id}, {escape(k.name)}", {by: k.id, "comm": k.name}
        if by == "cpu":
            return str(k.id), {"cpu": k.id}
        if by == "syscall":
            name = kernel.SYSCALLS.name(k.id)
            return name, {"syscall": name, "nr": k.id}
        if by == "disk":
            name = kernel.block_name(k.id)
            return escape(name), {"disk": name, "dev": f"{k.id >> 20}:{k.id & 0xFFFFF}"}
        if by == "iface":
            return escape(k.name), {"iface": k.name, "ifindex": k.id & 0xFFFFFFFF, "netns": k.id >> 32}
        if by == "function":
            name = self.function(k.id)
            return name, {"function": name}
        if by == "port":
            return str(k.id), {"dport": k.id}
        if by == "peer":
            peer = peer_text(k)
            return peer, {"peer": peer}
        if by == "field":
            value: Any = k.name if k.name else k.id
            return escape(str(value)), {self.field or "value": value}
        return str(k.id), {"id": k.id}


def peer_text(k: Any) -> str:
    """WireGuard outer endpoint of a hist_key (BY_PEER): 'addr:port'."""
    from _socket import AF_INET, AF_INET6, inet_ntop  # lazy: wireguard only

    family, port = k.id >> 16, k.id & 0xFFFF
    raw = k._raw("name") if hasattr(k, "_raw") else k.name.encode("latin-1")
    raw = raw.ljust(16, b"\0")
    if family == 2:
        return f"{inet_ntop(AF_INET, raw[:4])}:{port}"
    return f"[{inet_ntop(AF_INET6, raw[:16])}]:{port}"


__all__ = ["BOUNDED_BY", "BY", "KEY_KINDS", "PRESETS", "UNITS", "Engine", "Labels", "Preset", "Span",
           "parse_where", "peer_text", "tp_conf", "unmatched"]
