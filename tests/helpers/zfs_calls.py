"""Run libzfs_core calls (through lzc.py, the REAL library) and say who made them.

    python3 zfs_calls.py < calls.json      # [["snapshot", ["tank/fs@a"]], ["all"], ...]

Meant to run inside run_in_fake_zfs_namespace() (lzc.py), possibly under `setpriv`, so it needs
nothing but the standard library and lzc.py next to it. Each call is [method of lzc.Lzc, args...]
("all" is lzc.all_ops; "receive" gets a pipe holding one BEGIN record as its fd; "compat_snapshot"
makes the call as a 32-bit program would); strings in
args given as {"$b": "<hex>"} are passed as raw bytes. The calls come on stdin (a command line
of thousands of names would be too long, and what a test passes must not be in the command
line the tracer reports); "create_encrypted" takes its key (hex) from $ZFS_TEST_KEY. Prints one
JSON object: pid, ppid, tid, uid, comm and the errno of each call.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lzc


def arg(v):
    if isinstance(v, dict) and set(v) == {"$b"}:
        return bytes.fromhex(v["$b"])
    if isinstance(v, dict):
        return {arg(k) if isinstance(k, dict) else k: arg(x) for k, x in v.items()}
    if isinstance(v, list):
        return [arg(x) for x in v]
    return v


def compat_snapshot(names: list[str]) -> int:
    """ZFS_IOC_SNAPSHOT as a 32-bit program makes it: the ia32 ioctl (int $0x80, syscall 54) with
    a zfs_cmd_t and nvlist below 4 GiB. x86-64 only; returns the errno."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                          ctypes.c_long]
    map_32bit = 0x40
    mem = libc.mmap(None, 1 << 16, mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC,
                    mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | map_32bit, -1, 0)
    if not mem or mem >= 1 << 32:
        raise OSError(ctypes.get_errno(), "mmap(MAP_32BIT)")
    # push rbx; mov eax, 54; mov ebx, edi; mov ecx, esi; int 0x80; pop rbx; ret  (edx: 3rd arg)
    code = bytes([0x53, 0xB8, 54, 0, 0, 0, 0x89, 0xFB, 0x89, 0xF1, 0xCD, 0x80, 0x5B, 0xC3])
    ctypes.memmove(mem, code, len(code))
    zc, nvp = mem + 4096, mem + 4096 + lzc.ZFS_CMD_SIZE
    pool = names[0].split("/")[0].split("@")[0].encode()
    ctypes.memmove(zc + lzc.ZC["name"], pool, len(pool))
    nv = lzc.pack({"snaps": {n: None for n in names}})
    ctypes.memmove(nvp, nv, len(nv))
    ctypes.memmove(zc + lzc.ZC["nvlist_src"], struct.pack("<QQ", nvp, len(nv)), 16)
    ioctl32 = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_uint, ctypes.c_uint)(mem)
    fd = os.open("/dev/zfs", os.O_RDWR)
    try:
        ret = ioctl32(fd, lzc.ZFS_IOC["SNAPSHOT"], zc)
    finally:
        os.close(fd)
    return -ret if ret < 0 else 0


def main() -> None:
    calls = json.load(sys.stdin)
    results = []
    with lzc.Lzc() as z:
        for name, *args in calls:
            if name == "all":
                results.append(lzc.all_ops(z))
            elif name == "receive":
                r, w = os.pipe()
                os.write(w, bytes(312))
                os.close(w)
                try:
                    results.append(z.receive(*map(arg, args[:1]), r, **arg(args[1]) if len(args) > 1 else {}))
                finally:
                    os.close(r)
            elif name == "compat_snapshot":
                results.append(compat_snapshot(args[0]))
            elif name == "create_encrypted":
                results.append(z.create(arg(args[0]), wkeydata=bytes.fromhex(os.environ["ZFS_TEST_KEY"])))
            else:
                results.append(getattr(z, name)(*map(arg, args)))
    with open("/proc/self/comm") as f:
        comm = f.read().strip()
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "tid": threading.get_native_id(),
                      "uid": os.getuid(), "comm": comm, "results": results}))


if __name__ == "__main__":
    main()
