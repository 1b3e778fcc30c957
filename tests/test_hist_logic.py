"""The hist engine's pure logic: bucket math (the kernel side's twin),
bpftrace's labels and layout, percentiles from buckets, tracefs format and
unistd parsing, span and option parsing. No kernel needed."""

from __future__ import annotations

import argparse

import pytest

from bpfkit.argv import UsageError
from bpfkit.tools.hist import engine, kernel, parse_span, printer


@pytest.mark.parametrize(("value", "slot"), [(0, 1), (1, 2), (2, 3), (3, 3), (4, 4), (1023, 11), (1024, 12),
                                             ((1 << 63) + 5, 65), ((1 << 64) - 1, 65)])
def test_log2_slot_is_bpftraces(value: int, slot: int) -> None:
    assert printer.log2_slot(value) == slot
    lo, hi = printer.bounds(slot)
    assert lo <= value < hi


@pytest.mark.parametrize(("value", "slot"), [(0, 1), (9, 1), (10, 2), (639, 64), (640, 65), (10**9, 65)])
def test_linear_slot_with_64_steps_then_one_open_bucket(value: int, slot: int) -> None:
    assert printer.linear_slot(value, 10) == slot


@pytest.mark.parametrize(("slot", "step", "text"), [
    (0, 0, "(..., 0)"), (1, 0, "[0]"), (2, 0, "[1]"), (3, 0, "[2, 4)"), (11, 0, "[512, 1K)"),
    (12, 0, "[1K, 2K)"), (22, 0, "[1M, 2M)"), (32, 0, "[1G, 2G)"), (42, 0, "[1T, 2T)"), (65, 0, "[8E, 16E)"),
    (1, 10, "[0, 10)"), (65, 10, "[640, ...)"), (2, 1024, "[1K, 2K)"), (65, 1 << 20, "[64M, ...)"),
])
def test_labels(slot: int, step: int, text: str) -> None:
    assert printer.label(slot, step) == text


def test_block_layout_widths_and_bar_scaling() -> None:
    slots = [0] * printer.SLOTS
    slots[3], slots[5] = 3, 12
    text = printer.block("@usecs[bash]", slots)
    assert text == ("@usecs[bash]: \n"
                    "[2, 4)                 3 |@@@@@@@@@@@@@                                       |\n"
                    "[4, 8)                 0 |                                                    |\n"
                    "[8, 16)               12 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n")
    assert printer.histogram_lines([0] * printer.SLOTS) == []


def test_percentiles_interpolate_inside_the_bucket() -> None:
    slots = [0] * printer.SLOTS
    slots[printer.log2_slot(10)] = 100  # [8, 16)
    assert printer.percentile(slots, 0.5) == 12.0
    assert printer.percentile(slots, 0.99) == pytest.approx(15.92)
    slots[printer.log2_slot(1000)] = 100  # [512, 1K)
    assert printer.percentile(slots, 0.5) == 16.0
    assert 512 < printer.percentile(slots, 0.9) < 1024
    single = [0] * printer.SLOTS
    single[1] = 7  # [0]: exactly zero
    assert printer.percentile(single, 0.99) == 0.0
    assert printer.percentile([0] * printer.SLOTS, 0.5) is None
    lin = [0] * printer.SLOTS
    lin[65] = 4  # the open bucket of a linear histogram: its low bound
    assert printer.percentile(lin, 0.5, 10) == 640.0


FORMAT = """name: net_dev_queue
ID: 2306
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:void * skbaddr;\toffset:8;\tsize:8;\tsigned:0;
\tfield:unsigned int len;\toffset:16;\tsize:4;\tsigned:0;
\tfield:__data_loc char[] name;\toffset:20;\tsize:4;\tsigned:0;
\tfield:char comm[16];\toffset:24;\tsize:16;\tsigned:0;

print fmt: "dev=%s skbaddr=%p len=%u", __get_str(name), REC->skbaddr, REC->len
"""


def test_tracefs_format_gives_offsets_for_the_generic_program() -> None:
    fmt = kernel.parse_format(FORMAT, "net")
    assert fmt.id == 2306 and fmt.label == "net:net_dev_queue"
    assert set(fmt.fields) == {"skbaddr", "len", "name", "comm"}
    assert (fmt.fields["skbaddr"].offset, fmt.fields["skbaddr"].size) == (8, 8)
    assert fmt.fields["name"].loc and fmt.fields["comm"].array
    conf = engine.tp_conf(fmt, role=1, span=0, key="skb", by="field", by_field=fmt.fields["name"],
                          where=engine.parse_where("len=64", fmt))
    assert conf["key_off"] == [8, 0] and conf["key_size"] == [8, 0] and conf["key_kind"] == 1
    assert (conf["by"], conf["by_off"], conf["by_kind"]) == (engine.BY["field"], 20, 3)
    assert (conf["filt_off"], conf["filt_size"], conf["filt_kind"], conf["filt_num"]) == (16, 4, 1, 64)
    assert engine.parse_where("comm=sshd", fmt)["filt_str"] == "sshd"
    with pytest.raises(UsageError, match="has no work field"):
        engine.tp_conf(fmt, role=1, span=0, key="work", by="none", by_field=None, where={})
    with pytest.raises(UsageError, match="not a field"):
        engine.parse_where("nosuch=1", fmt)


