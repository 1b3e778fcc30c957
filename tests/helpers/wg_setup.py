"""Two network namespaces (held by processes: no `ip netns` mounts) joined by
a veth pair, each running userspace WireGuard (wireguard-go) as a peer of the
other: 10.99.0.1 <-> 10.99.0.2 through the tunnel, 10.213.8.1 <-> 10.213.8.2
underneath."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

ENV = {**os.environ, "WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD": "1"}


def _run(*cmd: str, input: str | None = None) -> str:
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, env=ENV)
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return r.stdout


class Side:
    def __init__(self, tag: str, letter: str, under: str, inner: str, port: int, tmp: Path) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "300"])
        self.pid = self.holder.pid
        for _ in range(100):
            if os.readlink(f"/proc/{self.pid}/ns/net") != os.readlink("/proc/self/ns/net"):
                break
            time.sleep(0.01)
        self.ns = ["nsenter", "-t", str(self.pid), "-n"]
        self.wg = f"wg{letter}{tag}"
        self.veth = f"v{letter}{tag}"
        self.under, self.inner, self.port = under, inner, port
        self.key = tmp / f"{self.wg}.key"
        self.key.write_text(_run("wg", "genkey"))
        self.pub = _run("wg", "pubkey", input=self.key.read_text()).strip()
        self.daemon: subprocess.Popen | None = None

    def start(self) -> None:
        ns = self.ns
        _run(*ns, "ip", "link", "set", "lo", "up")
        _run(*ns, "ip", "addr", "add", f"{self.under}/24", "dev", self.veth)
        _run(*ns, "ip", "link", "set", self.veth, "up")
        log = open(self.key.with_name(f"{self.wg}.log"), "w+")  # noqa: SIM115 (read on failure)
        self.daemon = subprocess.Popen([*ns, "wireguard-go", "-f", self.wg], env=ENV,
                                       stdout=log, stderr=subprocess.STDOUT)
        sock = f"/var/run/wireguard/{self.wg}.sock"
        t0 = time.monotonic()  # Go starts slowly on an emulated CPU: wait as long as it runs
        while not os.path.exists(sock):
            if self.daemon.poll() is not None or time.monotonic() - t0 > 60:
                log.seek(0)
                raise RuntimeError(f"wireguard-go did not start: {log.read().strip()[-500:]}")
            time.sleep(0.01)

    def peer_with(self, other: Side) -> None:
        ns = self.ns
        _run(*ns, "wg", "set", self.wg, "listen-port", str(self.port), "private-key", str(self.key),
             "peer", other.pub, "allowed-ips", f"{other.inner}/32", "endpoint", f"{other.under}:{other.port}")
        _run(*ns, "ip", "addr", "add", f"{self.inner}/24", "dev", self.wg)
        _run(*ns, "ip", "link", "set", self.wg, "up")

    def close(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(5)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
        self.holder.kill()
        self.holder.wait()


class WgPair:
    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:5]
        self.port_a, self.port_b = 51820 + int(tag[:2], 16), 52820 + int(tag[2:4], 16)
        self.a = Side(tag, "a", "10.213.8.1", "10.99.0.1", self.port_a, tmp)
        self.b = Side(tag, "b", "10.213.8.2", "10.99.0.2", self.port_b, tmp)
        try:
            _run("ip", "link", "add", self.a.veth, "type", "veth", "peer", "name", self.b.veth)
            _run("ip", "link", "set", self.a.veth, "netns", str(self.a.pid))
            _run("ip", "link", "set", self.b.veth, "netns", str(self.b.pid))
            self.a.start()
            self.b.start()
            self.a.peer_with(self.b)
            self.b.peer_with(self.a)
        except BaseException:
            self.close()
            raise

    def send(self, count: int) -> None:
        """``count`` UDP datagrams from a to b through the tunnel (the first
        one makes a start the handshake), then wait until it completed."""
        import sys

        code = ("import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                f"for _ in range({count}):\n    s.sendto(b'x'*100,('{self.b.inner}',9)); time.sleep(0.05)\n")
        _run(*self.a.ns, sys.executable, "-c", code)
        for _ in range(300):
            shakes = _run(*self.a.ns, "wg", "show", self.a.wg, "latest-handshakes").split()
            if len(shakes) == 2 and shakes[1] != "0":
                return
            time.sleep(0.01)
        raise RuntimeError("no handshake")

    def close(self) -> None:
        self.a.close()
        self.b.close()


def kernel_wireguard() -> bool:
    """Can this kernel make a WireGuard device (built in, or a module it loads)?"""
    name = f"wgprobe{uuid.uuid4().hex[:4]}"
    r = subprocess.run(["ip", "link", "add", name, "type", "wireguard"], capture_output=True)
    if r.returncode == 0:
        subprocess.run(["ip", "link", "del", name], capture_output=True)
    return r.returncode == 0


class KernelWgPair:
    """Kernel WireGuard: wgh<tag> in this namespace (where the tracer finds it by
    itself), its peer in a namespace held by a process; veth underneath."""

    def __init__(self, tmp: Path) -> None:
        tag = uuid.uuid4().hex[:5]
        self.port_h, self.port_b = 41820 + int(tag[:2], 16), 42820 + int(tag[2:4], 16)
        self.wg, self.veth = f"wgh{tag}", f"vh{tag}"
        self.b = Side(tag, "b", "10.213.9.2", "10.98.0.2", self.port_b, tmp)
        key = tmp / "h.key"
        key.write_text(_run("wg", "genkey"))
        pub = _run("wg", "pubkey", input=key.read_text()).strip()
        try:
            _run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.b.veth)
            _run("ip", "link", "set", self.b.veth, "netns", str(self.b.pid))
            _run("ip", "addr", "add", "10.213.9.1/24", "dev", self.veth)
            _run("ip", "link", "set", self.veth, "up")
            _run("ip", "link", "add", self.wg, "type", "wireguard")
            _run("wg", "set", self.wg, "listen-port", str(self.port_h), "private-key", str(key), "peer",
                 self.b.pub, "allowed-ips", "10.98.0.2/32", "endpoint", f"10.213.9.2:{self.port_b}")
            _run("ip", "addr", "add", "10.98.0.1/24", "dev", self.wg)
            _run("ip", "link", "set", self.wg, "up")
            ns = self.b.ns
            _run(*ns, "ip", "link", "set", "lo", "up")
            _run(*ns, "ip", "addr", "add", "10.213.9.2/24", "dev", self.b.veth)
            _run(*ns, "ip", "link", "set", self.b.veth, "up")
            _run(*ns, "ip", "link", "add", self.b.wg, "type", "wireguard")
            _run(*ns, "wg", "set", self.b.wg, "listen-port", str(self.port_b), "private-key", str(self.b.key),
                 "peer", pub, "allowed-ips", "10.98.0.1/32", "endpoint", f"10.213.9.1:{self.port_h}")
            _run(*ns, "ip", "addr", "add", "10.98.0.2/24", "dev", self.b.wg)
            _run(*ns, "ip", "link", "set", self.b.wg, "up")
        except BaseException:
            self.close()
            raise

    def send(self, count: int) -> None:
        """``count`` datagrams through the tunnel (the far end answers each with
        an ICMP port unreachable, back through the tunnel)."""
        import socket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(count):
                s.sendto(b"x" * 100, ("10.98.0.2", 9))
                time.sleep(0.05)

    def close(self) -> None:
        subprocess.run(["ip", "link", "del", self.wg], capture_output=True)
        subprocess.run(["ip", "link", "del", self.veth], capture_output=True)
        self.b.close()
