"""Anonymous network namespaces for tests, held by a file descriptor.

`NetNS()` makes a new network namespace with `lo` up (127.0.0.1 and ::1), owned by an open fd
of this process: nothing is named under /run/netns, so nothing is left behind when a test dies,
even by SIGKILL. The namespace goes away once the fd is closed and no process or socket is
left in it.

- `ns.call(fn)` runs fn in a short-lived thread that has joined the namespace: sockets it
  creates live there (a server in this process can listen on port 53 inside it).
- `ns.prefix()` is a command prefix (`nsenter --net=/proc/PID/fd/N --`) that runs a program in
  it; nsenter execs, so the program keeps the pid Popen reports.
- `ns.inode` is the namespace's inode number (what /proc/PID/ns/net links to).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import subprocess
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def in_thread(fn: Callable[[], T]) -> T:
    """fn() in a new OS thread (so namespace changes die with it); its result or its exception."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["r"] = fn()
        except BaseException as e:  # re-raised in the caller
            box["e"] = e

    t = threading.Thread(target=run, name="netns")
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]  # type: ignore[misc]
    return box["r"]  # type: ignore[return-value]


def lo_up() -> None:
    """Bring up `lo` in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


class NetNS:
    """A new network namespace with lo up; a context manager (closes on exit)."""

    def __init__(self) -> None:
        self.fd = -1

    def open(self) -> NetNS:
        def make() -> int:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                lo_up()
            except OSError:
                os.close(fd)
                raise
            return fd

        self.fd = in_thread(make)
        return self

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> NetNS:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def path(self) -> str:
        """A path naming the namespace while this process holds it (for nsenter --net=, setns)."""
        if self.fd < 0:
            raise ValueError("namespace is closed")
        return f"/proc/{os.getpid()}/fd/{self.fd}"

    @property
    def inode(self) -> int:
        return os.fstat(self.fd).st_ino

    def call(self, fn: Callable[[], T]) -> T:
        """fn() in a thread inside the namespace."""
        fd = self.fd

        def run() -> T:
            _check(_libc.setns(fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")
            return fn()

        return in_thread(run)

    def prefix(self) -> list[str]:
        return ["nsenter", f"--net={self.path}", "--"]

    def has_link(self, name: str) -> bool:
        def probe() -> bool:
            try:
                socket.if_nametoindex(name)  # an ioctl on a socket made in the namespace
                return True
            except OSError:
                return False

        return self.call(probe)

    def add_link(self, name: str = "bkt0", v4: str | None = "203.0.113.1/24",
                 v6: str | None = "2001:db8:ffff::1/64") -> None:
        """A veth pair NAME / NAMEp, both ends here and up, NAME with global documentation addresses
        (TEST-NET-3, 2001:db8::/32), so that the namespace looks like a host on a network: glibc's
        AI_ADDRCONFIG (getent ahosts*) ignores 127.0.0.1 and ::1, and systemd-resolved sends
        nothing while no non-loopback link has a global address. Nothing leaves: the pair's two
        ends are both in this namespace. Needs `ip` (iproute2); idempotent."""
        if self.has_link(name):
            return
        cmds = [["link", "add", name, "type", "veth", "peer", "name", name + "p"]]
        if v4:
            cmds.append(["addr", "add", v4, "dev", name])
        if v6:
            cmds.append(["addr", "add", v6, "dev", name, "nodad"])
        cmds += [["link", "set", name + "p", "up"], ["link", "set", name, "up"]]
        for c in cmds:
            r = subprocess.run([*self.prefix(), "ip", *c], capture_output=True, text=True)
            if r.returncode:
                raise OSError(f"ip {' '.join(c)}: {r.stderr.strip()}")


def current_inode() -> int:
    return os.stat("/proc/thread-self/ns/net").st_ino


__all__ = ["NetNS", "current_inode", "in_thread", "lo_up"]
