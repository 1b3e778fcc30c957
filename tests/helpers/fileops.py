"""Test helper for fileaudit: waits for "go" on stdin, then changes files in
WATCHED and OUTSIDE through every syscall variant (os module and direct
syscalls via ctypes), with absolute paths, paths relative to a changed cwd,
and dirfd-relative paths. Prints one JSON line per change the tracer must
report ({"op", "path", "new_path", "result", "syscall"}), then "done".

usage: fileops.py WATCHED OUTSIDE [--deny SECRET]
"""

import ctypes
import json
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, AT_REMOVEDIR, AT_EMPTY_PATH = -100, 0x200, 0x1000
NR = {"open": 2, "creat": 85, "truncate": 76, "ftruncate": 77, "rename": 82, "renameat": 264,
      "renameat2": 316, "unlink": 87, "unlinkat": 263, "rmdir": 84, "chmod": 90, "fchmod": 91,
      "fchmodat": 268, "fchmodat2": 452, "chown": 92, "lchown": 94, "fchown": 93, "fchownat": 260,
      "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266, "mkdir": 83, "mkdirat": 258,
      "openat": 257, "openat2": 437}


class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def sys_(name, *args):
    conv = [a.encode() if isinstance(a, str) else a for a in args]
    ret = libc.syscall(NR[name], *conv)
    return ret if ret >= 0 else -ctypes.get_errno()


def expect(op, path, syscall, new_path=None, result=0):
    print(json.dumps({"op": op, "path": path, "new_path": new_path, "syscall": syscall,
                      "result": result}), flush=True)


def touch(path, ok=False):
    with open(path, "w") as f:  # openat(O_WRONLY|O_CREAT|O_TRUNC) of a new file
        f.write("x")
    if ok:
        expect("CREATE", path, "openat")


class Place:
    """How a name is passed: absolute, relative to cwd, or relative to a dirfd."""

    def __init__(self, style, root):
        self.style, self.root = style, root
        self.dfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY) if style == "dirfd" else AT_FDCWD

    def arg(self, name):
        return os.path.join(self.root, name) if self.style == "abs" else name

    def at(self, name):
        return (self.dfd, self.arg(name))

    def abs(self, name):
        return os.path.join(self.root, name)


