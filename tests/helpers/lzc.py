"""Drive the REAL libzfs_core and libnvpair (Debian's packages) from Python, on a machine with no
ZFS module, so that snapaudit's tests see the exact ioctls and packed nvlists that `zfs` sends.

The libraries come from scripts/fetch-zfs-libs.sh, which downloads and unpacks them without
installing them (default ~/.cache/bpfkit/zfs-libs; BPFKIT_ZFS_LIBS overrides). They are opened
by absolute path: libnvpair first, RTLD_GLOBAL, so that libzfs_core's DT_NEEDED
"libnvpair.so.3" resolves to the already loaded copy by its soname. No LD_LIBRARY_PATH, nothing
installed. Their other dependencies (libtirpc3, libuuid1, libblkid1, libudev1, zlib1g) are part
of a Debian base system.

Two layers:
- nvlists: `build(spec)` / `pack(spec, xdr=False)` make nvlists with libnvpair from a Python
  description (see `build`), and `unpack(buf)` reads packed bytes back with libnvpair, giving
  an expected value that owes nothing to snapaudit's own decoder.
- `Lzc`: one method per libzfs_core operation, each returning the errno it got (0 = success),
  plus `log_history`, `tmp_snapshot` and `raw_ioctl` for what only libzfs sends (it builds a
  zfs_cmd_t itself and calls zfs_ioctl_fd(), exported by libzfs_core).

libzfs_core_init() just opens /dev/zfs (O_RDWR|O_CLOEXEC); every lzc_* call is then one
ioctl(fd, ZFS_IOC_*, &zfs_cmd) and nothing else. `run_in_fake_zfs_namespace()` provides that
/dev/zfs without a ZFS module and without touching the host's /dev: in a child process, a
private mount namespace (unshare(CLONE_NEWNS), "/" made rprivate) gets a fresh tmpfs over /dev
holding a few standard nodes and `zfs` as character device 1:3. Major 1 minor 3 is the kernel's
/dev/null (drivers/char/mem.c, always built in): opening it O_RDWR works and its
file_operations have no ioctl handler, so every ZFS ioctl fails with ENOTTY after the syscall
was made with its genuine number and zfs_cmd_t. Nothing else answers: no state, no side effects.
The namespace, and so the mount, dies with the child.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import signal
import stat
import struct
import subprocess
import sys
import time
import traceback
from pathlib import Path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from typing import Any

DEFAULT_CACHE = Path(os.environ.get("BPFKIT_ZFS_LIBS") or Path.home() / ".cache/bpfkit/zfs-libs")
FETCH_SCRIPT = Path(__file__).resolve().parents[2] / "scripts/fetch-zfs-libs.sh"

NV_ENCODE_NATIVE, NV_ENCODE_XDR = 0, 1
NV_UNIQUE_NAME = 1

# zfs_ioc_t on Linux: ZFS_IOC_FIRST = 'Z' << 8 = 0x5a00, then the enum index (include/sys/fs/zfs.h).
# Unchanged from openzfs 0.8 through 2.3 and master; see shared/notes/zfs.md.
ZFS_IOC = {
    "CREATE": 0x5A17, "DESTROY": 0x5A18, "ROLLBACK": 0x5A19, "RENAME": 0x5A1A, "RECV": 0x5A1B,
    "PROMOTE": 0x5A22, "SNAPSHOT": 0x5A23, "OBJSET_STATS": 0x5A12, "HOLD": 0x5A30, "RELEASE": 0x5A31,
    "GET_HOLDS": 0x5A32, "TMP_SNAPSHOT": 0x5A37, "DESTROY_SNAPS": 0x5A3B, "LOG_HISTORY": 0x5A3F,
    "CLONE": 0x5A42, "BOOKMARK": 0x5A43, "GET_BOOKMARKS": 0x5A44, "DESTROY_BOOKMARKS": 0x5A45,
    "RECV_NEW": 0x5A46, "CHANNEL_PROGRAM": 0x5A48, "REDACT": 0x5A51,
}

# zfs_cmd_t on x86-64 (13744 bytes; same in 2.1, 2.2, 2.3 and master): offsets used here.
ZFS_CMD_SIZE = 13744
ZC = {
    "name": 0, "nvlist_src": 4096, "nvlist_src_size": 4104, "nvlist_dst": 4112, "nvlist_dst_size": 4120,
    "nvlist_dst_filled": 4128, "history": 4136, "value": 4144, "string": 12336, "guid": 12592,
    "nvlist_conf": 12600, "nvlist_conf_size": 12608, "cookie": 12616, "objset_type": 12624,
    "begin_record": 12992, "defer_destroy": 13648, "flags": 13652, "action_handle": 13656,
    "cleanup_fd": 13664,
}
ZC_LEN = {"name": 4096, "value": 8192, "string": 256}


class LibsMissing(RuntimeError):
    """The unpacked ZFS libraries are not there: run scripts/fetch-zfs-libs.sh."""


def lib_dir(cache: Path | None = None) -> Path:
    """The directory holding libzfs_core.so.3 and libnvpair.so.3 in the unpacked packages."""
    root = (cache or DEFAULT_CACHE) / "root"
    for d in sorted(root.glob("**/lib*/*-linux-gnu*")) + sorted(root.glob("**/lib*")):
        if d.is_dir() and any(d.glob("libzfs_core.so.*")) and any(d.glob("libnvpair.so.*")):
            return d
    raise LibsMissing(f"no libzfs_core/libnvpair under {root}: run {FETCH_SCRIPT}")


def _soname_file(d: Path, stem: str) -> Path:
    # The soname link (libnvpair.so.3), not the dev link (absent) nor the full version.
    cands = sorted((p for p in d.glob(f"{stem}.so.*") if p.name.count(".") == 2), key=lambda p: p.name)
    if not cands:
        raise LibsMissing(f"no {stem}.so.N in {d}")
    return cands[-1]


class Libs:
    """libnvpair and libzfs_core, opened by absolute path, with C prototypes declared."""

    _loaded: Libs | None = None

    def __init__(self, cache: Path | None = None) -> None:
        d = lib_dir(cache)
        self.dir = d
        self.nv = ctypes.CDLL(str(_soname_file(d, "libnvpair")), mode=ctypes.RTLD_GLOBAL, use_errno=True)
        self.zc = ctypes.CDLL(str(_soname_file(d, "libzfs_core")), use_errno=True)
        self.libc = ctypes.CDLL(None, use_errno=True)
        _declare(self)

    @classmethod
    def get(cls) -> Libs:
        if cls._loaded is None:
            cls._loaded = cls()
        return cls._loaded


P, INT, U, S = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint, ctypes.c_char_p
U64, I64 = ctypes.c_uint64, ctypes.c_int64
PP = ctypes.POINTER(ctypes.c_void_p)

# libnvpair value types: (C type of one element, nvlist_add_X, nvpair_value_X)
_NV_TYPES: dict[str, Any] = {
    "boolean_value": INT, "byte": ctypes.c_ubyte, "int8": ctypes.c_int8, "uint8": ctypes.c_uint8,
    "int16": ctypes.c_int16, "uint16": ctypes.c_uint16, "int32": ctypes.c_int32, "uint32": ctypes.c_uint32,
    "int64": I64, "uint64": U64, "hrtime": I64, "double": ctypes.c_double,
}
_NV_ARRAYS: dict[str, Any] = {
    "boolean_array": INT, "byte_array": ctypes.c_ubyte, "int8_array": ctypes.c_int8,
    "uint8_array": ctypes.c_uint8, "int16_array": ctypes.c_int16, "uint16_array": ctypes.c_uint16,
    "int32_array": ctypes.c_int32, "uint32_array": ctypes.c_uint32, "int64_array": I64, "uint64_array": U64,
}
# data_type_t numbers (include/sys/nvpair.h)
DATA_TYPE = {
    "boolean": 1, "byte": 2, "int16": 3, "uint16": 4, "int32": 5, "uint32": 6, "int64": 7, "uint64": 8,
    "string": 9, "byte_array": 10, "int16_array": 11, "uint16_array": 12, "int32_array": 13,
    "uint32_array": 14, "int64_array": 15, "uint64_array": 16, "string_array": 17, "hrtime": 18,
    "nvlist": 19, "nvlist_array": 20, "boolean_value": 21, "int8": 22, "uint8": 23, "boolean_array": 24,
    "int8_array": 25, "uint8_array": 26, "double": 27,
}
DATA_TYPE_NAME = {v: k for k, v in DATA_TYPE.items()}


def _declare(libs: Libs) -> None:
    nv, zc = libs.nv, libs.zc
    sig = {
        "nvlist_alloc": (INT, [PP, U, INT]), "nvlist_free": (None, [P]),
        "nvlist_pack": (INT, [P, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t), INT, INT]),
        "nvlist_unpack": (INT, [ctypes.c_char_p, ctypes.c_size_t, PP, INT]),
        "nvlist_next_nvpair": (P, [P, P]), "nvpair_name": (S, [P]), "nvpair_type": (INT, [P]),
        "nvlist_add_boolean": (INT, [P, S]), "nvlist_add_string": (INT, [P, S, S]),
        "nvlist_add_nvlist": (INT, [P, S, P]), "nvlist_add_string_array": (INT, [P, S, P, U]),
        "nvlist_add_nvlist_array": (INT, [P, S, P, U]), "nvpair_value_string": (INT, [P, PP]),
        "nvpair_value_nvlist": (INT, [P, PP]), "nvpair_value_string_array": (INT, [P, PP, ctypes.POINTER(U)]),
        "nvpair_value_nvlist_array": (INT, [P, PP, ctypes.POINTER(U)]),
    }
    for t, ct in _NV_TYPES.items():
        sig[f"nvlist_add_{t}"] = (INT, [P, S, ct])
        sig[f"nvpair_value_{t}"] = (INT, [P, ctypes.POINTER(ct)])
    for t in _NV_ARRAYS:
        sig[f"nvlist_add_{t}"] = (INT, [P, S, P, U])
        sig[f"nvpair_value_{t}"] = (INT, [P, PP, ctypes.POINTER(U)])
    for name, (res, args) in sig.items():
        f = getattr(nv, name)
        f.restype, f.argtypes = res, args
    zsig = {
        "libzfs_core_init": (INT, []), "libzfs_core_fini": (None, []),
        "lzc_snapshot": (INT, [P, P, PP]), "lzc_destroy_snaps": (INT, [P, INT, PP]),
        "lzc_rename": (INT, [S, S]), "lzc_destroy": (INT, [S]), "lzc_exists": (INT, [S]),
        "lzc_rollback": (INT, [S, ctypes.c_char_p, INT]), "lzc_rollback_to": (INT, [S, S]),
        "lzc_hold": (INT, [P, INT, PP]), "lzc_release": (INT, [P, PP]), "lzc_get_holds": (INT, [S, PP]),
        "lzc_bookmark": (INT, [P, PP]), "lzc_destroy_bookmarks": (INT, [P, PP]),
        "lzc_get_bookmarks": (INT, [S, P, PP]),
        "lzc_clone": (INT, [S, S, P]), "lzc_promote": (INT, [S, ctypes.c_char_p, INT]),
        "lzc_create": (INT, [S, INT, P, P, U]),
        "lzc_channel_program": (INT, [S, S, U64, U64, P, PP]),
        "lzc_channel_program_nosync": (INT, [S, S, U64, U64, P, PP]),
        "lzc_redact": (INT, [S, S, P]),
        "lzc_receive": (INT, [S, P, S, INT, INT, INT]),
        "lzc_receive_resumable": (INT, [S, P, S, INT, INT, INT]),
        "zfs_ioctl_fd": (INT, [INT, ctypes.c_ulong, P]),
    }
    for name, (res, args) in zsig.items():
        f = getattr(zc, name)
        f.restype, f.argtypes = res, args


# ---------------------------------------------------------------------------------------------
# nvlists


class Typed:
    """A value with an explicit nvpair type, e.g. Typed('int32', 5), Typed('uint8_array', [1, 2])."""

    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: Any) -> None:
        if kind not in DATA_TYPE:
            raise ValueError(f"unknown nvpair type {kind!r}")
        self.kind, self.value = kind, value


class Multi:
    """An embedded nvlist WITHOUT NV_UNIQUE_NAME, so a name may repeat: Multi([(k, v), (k, v2)])."""

    __slots__ = ("pairs",)

    def __init__(self, pairs: Iterable[tuple[str | bytes, Any]]) -> None:
        self.pairs = list(pairs)


def _b(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else s.encode("utf-8", "surrogateescape")


def build(spec: Mapping[str | bytes, Any] | Multi, libs: Libs | None = None) -> int:
    """Make an nvlist with libnvpair; the caller frees it with free(). Value mapping:

    None -> BOOLEAN (a name with no value, as fnvlist_add_boolean), bool -> BOOLEAN_VALUE,
    int -> UINT64, float -> DOUBLE, str or bytes -> STRING, dict -> NVLIST (NV_UNIQUE_NAME, as
    fnvlist_alloc), Multi -> NVLIST allowing repeated names, list of str -> STRING_ARRAY, list
    of dict -> NVLIST_ARRAY, Typed(kind, value) -> that type. Keys are str or raw bytes.
    """
    lb = libs or Libs.get()
    nv = lb.nv
    pairs = spec.pairs if isinstance(spec, Multi) else list(spec.items())
    h = ctypes.c_void_p()
    err = nv.nvlist_alloc(ctypes.byref(h), 0 if isinstance(spec, Multi) else NV_UNIQUE_NAME, 0)
    if err:
        raise OSError(err, "nvlist_alloc")
    try:
        for k, v in pairs:
            _add(lb, h.value, _b(k), v)
    except BaseException:
        nv.nvlist_free(h.value)
        raise
    return h.value


def free(nvl: int | None, libs: Libs | None = None) -> None:
    if nvl:
        (libs or Libs.get()).nv.nvlist_free(nvl)


def _add(lb: Libs, h: int, key: bytes, v: Any) -> None:
    nv = lb.nv
    if isinstance(v, Typed):
        kind, val = v.kind, v.value
    elif v is None:
        kind, val = "boolean", None
    elif isinstance(v, bool):
        kind, val = "boolean_value", v
    elif isinstance(v, int):
        kind, val = "uint64", v
    elif isinstance(v, float):
        kind, val = "double", v
    elif isinstance(v, (str, bytes)):
        kind, val = "string", v
    elif isinstance(v, (dict, Multi)):
        kind, val = "nvlist", v
    elif isinstance(v, list) and v and all(isinstance(x, (dict, Multi)) for x in v):
        kind, val = "nvlist_array", v
    elif isinstance(v, list) and all(isinstance(x, (str, bytes)) for x in v):
        kind, val = "string_array", v
    else:
        raise TypeError(f"no nvpair type for {v!r}: use Typed()")
    if kind == "boolean":
        err = nv.nvlist_add_boolean(h, key)
    elif kind == "string":
        err = nv.nvlist_add_string(h, key, _b(val))
    elif kind in _NV_TYPES:
        err = getattr(nv, f"nvlist_add_{kind}")(h, key, val)
    elif kind in _NV_ARRAYS:
        ct = _NV_ARRAYS[kind]
        items = list(val)
        arr = (ct * max(len(items), 1))(*items)
        err = getattr(nv, f"nvlist_add_{kind}")(h, key, ctypes.cast(arr, P), len(items))
    elif kind == "string_array":
        arr = (ctypes.c_char_p * max(len(val), 1))(*[_b(x) for x in val])
        err = nv.nvlist_add_string_array(h, key, ctypes.cast(arr, P), len(val))
    elif kind == "nvlist":
        sub = build(val, lb)
        try:
            err = nv.nvlist_add_nvlist(h, key, sub)  # copies it
        finally:
            nv.nvlist_free(sub)
    elif kind == "nvlist_array":
        subs = [build(x, lb) for x in val]
        try:
            arr = (ctypes.c_void_p * max(len(subs), 1))(*subs)
            err = nv.nvlist_add_nvlist_array(h, key, ctypes.cast(arr, P), len(subs))
        finally:
            for s in subs:
                nv.nvlist_free(s)
    else:
        raise TypeError(f"cannot add {kind}")
    if err:
        raise OSError(err, f"nvlist_add_{kind}({key!r})")


def pack_nvl(nvl: int, xdr: bool = False, libs: Libs | None = None) -> bytes:
    lb = libs or Libs.get()
    buf, size = ctypes.c_char_p(), ctypes.c_size_t(0)
    enc = NV_ENCODE_XDR if xdr else NV_ENCODE_NATIVE
    err = lb.nv.nvlist_pack(nvl, ctypes.byref(buf), ctypes.byref(size), enc, 0)
    if err:
        raise OSError(err, "nvlist_pack")
    try:
        return ctypes.string_at(buf, size.value)
    finally:
        lb.libc.free(buf)


def pack(spec: Mapping[str | bytes, Any] | Multi, xdr: bool = False, libs: Libs | None = None) -> bytes:
    """nvlist_pack(build(spec), NV_ENCODE_NATIVE or NV_ENCODE_XDR): the bytes an ioctl carries."""
    nvl = build(spec, libs)
    try:
        return pack_nvl(nvl, xdr, libs)
    finally:
        free(nvl, libs)


def unpack(buf: bytes, libs: Libs | None = None) -> list[tuple[str, str, Any]]:
    """nvlist_unpack() then a walk with nvlist_next_nvpair(): [(name, type, value)], in order and
    with repeated names kept. Nested lists are such lists too; BOOLEAN -> True, BYTE_ARRAY -> bytes,
    strings with 'surrogateescape'. Raises OSError if libnvpair refuses the bytes."""
    lb = libs or Libs.get()
    h = ctypes.c_void_p()
    err = lb.nv.nvlist_unpack(buf, len(buf), ctypes.byref(h), 0)
    if err:
        raise OSError(err, "nvlist_unpack")
    try:
        return _walk(lb, h.value)
    finally:
        lb.nv.nvlist_free(h.value)


def _walk(lb: Libs, h: int) -> list[tuple[str, str, Any]]:
    nv = lb.nv
    out: list[tuple[str, str, Any]] = []
    nvp = nv.nvlist_next_nvpair(h, None)
    while nvp:
        name = nv.nvpair_name(nvp).decode("utf-8", "surrogateescape")
        kind = DATA_TYPE_NAME[nv.nvpair_type(nvp)]
        out.append((name, kind, _value(lb, nvp, kind)))
        nvp = nv.nvlist_next_nvpair(h, nvp)
    return out


def _value(lb: Libs, nvp: int, kind: str) -> Any:
    nv = lb.nv
    if kind == "boolean":
        return True
    if kind in _NV_TYPES:
        c = _NV_TYPES[kind]()
        _ok(getattr(nv, f"nvpair_value_{kind}")(nvp, ctypes.byref(c)))
        return bool(c.value) if kind == "boolean_value" else c.value
    p, n = ctypes.c_void_p(), ctypes.c_uint(0)
    if kind == "string":
        _ok(nv.nvpair_value_string(nvp, ctypes.byref(p)))
        return ctypes.string_at(p.value).decode("utf-8", "surrogateescape")
    if kind == "nvlist":
        _ok(nv.nvpair_value_nvlist(nvp, ctypes.byref(p)))
        return _walk(lb, p.value)
    _ok(getattr(nv, f"nvpair_value_{kind}")(nvp, ctypes.byref(p), ctypes.byref(n)))
    if kind in _NV_ARRAYS:
        if n.value == 0:
            return b"" if kind == "byte_array" else []
        vals = list((_NV_ARRAYS[kind] * n.value).from_address(p.value))
        if kind == "byte_array":
            return bytes(vals)
        return [bool(v) for v in vals] if kind == "boolean_array" else vals
    ptrs = (ctypes.c_void_p * n.value).from_address(p.value) if n.value else []
    if kind == "string_array":
        return [ctypes.string_at(x).decode("utf-8", "surrogateescape") for x in ptrs]
    return [_walk(lb, x) for x in ptrs]  # nvlist_array


def _ok(err: int) -> None:
    if err:
        raise OSError(err, "nvpair_value")


def as_dict(pairs: list[tuple[str, str, Any]], path: tuple[str, ...] = (),
            dups: list[tuple[str, ...]] | None = None) -> dict[str, Any]:
    """A walk as a dict the way the kernel's lookups see it: a repeated name keeps its last value
    (its path goes to `dups`). Nested walks become dicts, nvlist arrays lists of dicts."""
    out: dict[str, Any] = {}
    for name, kind, v in pairs:
        if kind == "nvlist":
            v = as_dict(v, (*path, name), dups)
        elif kind == "nvlist_array":
            v = [as_dict(x, (*path, name, str(i)), dups) for i, x in enumerate(v)]
        if name in out:
            if dups is not None:
                dups.append((*path, name))
            del out[name]
        out[name] = v
    return out


# ---------------------------------------------------------------------------------------------
# libzfs_core


class Lzc:
    """libzfs_core, initialised: one method per operation, each returning the errno (0 = success).

    With a fake /dev/zfs (run_in_fake_zfs_namespace) every call returns ENOTTY (25) after issuing
    its real ioctl. Name arguments are str or raw bytes. Methods build their nvlists exactly as
    libzfs does before calling lzc_* (e.g. snapshot names are BOOLEAN pairs).
    """

    def __init__(self, libs: Libs | None = None) -> None:
        self.libs = libs or Libs.get()
        err = self.libs.zc.libzfs_core_init()
        if err:
            raise OSError(err, f"libzfs_core_init: {os.strerror(err)}", "/dev/zfs")
        self._fd: int | None = None

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.libs.zc.libzfs_core_fini()

    def __enter__(self) -> Lzc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # helpers -----------------------------------------------------------------------------------
    def _call_nvl(self, fn: Callable[..., int], spec: Any, *rest: Any, errlist: bool = True) -> int:
        nvl = build(spec, self.libs)
        out = ctypes.c_void_p()
        try:
            return fn(nvl, *rest, ctypes.byref(out)) if errlist else fn(nvl, *rest)
        finally:
            free(nvl, self.libs)
            free(out.value, self.libs)

    def _with_out(self, fn: Callable[..., int], *args: Any) -> int:
        out = ctypes.c_void_p()
        try:
            return fn(*args, ctypes.byref(out))
        finally:
            free(out.value, self.libs)

    # snapshots ---------------------------------------------------------------------------------
    def snapshot(self, names: Iterable[str | bytes], props: Mapping[str, Any] | None = None) -> int:
        """lzc_snapshot: ZFS_IOC_SNAPSHOT {snaps: {name: BOOLEAN...}, props: {...}}, zc_name = pool."""
        snaps = build({_b(n): None for n in names}, self.libs)
        pr = build(dict(props), self.libs) if props is not None else None
        out = ctypes.c_void_p()
        try:
            return self.libs.zc.lzc_snapshot(snaps, pr, ctypes.byref(out))
        finally:
            free(snaps, self.libs)
            free(pr, self.libs)
            free(out.value, self.libs)

    def destroy_snaps(self, names: Iterable[str | bytes], defer: bool = False) -> int:
        """lzc_destroy_snaps: ZFS_IOC_DESTROY_SNAPS {snaps: {name: BOOLEAN}, [defer: BOOLEAN]}."""
        return self._call_nvl(self.libs.zc.lzc_destroy_snaps, {_b(n): None for n in names}, int(defer))

    def rename(self, source: str | bytes, target: str | bytes) -> int:
        """lzc_rename: legacy ZFS_IOC_RENAME, zc_name = source, zc_value = target, zc_cookie 0."""
        return self.libs.zc.lzc_rename(_b(source), _b(target))

    def destroy(self, name: str | bytes) -> int:
        """lzc_destroy: ZFS_IOC_DESTROY (a legacy ioctl) with zc_name and an EMPTY nvlist."""
        return self.libs.zc.lzc_destroy(_b(name))

    def exists(self, name: str | bytes) -> bool:
        """lzc_exists: legacy ZFS_IOC_OBJSET_STATS on zc_name."""
        return bool(self.libs.zc.lzc_exists(_b(name)))

    def rollback(self, fsname: str | bytes) -> int:
        """lzc_rollback: ZFS_IOC_ROLLBACK, zc_name = fs, empty nvlist (to the latest snapshot)."""
        buf = ctypes.create_string_buffer(256)
        return self.libs.zc.lzc_rollback(_b(fsname), buf, len(buf))

    def rollback_to(self, fsname: str | bytes, snapname: str | bytes) -> int:
        """lzc_rollback_to: ZFS_IOC_ROLLBACK, zc_name = fs, {target: snapshot}."""
        return self.libs.zc.lzc_rollback_to(_b(fsname), _b(snapname))

    def hold(self, holds: Mapping[str | bytes, str | bytes], cleanup_fd: int = -1) -> int:
        """lzc_hold: ZFS_IOC_HOLD {holds: {snap: tag}, [cleanup_fd: INT32]}, zc_name = pool."""
        return self._call_nvl(self.libs.zc.lzc_hold, {_b(k): _b(v) for k, v in holds.items()}, cleanup_fd)

    def release(self, holds: Mapping[str | bytes, Iterable[str | bytes]]) -> int:
        """lzc_release: ZFS_IOC_RELEASE {snap: {tag: BOOLEAN}} (no wrapper key), zc_name = pool."""
        spec = {_b(s): {_b(t): None for t in tags} for s, tags in holds.items()}
        return self._call_nvl(self.libs.zc.lzc_release, spec)

    def get_holds(self, snapname: str | bytes) -> int:
        """lzc_get_holds: ZFS_IOC_GET_HOLDS, zc_name = snapshot, no input nvlist."""
        return self._with_out(self.libs.zc.lzc_get_holds, _b(snapname))

    def tmp_snapshot(self, fsname: str | bytes, prefix: str | bytes, cleanup_fd: int) -> int:
        """As libzfs's `zfs diff` (make_temp_snapshot): legacy ZFS_IOC_TMP_SNAPSHOT, zc_name = fs,
        zc_value = snapshot name prefix, zc_cleanup_fd. Not in libzfs_core: built here."""
        return self.raw_ioctl(ZFS_IOC["TMP_SNAPSHOT"], name=fsname, value=prefix, cleanup_fd=cleanup_fd)

    # bookmarks ---------------------------------------------------------------------------------
    def bookmark(self, bookmarks: Mapping[str | bytes, str | bytes]) -> int:
        """lzc_bookmark: ZFS_IOC_BOOKMARK {bookmark: source snapshot or bookmark}, zc_name = pool."""
        return self._call_nvl(self.libs.zc.lzc_bookmark, {_b(k): _b(v) for k, v in bookmarks.items()})

    def destroy_bookmarks(self, names: Iterable[str | bytes]) -> int:
        """lzc_destroy_bookmarks: ZFS_IOC_DESTROY_BOOKMARKS {bookmark: BOOLEAN}, zc_name = pool."""
        return self._call_nvl(self.libs.zc.lzc_destroy_bookmarks, {_b(n): None for n in names})

    def get_bookmarks(self, fsname: str | bytes, props: Iterable[str] = ()) -> int:
        """lzc_get_bookmarks: ZFS_IOC_GET_BOOKMARKS, zc_name = fs, {property: BOOLEAN}."""
        nvl = build({p: None for p in props}, self.libs)
        try:
            return self._with_out(self.libs.zc.lzc_get_bookmarks, _b(fsname), nvl)
        finally:
            free(nvl, self.libs)

    def redact(self, snapshot: str | bytes, bookname: str | bytes, snaps: Iterable[str | bytes]) -> int:
        """lzc_redact: ZFS_IOC_REDACT, zc_name = snapshot, {bookname: short name, snapnv: {snap: BOOLEAN}}:
        creates the redaction bookmark snapshot's-fs#bookname."""
        nvl = build({_b(s): None for s in snaps}, self.libs)
        try:
            return self.libs.zc.lzc_redact(_b(snapshot), _b(bookname), nvl)
        finally:
            free(nvl, self.libs)

    # datasets ----------------------------------------------------------------------------------
    def create(self, fsname: str | bytes, props: Mapping[str, Any] | None = None, zvol: bool = False,
               wkeydata: bytes | None = None) -> int:
        """lzc_create: ZFS_IOC_CREATE {type: INT32 (dmu_objset_type_t: 2 = ZFS, 3 = ZVOL), props,
        hidden_args: {wkeydata: UINT8_ARRAY}} (the raw wrapping key of an encrypted dataset)."""
        pr = build(dict(props), self.libs) if props is not None else None
        key = ctypes.create_string_buffer(wkeydata, len(wkeydata)) if wkeydata is not None else None
        try:
            return self.libs.zc.lzc_create(_b(fsname), 3 if zvol else 2, pr, key, len(wkeydata or b""))
        finally:
            free(pr, self.libs)

    def clone(self, fsname: str | bytes, origin: str | bytes, props: Mapping[str, Any] | None = None) -> int:
        """lzc_clone: ZFS_IOC_CLONE, zc_name = new fs, {origin: snapshot, [props]}."""
        pr = build(dict(props), self.libs) if props is not None else None
        try:
            return self.libs.zc.lzc_clone(_b(fsname), _b(origin), pr)
        finally:
            free(pr, self.libs)

    def promote(self, fsname: str | bytes) -> int:
        """lzc_promote: legacy ZFS_IOC_PROMOTE, zc_name = the clone (zc_string returns a conflict)."""
        buf = ctypes.create_string_buffer(256)
        return self.libs.zc.lzc_promote(_b(fsname), buf, len(buf))

    def receive(self, snapname: str | bytes, fd: int, origin: str | bytes | None = None, force: bool = False,
                resumable: bool = False, props: Mapping[str, Any] | None = None) -> int:
        """lzc_receive / lzc_receive_resumable. First lzc_exists(fs) (OBJSET_STATS) and, if that
        fails, of its parent; then it reads a 312-byte BEGIN record from fd. Plain: legacy
        ZFS_IOC_RECV (zc_name = fs, zc_value = snapshot, zc_string = origin, zc_guid = force,
        zc_cookie = fd). Resumable: ZFS_IOC_RECV_NEW {snapname, begin_record, input_fd, ...}.
        With no pool, the snapshot's fs must have a parent ('pool/fs@s') or it stops at ENOENT."""
        pr = build(dict(props), self.libs) if props is not None else None
        fn = self.libs.zc.lzc_receive_resumable if resumable else self.libs.zc.lzc_receive
        try:
            return fn(_b(snapname), pr, _b(origin) if origin is not None else None, int(force), 0, fd)
        finally:
            free(pr, self.libs)

    def channel_program(self, pool: str | bytes, program: str | bytes, args: Any = None, *, sync: bool = True,
                        instrlimit: int = 10_000_000, memlimit: int = 10 << 20) -> int:
        """lzc_channel_program(_nosync): ZFS_IOC_CHANNEL_PROGRAM, zc_name = pool, {program: STRING,
        arg: NVLIST, sync: BOOLEAN_VALUE, instrlimit: UINT64, memlimit: UINT64}. `zfs program`
        passes arg = {argv: [script args]}. A program can snapshot, destroy, rename, promote,
        rollback, bookmark... from inside the kernel: the names are only in its source text."""
        argnvl = build(args if args is not None else {}, self.libs)
        fn = self.libs.zc.lzc_channel_program if sync else self.libs.zc.lzc_channel_program_nosync
        try:
            return self._with_out(fn, _b(pool), _b(program), instrlimit, memlimit, argnvl)
        finally:
            free(argnvl, self.libs)

    # what only libzfs does ---------------------------------------------------------------------
    def log_history(self, message: str | bytes) -> int:
        """As libzfs's zpool_log_history() (after each `zfs`/`zpool` command): ZFS_IOC_LOG_HISTORY,
        zc_name empty, {message: "zfs snapshot pool/fs@x"}. The kernel logs it to the pool that
        the previous successful ioctl of this thread named."""
        return self.raw_ioctl(ZFS_IOC["LOG_HISTORY"], nvlist={"message": _b(message)})

    def raw_ioctl(self, ioc: int, *, name: str | bytes = b"", value: str | bytes = b"",
                  string: str | bytes = b"", nvlist: Any = None, cookie: int = 0, objset_type: int = 0,
                  guid: int = 0, cleanup_fd: int = 0, defer_destroy: int = 0, xdr: bool = False,
                  nvlist_bytes: bytes | None = None) -> int:
        """One ioctl with a zfs_cmd_t built here, through libzfs_core's own zfs_ioctl_fd() on a
        separate /dev/zfs descriptor: the way libzfs sends legacy ioctls. `nvlist` (a spec) or
        `nvlist_bytes` (anything, e.g. hostile bytes) goes to zc_nvlist_src. Returns the errno."""
        if self._fd is None:
            self._fd = os.open("/dev/zfs", os.O_RDWR | os.O_CLOEXEC)
        zc = ctypes.create_string_buffer(ZFS_CMD_SIZE)
        for field, text in (("name", name), ("value", value), ("string", string)):
            raw = _b(text)[: ZC_LEN[field] - 1]
            ctypes.memmove(ctypes.addressof(zc) + ZC[field], raw, len(raw))
        src = nvlist_bytes
        if src is None and nvlist is not None:
            src = pack(nvlist, xdr, self.libs)
        keep = ctypes.create_string_buffer(src, len(src)) if src is not None else None
        if keep is not None:
            struct.pack_into("<QQ", zc, ZC["nvlist_src"], ctypes.addressof(keep), len(src or b""))
        struct.pack_into("<Q", zc, ZC["cookie"], cookie)
        struct.pack_into("<Q", zc, ZC["objset_type"], objset_type)
        struct.pack_into("<Q", zc, ZC["guid"], guid)
        struct.pack_into("<i", zc, ZC["cleanup_fd"], cleanup_fd)
        struct.pack_into("<I", zc, ZC["defer_destroy"], defer_destroy)
        rc = self.libs.zc.zfs_ioctl_fd(self._fd, ioc, zc)
        return ctypes.get_errno() if rc != 0 else 0


