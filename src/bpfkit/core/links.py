"""Attachments of a program to its hook, and their undoing.

Most kinds attach through a libbpf ``struct bpf_link`` (Link). A few have no
link in the kernel or in libbpf 1.1 and are undone by the matching call
(Attachment): tc filters on a clsact qdisc, sockmap/sockhash programs
(BPF_PROG_ATTACH on the map), socket filters (SO_ATTACH_BPF). Both detach on
``destroy()`` (idempotent), and the kernel drops them when the process dies.
"""

from __future__ import annotations

import ctypes
import errno as E
import os

from .kernel import libbpf
from .kernel.errors import BPFError, error_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

lib = libbpf.lib

BPF_TC_INGRESS, BPF_TC_EGRESS = 1, 2
SOL_SOCKET, SO_ATTACH_BPF, SO_DETACH_BPF = 1, 50, 27
# enum bpf_attach_type values for BPF_PROG_ATTACH on a sockmap/sockhash
SOCKMAP_ATTACH = {"stream_parser": 4, "stream_verdict": 5, "msg_verdict": 6, "skb_verdict": 44}


class Link:
    """An attachment; ``destroy()`` detaches (idempotent)."""

    def __init__(self, ptr: int, program: object, target: str) -> None:
        self._ptr: int | None = ptr
        self.program = program
        self.target = target

    def destroy(self) -> None:
        if self._ptr:
            lib.bpf_link__destroy(self._ptr)
            self._ptr = None

    @property
    def attached(self) -> bool:
        return self._ptr is not None

    @property
    def fd(self) -> int:
        if not self._ptr:
            raise BPFError(f"link {self.target} is detached")
        return lib.bpf_link__fd(self._ptr)

    def __repr__(self) -> str:
        name = getattr(self.program, "name", "?")
        return f"<Link {name} -> {self.target}{'' if self.attached else ' (detached)'}>"


class Attachment(Link):
    """An attachment the kernel keeps without a link: undone by ``undo``."""

    def __init__(self, program: object, target: str, undo: Callable[[], None]) -> None:
        super().__init__(0, program, target)
        self._undo: Callable[[], None] | None = undo

    def destroy(self) -> None:
        undo, self._undo = self._undo, None
        if undo is not None:
            undo()

    @property
    def attached(self) -> bool:
        return self._undo is not None

    @property
    def fd(self) -> int:
        raise BPFError(f"{self.target}: this kind of attachment has no link fd")


def ifindex(iface: str | int) -> int:
    """An interface index from a name or an index."""
    if isinstance(iface, int):
        return iface
    # lazy: only network attachments need it (~0.6 ms to import); _socket, not
    # socket: socket.py builds IntEnums at import (~3 ms)
    import _socket

    try:
        return _socket.if_nametoindex(iface)
    except OSError:
        raise BPFError(f"no network interface {iface!r}", errno=E.ENODEV) from None


def tc_attach(prog_fd: int, iface: str | int, direction: str, *, priority: int = 1,
              handle: int = 1) -> Callable[[], None]:
    """A tc filter on the interface's clsact qdisc (created when missing, and
    removed again at detach only if we created it); returns the undo."""
    points = {"ingress": BPF_TC_INGRESS, "egress": BPF_TC_EGRESS}
    if direction not in points:
        raise ValueError(f"tc direction is ingress or egress, not {direction!r}")
    hook = libbpf.TcHook(ctypes.sizeof(libbpf.TcHook), ifindex(iface), points[direction], 0)
    ret = lib.bpf_tc_hook_create(ctypes.byref(hook))
    created = ret == 0
    if ret < 0 and -ret != E.EEXIST:
        raise error_for(-ret, f"cannot create the clsact qdisc on {iface}: {libbpf.strerror(-ret)}")
    opts = libbpf.TcOpts(ctypes.sizeof(libbpf.TcOpts), prog_fd, 0, 0, handle, priority)
    ret = lib.bpf_tc_attach(ctypes.byref(hook), ctypes.byref(opts))
    if ret < 0:
        if created:
            lib.bpf_tc_hook_destroy(ctypes.byref(hook))
        hint = " (a filter with this handle and priority exists: pick others)" if -ret == E.EEXIST else ""
        raise error_for(-ret, f"cannot attach a tc {direction} filter on {iface}: "
                              f"{libbpf.strerror(-ret)}{hint}")

    def undo() -> None:
        detach = libbpf.TcOpts(ctypes.sizeof(libbpf.TcOpts), 0, 0, 0, handle, priority)
        lib.bpf_tc_detach(ctypes.byref(hook), ctypes.byref(detach))
        if created:
            hook.attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS  # the whole clsact qdisc
            lib.bpf_tc_hook_destroy(ctypes.byref(hook))

    return undo


def prog_attach(prog_fd: int, target_fd: int, attach_type: int, what: str) -> Callable[[], None]:
    """BPF_PROG_ATTACH (sockmap programs...); returns the undo (BPF_PROG_DETACH)."""
    ret = lib.bpf_prog_attach(prog_fd, target_fd, attach_type, 0)
    if ret < 0:
        raise error_for(-ret, f"cannot attach to {what}: {libbpf.strerror(-ret)}")
    return lambda: lib.bpf_prog_detach2(prog_fd, target_fd, attach_type) and None


def socket_attach(prog_fd: int, sock: object) -> Callable[[], None]:
    """SO_ATTACH_BPF on a socket (or its fd); returns the undo."""
    fd = sock if isinstance(sock, int) else sock.fileno()  # type: ignore[attr-defined]
    import _socket  # lazy: see ifindex

    s = _socket.socket(fileno=os.dup(fd))
    try:
        s.setsockopt(SOL_SOCKET, SO_ATTACH_BPF, prog_fd)
    except OSError as exc:
        s.close()
        raise error_for(exc.errno or E.EINVAL, f"cannot attach a socket filter: {exc.strerror}") from None

    def undo() -> None:
        try:
            s.setsockopt(SOL_SOCKET, SO_DETACH_BPF, 0)
        except OSError:
            pass  # the socket is gone: so is the filter
        s.close()

    return undo


def read_iter(link: Link) -> bytes:
    """Everything an iterator link produces, read to the end once."""
    fd = lib.bpf_iter_create(link.fd)
    if fd < 0:
        raise error_for(-fd, f"cannot start the iterator {link.target}: {libbpf.strerror(-fd)}")
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except InterruptedError:
                continue
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


__all__ = ["SOCKMAP_ATTACH", "Attachment", "Link", "ifindex", "prog_attach", "read_iter", "socket_attach",
           "tc_attach"]