def test_request_key_falls_back_to_dev_and_sector() -> None:
    fmt = kernel.parse_format("ID: 7\n\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;\n"
                              "\tfield:sector_t sector;\toffset:16;\tsize:8;\tsigned:0;\n", "block", "x")
    conf = engine.tp_conf(fmt, role=2, span=0, key="req", by="none", by_field=None, where={})
    assert conf["key_off"] == [8, 16] and conf["key_size"] == [4, 8]


def test_unistd_header_parsing() -> None:
    text = ("#define __NR_read 0\n#define __NR_write 1\n#define __NR_nanosleep 35\n"
            "#define __NR_syscalls (__NR_x + 1)\n#define __NR3264_lseek 62\n")
    assert kernel.parse_unistd(text) == {"read": 0, "write": 1, "nanosleep": 35}


@pytest.mark.parametrize(("text", "parsed"), [
    ("tp:sched:sched_waking -> tp:sched:sched_switch",
     (("sched", "sched_waking"), ("sched", "sched_switch"))),
    ("sched:a->tracepoint:net:b", (("sched", "a"), ("net", "b"))),
])
def test_span_syntax(text: str, parsed: tuple) -> None:
    assert parse_span(text) == parsed


@pytest.mark.parametrize("text", ["syscalls", "tp:a:b:c -> tp:x:y", "kprobe:a:b -> tp:x:y"])
def test_bad_span_syntax_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError):
        parse_span(text)


def test_unmatched_bookkeeping() -> None:
    stats = [0] * engine.NSTATS
    stats[engine.ST_STARTS], stats[engine.ST_MATCHED], stats[engine.ST_CANCELLED] = 100, 90, 2
    stats[engine.ST_RESTARTS], stats[engine.ST_ORPHAN_ENDS] = 3, 4
    um = engine.unmatched(stats, 5)
    assert um["starts_without_end"] == 100 - 90 - 2 - 5
    assert (um["ends_without_start"], um["open"], um["restarts"]) == (4, 5, 3)


class _Key:
    def __init__(self, id_: int, name: str, raw: bytes = b"") -> None:
        self.id, self.name, self._rawv = id_, name, raw

    def _raw(self, field: str) -> bytes:
        return self._rawv


def test_labels_escape_names_and_format_peers() -> None:
    assert engine.Labels("comm")(_Key(0, "evil\n\x1b[31m"))[0] == "evil\\n\\x1b[31m"
    text, fields = engine.Labels("pid")(_Key(42, "sh"))
    assert (text, fields) == ("42, sh", {"pid": 42, "comm": "sh"})
    peer = _Key(51820 | 2 << 16, "", bytes([10, 0, 0, 2]) + bytes(12))
    assert engine.peer_text(peer) == "10.0.0.2:51820"
    peer6 = _Key(443 | 10 << 16, "", bytes(15) + b"\x01")
    assert engine.peer_text(peer6) == "[::1]:443"


def test_hist_options_are_checked_before_anything_is_opened() -> None:
    from bpfkit.runner.tool import Clock
    from bpfkit.tools.hist import Hist

    def args(**kw: object) -> argparse.Namespace:
        base = dict(what="runqlat", by=None, unit="us", linear=None, max_keys=None, key=None, where=None,
                    syscall=None, pid=None, comm=None, iface=None, port=None, interval=None)
        base.update(kw)
        return argparse.Namespace(**base)

    with pytest.raises(UsageError, match="15 bytes"):
        Hist(args(comm="x" * 16), Clock())
    with pytest.raises(UsageError, match="for spans, not presets"):
        Hist(args(key="skb"), Clock())
    with pytest.raises(UsageError, match="runqlat histograms are by"):
        Hist(args(by="disk"), Clock())
    h = Hist(args(by="comm", unit="ms", linear=5), Clock())
    assert (h.unit_div, h.step, h.by[0]) == (1_000_000, 5, "comm")
    assert h.map_name(h.spans[0]) == "@msecs"


def test_metrics_take_the_kernel_buckets_with_the_exact_sum() -> None:
    from bpfkit.runner.tool import Clock
    from bpfkit.tools.hist import Hist

    ns = argparse.Namespace(what="syscall", by="syscall", unit="us", linear=None, max_keys=None, key=None,
                            where=None, syscall=None, pid=None, comm=None, iface=None, port=None,
                            interval=None)
    h = Hist(ns, Clock())
    (hist,) = h.metrics()
    assert hist.name == "bpfkit_hist_syscall_syscall_seconds" and hist.labels == ("syscall",)
    slots = [0] * printer.SLOTS
    slots[printer.log2_slot(10)] = 3  # [8, 16) us
    slots[printer.log2_slot(3000)] = 1  # [2K, 4K) us

    class Key:
        span, aux, id, name = 0, 0, 35, ""

    h._observe(h.spans[0], [(Key(), [4, 3 * 10_000 + 3_000_000, slots])])
    cum, count, total = hist.cumulative((h.labels[0](Key())[0],))
    assert count == 4 and total == pytest.approx(0.00303)
    le = dict(cum)
    assert le[16e-6] == 3 and le[8e-6] == 0 and le[4096e-6] == 4