def all_ops(lzc: Lzc) -> dict[str, int]:
    """Every operation once, with the names used in shared/notes/zfs.md; op -> errno."""
    r, w = os.pipe()
    os.write(w, bytes(312))  # one (zero) dmu_replay_record_t for the receive path
    os.close(w)
    try:
        return {
            "create": lzc.create("tank/fs", {"compression": Typed("uint64", 2)}),
            "snapshot": lzc.snapshot(["tank/fs@a", "tank/fs@b"], {"user:why": "audit"}),
            "destroy_snaps": lzc.destroy_snaps(["tank/fs@a", "tank/fs@b"], defer=True),
            "destroy": lzc.destroy("tank/fs"),
            "rename": lzc.rename("tank/fs@a", "tank/fs@b"),
            "rollback": lzc.rollback("tank/fs"),
            "rollback_to": lzc.rollback_to("tank/fs", "tank/fs@a"),
            "hold": lzc.hold({"tank/fs@a": "keep"}, cleanup_fd=-1),
            "release": lzc.release({"tank/fs@a": ["keep"]}),
            "get_holds": lzc.get_holds("tank/fs@a"),
            "tmp_snapshot": lzc.tmp_snapshot("tank/fs", "zfs-diff-1234", cleanup_fd=-1),
            "bookmark": lzc.bookmark({"tank/fs#bm": "tank/fs@a"}),
            "destroy_bookmarks": lzc.destroy_bookmarks(["tank/fs#bm"]),
            "get_bookmarks": lzc.get_bookmarks("tank/fs", ["guid"]),
            "redact": lzc.redact("tank/fs@b", "redact1", ["tank/clone@x"]),
            "clone": lzc.clone("tank/clone", "tank/fs@a"),
            "promote": lzc.promote("tank/clone"),
            "receive": lzc.receive("tank/fs/new@r", r, force=True),
            "channel_program": lzc.channel_program("tank", "return zfs.sync.snapshot(...)",
                                                   {"argv": ["tank/fs@cp"]}),
            "log_history": lzc.log_history("zfs snapshot tank/fs@a"),
        }
    finally:
        os.close(r)


