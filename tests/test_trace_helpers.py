"""bpfkit.trace: what a libbpf-tools port needs beside its object.

Histograms against the tools themselves (bpftrace's output for the same values,
a live libbpf-tools runqlat re-printed from its own counts, printf for the
layouts no tool here can print), kernel symbols against /proc/kallsyms, user
stacks against nm and a real bpf_get_stack(), syscall numbers and the cgroup
id against what the kernel reports in a BPF program, bpf_printk through
trace_pipe."""

from __future__ import annotations

import errno
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from conftest import ROOT

from bpfkit.core.kernel.errors import BPFError, BPFKernelFeatureError, BPFNameError, BPFPermissionError
from bpfkit.trace import hist, names
from bpfkit.trace.hist import HIST, LOG2, Lhist, Linear
from bpfkit.trace.pipe import PRINTK, TracePipe, find_trace_pipe, parse_line

kernel = pytest.mark.kernel
CC = shutil.which("gcc") or shutil.which("clang")


def compile_c(tmp_path: Path, name: str, source: str, *flags: str) -> Path:
    if CC is None:
        pytest.skip("no C compiler (gcc or clang)")
    src = tmp_path / f"{name}.c"
    src.write_text(source)
    out = tmp_path / name
    subprocess.run([CC, *flags, "-o", str(out), str(src)], check=True, capture_output=True)
    return out


# -- histograms: libbpf-tools' layout ------------------------------------------------------------------

# `runqlat 1 1` of libbpf-tools 0.26 on this project's VM, as printed
RUNQLAT = """\
     usecs               : count    distribution
         0 -> 1          : 204      |**********                              |
         2 -> 3          : 396      |********************                    |
         4 -> 7          : 192      |*********                               |
         8 -> 15         : 772      |****************************************|
        16 -> 31         : 408      |*********************                   |
        32 -> 63         : 261      |*************                           |
        64 -> 127        : 117      |******                                  |
       128 -> 255        : 27       |*                                       |
       256 -> 511        : 19       |                                        |
       512 -> 1023       : 2        |                                        |
      1024 -> 2047       : 4        |                                        |
      2048 -> 4095       : 2        |                                        |
      4096 -> 8191       : 1        |                                        |
"""


def _counts_of(text: str) -> tuple[str, list[int]]:
    lines = text.splitlines()
    unit = lines[0].split(":")[0].strip()
    return unit, [int(line.split(":")[1].split("|")[0]) for line in lines[1:]]


def test_log2_layout_is_libbpf_tools_runqlat_text() -> None:
    unit, counts = _counts_of(RUNQLAT)
    assert hist.log2_hist_text(counts, unit) == RUNQLAT
    assert hist.log2_hist_text([0] * 27, "usecs") == ""  # nothing, not even the header


def test_log2_layout_matches_a_live_libbpf_tools_tool() -> None:
    """runqlat prints its log2 histogram with print_log2_hist: reprinting its
    own counts must give back its text, byte for byte."""
    tool = "/usr/sbin/runqlat"
    if not os.path.exists(tool) or os.geteuid():
        pytest.skip("libbpf-tools' runqlat (as root) is needed")
    r = subprocess.run([tool, "1", "1"], capture_output=True, text=True, timeout=20)
    if r.returncode:
        pytest.skip(f"runqlat does not run here: {r.stderr.strip()[-200:]}")
    text = r.stdout[r.stdout.index("     usecs"):]
    unit, counts = _counts_of(text)
    assert hist.log2_hist_text(counts, unit) == text


