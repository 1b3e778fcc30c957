"""One side of a TCP connection, for the tcptrack tests (client and server are
different processes, so each event's pid can be checked).

  tcp_peer.py server HOST PORT RECV SEND   listen (prints "listening PORT"), accept one
                                           connection, read RECV bytes, send SEND bytes,
                                           wait for the peer to close, close
  tcp_peer.py client HOST PORT SEND RECV   wait for a line on stdin, connect, send SEND
                                           bytes, read RECV, close; prints "local PORT"
  tcp_peer.py refused HOST PORT            connect, expecting ECONNREFUSED
"""

import socket
import sys


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def read_exactly(s: socket.socket, n: int) -> None:
    while n:
        chunk = s.recv(min(n, 1 << 16))
        if not chunk:
            raise SystemExit(f"peer closed with {n} bytes to go")
        n -= len(chunk)


def main() -> None:
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":
        recv, send = int(sys.argv[4]), int(sys.argv[5])
        srv = socket.socket(family(host))
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family(host) == socket.AF_INET6:
            srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # "::" takes v4 too
        srv.bind((host, port))
        srv.listen()
        print("listening", srv.getsockname()[1], flush=True)
        conn, _ = srv.accept()
        read_exactly(conn, recv)
        conn.sendall(b"s" * send)
        while conn.recv(1 << 16):  # until the client closes
            pass
        conn.close()
    elif mode == "client":
        send, recv = int(sys.argv[4]), int(sys.argv[5])
        sys.stdin.readline()  # the test starts its tracer on our pid first
        c = socket.create_connection((host, port), timeout=10)
        print("local", c.getsockname()[1], flush=True)
        c.sendall(b"c" * send)
        read_exactly(c, recv)
        c.close()
    elif mode == "refused":
        try:
            socket.create_connection((host, port), timeout=10)
        except ConnectionRefusedError:
            print("refused", flush=True)
            return
        raise SystemExit("connected")


if __name__ == "__main__":
    main()
