"""The libbpf-tools-style ports in examples/ports/ run as documented and give the
right numbers; plus the kinds and corner cases they do not cover (socket
filters, set_type, load errors, linking, --keep-type, ENOSPC test runs, ksyscall).

Real kernel, root. Network tests run in two anonymous network namespaces joined
by a veth pair (gone with this process); the cgroup test makes its own cgroup
v2 and removes it. The ports run as subprocesses, exactly as a user runs them.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from bpfkit import BPFError, BPFKernelFeatureError, BPFLoadError, BPFObject, ProgType
from bpfkit.core.build import build
from bpfkit.core.kernel import features, libbpf
from bpfkit.core.kernel.uapi import AttachType
from bpfkit.trace.names import cgroup2_root

sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
from netns import NetNS

pytestmark = pytest.mark.kernel
PORTS = ROOT / "examples" / "ports"
HELPERS = Path(__file__).resolve().parent / "helpers"
TEST_BPF = Path(__file__).resolve().parent / "bpf" / "ports"
KEEP_TYPES = {"execsnoop": ["struct event"], "usdt": ["struct event"]}  # as the ports build themselves
HOST_IP, PEER_IP = "10.200.0.1", "10.200.0.2"


# -- set-up ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def port_objects() -> None:
    """Every port's object, built with the options the port uses (its own build() is then a no-op)."""
    for src in sorted(PORTS.glob("*.bpf.c")):
        build(src, keep_types=KEEP_TYPES.get(src.name.removesuffix(".bpf.c")))


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, Path]:
    """The C test programs, built with gcc -g (user stacks walk frame pointers)."""
    out = tmp_path_factory.mktemp("ports-bin")
    built = {}
    for name, src in (("workload", "ports_workload.c"), ("usdt", "ports_usdt.c")):
        exe = out / name
        r = subprocess.run(["gcc", "-g", "-O1", "-fno-omit-frame-pointer", "-pthread", "-o", str(exe),
                            str(HELPERS / src)], capture_output=True, text=True)
        if r.returncode:
            hint = " (install systemtap-sdt-dev for <sys/sdt.h>)" if "sdt.h" in r.stderr else ""
            raise AssertionError(f"gcc {src} failed{hint}:\n{r.stderr}")
        built[name] = exe
    return built