# print_log2_hist / print_linear_hist's printf formats (trace_helpers.c), for the
# cases no working tool here prints: linear histograms and the wide (> 32 buckets) log2 one
PRINTF_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void stars(unsigned int val, unsigned int val_max, int width)
{
	int n = (val < val_max ? val : val_max) * width / val_max, i;
	for (i = 0; i < n; i++) printf("*");
	for (i = 0; i < width - n; i++) printf(" ");
	if (val > val_max) printf("+");
}
int main(int argc, char **argv)
{
	int linear = !strcmp(argv[1], "linear"), n = argc - 5, i, lo = -1, hi = -1;
	unsigned int *v = calloc(n, sizeof(*v)), top = 0, base = atoi(argv[3]), step = atoi(argv[4]);
	for (i = 0; i < n; i++) {
		v[i] = strtoul(argv[i + 5], NULL, 10);
		if (v[i]) { hi = i; if (lo < 0) lo = i; }
		if (v[i] > top) top = v[i];
	}
	if (hi < 0) return 0;
	if (linear) {
		printf("     %-13s : count     distribution\n", argv[2]);
		for (i = lo; i <= hi; i++) {
			if (!v[i]) continue;
			printf("        %-10d : %-8d |", base + i * step, v[i]);
			stars(v[i], top, 40);
			printf("|\n");
		}
		return 0;
	}
	printf("%*s%-*s : count    distribution\n", hi <= 32 ? 5 : 15, "", hi <= 32 ? 19 : 29, argv[2]);
	for (i = 0; i <= hi; i++) {
		unsigned long long low = (1ULL << (i + 1)) >> 1, high = (1ULL << (i + 1)) - 1;
		int width = hi <= 32 ? 10 : 20;
		if (low == high) low -= 1;
		printf("%*lld -> %-*lld : %-8d |", width, low, width, high, v[i]);
		stars(v[i], top, hi <= 32 ? 40 : 20);
		printf("|\n");
	}
	return 0;
}
"""


def test_linear_and_wide_log2_layouts_match_printf(tmp_path: Path) -> None:
    harness = compile_c(tmp_path, "hist_printf", PRINTF_HARNESS, "-O1")
    rng = random.Random(12)
    cases = []
    for _ in range(12):
        n = rng.choice([3, 10, 27, 40, 63])  # bucket 63's edges overflow the C's long long
        counts = [rng.choice([0, 0, 1, 7, 100, 5000, 99999]) for _ in range(n)]
        unit = rng.choice(["usecs", "msecs", "nsecs", "a-very-long-unit-name"])
        cases.append(("log2", unit, 0, 0, counts))
        cases.append(("linear", rng.choice(["runqlen", "kbytes"]), rng.randrange(0, 100),
                      rng.randrange(1, 50), counts))
    cases.append(("log2", "usecs", 0, 0, [0] * 35 + [3]))  # wide: last bucket above 32
    for kind, unit, base, step, counts in cases:
        want = subprocess.run([str(harness), kind, unit, str(base), str(step), *map(str, counts)],
                              capture_output=True, text=True, check=True).stdout
        got = (hist.linear_hist_text(counts, base, step, unit) if kind == "linear"
               else hist.log2_hist_text(counts, unit))
        assert got == want, (kind, unit, counts)


# -- histograms: bpftrace's layout ---------------------------------------------------------------------

def _bpftrace(script: str) -> str:
    bt = shutil.which("bpftrace")
    if bt is None or os.geteuid():
        pytest.skip("bpftrace (as root) is needed")
    r = subprocess.run([bt, "-e", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout.split("\n\n\n", 1)[1]  # after "Attaching 1 probe...\n\n\n"


def test_bpftrace_layout_is_bpftraces_own_output() -> None:
    """The same values through bpftrace's hist()/lhist() and through add_value +
    hist_map_text: the whole printed output is identical."""
    rng = random.Random(7)
    values = ([rng.choice([-3, 0, 1, 1, 2, 3]) for _ in range(15)]
              + [int(rng.lognormvariate(8, 3)) % (1 << 31) for _ in range(100)])
    keys = [("bash", 0), ("sshd", 1), ("a b", 0), ("bash", 1), ("sshd", 0), ("a b", 1)]
    weights = [k for k in range(6) for _ in range(k + 1)]  # key k every k+1 of 21: distinct totals
    rng.shuffle(weights)  # and first seen in another order than by total
    expected: dict[str, dict] = {"@a": {None: []}, "@k": {}, "@l": {None: []}, "@m": {None: []},
                                 "@n": {None: []}}
    lhists = {"@l": Lhist(0, 100, 10), "@m": Lhist(0, 102400, 1024), "@n": Lhist(5, 45, 7)}
    stmts = []
    for i, v in enumerate(values):
        stmts.append(f"@a = hist({v});")
        hist.add_value(expected["@a"][None], v, HIST)
        key = keys[weights[i % len(weights)]]
        stmts.append(f'@k["{key[0]}", {key[1]}] = hist({v});')
        hist.add_value(expected["@k"].setdefault(key, []), v, HIST)
        for name, s in lhists.items():
            lv = v % 130 - 10 if name != "@m" else v % 110000
            stmts.append(f"{name} = lhist({lv}, {s.min}, {s.max}, {s.step});")
            hist.add_value(expected[name][None], lv, s)
    out = _bpftrace("BEGIN { " + " ".join(stmts) + " exit(); }")
    want = "".join(hist.hist_map_text(name, expected[name], lhists.get(name, HIST))
                   for name in sorted(expected))
    # bpftrace orders keys of equal totals by key bytes: the totals here differ
    assert len({sum(c) for c in expected["@k"].values()}) == len(expected["@k"])
    assert out == want


FLOAT_HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		uint64_t v = strtoull(argv[i], NULL, 10), max = strtoull(argv[i + 1], NULL, 10);
		int bar_width = v / (float)max * 52;  /* bpftrace's TextOutput::hist_to_str */
		printf("%d\n", bar_width);
	}
	return 0;
}
"""