# ---------------------------------------------------------------------------------------------
# the fake /dev/zfs

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NOEXEC, MS_REC, MS_PRIVATE = 0x2, 0x8, 0x4000, 0x40000
FAKE_ZFS_DEV = (1, 3)  # the kernel's /dev/null: opens O_RDWR, no ioctl handler -> ENOTTY
_STD_NODES = {"null": 3, "zero": 5, "full": 7, "random": 8, "urandom": 9}


def enter_fake_zfs_namespace() -> None:
    """In THIS process: a private mount namespace with a tmpfs /dev holding `zfs` (1:3) and the
    usual null/zero/full/random/urandom nodes and fd/std* links. Meant for a child process
    (preexec_fn, or after fork): the caller's namespace is left as it was. Refuses to create any
    node unless /dev is provably the fresh tmpfs of a new namespace, so a failure can never
    write into the host's /dev."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [S, S, S, ctypes.c_ulong, S]
    before = os.readlink("/proc/self/ns/mnt")
    if libc.unshare(CLONE_NEWNS) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"unshare(CLONE_NEWNS): {os.strerror(e)}")
    if os.readlink("/proc/self/ns/mnt") == before:
        raise OSError("unshare(CLONE_NEWNS) left the mount namespace unchanged")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"making / private: {os.strerror(e)}")
    opts = b"mode=0755,size=64k"
    if libc.mount(b"bpfkit-fake-zfs-dev", b"/dev", b"tmpfs", MS_NOSUID | MS_NOEXEC, opts) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mounting a tmpfs on /dev: {os.strerror(e)}")
    if os.listdir("/dev") or os.statvfs("/dev").f_blocks * os.statvfs("/dev").f_frsize > 1 << 20:
        raise OSError("/dev is not the fresh tmpfs: refusing to create nodes")
    nodes = [(n, os.makedev(1, minor)) for n, minor in _STD_NODES.items()]
    for node, dev in (*nodes, ("zfs", os.makedev(*FAKE_ZFS_DEV))):
        os.mknod(f"/dev/{node}", 0o666 | stat.S_IFCHR, dev)
        os.chmod(f"/dev/{node}", 0o666)  # as on a real system, whatever the umask: any user may open it
    os.symlink("/proc/self/fd", "/dev/fd")
    for i, n in enumerate(("stdin", "stdout", "stderr")):
        os.symlink(f"/proc/self/fd/{i}", f"/dev/{n}")


def run_in_fake_zfs_namespace(target: Callable[[], Any] | Sequence[str], *, timeout: float = 60,
                              **run_kw: Any) -> Any:
    """Run `target` with a fake /dev/zfs (see enter_fake_zfs_namespace) in a child process.

    target is a callable: it runs in a forked child and its return value, which must be JSON
    serialisable, comes back; an exception in it is raised here as RuntimeError with the
    child's traceback. Or an argv: it is run with subprocess.run(argv, **run_kw) (e.g.
    ["strace", "-e", "trace=ioctl", ...]) and the CompletedProcess comes back. Needs root
    (CAP_SYS_ADMIN, CAP_MKNOD). The mounts disappear with the child.
    """
    if not callable(target):
        run_kw.setdefault("timeout", timeout)
        return subprocess.run(list(target), preexec_fn=enter_fake_zfs_namespace, **run_kw)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            enter_fake_zfs_namespace()
            msg = json.dumps({"ok": target()})
        except BaseException:
            msg, code = json.dumps({"error": traceback.format_exc()}), 1
        try:
            with os.fdopen(w, "w") as f:
                f.write(msg)
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise TimeoutError(f"fake-zfs child still running after {timeout} s: killed")
            chunk = os.read(f.fileno(), 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    os.waitpid(pid, 0)
    data = b"".join(chunks).decode()
    if not data:
        raise RuntimeError("fake-zfs child died without an answer")
    res = json.loads(data)
    if "error" in res:
        raise RuntimeError(f"in the fake-zfs namespace:\n{res['error']}")
    return res["ok"]


def _demo() -> None:
    """python3 tests/helpers/lzc.py: every op once in the fake namespace, op -> errno."""

    def ops() -> dict[str, int]:
        with Lzc() as lzc:
            return all_ops(lzc)

    for op, err in run_in_fake_zfs_namespace(ops).items():
        print(f"{op:18s} {err} {os.strerror(err) if err else ''}")


if __name__ == "__main__":
    sys.exit(_demo())