class Port:
    """One example port running as a subprocess; its stdout lines collected by a thread."""

    def __init__(self, name: str, *args: str, prefix: list[str] | None = None, ready: str = "ready") -> None:
        cmd = [*(prefix or []), sys.executable, str(PORTS / f"{name}.py"), *args]
        self.name = name
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._err: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._err_reader = threading.Thread(target=lambda: self._err.extend(self.proc.stderr), daemon=True)
        self._err_reader.start()
        self.wait_for(lambda line: line.startswith(ready), what=f"{ready!r}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, match, what: str = "a line", timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                line = ""
            if line is None or time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name}: no {what} (exit {self.proc.returncode}):\n"
                                     f"{self.stderr()}")
            self.lines.append(line)
            if match(line):
                return line

    def stop(self) -> list[str]:
        """SIGINT, as Ctrl+C: the port prints its totals and exits 0. All its lines."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(5)
        while not self._q.empty():
            line = self._q.get_nowait()
            if line is not None:
                self.lines.append(line)
        assert self.proc.returncode == 0, f"{self.name} exited {self.proc.returncode}:\n{self.stderr()}"
        return self.lines

    def stderr(self) -> str:
        self._err_reader.join(5)
        return "".join(self._err)


# -- 1. execsnoop: argv as a NUL-separated char array, perf buffer, --keep-type ------------------------

def test_execsnoop_prints_every_argument(tmp_path) -> None:
    port = Port("execsnoop", "--seconds", "60", ready="PID")
    try:
        whole = subprocess.Popen(["/bin/true", "bpfkit-marker-1", "two words", "", "last"])
        whole.wait()
        many = subprocess.Popen(["/bin/true", "bpfkit-marker-2", *(f"arg{i:02d}" for i in range(20))])
        many.wait()
        port.wait_for(lambda line: line.startswith(f"{many.pid} "), what="the second exec")
    finally:
        lines = port.stop()
    by_pid = {int(line.split()[0]): line for line in lines if line[:1].isdigit()}
    # all four arguments, the empty one included: _raw() gives every byte of char args[384]
    assert by_pid[whole.pid].endswith("/bin/true bpfkit-marker-1 'two words' '' last"), by_pid[whole.pid]
    assert f" {os.getpid()} " in by_pid[whole.pid]  # ppid, read with BPF_CORE_READ
    # MAX_ARGS (12) fitted, and the event says there was more
    assert by_pid[many.pid].endswith("/bin/true bpfkit-marker-2 " + " ".join(f"arg{i:02d}" for i in range(10))
                                     + " ..."), by_pid[many.pid]
    assert lines[-1] == "lost 0"


def test_keep_type_puts_a_local_struct_in_btf(tmp_path) -> None:
    src = PORTS / "execsnoop.bpf.c"
    plain, _ = build(src, tmp_path / "plain.bpf.o")
    r = run_cli("build", str(src), "--keep-type", "struct event", "-o", str(tmp_path / "kept.bpf.o"))
    assert r.returncode == 0, r.stderr
    with BPFObject.open(plain) as obj:
        assert obj.types.struct("event") is None      # only ever a local variable
        obj.load()
        with pytest.raises(BPFError, match="struct event is not in the BTF"):
            obj.perf_buffer("events", "event")
    with BPFObject.open(tmp_path / "kept.bpf.o") as obj:
        obj.load()
        with obj.perf_buffer("events", "event") as events:
            assert events is not None
        assert obj.types.struct("event").size == 4 * 6 + 16 + 384


def test_run_decodes_events_of_a_named_struct() -> None:
    """`bpfkit run OBJ --event STRUCT` decodes a foreign object's perf buffer by type."""
    proc = subprocess.Popen([sys.executable, "-m", "bpfkit", "run", str(PORTS / "execsnoop.bpf.o"),
                             "--event", "event", "--duration", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    banner = proc.stderr.readline()
    assert "1 program(s) attached" in banner, banner
    child = subprocess.Popen(["/bin/true", "bpfkit-run-marker"])
    child.wait()
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    import json

    events = [json.loads(line) for line in out.splitlines()]
    mine = [e for e in events if e["pid"] == child.pid]
    assert mine and mine[0]["args_count"] == 2 and mine[0]["ppid"] == os.getpid()
    assert mine[0]["args_size"] == len("/bin/true\0bpfkit-run-marker\0")


# -- 2. profile: perf_event sampling, STACK_TRACE sized before load, symbolised stacks ----------------

def test_profile_samples_land_in_the_hot_function(programs) -> None:
    # spins until killed: however long the profiler takes to start (an emulated CPU)
    work = subprocess.Popen([str(programs["workload"]), "spin", "600"], stdout=subprocess.PIPE, text=True)
    try:
        assert work.stdout is not None and work.stdout.readline() == "ready\n"
        port = Port("profile", "-p", str(work.pid), "-F", "499", "--seconds", "1", "--folded",
                    ready="ready: sampling")
        port.proc.wait(timeout=120)                 # it stops by itself after --seconds
        lines = port.stop()
    finally:
        work.kill()
        work.wait()
    assert lines[-1].startswith("samples ")
    stacks = []
    for line in lines[1:-1]:
        frames, count = line.rsplit(" ", 1)
        comm, *frames = frames.split(";")
        stacks.append((comm, frames, int(count)))
    total = int(lines[-1].split()[1])
    assert total == sum(c for _, _, c in stacks) and total >= 100, lines
    spinner = [(f, c) for comm, f, c in stacks if comm == "spinner"]
    hot = sum(c for f, c in spinner if f[-1:] == ["hot_function"])
    assert hot >= 0.9 * sum(c for _, c in spinner), spinner
    # the user stack walked up to main (frame pointers), symbolised from the ELF file
    assert any(f[-2:] == ["main", "hot_function"] for f, _ in spinner), spinner
    # samples taken in the kernel, symbolised from /proc/kallsyms
    in_kernel = [f for comm, f, _ in stacks if comm == "syscaller" and any(x.endswith("_[k]") for x in f)]
    assert any("do_syscall_64_[k]" in f for f in in_kernel), in_kernel


def test_stack_map_value_size_is_set_before_load() -> None:
    with BPFObject.open(PORTS / "profile.bpf.o") as obj:
        assert obj.maps.stacks.value_size == 0          # as declared: user space decides
        obj.maps.stacks.value_size = 20 * 8
        obj.maps.stacks.max_entries = 128
        obj.load()
        assert (obj.maps.stacks.value_size, obj.maps.stacks.max_entries) == (160, 128)
        assert obj.maps.stacks.stack(-14) == []         # bpf_get_stackid's -EFAULT: no stack
    with BPFObject.open(PORTS / "profile.bpf.o") as obj, \
            pytest.raises(BPFLoadError, match="map 'stacks': failed to create"):
        obj.load()                                      # value_size 0


# -- 3. USDT ----------------------------------------------------------------------------------------

def test_usdt_probe_arguments(programs) -> None:
    target = subprocess.Popen([str(programs["usdt"]), "5"], stdin=subprocess.PIPE)
    try:
        port = Port("usdt", str(programs["usdt"]), "-p", str(target.pid), "--seconds", "60")
        assert target.stdin is not None
        target.stdin.write(b"go\n")
        target.stdin.close()
        assert target.wait(timeout=10) == 0
        port.wait_for(lambda line: "seq=5 " in line, what="the fifth firing")
        lines = port.stop()
    finally:
        target.kill()
        target.wait()
    fired = [line for line in lines if line.startswith("pid=")]
    assert fired == [f"pid={target.pid} seq={i} value={-1000000007 * i} msg=tick-{i}" for i in range(1, 6)]
    # a plain BPF_MAP_TYPE_RINGBUF keeps no drop count: unknown, not 0
    assert lines[-1] == "dropped None"


# -- 4, 5. XDP and tc on a veth ---------------------------------------------------------------------

def _ip(ns: NetNS, *args: str) -> None:
    r = subprocess.run([*ns.prefix(), "ip", *args], capture_output=True, text=True)
    assert r.returncode == 0, f"ip {' '.join(args)}: {r.stderr}"


def _no_ipv6() -> None:
    for conf in ("all", "default"):  # only the test's IPv4 packets (and ARP) cross the veth
        with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as f:
            f.write("1")


@pytest.fixture(scope="module")
def veth():
    """bpk0 (10.200.0.1) in namespace `host` and its peer bpk1 (10.200.0.2) in `peer`."""
    with NetNS() as host, NetNS() as peer:
        host.call(_no_ipv6)
        peer.call(_no_ipv6)
        _ip(host, "link", "add", "bpk0", "type", "veth", "peer", "name", "bpk1", "netns", peer.path)
        _ip(host, "addr", "add", f"{HOST_IP}/24", "dev", "bpk0")
        _ip(peer, "addr", "add", f"{PEER_IP}/24", "dev", "bpk1")
        _ip(host, "link", "set", "bpk0", "up")
        _ip(peer, "link", "set", "bpk1", "up")
        yield host, peer


def _checksum(data: bytes) -> int:
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF


PING_PAYLOAD = b"bpfkit-ping"
PING_BYTES = 14 + 20 + 8 + len(PING_PAYLOAD)   # as XDP and tc see it: from the Ethernet header


def _ping(ns: NetNS, dst: str, count: int) -> int:
    """ICMP echo requests from ``ns``, one at a time; the number answered."""

    def run() -> int:
        answered = 0
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
            s.settimeout(2)
            for seq in range(count):
                head = struct.pack("!BBHHH", 8, 0, 0, 0xB9F, seq) + PING_PAYLOAD
                s.sendto(head[:2] + struct.pack("!H", _checksum(head)) + head[4:], (dst, 0))
                try:
                    while True:
                        reply = s.recv(1500)
                        if reply[20] == 0 and struct.unpack("!HH", reply[24:28]) == (0xB9F, seq):
                            answered += 1
                            break
                except TimeoutError:
                    pass
        return answered

    return ns.call(run)


def _udp_send(ns: NetNS, dst: str, port: int, count: int, size: int = 100) -> None:
    def run() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(count):
                s.sendto(b"u" * size, (dst, port))

    ns.call(run)


def _udp_listener(ns: NetNS, port: int) -> socket.socket:
    def run() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        s.setblocking(False)
        return s

    return ns.call(run)


def _received(s: socket.socket) -> int:
    time.sleep(0.1)
    n = 0
    while True:
        try:
            s.recv(65536)
        except BlockingIOError:
            return n
        n += 1


def _counters(lines: list[str], prefix: str) -> dict[str, tuple[int, int]]:
    out = {}
    for line in lines:
        m = re.fullmatch(rf"{prefix} (\S+) packets=(\d+) bytes=(\d+)", line)
        if m:
            out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


def test_xdp_counts_by_protocol_and_drops_one_udp_port(veth) -> None:
    host, peer = veth
    with _udp_listener(host, 9000) as open_port, _udp_listener(host, 9001) as blocked:
        port = Port("xdp", "bpk0", "--drop-udp-port", "9001", "--seconds", "60", prefix=host.prefix())
        try:
            answered = _ping(peer, HOST_IP, 5)
            _udp_send(peer, HOST_IP, 9000, 10)
            _udp_send(peer, HOST_IP, 9001, 7)
            delivered = _received(open_port), _received(blocked)
        finally:
            lines = port.stop()
        _udp_send(peer, HOST_IP, 9001, 3)       # the port has exited: its XDP link is gone
        after = _received(blocked)
    assert answered == 5 and delivered == (10, 0) and after == 3
    got = _counters(lines, "received")
    assert got["icmp"] == (5, 5 * PING_BYTES)
    assert got["udp"] == (17, 17 * (42 + 100))
    assert got.get("not-ip", (0, 0))[0] <= 2     # ARP, if the peer had to ask
    assert lines[-1] == f"dropped udp:9001 packets=7 bytes={7 * 142}"
    assert '# xdp_count: SEC("xdp") says no target to attach to: use prog.attach_xdp(iface)' in lines


def test_tc_counts_both_directions(veth) -> None:
    host, peer = veth
    with _udp_listener(host, 9100) as at_host, _udp_listener(peer, 9100) as at_peer:
        port = Port("tc", "bpk0", "--seconds", "60", prefix=host.prefix())
        try:
            qdiscs = subprocess.run([*host.prefix(), "tc", "qdisc", "show", "dev", "bpk0"],
                                    capture_output=True, text=True).stdout
            answered = _ping(peer, HOST_IP, 4)
            _udp_send(host, PEER_IP, 9100, 6)
            _udp_send(peer, HOST_IP, 9100, 3)
            delivered = _received(at_peer), _received(at_host)
        finally:
            lines = port.stop()
    assert "clsact" in qdiscs and answered == 4 and delivered == (6, 3), lines
    assert _counters(lines, "ingress")["icmp"] == (4, 4 * PING_BYTES), lines   # echo requests
    assert _counters(lines, "egress")["icmp"] == (4, 4 * PING_BYTES)     # echo replies
    assert _counters(lines, "egress")["udp"] == (6, 6 * 142), lines
    assert _counters(lines, "ingress")["udp"] == (3, 3 * 142), lines
    qdiscs = subprocess.run([*host.prefix(), "tc", "qdisc", "show", "dev", "bpk0"],
                            capture_output=True, text=True).stdout
    assert "clsact" not in qdiscs          # the qdisc the port made went with its filters


def test_tcx_link_or_clsact_by_libbpf_version(veth) -> None:
    host, peer = veth
    obj_path, _ = build(TEST_BPF / "tcx.bpf.c")
    tcx = libbpf.has("bpf_program__attach_tcx")

    def run() -> tuple[str, str, int]:
        obj = BPFObject.open(obj_path)
        try:
            if not tcx:               # libbpf before 1.3 does not know the section: say what it is
                with pytest.raises(BPFLoadError, match="section name 'tcx/ingress'"):
                    obj.load()
                obj.close()
                obj = BPFObject.open(obj_path)
                obj.progs.count_in.set_type(ProgType.SCHED_CLS)
            obj.load()
            link = obj.progs.count_in.attach_tc("bpk0", "ingress")
            qdiscs = subprocess.run(["tc", "qdisc", "show", "dev", "bpk0"], capture_output=True,
                                    text=True).stdout
            before = obj.bss.packets
            assert _ping(peer, HOST_IP, 3) == 3
            return type(link).__name__, qdiscs, obj.bss.packets - before
        finally:
            obj.close()

    kind, qdiscs, counted = host.call(run)
    assert counted >= 3                       # the echo requests (and an ARP, maybe)
    if tcx:
        assert kind == "Link" and "clsact" not in qdiscs     # a tcx link: no qdisc
    else:
        assert kind == "Attachment" and "clsact" in qdiscs


# -- 6. cgroup_skb ----------------------------------------------------------------------------------

def test_cgroup_skb_counts_only_its_cgroup() -> None:
    cgroup = Path(cgroup2_root()) / f"bpfkit-ports-{os.getpid()}"
    cgroup.mkdir()
    try:
        port = Port("cgroup_skb", str(cgroup), "--seconds", "60", "--interval", "0.2")
        try:
            inside = ("import socket\n"
                      "r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(('127.0.0.1', 0))\n"
                      "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                      "for _ in range(20):\n"
                      "    s.sendto(b'x' * 1000, r.getsockname()); r.recv(2000)\n")

            def enter() -> None:  # in the child, before exec: move into the cgroup
                with open(cgroup / "cgroup.procs", "w") as f:
                    f.write("0")

            subprocess.run([sys.executable, "-c", inside], preexec_fn=enter, check=True)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:   # outside: not counted
                r.bind(("127.0.0.1", 0))
                for _ in range(5):
                    s.sendto(b"y" * 500, r.getsockname())
                    r.recv(1000)
        finally:
            lines = port.stop()
    finally:
        cgroup.rmdir()
    per_packet = 20 + 8 + 1000   # from the IP header
    assert lines[-1] == (f"total egress packets=20 bytes={20 * per_packet} "
                         f"ingress packets=20 bytes={20 * per_packet}")


# -- 7. task iterator -------------------------------------------------------------------------------

def test_task_iterator_lists_a_known_process(programs) -> None:
    # both threads live until killed: however long the iterator takes to start
    work = subprocess.Popen([str(programs["workload"]), "spin", "600"], stdout=subprocess.PIPE, text=True)
    try:
        assert work.stdout is not None and work.stdout.readline() == "ready\n"
        tids = {int(t) for t in os.listdir(f"/proc/{work.pid}/task")}
        everyone = subprocess.run([sys.executable, str(PORTS / "tasks.py")], capture_output=True, text=True)
        one = subprocess.run([sys.executable, str(PORTS / "tasks.py"), "-p", str(work.pid)],
                             capture_output=True, text=True)
    finally:
        work.kill()
        work.wait()
    assert everyone.returncode == 0 and one.returncode == 0, everyone.stderr + one.stderr
    rows = [line.split() for line in everyone.stdout.splitlines()[1:]]
    assert [work.pid, work.pid, os.getpid()] in [[int(x) for x in r[:3]] for r in rows if r[4] == "spinner"]
    assert len(rows) > 50
    mine = [line.split() for line in one.stdout.splitlines()]
    assert mine[0][:2] == ["TGID", "TID"]
    assert {int(r[1]) for r in mine[1:]} == tids and len(mine) == 1 + len(tids)
    assert {r[4] for r in mine[1:]} == {"spinner", "syscaller"}


# -- 8. histogram, printed as bpftrace prints it ----------------------------------------------------

def test_syscall_latency_histogram() -> None:
    """Every sleep once, each in the log2 slot of its own length: the kernel
    times clock_nanosleep from entry to exit, a part of what the sleeper
    itself times around the call, so each slot is the sleeper's own or the
    one below (whatever an emulated machine's timers do to the lengths)."""
    sleeper = subprocess.Popen([sys.executable, "-c",
                                "import sys, time\nsys.stdin.readline()\n"
                                "for s in [0.0012] * 30 + [0.005] * 20:\n"
                                "    t = time.monotonic_ns(); time.sleep(s)\n"
                                "    print((time.monotonic_ns() - t) // 1000)\n"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = Port("syslat", "-p", str(sleeper.pid), "--seconds", "60", "--syscall", "clock_nanosleep")
        out, _ = sleeper.communicate("go\n", timeout=60)
        assert sleeper.returncode == 0
        lines = port.stop()
    finally:
        sleeper.kill()
        sleeper.wait()
    start = lines.index("@usecs[clock_nanosleep]: ")
    slots = []
    for line in lines[start + 1:]:
        if not line:
            break
        m = re.fullmatch(r"\[(\d+)([KM]?), (\d+)([KM]?)\)\s+(\d+) \|[@ ]{52}\|", line)
        assert m, line
        low = int(m.group(1)) * {"": 1, "K": 1024, "M": 1 << 20}[m.group(2)]
        slots += [low] * int(m.group(5))
    own = sorted(1 << (int(us).bit_length() - 1) for us in out.split())
    assert len(slots) == len(own) == 50                                 # every sleep, once
    assert all(o // 2 <= k <= o for k, o in zip(sorted(slots), own, strict=True)), (slots, own)
    assert len(set(slots)) >= 2                                         # the two lengths apart


# -- 9. syscount: dump and reset per interval, nothing lost -----------------------------------------

def test_syscount_intervals_add_up_to_every_syscall(programs) -> None:
    bursts, per = 20, 10_000
    work = subprocess.Popen([str(programs["workload"]), "getppid", str(bursts), str(per), "20000"],
                            stdin=subprocess.PIPE)
    try:
        port = Port("syscount", "-p", str(work.pid), "-i", "0.05", "--seconds", "60")
        assert work.stdin is not None
        work.stdin.write(b"go\n")
        work.stdin.close()
        assert work.wait(timeout=30) == 0
        lines = port.stop()
    finally:
        work.kill()
        work.wait()
    per_interval = [int(line.split()[1]) for line in lines if line.split()[:1] == ["getppid"]]
    assert len(per_interval) >= 3, lines           # the counts were reset while it ran...
    assert sum(per_interval) == bursts * per       # ...and no increment was lost
    assert f"total getppid {bursts * per}" in lines


# -- kinds and corner cases -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def misc_obj() -> Path:
    return build(TEST_BPF / "misc.bpf.c")[0]


def test_socket_filter_on_a_socketpair(misc_obj) -> None:
    with BPFObject.open(misc_obj) as obj:
        obj.load()
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            link = obj.progs.drop_x.attach_socket(b)
            for msg in (b"Xdrop", b"keep", b"Xgone", b"also kept"):
                a.send(msg)
            b.setblocking(False)
            got = []
            while True:
                try:
                    got.append(b.recv(100))
                except BlockingIOError:
                    break
            assert got == [b"keep", b"also kept"]
            assert (obj.bss.seen, obj.bss.dropped) == (4, 2)
            link.destroy()
            a.send(b"Xafter")
            assert b.recv(100) == b"Xafter"           # detached


@pytest.fixture(scope="module")
def custom_obj() -> Path:
    return build(TEST_BPF / "custom.bpf.c")[0]


def test_set_type_for_a_section_libbpf_does_not_know(custom_obj) -> None:
    unknown = "missing BPF prog type, check ELF section name 'bpfkit_custom/filter'"
    with BPFObject.open(custom_obj) as obj, pytest.raises(BPFLoadError, match=unknown):
        obj.progs.custom_egress.autoload = False
        obj.load()
    with BPFObject.open(custom_obj) as obj:
        obj.progs.custom_egress.autoload = False
        obj.progs.custom_filter.set_type(ProgType.SOCKET_FILTER)
        obj.load()
        frame = b"\0" * 14           # a test run takes an Ethernet frame and gives the program its payload
        assert obj.progs.custom_filter.test_run(data=frame + b"abcdefgh").retval == 8
        assert obj.progs.custom_filter.test_run(data=frame + b"abcd").retval == 0
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        with a, b:
            obj.progs.custom_filter.attach_socket(b)
            a.send(b"tiny")
            a.send(b"long enough")
            assert b.recv(100) == b"long enough"


def test_set_expected_attach_type_picks_the_cgroup_direction(custom_obj) -> None:
    cgroup = Path(cgroup2_root()) / f"bpfkit-ports-egress-{os.getpid()}"
    cgroup.mkdir()
    try:
        with BPFObject.open(custom_obj) as obj:
            obj.progs.custom_filter.autoload = False
            obj.progs.custom_egress.set_type(ProgType.CGROUP_SKB)
            obj.progs.custom_egress.set_expected_attach_type(AttachType.CGROUP_INET_EGRESS)
            obj.load()
            obj.progs.custom_egress.attach_cgroup(str(cgroup))
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as r:   # outside the cgroup
                r.bind(("127.0.0.1", 0))
                send = f"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" \
                       f"for _ in range(7): s.sendto(b'x', {r.getsockname()!r})\n"
                subprocess.run([sys.executable, "-c", send], check=True,
                               preexec_fn=lambda: (cgroup / "cgroup.procs").write_text("0"))
                for _ in range(7):
                    r.recv(10)
            assert obj.bss.egress_packets == 7   # what the cgroup sent; its ingress is not counted
    finally:
        cgroup.rmdir()


def test_sockmap_stream_verdict(misc_obj) -> None:
    with BPFObject.open(misc_obj) as obj:
        obj.load()
        obj.progs.count_stream.attach_sockmap(obj.maps.socks, "stream_verdict")
        with socket.create_server(("127.0.0.1", 0)) as srv, \
                socket.create_connection(srv.getsockname()) as client:
            server, _ = srv.accept()
            with server:
                obj.maps.socks[0] = server.fileno()          # a socket fd in, its cookie out
                client.sendall(b"through the verdict")
                assert server.recv(100) == b"through the verdict"
                assert obj.bss.stream_bytes == len(b"through the verdict")


def test_sk_lookup_steers_a_port_in_a_netns(misc_obj) -> None:
    with BPFObject.open(misc_obj) as obj, NetNS() as ns:
        obj.rodata.steer_port = 7777
        obj.load()

        def run() -> tuple[bytes, bool]:
            with socket.create_server(("127.0.0.1", 0)) as listener:   # on some other port
                obj.maps.listeners[0] = listener.fileno()
                link = obj.progs.steer.attach_netns("/proc/thread-self/ns/net")
                with socket.create_connection(("127.0.0.1", 7777), timeout=2) as c:
                    conn, _ = listener.accept()
                    with conn:
                        c.sendall(b"steered")
                        got = conn.recv(100)
                link.destroy()
                try:
                    socket.create_connection(("127.0.0.1", 7777), timeout=2).close()
                    refused = False
                except ConnectionRefusedError:
                    refused = True
                return got, refused

        assert ns.call(run) == (b"steered", True)


def test_set_attach_target_retargets_a_placeholder(tmp_path) -> None:
    out = tmp_path / "fentry.bpf.o"
    build(TEST_BPF / "loaderr.bpf.c", out, defines=["CASE_FENTRY_MISSING"])
    with BPFObject.open(out) as obj:
        obj.progs.on_missing.set_attach_target("do_unlinkat")      # a kernel function that exists
        try:
            obj.load()
        except BPFKernelFeatureError as exc:   # this kernel refuses every trampoline
            assert "fentry programs are refused by this kernel" in str(exc)
            assert "bpfkit_no_such_function" not in str(exc)
        else:
            assert obj.progs.on_missing.loaded


def test_test_run_growing_past_data_out_keeps_retval_and_size(misc_obj) -> None:
    with BPFObject.open(misc_obj) as obj:
        obj.load()
        grown = obj.progs.grow_tail.test_run(data=bytes(64))          # out buffer: 64 + 256
        assert grown.truncated and grown.retval == 2                  # XDP_PASS
        assert grown.data_size_out == 64 + 512 and len(grown.data_out) == 64 + 256
        fits = obj.progs.grow_tail.test_run(data=bytes(64), data_out_size=1024)
        assert not fits.truncated and len(fits.data_out) == fits.data_size_out == 576


@pytest.mark.parametrize("prog", ["ksys_getppid", "kretsys_getppid"])
def test_ksyscall_says_the_kernel_has_no_kprobes(misc_obj, prog: str) -> None:
    if features.kprobes_supported():
        pytest.skip("this kernel has kprobes")
    with BPFObject.open(misc_obj) as obj:
        obj.load()
        with pytest.raises(BPFKernelFeatureError) as exc:
            obj.progs[prog].attach()
    kind = obj.progs[prog].kind
    assert kind in ("ksyscall", "kretsyscall")
    assert str(exc.value) == (
        f"cannot attach {kind} program {prog!r}: this kernel "
        "has no kprobe support (CONFIG_KPROBES/CONFIG_KPROBE_EVENTS are not set); use a tracepoint or "
        "tp_btf hook instead")


def test_linking_two_sources_into_one_object(tmp_path) -> None:
    out = tmp_path / "linked.bpf.o"
    r = run_cli("build", str(TEST_BPF / "link_main.bpf.c"), str(TEST_BPF / "link_lib.bpf.c"), "-o", str(out))
    assert r.returncode == 0, r.stderr
    with BPFObject.open(out) as obj:
        assert sorted(p.name for p in obj.progs) == ["run_lib", "run_main"]
        obj.rodata.factor = 7                        # .rodata of link_lib.bpf.c
        obj.load()
        run = lambda prog, x: prog.test_run(ctx=struct.pack("<Q", x)).retval  # noqa: E731
        assert run(obj.progs.run_main, 6) == 42        # scale() comes from the other file
        run(obj.progs.run_main, 1)
        assert run(obj.progs.run_lib, 0) == 2          # one map, shared by both files
        assert obj.maps.calls[0] == 2


# -- load errors: libbpf's real cause, in one line ----------------------------------------------------

LOAD_ERRORS = {
    "MAX_ENTRIES_0": "map 'start': failed to create: Invalid argument",
    "MISSING_PROG_TYPE": "missing BPF prog type, check ELF section name 'socket/tail'",
    "MISSING_EXTERN": "extern (var ksym) 'bpfkit_no_such_ksym': not found in kernel BTF",
    "FREPLACE_NO_TARGET": "attach program FD is not set",
    "FENTRY_MISSING": "failed to find kernel BTF type ID of 'bpfkit_no_such_function'",
    "RING_TOO_LARGE": "map 'events': failed to create: Cannot allocate memory",
}


@pytest.fixture(scope="module")
def memory_limited():
    """A memory cgroup of 256 MiB to run a process in (v1 where the memory
    controller lives there, else v2): a 512 MiB ring buffer does not fit."""
    name = f"bpfkit-ports-mem-{os.getpid()}"
    v1 = Path("/sys/fs/cgroup/memory")
    if (v1 / "memory.limit_in_bytes").exists():
        cg, limit = v1 / name, "memory.limit_in_bytes"
    elif "memory" in (Path(cgroup2_root()) / "cgroup.subtree_control").read_text().split():
        cg, limit = Path(cgroup2_root()) / name, "memory.max"
    else:
        yield None                          # the ring case is skipped, the others run
        return
    cg.mkdir()
    (cg / limit).write_text(str(256 << 20))
    procs = cg / "cgroup.procs"

    def enter() -> None:
        with open(procs, "w") as f:
            f.write("0")

    try:
        yield enter
    finally:
        for _ in range(50):
            try:
                cg.rmdir()
                break
            except OSError:
                time.sleep(0.05)


@pytest.mark.parametrize("case", list(LOAD_ERRORS))
def test_load_error_names_libbpfs_cause(case: str, tmp_path, memory_limited) -> None:
    obj_path = tmp_path / f"{case}.bpf.o"
    r = run_cli("build", str(TEST_BPF / "loaderr.bpf.c"), "-D", f"CASE_{case}", "-o", str(obj_path))
    assert r.returncode == 0, r.stderr
    enter = None
    if case == "RING_TOO_LARGE":
        if memory_limited is None:
            pytest.skip("no memory controller to limit a process with")
        enter = memory_limited
    probe = ("import sys\nfrom bpfkit import BPFObject, BPFError\n"
             "try:\n    BPFObject.open(sys.argv[1]).load()\nexcept BPFError as e:\n    print(e)\n")
    lib = subprocess.run([sys.executable, "-c", probe, str(obj_path)], capture_output=True, text=True,
                         preexec_fn=enter)
    cli = subprocess.run([sys.executable, "-m", "bpfkit", "run", str(obj_path), "--duration", "0"],
                         capture_output=True, text=True, preexec_fn=enter, stdin=subprocess.DEVNULL)
    for text in (lib.stdout, cli.stderr):
        assert text.count("\n") == 1 and LOAD_ERRORS[case] in text, text    # one line, the real cause
        assert "verifier" not in text and "failed to load object" not in text, text
    assert cli.returncode == 1 and cli.stdout == ""