def test_bar_widths_round_in_single_precision_as_bpftrace(tmp_path: Path) -> None:
    harness = compile_c(tmp_path, "bar", FLOAT_HARNESS, "-O0")
    rng = random.Random(3)
    pairs = [(m * k // 52, m) for m in (52, 1000, 16777217, 99999989, 2**40 + 1) for k in range(53)]
    pairs += [(rng.randrange(0, m + 1), m) for m in (7, 10**6, 2**33) for _ in range(300)]
    r = subprocess.run([str(harness), *(str(x) for p in pairs for x in p)], capture_output=True,
                       text=True, check=True)
    want = [int(x) for x in r.stdout.split()]
    got = [len(hist._bar(v, m)) for v, m in pairs]
    assert got == want


def test_labels_and_slots_of_every_numbering() -> None:
    assert [HIST.slot(v) for v in (-5, 0, 1, 2, 3, 4, 1023, 1024)] == [0, 1, 2, 3, 3, 4, 11, 12]
    assert [HIST.label(i) for i in (0, 1, 2, 3, 11, 12, 22, 32, 42, 52, 62)] == [
        "(..., 0)", "[0]", "[1]", "[2, 4)", "[512, 1K)", "[1K, 2K)", "[1M, 2M)", "[1G, 2G)", "[1T, 2T)",
        "[1P, 2P)", "[1E, 2E)"]
    assert [LOG2.slot(v) for v in (0, 1, 2, 3, 4, 1023, 1024)] == [0, 0, 1, 1, 2, 9, 10]
    assert [LOG2.label(i) for i in (0, 1, 10, 20)] == ["[0, 2)", "[2, 4)", "[1K, 2K)", "[1M, 2M)"]
    lin = Linear(10, 5)
    assert [lin.slot(v) for v in (0, 10, 14, 15)] == [0, 0, 0, 1] and lin.label(2) == "[20, 25)"
    lh = Lhist(0, 2048, 1024)
    assert [lh.slot(v) for v in (-1, 0, 1023, 1024, 2048, 10**9)] == [0, 1, 1, 2, 3, 3]
    assert [lh.label(i) for i in range(4)] == ["(..., 0)", "[0, 1K)", "[1K, 2K)", "[2K, ...)"]
    assert Lhist(0, 3 << 20, 1 << 20).label(2) == "[1M, 2M)"
    # libbpf-tools' log2 numbering in bpftrace's layout
    assert hist.hist_text([3, 0, 1], LOG2, "@usecs") == (
        "@usecs: \n"
        "[0, 2)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n"
        "[2, 4)                 0 |                                                    |\n"
        "[4, 8)                 1 |@@@@@@@@@@@@@@@@@                                   |\n")
    assert hist.hist_lines([0, 2], Lhist(0, 100, 10)) == [  # counts may stop at the last used bucket
        "[0, 10)                2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|"]


def test_keys_print_like_bpftrace_but_escaped() -> None:
    text = hist.hist_map_text("@usecs", {None: [0, 0, 0, 3], ("bash", 3): [0, 1], b"x\ny": [0, 0, 2]})
    heads = [line for line in text.splitlines() if line.startswith("@")]
    assert heads == ["@usecs[bash, 3]: ", "@usecs[x\\ny]: ", "@usecs: "]  # smallest total first
    assert text.endswith("|\n\n")


def test_percentiles_from_buckets() -> None:
    assert hist.percentile([0, 0, 0, 10], 50, LOG2) == 12.0      # [8, 16): halfway
    assert hist.percentiles([0] * 5) == {50: None, 90: None, 99: None}
    assert hist.percentile([0, 4, 4], 50, HIST) == 0.0             # [0] holds only 0
    assert hist.percentile([0, 4, 4], 90, HIST) == 1.0
    assert hist.percentile([5, 0, 0], 99, HIST) == 0.0             # (..., 0): its edge
    lh = Lhist(0, 100, 10)
    assert hist.percentile([0] * 11 + [3], 50, lh) == 100.0        # [100, ...): its edge
    assert hist.percentile([0, 0, 10], 10, Linear(100, 20)) == 142.0
    with pytest.raises(ValueError):
        hist.percentile([1], 0)
    # the estimate lies in the bucket of the true percentile, and they rise together
    rng = random.Random(5)
    for slots in (LOG2, HIST, Linear(0, 50), Lhist(0, 1000, 25)):
        values = sorted(int(rng.expovariate(1 / 300)) for _ in range(5000))
        counts: list[int] = []
        for v in values:
            hist.add_value(counts, v, slots)
        if isinstance(slots, Linear | Lhist):
            counts += [0] * 50
        last = -1.0
        for p in (1, 10, 50, 90, 99, 99.9, 100):
            est = hist.percentile(counts, p, slots)
            true = values[max(int(len(values) * p / 100 + 0.999999) - 1, 0)]
            lo, hi = slots.bounds(slots.slot(true))
            assert (lo is None or est >= lo) and (hi is None or est <= hi), (slots, p, est, true)
            assert est >= last
            last = est


def test_print_functions_write_to_the_file_given(capsys) -> None:
    hist.print_log2_hist([1], "usecs")
    hist.print_hist([0, 1], HIST, "@x")
    out = capsys.readouterr().out
    assert out.startswith("     usecs") and "@x: \n[0]" in out


# -- names: pure tables ---------------------------------------------------------------------------------

def test_errno_names_both_ways_with_kernel_internal_codes() -> None:
    assert [names.errno_name(e) for e in (2, -2, 11, 95, 35, 512, 524, 9999)] == [
        "ENOENT", "ENOENT", "EAGAIN", "EOPNOTSUPP", "EDEADLK", "ERESTARTSYS", "ENOTSUPP", "9999"]
    for code, name in errno.errorcode.items():
        assert names.errno_nr(name) == code
        assert names.errno_nr(names.errno_name(code)) == code
    assert names.errno_nr("EWOULDBLOCK") == errno.EAGAIN and names.errno_nr("ERESTARTSYS") == 512
    with pytest.raises(BPFNameError):
        names.errno_nr("ENOSUCH")


def test_signal_names_match_the_c_library() -> None:
    for s in signal.Signals:
        if s.value < 32:
            assert names.signal_name(s.value) == s.name
            assert names.signal_nr(s.name) == s.value
    r = subprocess.run(["bash", "-c", "kill -l"], capture_output=True, text=True, check=True)
    listed = dict(re.findall(r"(\d+)\) (SIG\S+)", r.stdout))
    for nr, name in listed.items():
        assert names.signal_name(int(nr)) == name
        assert names.signal_nr(name) == int(nr)
    assert names.signal_name(32) == "SIG32" and names.signal_nr("kill") == 9
    assert names.signal_nr("SIGIOT") == 6 and names.signal_name(65) == "65"
    with pytest.raises(BPFNameError):
        names.signal_nr("SIGNOPE")


def test_syscall_tables_agree_with_known_numbers_and_this_systems_headers() -> None:
    x86, arm = names.syscall_table("x86_64"), names.syscall_table("aarch64")
    assert [x86.nr(n) for n in ("read", "openat", "getpid", "bpf", "io_uring_setup", "file_setattr")] == [
        0, 257, 39, 321, 425, 469]
    assert [arm.nr(n) for n in ("io_setup", "openat", "getpid", "bpf", "clone3", "mseal")] == [
        0, 56, 172, 280, 435, 462]
    assert x86.name(9999) == "[unknown: 9999]" and "open" not in arm
    assert x86.nr("sys_enter_newfstat") == 5 and x86.nr("__x64_sys_openat") == 257
    assert "not this machine's architecture" in (arm if os.uname().machine == "x86_64" else x86).source
    with pytest.raises(BPFNameError, match="did you mean openat"):
        x86.nr("opnat")
    header = f"/usr/include/{os.uname().machine}-linux-gnu/asm/unistd_64.h"
    if os.path.exists(header):
        table = names.syscall_table()
        defined = re.findall(r"#define __NR_(\w+) (\d+)", Path(header).read_text())
        assert defined and all(table.nr(n) == int(v) for n, v in defined)


def test_kernel_dev_encoding() -> None:
    assert names.kernel_dev(8, 1) == 8 << 20 | 1 and names.major_minor(names.kernel_dev(259, 70000)) == (
        259, 70000)
    assert names.dev_from_stat(os.makedev(254, 3)) == names.kernel_dev(254, 3)


def test_cgroup_fs_paths_accept_both_forms(monkeypatch) -> None:
    monkeypatch.setattr(names, "_CGROUP2", ["/sys/fs/cgroup/unified"])
    assert names._cgroup_fs_path("/a/b") == "/sys/fs/cgroup/unified/a/b"
    assert names._cgroup_fs_path("/sys/fs/cgroup/unified/a") == "/sys/fs/cgroup/unified/a"
    assert names._cgroup_fs_path("/") == "/sys/fs/cgroup/unified/"


# -- trace_pipe: parsing and opening ----------------------------------------------------------------------

def test_trace_pipe_lines_parse() -> None:
    line = parse_line("           <...>-12345   [001] d..31  1234.567890: bpf_trace_printk: hi: 5 x")
    assert tuple(line) == ("<...>", 12345, 1, 1234.56789, "hi: 5 x")
    assert (line.flags, line.function) == ("d..31", PRINTK)
    odd = parse_line(" my-cmd 2-x-77 (   70) [000] .... 5.000001: bpf_trace_printk: a")
    assert (odd.task, odd.pid, odd.cpu, odd.message) == ("my-cmd 2-x", 77, 0, "a")
    bare = parse_line("  kworker/u4:2-90 [1]  17.5: sched_switch: prev_comm=a")  # irq-info off
    assert (bare.task, bare.pid, bare.flags, bare.function) == ("kworker/u4:2", 90, "", "sched_switch")
    lost = parse_line("CPU:1 [LOST 12 EVENTS]")
    assert lost.pid == -1 and lost.message == "CPU:1 [LOST 12 EVENTS]"
    assert parse_line("python3-9 [0] ..... 1.0: bpf_trace_printk: ")._asdict()["message"] == ""


def test_trace_pipe_is_looked_for_in_both_places_and_never_switched_on(tmp_path: Path) -> None:
    with pytest.raises(BPFKernelFeatureError, match="mount -t tracefs"):
        find_trace_pipe((str(tmp_path / "a"), str(tmp_path / "b")))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "trace_pipe").write_text("")
    assert find_trace_pipe((str(tmp_path / "a"), str(tmp_path / "b"))) == str(tmp_path / "b" / "trace_pipe")
    (tmp_path / "b" / "tracing_on").write_text("0\n")
    with pytest.raises(BPFError, match=r"tracing_on is 0.*bpfkit leaves it"):
        TracePipe(str(tmp_path / "b"))
    assert (tmp_path / "b" / "tracing_on").read_text() == "0\n"


def test_trace_pipe_reader_keeps_partial_lines_and_waits_without_spinning(tmp_path: Path) -> None:
    """On a FIFO standing in for trace_pipe: a line is only given once complete,
    and an empty pipe is waited on, not spun on."""
    os.mkfifo(tmp_path / "trace_pipe")
    with TracePipe(str(tmp_path)) as pipe:
        w = os.open(tmp_path / "trace_pipe", os.O_WRONLY | os.O_NONBLOCK)
        try:
            cpu, t = time.process_time(), time.monotonic()
            assert pipe.poll(0.3) == []
            assert time.monotonic() - t >= 0.25 and time.process_time() - cpu < 0.1
            os.write(w, b"  a-1 [000] ..... 2.5: bpf_trace_printk: one\n  a-1 [000] ..... 2.6: bpf_tr")
            assert [x.message for x in pipe.poll(1)] == ["one"]
            assert pipe.poll(0.05) == []
            os.write(w, b"ace_printk: two\n")
            got = pipe.poll(1)
            assert [(x.ts, x.function, x.message) for x in got] == [(2.6, PRINTK, "two")]
        finally:
            os.close(w)


def test_importing_the_package_stays_light() -> None:
    code = ("import sys, bpfkit.trace as t\n"
            "from bpfkit.trace import hist, ksyms, names, pipe, usyms\n"
            "t.errno_name(2); t.TracePipe; t.ProcessSymbols\n"
            "bad = ('re', 'enum', 'typing', 'dataclasses', 'pathlib', 'json', 'subprocess', 'shutil',"
            " 'argparse', 'threading', 'inspect', 'elftools', 'ctypes', 'signal')\n"
            "print(' '.join(m for m in bad if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == ""


# -- kernel symbols -------------------------------------------------------------------------------------

@kernel
def test_kernel_symbols_resolve_both_ways() -> None:
    from bpfkit.trace.ksyms import kernel_symbols, ksym

    ks = kernel_symbols()
    assert ks is kernel_symbols() and not ks.restricted
    raw = {}
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, kind, name = line.split()[:3]
            if kind in "tT":
                raw.setdefault(name, int(addr, 16))
    for name in ("schedule", "do_sys_openat2", "__x64_sys_getpid" if "__x64_sys_getpid" in raw
                 else "__arm64_sys_getpid", "bpf_prog_load" if "bpf_prog_load" in raw else "schedule"):
        addr = ks.address(name)
        assert addr == raw[name] and ks.module(name) == ""
        sym = ks.lookup(addr + 1)
        assert (sym.name, sym.offset) == (name, 1) and tuple(sym) == (name, 1)
        assert ksym(addr) == name and str(sym) == f"{name}+0x1"
    assert ks.lookup(1) is None
    with pytest.raises(BPFNameError):
        ks.address("bpfkit_no_such_symbol")


@kernel
def test_kernel_symbols_name_loaded_bpf_programs(bpf_obj) -> None:
    from bpfkit import BPFObject
    from bpfkit.trace.ksyms import KernelSymbols

    with BPFObject.open(bpf_obj("trace_helpers")) as obj:
        obj.load()
        ks = KernelSymbols()
        progs = [n for n in ks._names if n.endswith("_on_getppid") and n.startswith("bpf_prog_")]
        assert progs and ks.module(progs[0]) == "bpf" and "bpf" in ks.modules()
        assert ks.lookup(ks.address(progs[0]) + 4).name == progs[0]


@kernel
def test_kernel_symbols_without_privilege_say_why(tmp_path: Path) -> None:
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed")
    code = ("from bpfkit.trace.ksyms import kernel_symbols\nks = kernel_symbols()\n"
            "print(ks.restricted, 'schedule' in ks)\n"
            "try:\n    ks.address('schedule')\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    r = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups",
                        sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.splitlines()
    assert first == "True True"
    assert second.startswith("BPFPermissionError") and "kptr_restrict" in second and "root" in second


# -- user stacks ----------------------------------------------------------------------------------------

PROG = r"""
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) int bpfkit_leaf(int x) { return x * 3 + 1; }
__attribute__((noinline)) int bpfkit_middle(int x) { return bpfkit_leaf(x) + 2; }
static __attribute__((noinline)) int bpfkit_static(int x) { return bpfkit_middle(x) - 1; }
int main(void)
{
	char line[16];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while (fgets(line, sizeof(line), stdin))
		printf("%d\n", bpfkit_static(line[0]));
	return 0;
}
"""
FUNCS = ("bpfkit_leaf", "bpfkit_middle", "bpfkit_static", "main")


class Running:
    def __init__(self, exe: Path | str) -> None:
        self.proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "ready\n"
        self.pid = self.proc.pid

    def call(self) -> None:
        self.proc.stdin.write("a\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


def _nm(exe: Path) -> dict[str, int]:
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is needed")
    out = subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout
    return {p[2]: int(p[0], 16) for p in (line.split() for line in out.splitlines()) if len(p) == 3}


def _runtime_address(pid: int, exe: Path, vaddr: int, pie: bool) -> int:
    """Where a symbol of ``exe`` is in process ``pid``: the load base (the lowest
    mapping of the file, offset 0) plus its address for a PIE, the address itself otherwise."""
    from bpfkit.trace.usyms import read_maps

    base = min(m.start for m in read_maps(pid) if m.path.startswith(str(exe)) and m.offset == 0)
    return base + vaddr if pie else vaddr


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    pytest.importorskip("elftools", reason="pyelftools is bpfkit's ELF reader")
    d = tmp_path_factory.mktemp("usyms")
    out = {"pie": compile_c(d, "pie", PROG, "-O0", "-fno-omit-frame-pointer", "-fpie", "-pie"),
           "nopie": compile_c(d, "nopie", PROG, "-O0", "-fno-omit-frame-pointer", "-fno-pie", "-no-pie")}
    stripped = d / "stripped"
    shutil.copy(out["pie"], stripped)
    subprocess.run(["strip", str(stripped)], check=True)
    out["stripped"] = stripped
    return out


@kernel
@pytest.mark.parametrize("kind", ["pie", "nopie"])
def test_user_addresses_resolve_as_nm_names_them(programs, kind: str) -> None:
    from bpfkit.trace.usyms import ProcessSymbols, UserSymbols

    exe = programs[kind]
    syms = _nm(exe)
    with Running(exe) as p:
        ps = ProcessSymbols(p.pid)
        for name in FUNCS:
            addr = _runtime_address(p.pid, exe, syms[name], kind == "pie")
            for delta in (0, 3):
                frame = ps.resolve(addr + delta)
                assert (frame.name, frame.offset, frame.module) == (name, delta, str(exe)), frame
        assert UserSymbols().resolve(p.pid, addr).text() == f"main ({exe})"
        gone = ps.resolve(8)
        assert gone.name is None and str(gone) == "[unknown]" and gone.reason


@kernel
def test_deleted_stripped_and_vdso_frames(programs, tmp_path: Path) -> None:
    from bpfkit.trace.usyms import ProcessSymbols, read_maps

    syms = _nm(programs["pie"])
    copy = tmp_path / "deleted"
    shutil.copy(programs["pie"], copy)
    with Running(copy) as p:
        copy.unlink()  # still mapped: read through /proc/PID/map_files
        addr = _runtime_address(p.pid, copy, syms["bpfkit_middle"], True) + 2
        frame = ProcessSymbols(p.pid).resolve(addr)
        assert (frame.name, frame.offset, frame.module) == ("bpfkit_middle", 2, str(copy))
    with Running(programs["stripped"]) as p:  # no .symtab: main is in no table any more
        addr = _runtime_address(p.pid, programs["stripped"], syms["main"], True)
        frame = ProcessSymbols(p.pid).resolve(addr)
        assert frame.name is None and frame.module == str(programs["stripped"])
        assert frame.text() == f"[unknown] ({programs['stripped']}+{syms['main']:#x})"
        libc_frame = ProcessSymbols(p.pid).resolve(
            next(m.start for m in read_maps(p.pid) if "libc" in m.path and "x" in m.perms) + 0x100)
        assert libc_frame.module and "libc" in libc_frame.module
    vdso = [m for m in read_maps("self") if m.path == "[vdso]"]
    if vdso:  # read from our own memory: its functions are named, clock_gettime among them
        ps = ProcessSymbols(os.getpid())
        frames = [ps.resolve(a) for a in range(vdso[0].start, vdso[0].end, 4)]
        named = {f.name for f in frames if f.name}
        assert any("clock_gettime" in n for n in named), named
        assert {f.module for f in frames} == {"[vdso]"}


@kernel
def test_jit_code_is_named_by_the_perf_map() -> None:
    import mmap

    from bpfkit.trace.usyms import ProcessSymbols

    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    with open("/proc/self/maps") as f:
        start = next(int(line.split("-")[0], 16) for line in f if "rwxp" in line and len(line.split()) == 5)
    perf_map = Path(f"/tmp/perf-{os.getpid()}.map")
    try:
        ps = ProcessSymbols(os.getpid())
        assert ps.resolve(start + 0x20).name is None  # no map yet
        perf_map.write_text(f"{start:x} 40 jitted_fn\n{start + 0x40:x} 40 LazyCompile:*other js:1\n")
        frame = ps.resolve(start + 0x50)
        assert (frame.name, frame.offset, frame.module) == ("LazyCompile:*other js:1", 0x10, "[perf map]")
        assert ps.resolve(start + 0x20).name == "jitted_fn"
    finally:
        perf_map.unlink(missing_ok=True)
        code.close()


@kernel
def test_a_bpf_user_stack_symbolises(programs, bpf_obj) -> None:
    from bpfkit import BPFObject
    from bpfkit.trace.usyms import ProcessSymbols

    with BPFObject.open(bpf_obj("trace_helpers")) as obj, Running(programs["pie"]) as p:
        for prog in obj.progs:
            prog.autoload = prog.name == "on_leaf"
        obj.load()
        obj.bss.target_tgid = p.pid
        obj.progs.on_leaf.attach_uprobe(str(programs["pie"]), "bpfkit_leaf", pid=p.pid)
        p.call()
        assert obj.data.ustack_bytes > 0
        stack = list(obj.bss.ustack)[:obj.data.ustack_bytes // 8]
        frames = ProcessSymbols(p.pid).stack(stack)
    names_ = [f.name for f in frames]
    # at a function's first instruction its caller's frame is not linked yet:
    # kernels without the callchain fix-up for uprobes at entry (6.x) skip bpfkit_middle
    assert names_[:4] == list(FUNCS) or names_[:3] == ["bpfkit_leaf", "bpfkit_static", "main"], frames
    assert frames[0].offset == 0 and all(f.offset > 0 for f in frames[1:3])
    assert all(f.module == str(programs["pie"]) for f in frames if f.name in FUNCS)


# -- names against the system -----------------------------------------------------------------------------

@kernel
def test_block_device_names_round_trip() -> None:
    devs = names.block_devices()
    assert devs, "no block device in /sys/class/block"
    for d in devs:
        assert names.disk_name(d.dev) == d.name and names.disk_dev(d.name) == d.dev
        if os.path.exists(f"/dev/{d.name}"):
            assert names.disk_dev(f"/dev/{d.name}") == d.dev
            assert names.dev_from_stat(os.stat(f"/dev/{d.name}").st_rdev) == d.dev
        if d.partition:
            assert d.disk != d.name and names.disk_dev(d.disk)
    assert sorted(os.listdir("/sys/block")) == sorted(d.name for d in devs if not d.partition)
    assert names.disk_name(names.kernel_dev(4095, 1048575)) is None
    with pytest.raises(BPFNameError, match="this system has"):
        names.disk_dev("bpfkit-nodisk")
    with pytest.raises(BPFError, match="not a block device"):
        names.disk_dev("/dev/null")


@kernel
def test_every_syscall_this_kernel_traces_has_a_number() -> None:
    table = names.SyscallTable()
    assert table.on_kernel and not table.unnumbered, table.source
    assert "all" in table.source and "tracefs" in table.source


def _cgroup_child(path: str, ready_w: int, go_r: int) -> None:
    """Forked: join the cgroup, say so, wait for go, make the syscalls the program watches."""
    try:
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        os.write(ready_w, b"x")
        os.read(go_r, 1)
        os.getppid()
        os.close(os.open("/dev/null", os.O_RDONLY))
        os._exit(0)
    except BaseException:
        os._exit(1)


@kernel
def test_syscall_numbers_cgroup_id_and_printk_as_the_kernel_reports_them(bpf_obj) -> None:
    from bpfkit import BPFObject

    root = names.cgroup2_root()
    rel = f"/bpfkit-trace-{uuid.uuid4().hex[:8]}"
    full = root + rel
    os.mkdir(full)
    tracing = Path(find_trace_pipe()).parent
    state = {f: (tracing / f).read_text() for f in ("tracing_on", "current_tracer", "trace_options")}
    token = random.getrandbits(48)
    try:
        with BPFObject.open(bpf_obj("trace_helpers")) as obj, TracePipe(only=PRINTK) as pipe:
            for prog in obj.progs:
                prog.autoload = prog.name in ("on_getppid", "on_openat")
            obj.load()
            obj.bss.token = token
            obj.attach()
            ready_r, ready_w = os.pipe()
            go_r, go_w = os.pipe()
            pid = os.fork()
            if pid == 0:
                _cgroup_child(full, ready_w, go_r)
            os.read(ready_r, 1)
            assert names.cgroup_of(pid) == rel
            obj.bss.target_tgid = pid
            os.write(go_w, b"x")
            assert os.waitpid(pid, 0)[1] == 0
            line = next((x for x in pipe.lines(timeout=5) if f"bpfkit-trace {token} " in x.message), None)
            assert line is not None, "bpf_printk's line did not come through trace_pipe"
            assert (line.pid, line.function, line.cpu >= 0, line.ts > 0) == (pid, PRINTK, True, True)
            assert line.message == f"bpfkit-trace {token} nr={names.syscall_nr('getppid')}"
            assert obj.data.nr_getppid == names.syscall_nr("getppid")
            assert obj.data.nr_openat == names.syscall_nr("openat")
            cgid = obj.bss.cgroup_id
        assert names.cgroup_path(cgid) == rel  # found by walking cgroupfs: nothing named it yet
        assert cgid == names.cgroup_id(rel) == names.cgroup_id(full) == os.stat(full).st_ino
        assert names.cgroup_path(cgid, absolute=True) == full
        fd = names.cgroup_fd(rel)
        try:
            assert os.fstat(fd).st_ino == cgid
        finally:
            os.close(fd)
        assert names.cgroup_path(names.cgroup_id(names.cgroup_of())) == names.cgroup_of()
    finally:
        os.rmdir(full)
    assert names.cgroup_path(cgid) is None
    with pytest.raises(BPFError, match="no cgroup"):
        names.cgroup_id(rel)
    assert {f: (tracing / f).read_text() for f in state} == state  # tracing left as it was


@kernel
def test_trace_pipe_reads_a_second_tracefs_mount_and_times_out(tmp_path: Path) -> None:
    """tracefs mounted elsewhere (as /sys/kernel/debug/tracing is) works the same;
    poll() with nothing to read returns empty after its timeout."""
    mnt = tmp_path / "tracing"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tracefs", "nodev", str(mnt)], check=True)
    try:
        with TracePipe(str(mnt), only="bpfkit-no-such-event") as pipe:
            assert pipe.path == str(mnt / "trace_pipe")
            t = time.monotonic()
            assert pipe.poll(0.3) == []
            assert 0.25 <= time.monotonic() - t < 2
            assert list(pipe.lines(timeout=0.2)) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_unprivileged_trace_pipe_is_a_permission_error() -> None:
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        pytest.skip("setpriv is needed")
    code = ("from bpfkit.trace.pipe import TracePipe\n"
            "try:\n    TracePipe()\nexcept Exception as e:\n    print(type(e).__name__, e)\n")
    cmd = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        cmd = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--inh-caps=-all", *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd="/",
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.stdout.startswith(BPFPermissionError.__name__) and "root" in r.stdout, r.stdout + r.stderr
