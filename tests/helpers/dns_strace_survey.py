"""Which thread of each DNS client sends and receives, with which syscalls (run as root).

    python tests/helpers/dns_strace_survey.py [CASE...] [--json OUT] [--raw DIR]

Runs every client of dns_clients.py (and the dnsmasq / systemd-resolved stubs) under
`strace -f -yy` against the test responder in a private network namespace, on a name the
responder answers after a delay: while the client waits, /proc/TID/comm and /proc/TID/syscall of
each of its threads are read (strace's own -Y caches a thread's comm before the program renames
it). Prints, per case, every syscall made on a socket whose address has port 53, with its
thread's comm, the socket kind (UDP/TCP, v4/v6, connected or not) and the MSG_* flags; and the
wait syscalls of the threads that touch DNS sockets. The notes in
/work/shared/notes/dns-clients.md were made with it.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns_clients as C
from dns_responder import DnsResponder, example_zone
from netns import NetNS

TRACE = ("trace=network,read,write,writev,readv,recvfrom,poll,ppoll,select,pselect6,epoll_wait,"
         "epoll_pwait,epoll_pwait2,io_uring_enter,close,clone,clone3,fork,vfork")
WAITS = {"poll", "ppoll", "select", "pselect6", "epoll_wait", "epoll_pwait", "epoll_pwait2", "io_uring_enter"}
SYSCALL_NAMES = {0: "read", 1: "write", 7: "poll", 23: "select", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
                 47: "recvmsg", 128: "rt_sigtimedwait", 202: "futex", 232: "epoll_wait", 270: "pselect6",
                 271: "ppoll", 281: "epoll_pwait", 299: "recvmmsg", 307: "sendmmsg", 441: "epoll_pwait2",
                 61: "wait4", 230: "clock_nanosleep", 35: "nanosleep"}
LINE = re.compile(r"^(\d+)(?:<([^>]*)>)?\s+(\w+)\((.*)$")
SOCK = re.compile(r"\d+<(UDP|UDPv6|TCP|TCPv6):\[([^\]]*)\]>")
DELAY = 0.4


def strace(out: Path) -> list[str]:
    return ["strace", "-f", "-yy", "-s", "0", "-e", TRACE, "-e", "signal=none", "-o", str(out)]


def threads(pids: list[int]) -> dict[int, tuple[str, str, int]]:
    """tid -> (comm, current syscall, tgid) for every thread of pids."""
    res = {}
    for p in pids:
        for t in glob.glob(f"/proc/{p}/task/*"):
            with contextlib.suppress(OSError, ValueError):
                comm = Path(t, "comm").read_text().strip()
                nr = Path(t, "syscall").read_text().split()[0]
                sc = SYSCALL_NAMES.get(int(nr), nr) if nr.lstrip("-").isdigit() else nr
                res[int(t.rsplit("/", 1)[1])] = (comm, sc, p)
    return res


DATA = {"sendto", "sendmsg", "sendmmsg", "recvfrom", "recvmsg", "recvmmsg", "read", "write", "writev",
        "readv"}
FD = re.compile(r"^(\d+)<(UDP|UDPv6|TCP|TCPv6):")
RET_FD = re.compile(r"= (\d+)<(TCP|TCPv6|UDP|UDPv6):")
RESUMED = re.compile(r"^(\d+)(?:<[^>]*>)?\s+<\.\.\. (\w+) resumed>(.*)$")
PORT53 = re.compile(r"port=htons\(53\)")


def _lines(raw: str) -> list[tuple[int, str, str]]:
    """(tid, syscall, arguments and result) per call, unfinished/resumed pairs joined."""
    out, pending = [], {}
    for ln in raw.splitlines():
        r = RESUMED.match(ln)
        if r:
            tid = int(r.group(1))
            call, head = pending.pop(tid, (r.group(2), ""))
            out.append((tid, call, head + r.group(3)))
            continue
        m = LINE.match(ln)
        if not m:
            continue
        tid, call, rest = int(m.group(1)), m.group(3), m.group(4)
        if rest.endswith("<unfinished ...>"):
            pending[tid] = (call, rest[: -len("<unfinished ...>")])
            continue
        out.append((tid, call, rest))
    return out


def summarize(raw: str, comms: dict[int, tuple[str, str, int]]) -> dict[str, Any]:
    """The syscalls on DNS sockets, per thread, in order of first use; and those threads' waits.

    strace's -yy decoding of a socket is cached and goes stale (a socket connected after its first
    use still prints as unconnected), so DNS sockets are tracked from the calls themselves: a
    socket connect()ed to port 53, sent to port 53, bound to port 53, or accept()ed from one of
    those; forgotten at close(). fd tables are per process: clone without CLONE_THREAD and fork
    copy them."""
    ops: dict[tuple[Any, ...], int] = {}
    waits: dict[int, set[str]] = {}
    tables: dict[int, dict[int, str]] = {}  # tgid -> fd -> state
    tgid_of: dict[int, int] = {}
    dns_tids: set[int] = set()
    first_pid = 0
    for tid, call, rest in _lines(raw):
        if not first_pid:
            first_pid = tid
        tgid = tgid_of.setdefault(tid, tid)
        fds = tables.setdefault(tgid, {})
        if call in ("clone", "clone3", "fork", "vfork"):
            m = re.search(r"= (\d+)$", rest.strip())
            if m:
                new = int(m.group(1))
                if "CLONE_THREAD" in rest:
                    tgid_of[new] = tgid
                else:
                    tgid_of[new] = new
                    tables[new] = dict(fds)
            continue
        if call in WAITS:
            waits.setdefault(tid, set()).add(call)
            continue
        f = FD.match(rest)
        if not f:
            continue
        fd, proto = int(f.group(1)), f.group(2)
        to53 = bool(PORT53.search(rest))
        if call == "close":
            fds.pop(fd, None)
            continue
        if call == "bind":
            if to53:
                fds[fd] = "listening" if proto.startswith("TCP") else "server, unconnected"
            continue
        if call in ("accept", "accept4"):
            m2 = RET_FD.search(rest)
            if fds.get(fd) == "listening":
                if m2:
                    fds[int(m2.group(1))] = "server side"
                ops.setdefault((tid, call, proto + " listening", "", False), len(ops))
                dns_tids.add(tid)
            continue
        if call == "connect":
            if to53:
                fds[fd] = "connected"
                ops.setdefault((tid, call, proto, "", False), len(ops))
                dns_tids.add(tid)
            else:
                fds.pop(fd, None)
            continue
        if call not in DATA:
            continue
        flags = ",".join(sorted(set(re.findall(r"MSG_[A-Z]+", rest))))
        if fd not in fds:
            if call in ("sendto", "sendmsg", "sendmmsg") and to53:
                fds[fd] = "connected by TFO" if "MSG_FASTOPEN" in flags else "unconnected"
            else:
                continue
        explicit = call in ("sendto", "sendmsg", "sendmmsg") and bool(re.search(r"port=htons\(\d+\)", rest))
        size = re.search(r"= (\d+)", rest.rsplit(")", 1)[-1])
        ops.setdefault((tid, call, f"{proto} {fds[fd]}", flags, explicit), len(ops))
        del size
        dns_tids.add(tid)

    def who(tid: int) -> dict[str, Any]:
        comm = comms.get(tid, ("?", "", 0))[0]
        tgid = tgid_of.get(tid, tid)
        role = "main" if tid == tgid else "thread"
        if tgid != first_pid:
            role = "child " + role
        return {"tid": tid, "comm": comm, "role": role}

    rows = [{**who(tid), "syscall": call, "socket": kind, "flags": flags, "address_arg": explicit}
            for (tid, call, kind, flags, explicit), _ in sorted(ops.items(), key=lambda kv: kv[1])]
    return {
        "ops": rows,
        "waits": {f"{t} {comms.get(t, ('?', '', 0))[0]}": sorted(w) for t, w in waits.items()
                  if t in dns_tids},
        "threads_while_waiting": {str(t): [c, sc] for t, (c, sc, _) in comms.items()},
    }


Start = Callable[[NetNS, list[str]], C.Client]


def run_case(name: str, start: Start, qname: str, stub: str | None, raw_dir: Path) -> dict[str, Any]:
    zone = example_zone()
    zone.add("s.example.test", "A", "192.0.2.7").add("s.example.test", "AAAA", "2001:db8::7")
    zone.add("stc.example.test", "A", "192.0.2.8").add("stc.example.test", "AAAA", "2001:db8::8")
    zone.truncate.add("stc.example.test.")
    zone.add("smx.example.test", "MX", "10 mail.example.test.")
    for n in ("s", "stc", "smx"):
        zone.delay[f"{n}.example.test."] = DELAY
    out = raw_dir / f"{name}.strace"
    stub_out = raw_dir / f"{name}.stub.strace"
    with NetNS() as ns, DnsResponder(zone, port=53, netns=ns) as resp, contextlib.ExitStack() as stack:
        stub_obj: Any = None
        if stub == "dnsmasq":
            stub_obj = stack.enter_context(C.Dnsmasq(ns, wrap=strace(stub_out)))
        elif stub == "resolved":
            stub_obj = stack.enter_context(C.SystemdResolved(ns, wrap=strace(stub_out)))
        with start(ns, strace(out)) as client:
            resp.wait_for(qname, timeout=5)
            time.sleep(0.1)
            comms = threads(C.descendants(client.pid))  # strace's children: the resolver
            if stub_obj is not None:
                comms.update(threads(C.descendants(stub_obj.pid)))
            res = client.result(timeout=15)
        if stub_obj is not None:
            stub_obj.stop()
        queries = [f"{q.transport} [{q.client[0]}]:{q.client[1]} {q.qname} {q.qtype}" for q in resp.queries]
    report = {"case": name, "returncode": res.returncode, "stdout": res.stdout.strip().splitlines()[:4],
              "queries": queries, "client": summarize(out.read_text(), comms)}
    if stub_obj is not None:
        report["stub"] = summarize(stub_out.read_text(), comms)
    return report


def cases() -> dict[str, tuple[Start, str, str | None]]:
    g, S, TC, MX = C.getent, "s.example.test", "stc.example.test", "smx.example.test"
    return {
        "getent-udp": (lambda ns, st: g(S, netns=ns, wrap=st), S, None),
        "getent-udp-v6": (lambda ns, st: g(S, netns=ns, nameservers=["::1"], wrap=st), S, None),
        "getent-single-request": (lambda ns, st: g(S, netns=ns, single_request=True, wrap=st), S, None),
        "getent-use-vc": (lambda ns, st: g(S, netns=ns, use_vc=True, wrap=st), S, None),
        "getent-tc": (lambda ns, st: g(TC, netns=ns, wrap=st), TC, None),
        "musl-udp": (lambda ns, st: C.musl(S, netns=ns, wrap=st), S, None),
        "musl-udp-v6": (lambda ns, st: C.musl(S, netns=ns, nameservers=["::1"], wrap=st), S, None),
        "musl-udp-mixed": (lambda ns, st: C.musl(S, netns=ns, nameservers=["127.0.0.1", "::1"], wrap=st), S,
                           None),
        "go-host-udp": (lambda ns, st: C.go("host", S, netns=ns, wrap=st), S, None),
        "go-host-use-vc": (lambda ns, st: C.go("host", S, netns=ns, use_vc=True, wrap=st), S, None),
        "go-host-tc": (lambda ns, st: C.go("host", TC, netns=ns, wrap=st), TC, None),
        "go-mx-server-v6": (lambda ns, st: C.go("mx", MX, netns=ns, server="[::1]:53", wrap=st), MX, None),
        "dig-udp": (lambda ns, st: C.dig(S, netns=ns, timeout=2, wrap=st), S, None),
        "dig-tcp": (lambda ns, st: C.dig(S, netns=ns, tcp=True, timeout=2, wrap=st), S, None),
        "dig-tc": (lambda ns, st: C.dig(TC, netns=ns, timeout=2, wrap=st), TC, None),
        "dnsmasq-getent": (lambda ns, st: g(S, netns=ns, nameservers=["127.0.0.2"], wrap=st), S, "dnsmasq"),
        "dnsmasq-dig-tcp": (lambda ns, st: C.dig(S, server="127.0.0.2", netns=ns, tcp=True, timeout=2,
                                                 wrap=st), S, "dnsmasq"),
        "resolved-getent": (lambda ns, st: g(S, netns=ns, nameservers=["127.0.0.53"], wrap=st), S,
                            "resolved"),
        "resolved-dig-tcp": (lambda ns, st: C.dig(S, server="127.0.0.53", netns=ns, tcp=True, timeout=2,
                                                  wrap=st), S, "resolved"),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("cases", nargs="*")
    ap.add_argument("--json")
    ap.add_argument("--raw", help="keep strace outputs in this directory")
    a = ap.parse_args()
    all_cases = cases()
    names = a.cases or list(all_cases)
    reports = []
    with tempfile.TemporaryDirectory() as tmp:
        raw_dir = Path(a.raw or tmp)
        raw_dir.mkdir(parents=True, exist_ok=True)
        for n in names:
            start, qname, stub = all_cases[n]
            if stub == "resolved" and C.find_systemd_resolved() is None:
                print(f"== {n}: skipped (no systemd-resolved)")
                continue
            t = time.monotonic()
            try:
                r = run_case(n, start, qname, stub, raw_dir)
            except Exception as e:  # report and go on
                print(f"== {n}: FAILED {e!r}")
                continue
            reports.append(r)
            print(f"== {n} (rc {r['returncode']}, {time.monotonic() - t:.1f} s) -> {r['stdout']}")
            print("   responder saw:", "; ".join(r["queries"]))
            for side in ("client", "stub"):
                if side not in r:
                    continue
                print(f"   [{side}]")
                for op in r[side]["ops"]:
                    fl = f" {op['flags']}" if op["flags"] else ""
                    ad = " +addr" if op["address_arg"] else ""
                    print(f"     {op['tid']:>7} {op['comm']:<16} {op['role']:<12} {op['syscall']:<9} "
                          f"{op['socket']}{fl}{ad}")
                print("     waits:", r[side]["waits"])
                print("     threads while waiting:", r[side]["threads_while_waiting"])
    if a.json:
        Path(a.json).write_text(json.dumps(reports, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
