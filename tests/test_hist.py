"""`bpfkit hist` and `bpfkit count` on the real kernel: spans of known length
and number (syscalls, skbs across a veth pair, work items, run-queue waits
checked against the kernel's own schedstat, block I/O on a loop device),
no increment lost by dump-and-reset, and the printer against bpftrace's."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from conftest import BPFKIT, ROOT, kernel_has, needs

pytestmark = pytest.mark.kernel

WORKLOAD = [sys.executable, str(ROOT / "tests" / "helpers" / "hist_workload.py")]
BANNERS = ("Tracing latencies. Ctrl+C to end and print.", "Counting. Ctrl+C to end and print.")


class Tracer:
    """A hist/count run, started and ready (its banner is printed once attached)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*BPFKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.verbose: list[str] = []  # --verbose: the hooks chosen, said before the banner
        banner = self.proc.stderr.readline()
        while "--verbose" in args and banner.startswith("hist: "):
            self.verbose.append(banner.strip())
            banner = self.proc.stderr.readline()
        if banner.strip() not in BANNERS:
            self.proc.kill()
            raise AssertionError(banner + self.proc.stderr.read())

    def stop(self) -> tuple[str, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err
        return out, err

    def records(self) -> list[dict]:
        out, _ = self.stop()
        return [json.loads(line) for line in out.splitlines()]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


class Workload:
    """tests/helpers/hist_workload.py: ready -> go -> done -> blocked until closed."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([*WORKLOAD, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        word, pid = self.proc.stdout.readline().split()
        assert word == "ready"
        self.pid = int(pid)

    def run(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "done"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(10)

    def wait_blocked(self) -> None:
        """Until the workload sleeps (reading stdin): its counters are still."""
        for _ in range(200):
            with open(f"/proc/{self.pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "S":
                    return
            time.sleep(0.01)
        raise AssertionError("workload never blocked")


def hists(records: list[dict]) -> list[dict]:
    return [r for r in records if r["event"] == "hist"]


def unmatched(records: list[dict], span: str) -> dict:
    return [r for r in records if r["event"] == "unmatched" and r["span"] == span][-1]


# -- syscall spans --------------------------------------------------------------------------
@pytest.mark.lane
def test_ten_ms_nanosleeps_land_in_the_8_to_16_ms_bucket() -> None:
    w = Workload("nanosleep", "20", "10")
    t = Tracer("hist", "syscall", "--syscall", "nanosleep", "--pid", str(w.pid), "--by", "syscall",
               "--unit", "ms", "--json")
    try:
        w.run()
        recs = t.records()
    finally:
        t.kill()
        w.close()
    (h,) = hists(recs)
    assert h["syscall"] == "nanosleep" and h["unit"] == "ms"
    assert h["count"] == 20
    assert h["buckets"] == [{"low": 8, "high": 16, "count": 20}]
    assert 20 * 10_000_000 <= h["sum_ns"] < 20 * 16_000_000
    assert 8 <= h["p50"] < 16 and 8 <= h["p99"] < 16
    um = unmatched(recs, "syscall")
    assert um["matched"] == 20 and um["starts_without_end"] == 0 and um["ends_without_start"] == 0


def test_text_output_is_bpftraces_layout_with_counts_and_unmatched() -> None:
    w = Workload("nanosleep", "5", "5")
    t = Tracer("hist", "syscall", "--syscall", "nanosleep", "--pid", str(w.pid), "--by", "comm")
    try:
        w.run()
        out, _ = t.stop()
    finally:
        t.kill()
        w.close()
    lines = out.splitlines()
    assert re.fullmatch(r"\d\d:\d\d:\d\d", lines[0])
    assert re.fullmatch(r"@usecs\[python[0-9.]*\]: ", lines[1]), lines
    # bucket lines: label left in 16, count right in 8, ' |', bar in 52, '|'
    buckets = []
    for line in lines[2:]:
        if not line.startswith("["):
            break
        m = re.fullmatch(r"(\[[^ ]*(?: [^ ]*)?) +(\d+) \|(@*) *\|", line)
        assert m and len(line) == 79 and line.index(m.group(2)) + len(m.group(2)) == 24, line
        buckets.append((m.group(1), int(m.group(2)), len(m.group(3))))
    # 5 ms sleeps: [4K, 8K) us (on a loaded machine one may land later)
    assert buckets[0][0] == "[4K, 8K)" and sum(c for _, c, _ in buckets) == 5
    top = max(c for _, c, _ in buckets)
    assert all(bar == int(c / top * 52) for _, c, bar in buckets)
    rest = lines[2 + len(buckets):]
    assert rest[0].startswith("count 5, sum ") and "p50 ~" in rest[0] and "p99 ~" in rest[0]
    assert rest[1] == ""
    assert rest[2].startswith("unmatched since start: 0 ends without a start, 0 starts without an end")


# -- count: dump-and-reset loses nothing ----------------------------------------------------------
def test_count_reports_every_increment_across_many_intervals() -> None:
    chunks, per = 150, 10_000  # busy nearly all the time: every dump races with increments
    w = Workload("getppid", str(chunks), str(per), "2")
    t = Tracer("count", "syscalls", "--syscall", "getppid", "--pid", str(w.pid), "--by", "syscall",
               "--interval", "0.1", "--json")
    try:
        w.run()
        w.wait_blocked()
        time.sleep(0.15)
        recs = t.records()
    finally:
        t.kill()
        w.close()
    counts = [r for r in recs if r["event"] == "count"]
    assert all(r["syscall"] == "getppid" for r in counts)
    assert sum(r["count"] for r in counts) == chunks * per
    assert len(counts) >= 6  # the work really spanned many dump-and-reset intervals


def test_count_errors_only_counts_failed_calls() -> None:
    t = Tracer("count", "syscalls", "--errors", "--syscall", "close", "--pid", str(os.getpid()), "--json")
    try:
        for _ in range(7):
            with pytest.raises(OSError):
                os.close(987654)
        os.close(os.open("/dev/null", os.O_RDONLY))  # succeeds: not counted
        recs = t.records()
    finally:
        t.kill()
    (c,) = [r for r in recs if r["event"] == "count"]
    assert (c["syscall"], c["count"]) == ("close", 7)


def test_count_a_tracepoint_by_a_string_field() -> None:
    name = f"hx{uuid.uuid4().hex[:6]}"
    t = Tracer("count", "tp:workqueue:workqueue_queue_work", "--by", "workqueue", "--json")
    try:
        for _ in range(3):
            with open("/proc/sys/vm/stat_refresh", "w") as f:
                f.write("1")
        recs = t.records()
    finally:
        t.kill()
    by_wq = {r["workqueue"]: r["count"] for r in recs if r["event"] == "count"}
    assert by_wq.get("events", 0) >= 3 * os.cpu_count(), by_wq  # schedule_on_each_cpu: system_wq
    assert name not in by_wq


# -- generic spans: work items and skbs -------------------------------------------------------------
def _ksym(name: str) -> int:
    with open("/proc/kallsyms") as f:
        for line in f:
            addr, _, sym = line.split()[:3]
            if sym == name:
                return int(addr, 16)
    pytest.skip(f"no {name} in /proc/kallsyms")


def test_work_span_counts_every_stat_refresh_work_item() -> None:
    fn = _ksym("refresh_vm_stats")
    writes = 5
    t = Tracer("hist", "tp:workqueue:workqueue_queue_work -> tp:workqueue:workqueue_execute_start",
               "--key", "work", "--where", f"function={fn:#x}", "--json")
    try:
        for _ in range(writes):
            with open("/proc/sys/vm/stat_refresh", "w") as f:
                f.write("1")  # schedule_on_each_cpu(refresh_vm_stats), waits for them
        recs = t.records()
    finally:
        t.kill()
    (h,) = hists(recs)
    assert h["count"] == writes * os.cpu_count()
    um = unmatched(recs, "span")
    assert um["starts"] == um["matched"] == writes * os.cpu_count() and um["starts_without_end"] == 0


class VethPair:
    """A veth pair whose far end lives in a network namespace held by a
    process (no `ip netns` bind mount), IPv6 off so no stray packets."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.near, self.far = f"hn{tag}", f"hf{tag}"
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "120"])
        self.ns = ["nsenter", "-t", str(self.holder.pid), "-n"]
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        for _ in range(100):
            if os.readlink(f"/proc/{self.holder.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        sh = self._sh
        sh("ip", "link", "add", self.near, "type", "veth", "peer", "name", self.far)
        sh("ip", "link", "set", self.far, "netns", str(self.holder.pid))
        sh("sysctl", "-qw", f"net.ipv6.conf.{self.near}.disable_ipv6=1")
        sh(*self.ns, "sysctl", "-qw", f"net.ipv6.conf.{self.far}.disable_ipv6=1")
        sh("ip", "addr", "add", "10.213.7.1/30", "dev", self.near)
        sh(*self.ns, "ip", "addr", "add", "10.213.7.2/30", "dev", self.far)
        sh("ip", "link", "set", self.near, "up")
        sh(*self.ns, "ip", "link", "set", self.far, "up")
        sh(*self.ns, "ip", "link", "set", "lo", "up")
        link = subprocess.run([*self.ns, "ip", "-o", "link", "show", "dev", self.far], check=True,
                              capture_output=True, text=True).stdout
        far_mac = link.split("link/ether", 1)[1].split()[0]
        with open(f"/sys/class/net/{self.near}/address") as f:
            near_mac = f.read().strip()
        # static neighbours: no ARP packets besides the test's own
        sh("ip", "neigh", "replace", "10.213.7.2", "lladdr", far_mac, "dev", self.near, "nud", "permanent")
        sh(*self.ns, "ip", "neigh", "replace", "10.213.7.1", "lladdr", near_mac, "dev", self.far, "nud",
           "permanent")

    @staticmethod
    def _sh(*cmd: str) -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.near], capture_output=True)
        self.holder.kill()
        self.holder.wait()