def changes(root, place, ok=True):
    """Every operation on names under root; expectations only when ok (watched)."""
    s = place.style
    a, P = place.abs, place.arg
    e = expect if ok else (lambda *_, **__: None)
    legacy = s != "dirfd"  # open(2), rename(2)...: no dirfd

    def n(x):
        return f"{x}-{s}"

    # WRITE: opened for writing
    for name in ("w1", "w2", "w3"):
        touch(a(n(name)), ok)
    if legacy:
        os.close(sys_("open", P(n("w1")), os.O_WRONLY))
        e("WRITE", a(n("w1")), "open")
    os.close(sys_("openat", place.dfd, P(n("w2")), os.O_RDWR))
    e("WRITE", a(n("w2")), "openat")
    how = OpenHow(os.O_WRONLY | os.O_APPEND, 0, 0)
    os.close(sys_("openat2", place.dfd, P(n("w3")), ctypes.byref(how), ctypes.sizeof(how)))
    e("WRITE", a(n("w3")), "openat2")
    # CREATE
    if legacy:
        os.close(sys_("open", P(n("c1")), os.O_CREAT | os.O_WRONLY, 0o644))
        e("CREATE", a(n("c1")), "open")
        os.close(sys_("creat", P(n("c2")), 0o600))
        e("CREATE", a(n("c2")), "creat")
    os.close(sys_("openat", place.dfd, P(n("c3")), os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o640))
    e("CREATE", a(n("c3")), "openat")
    how = OpenHow(os.O_CREAT | os.O_RDONLY, 0o644, 0)
    os.close(sys_("openat2", place.dfd, P(n("c4")), ctypes.byref(how), ctypes.sizeof(how)))
    e("CREATE", a(n("c4")), "openat2")
    # TRUNCATE
    for name in ("t1", "t2", "t3"):
        touch(a(n(name)), ok)
    os.close(sys_("openat", place.dfd, P(n("t1")), os.O_WRONLY | os.O_TRUNC))
    e("TRUNCATE", a(n("t1")), "openat")
    if legacy:
        assert sys_("truncate", P(n("t2")), 0) == 0
        e("TRUNCATE", a(n("t2")), "truncate")
    fd = sys_("openat", place.dfd, P(n("t3")), os.O_WRONLY)
    e("WRITE", a(n("t3")), "openat")
    assert sys_("ftruncate", fd, 0) == 0
    e("TRUNCATE", a(n("t3")), "ftruncate")
    os.close(fd)
    # RENAME
    for name in ("r1", "r2", "r3", "r4"):
        touch(a(n(name)), ok)
    if legacy:
        assert sys_("rename", P(n("r1")), P(n("r1b"))) == 0
        e("RENAME", a(n("r1")), "rename", a(n("r1b")))
        os.rename(P(n("r4")), P(n("r4b")))  # the os module: whichever syscall libc uses
        e("RENAME", a(n("r4")), None, a(n("r4b")))
    assert sys_("renameat", place.dfd, P(n("r2")), place.dfd, P(n("r2b"))) == 0
    e("RENAME", a(n("r2")), "renameat", a(n("r2b")))
    assert sys_("renameat2", place.dfd, P(n("r3")), place.dfd, P(n("r3b")), 0) == 0
    e("RENAME", a(n("r3")), "renameat2", a(n("r3b")))
    # DELETE
    for name in ("d1", "d2"):
        touch(a(n(name)), ok)
    os.mkdir(a(n("dd1")))
    e("MKDIR", a(n("dd1")), None)
    if legacy:
        assert sys_("unlink", P(n("d1"))) == 0
        e("DELETE", a(n("d1")), "unlink")
        assert sys_("rmdir", P(n("dd1"))) == 0
        e("DELETE", a(n("dd1")), "rmdir")
    else:
        assert sys_("unlinkat", place.dfd, P(n("d1")), 0) == 0
        e("DELETE", a(n("d1")), "unlinkat")
        assert sys_("unlinkat", place.dfd, P(n("dd1")), AT_REMOVEDIR) == 0
        e("DELETE", a(n("dd1")), "unlinkat")
    os.unlink(P(n("d2")), dir_fd=None if place.dfd == AT_FDCWD else place.dfd)
    e("DELETE", a(n("d2")), None)
    # CHMOD
    for name in ("m1", "m2", "m3", "m4"):
        touch(a(n(name)), ok)
    if legacy:
        assert sys_("chmod", P(n("m1")), 0o600) == 0
        e("CHMOD", a(n("m1")), "chmod")
    assert sys_("fchmodat", place.dfd, P(n("m2")), 0o640) == 0
    e("CHMOD", a(n("m2")), "fchmodat")
    ret = sys_("fchmodat2", place.dfd, P(n("m3")), 0o604, 0)
    if ret != -38:  # ENOSYS: fchmodat2 came in Linux 6.6
        assert ret == 0
        e("CHMOD", a(n("m3")), "fchmodat2")
    fd = os.open(a(n("m4")), os.O_RDONLY)
    assert sys_("fchmod", fd, 0o644) == 0
    e("CHMOD", a(n("m4")), "fchmod")
    os.close(fd)
    # CHOWN (to root: a no-op change that still succeeds)
    for name in ("o1", "o2", "o3", "o4", "o5"):
        touch(a(n(name)), ok)
    if legacy:
        assert sys_("chown", P(n("o1")), 0, 0) == 0
        e("CHOWN", a(n("o1")), "chown")
        assert sys_("lchown", P(n("o2")), 0, -1) == 0
        e("CHOWN", a(n("o2")), "lchown")
    assert sys_("fchownat", place.dfd, P(n("o3")), -1, 0, 0) == 0
    e("CHOWN", a(n("o3")), "fchownat")
    fd = os.open(a(n("o4")), os.O_RDONLY)
    assert sys_("fchown", fd, 0, 0) == 0
    e("CHOWN", a(n("o4")), "fchown")
    os.close(fd)
    # fchownat(fd, "", AT_EMPTY_PATH): the fd itself
    fd = os.open(a(n("o5")), os.O_RDONLY)
    assert sys_("fchownat", fd, "", 0, 0, AT_EMPTY_PATH) == 0
    e("CHOWN", a(n("o5")), "fchownat")
    os.close(fd)
    # LINK and SYMLINK
    touch(a(n("l0")), ok)
    if legacy:
        assert sys_("link", P(n("l0")), P(n("l1"))) == 0
        e("LINK", a(n("l0")), "link", a(n("l1")))
        assert sys_("symlink", "/etc/hostname", P(n("s1"))) == 0
        e("SYMLINK", "/etc/hostname", "symlink", a(n("s1")))
    assert sys_("linkat", place.dfd, P(n("l0")), place.dfd, P(n("l2")), 0) == 0
    e("LINK", a(n("l0")), "linkat", a(n("l2")))
    assert sys_("symlinkat", "relative/target", place.dfd, P(n("s2"))) == 0
    e("SYMLINK", "relative/target", "symlinkat", a(n("s2")))
    # MKDIR
    if legacy:
        assert sys_("mkdir", P(n("k1")), 0o755) == 0
        e("MKDIR", a(n("k1")), "mkdir")
    assert sys_("mkdirat", place.dfd, P(n("k2")), 0o700) == 0
    e("MKDIR", a(n("k2")), "mkdirat")


def main():
    watched, outside = sys.argv[1], sys.argv[2]
    deny = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--deny" else None
    print("waiting", flush=True)
    sys.stdin.readline()
    for style in ("abs", "rel", "dirfd"):
        for root, ok in ((watched, True), (outside, False)):
            place = Place(style, root)
            os.chdir(root if style == "rel" else "/")
            changes(root, place, ok)
    # into and out of the watched tree
    touch(os.path.join(outside, "incoming"))
    os.rename(os.path.join(outside, "incoming"), os.path.join(watched, "incoming"))
    expect("RENAME", os.path.join(outside, "incoming"), None, os.path.join(watched, "incoming"))
    os.link(os.path.join(watched, "incoming"), os.path.join(outside, "hardlink"))
    expect("LINK", os.path.join(watched, "incoming"), None, os.path.join(outside, "hardlink"))
    # ".." through the outside tree into the watched one: judged in user space
    os.chdir(outside)
    rel = os.path.relpath(os.path.join(watched, "dotdot"), outside)
    assert rel.startswith("..")
    touch(rel)
    expect("CREATE", os.path.join(watched, "dotdot"), "openat")
    if deny:
        os.chdir("/")
        os.setgid(65534)
        os.setuid(65534)
        try:
            os.open(deny, os.O_WRONLY)
        except PermissionError:
            expect("WRITE", deny, "openat", result=13)  # only with --attempts
    print("done", flush=True)


main()
