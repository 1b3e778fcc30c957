"""Test helper: waits for a line on stdin, then opens what the plan says and
prints one JSON line per open: what the kernel should have reported."""

import ctypes
import json
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
SYS_CREAT, SYS_OPENAT2 = 85, 437  # x86-64


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def report(syscall: str, path: str, ret: int) -> None:
    print(json.dumps({"syscall": syscall, "path": path, "ret": ret}), flush=True)


def do(kind: str, path: str) -> None:
    if kind == "openat":
        try:
            fd = os.open(path, os.O_RDONLY)
            os.close(fd)
            report("openat", path, fd)
        except OSError as exc:
            report("openat", path, -exc.errno)
    elif kind == "create":
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
        report("openat", path, fd)
    elif kind == "creat":
        fd = libc.syscall(SYS_CREAT, path.encode(), 0o644)
        ret = fd if fd >= 0 else -ctypes.get_errno()
        if fd >= 0:
            os.close(fd)
        report("creat", path, ret)
    elif kind == "openat2":
        how = OpenHow(os.O_RDONLY, 0, 0)
        fd = libc.syscall(SYS_OPENAT2, -100, path.encode(), ctypes.byref(how), ctypes.sizeof(how))
        ret = fd if fd >= 0 else -ctypes.get_errno()
        if fd >= 0:
            os.close(fd)
        report("openat2", path, ret)
    elif kind == "setuid":
        os.setgid(int(path))
        os.setuid(int(path))
    elif kind == "pause":
        print("paused", flush=True)
    elif kind == "burst":
        n, target = path.split(":", 1)
        for _ in range(int(n)):
            os.close(os.open(target, os.O_RDONLY))
    else:
        raise SystemExit(f"unknown step {kind}")


def main() -> None:
    plan = json.loads(sys.argv[1])
    print("waiting", flush=True)
    sys.stdin.readline()
    for kind, path in plan:
        do(kind, path)
        if kind == "pause":  # wait for the test's next line
            sys.stdin.readline()


if __name__ == "__main__":
    main()