def test_skb_span_across_a_veth_pair_matches_every_packet() -> None:
    import socket

    pair = VethPair()
    t = None
    try:
        t = Tracer("hist", "tp:net:net_dev_queue -> tp:net:netif_receive_skb", "--key", "skb",
                   "--where", f"name={pair.near}", "--json")
        n = 50
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(n):
                s.sendto(b"x" * 64, ("10.213.7.2", 9))  # the far end's ICMP replies are not ours
        time.sleep(0.2)
        recs = t.records()
    finally:
        if t:
            t.kill()
        pair.close()
    (h,) = hists(recs)
    assert h["count"] == n
    um = unmatched(recs, "span")
    assert um["starts"] == um["matched"] == n and um["starts_without_end"] == 0 and um["open"] == 0


# -- runqlat, against the kernel's own count of switch-ins ------------------------------------------
def _pcount(pid: int) -> int:
    """Times the task was switched in (sched_info.pcount): /proc/PID/schedstat, third field."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[2])


def test_runqlat_counts_every_switch_in_of_a_task() -> None:
    if not os.path.exists("/proc/self/schedstat"):
        pytest.skip("no CONFIG_SCHED_INFO")
    w = Workload("nanosleep", "50", "1")
    t = Tracer("hist", "runqlat", "--pid", str(w.pid), "--by", "pid", "--json")
    try:
        w.wait_blocked()
        before = _pcount(w.pid)
        w.run()
        w.wait_blocked()
        after = _pcount(w.pid)
        recs = t.records()
    finally:
        t.kill()
        w.close()
    (h,) = hists(recs)
    assert h["pid"] == w.pid
    assert after - before >= 40  # the wake-up from stdin, then about one per sleep
    um = unmatched(recs, "runqlat")
    assert h["count"] == after - before, um
    # woken while still running (no switch-in follows): restarted, never lost
    assert um["starts_without_end"] == um["restarts"], um


# -- biolatency on a loop device ---------------------------------------------------------------
def test_biolatency_counts_each_direct_read_of_a_loop_device(tmp_path) -> None:
    if not shutil.which("losetup"):
        pytest.skip("no losetup")
    img = tmp_path / "disk.img"
    with open(img, "wb") as f:
        f.truncate(4 << 20)
    loop = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True)
    if loop.returncode:
        pytest.skip(f"cannot attach a loop device: {loop.stderr.strip()}")
    dev = loop.stdout.strip()
    name = os.path.basename(dev)
    t = None
    try:
        t = Tracer("hist", "biolatency", "--by", "disk", "--json")
        reads = 64
        # a private mount namespace: nothing this test does can touch the host's mounts
        subprocess.run(["unshare", "--mount", "--propagation", "private", "dd", f"if={dev}", "of=/dev/null",
                        "bs=4k", f"count={reads}", "iflag=direct"], check=True, capture_output=True)
        recs = t.records()
    finally:
        if t:
            t.kill()
        subprocess.run(["losetup", "-d", dev], capture_output=True)
    ours = [h for h in hists(recs) if h["disk"] == name]
    assert len(ours) == 1, hists(recs)
    assert ours[0]["count"] == reads
    assert unmatched(recs, "biolatency")["starts_without_end"] == 0


# -- tcpconnlat ---------------------------------------------------------------------------------
def test_tcpconnlat_times_connects_and_cancels_refused_ones() -> None:
    import socket

    t = Tracer("hist", "tcpconnlat", "--pid", str(os.getpid()), "--by", "port", "--json")
    try:
        with socket.socket() as srv:
            srv.bind(("127.0.0.1", 0))
            srv.listen(16)
            port = srv.getsockname()[1]
            for _ in range(4):
                socket.create_connection(("127.0.0.1", port)).close()
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", 1))
        recs = t.records()
    finally:
        t.kill()
    (h,) = hists(recs)
    assert (h["dport"], h["count"]) == (port, 4)
    um = unmatched(recs, "tcpconnlat")
    assert um["cancelled"] == 1 and um["starts_without_end"] == 0


# -- the printer against bpftrace ---------------------------------------------------------------------
VALUES = [0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1500, 1500, 2047, 2048,
          70_000, 1_000_000, 1_048_576, 5_000_000, 300_000_000, 2_000_000_000]
LVALUES = [0, 3, 9, 10, 19, 45, 45, 45, 99, 100, 630, 639, 640, 5000]


def _bpftrace(script: str) -> dict[str, list[str]]:
    bt = shutil.which("bpftrace")
    if not bt:
        pytest.skip("bpftrace is not installed")
    r = subprocess.run([bt, "-e", script], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    blocks: dict[str, list[str]] = {}
    cur = None
    for line in r.stdout.splitlines():
        if line.startswith("@"):
            cur = line
            blocks[cur] = []
        elif line and cur:
            blocks[cur].append(line)
    return blocks


def test_printer_matches_bpftrace_text_for_the_same_buckets() -> None:
    from bpfkit.tools.hist import printer

    adds = " ".join(f"@h = hist({v});" for v in VALUES)
    ladds = " ".join(f"@l = lhist({v}, 0, 640, 10);" for v in LVALUES)
    keyed = " ".join(f'@k["bash"] = hist({v});' for v in (3, 3, 900))
    blocks = _bpftrace(f"BEGIN {{ {adds} {ladds} {keyed} exit(); }}")
    slots = [0] * printer.SLOTS
    for v in VALUES:
        slots[printer.log2_slot(v)] += 1
    lslots = [0] * printer.SLOTS
    for v in LVALUES:
        lslots[printer.linear_slot(v, 10)] += 1
    kslots = [0] * printer.SLOTS
    for v in (3, 3, 900):
        kslots[printer.log2_slot(v)] += 1
    for head, ours in (("@h", printer.block("@h", slots)), ("@l", printer.block("@l", lslots, 10)),
                       ("@k[bash]", printer.block("@k[bash]", kslots))):
        theirs = "\n".join([f"{head}: ", *blocks[f"{head}: "]]) + "\n"
        assert ours == theirs


# -- wireguard (userspace wireguard-go: the outer-packet parts) --------------------------------------
@pytest.mark.skipif(not (shutil.which("wireguard-go") and shutil.which("wg")),
                    reason="wireguard-go and wireguard-tools are not installed")
@pytest.mark.skipif(not os.path.exists("/dev/net/tun"), reason="no /dev/net/tun (a VM's minimal /dev)")
@pytest.mark.lane
def test_wireguard_go_handshake_round_trip_and_peer_accounting(tmp_path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "helpers"))
    from wg_setup import WgPair

    pair = WgPair(tmp_path)
    t = None
    try:
        t = Tracer("hist", "wireguard", "--port", str(pair.port_a), "--port", str(pair.port_b), "--json")
        pair.send(3)
        time.sleep(0.3)
        recs = t.records()
    finally:
        if t:
            t.kill()
        pair.close()
    rtt = [h for h in hists(recs) if h["span"] == "handshake_rtt"]
    resp = [h for h in hists(recs) if h["span"] == "handshake_resp"]
    assert sum(h["count"] for h in rtt) >= 1 and sum(h["count"] for h in resp) >= 1
    um = unmatched(recs, "handshake_rtt")
    assert um["matched"] >= 1 and um["starts_without_end"] == 0
    peers = [r for r in recs if r["event"] == "count" and r["kind"] in ("peer_tx", "peer_rx")]
    msgs = {(r["kind"], r["message"]) for r in peers}
    assert {("peer_tx", "initiation"), ("peer_rx", "response"), ("peer_tx", "data"),
            ("peer_rx", "data")} <= msgs, msgs
    data_tx = sum(r["packets"] for r in peers if r["kind"] == "peer_tx" and r["message"] == "data")
    assert data_tx >= 3  # each datagram leaves as (at least) one data message


def _kernel_wireguard() -> bool:
    sys.path.insert(0, str(ROOT / "tests" / "helpers"))
    from wg_setup import kernel_wireguard

    return bool(shutil.which("wg")) and kernel_wireguard()


@needs("wireguard")
def test_kernel_wireguard_packet_crypto_and_handshake_spans(tmp_path) -> None:
    """The in-kernel parts: needs a kernel with WireGuard (the multi-kernel VM
    lane boots Debian's stock kernel); skipped on this project's kernel."""
    if not _kernel_wireguard():
        pytest.skip("this kernel has no WireGuard (the VM lane runs this)")
    from wg_setup import KernelWgPair

    pair = KernelWgPair(tmp_path)
    t = None
    try:
        t = Tracer("hist", "wireguard", "--iface", pair.wg, "--json", "--verbose")
        best = "wg_xmit_fentry (fentry)" if kernel_has("fentry") else "wg_xmit_kprobe (kprobe)"
        assert f"hist: wg_tx: {best}" in t.verbose, t.verbose  # the module's functions, by BTF
        pair.send(10)
        time.sleep(0.5)
        recs = t.records()
    finally:
        if t:
            t.kill()
        pair.close()
    spans = {h["span"]: h for h in hists(recs)}
    for span in ("tx", "rx", "crypt_queue", "crypt_run", "handshake_rtt"):
        assert span in spans, (span, sorted(spans))
    assert spans["tx"]["iface"] == pair.wg and spans["rx"]["iface"] == pair.wg
    assert {h["function"] for h in hists(recs) if h["span"] == "crypt_run"} & {
        "wg_packet_encrypt_worker", "wg_packet_decrypt_worker", "wg_packet_tx_worker"}
    tx = unmatched(recs, "tx")
    assert tx["matched"] >= 10 and tx["starts_without_end"] <= tx["starts"] // 2, tx


# -- usage ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "message"), [
    (["hist", "nosuch"], "is neither a preset"),
    (["hist", "syscall", "--by", "disk"], "syscall histograms are by"),
    (["hist", "syscall", "--syscall", "no_such_call"], "no such syscall on this kernel"),
    (["hist", "tp:sched:sched_switch -> tp:sched:nosuch"], "this kernel has no tracepoint sched:nosuch"),
    (["hist", "tp:sched:sched_switch -> tp:sched:sched_wakeup", "--key", "skb"],
     "has no skbaddr or skb field"),
    (["hist", "tp:sched:sched_switch -> tp:sched:sched_wakeup", "--where", "bogus=1"], "not a field"),
    (["count", "tp:sched:sched_switch", "--errors"], "--errors and --syscall are for 'syscalls'"),
    (["hist", "runqlat", "--iface", "wg0"], "for the wireguard preset"),
])
def test_bad_options_exit_2_with_one_line(args: list[str], message: str) -> None:
    r = subprocess.run([*BPFKIT, *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
