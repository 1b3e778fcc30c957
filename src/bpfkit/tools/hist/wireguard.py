"""WireGuard devices, their UDP listen ports and worker functions, found by
themselves: kernel WireGuard devices say DEVTYPE=wireguard in their uevent;
userspace ones (wireguard-go: a TUN device) answer on their UAPI socket."""

from __future__ import annotations

import os

from ...argv import UsageError
from . import kernel

UAPI_DIR = "/var/run/wireguard"
# the work functions of kernel WireGuard (drivers/net/wireguard)
WORKERS = ("wg_packet_encrypt_worker", "wg_packet_decrypt_worker", "wg_packet_tx_worker",
           "wg_packet_handshake_receive_worker", "wg_packet_handshake_send_worker")


def uapi_get(iface: str, timeout: float = 0.5) -> dict[str, list[str]]:
    """A userspace implementation's 'get=1' answer (key -> values), or {}."""
    import _socket  # lazy: wireguard preset only

    path = os.path.join(UAPI_DIR, f"{iface}.sock")
    if not os.path.exists(path):
        return {}
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    data = b""
    try:
        s.connect(path)
        s.sendall(b"get=1\n\n")
        while not data.endswith(b"\n\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError:
        return {}
    finally:
        s.close()
    out: dict[str, list[str]] = {}
    for line in data.decode(errors="replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out.setdefault(key, []).append(value)
    return out


def kernel_listen_port(iface: str) -> int | None:
    """`wg show IFACE listen-port` for a kernel device, when wireguard-tools is installed."""
    import shutil  # lazy: wireguard preset only
    import subprocess  # lazy: wireguard preset only

    wg = shutil.which("wg")
    if not wg:
        return None
    try:
        r = subprocess.run([wg, "show", iface, "listen-port"], capture_output=True, text=True, timeout=2)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = r.stdout.strip()
    return int(out) if r.returncode == 0 and out.isdigit() and int(out) else None


class Devices:
    """The wg devices to watch and their listen ports."""

    def __init__(self, ifaces: list[str] | None, ports: list[int] | None) -> None:
        found = kernel.interfaces()
        self.netns = kernel.netns_inode()
        if ifaces:
            missing = [i for i in ifaces if i not in found]
            if missing:
                raise UsageError(f"--iface: no interface {', '.join(missing)} in this network namespace")
            self.names = list(ifaces)
        else:
            self.names = sorted(n for n, (_, devtype) in found.items() if devtype == "wireguard")
        self.ifindex = {n: found[n][0] for n in self.names}
        self.kind = {n: "kernel" if found[n][1] == "wireguard" else "other" for n in self.names}
        self.ports: set[int] = set(ports or ())
        if not ports:
            for n in self.names:
                port = None
                answer = uapi_get(n)
                if answer.get("listen_port"):
                    self.kind[n] = "userspace"
                    port = int(answer["listen_port"][0])
                elif self.kind[n] == "kernel":
                    port = kernel_listen_port(n)
                if port:
                    self.ports.add(port)

    def map_keys(self) -> list[int]:
        """wg_ifaces map keys: netns inode << 32 | ifindex."""
        return [self.netns << 32 | i for i in self.ifindex.values()]

    def describe(self) -> str:
        devs = ", ".join(f"{n} ({self.kind[n]})" for n in self.names) or "none in this namespace"
        ports = ", ".join(map(str, sorted(self.ports))) or "unknown (messages recognised by their shape)"
        return f"wireguard devices: {devs}; UDP ports: {ports}"


def worker_functions() -> dict[str, int]:
    return kernel.kallsyms(set(WORKERS))


__all__ = ["WORKERS", "Devices", "kernel_listen_port", "uapi_get", "worker_functions"]
