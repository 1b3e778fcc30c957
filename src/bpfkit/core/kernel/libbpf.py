"""ctypes binding to the system libbpf (libbpf.so.1), and capture of its log.

Only the functions bpfkit uses are declared. libbpf >= 1.0 semantics are
assumed: pointer-returning calls give NULL and set errno; int-returning calls
give a negative errno.
"""

from __future__ import annotations

import ctypes
import os
from _thread import _local
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char_p,
    c_int,
    c_size_t,
    c_uint,
    c_uint32,
    c_uint64,
    c_void_p,
)

from .errors import BPFError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# $BPFKIT_LIBBPF names another libbpf.so (a newer one unpacked beside the
# system's, as the test suite does to run against two versions).
LIBRARY = os.environ.get("BPFKIT_LIBBPF") or "libbpf.so.1"
try:
    _cdll = ctypes.CDLL(LIBRARY, use_errno=True)
except OSError as exc:  # pragma: no cover - depends on the machine
    raise BPFError(f"{LIBRARY} not found: install libbpf1 (apt-get install libbpf1)") from exc

_libc = ctypes.CDLL("libc.so.6", use_errno=True)  # glibc; find_library would fork ldconfig


# libbpf's option structs, each made on first use (PEP 562 __getattr__ below):
# a ctypes Structure costs ~20 µs to create, and a program uses one or two.
_STRUCTS: dict[str, list[tuple[str, Any]]] = {
    "ObjectOpenOpts": [  # struct bpf_object_open_opts
        ("sz", c_size_t), ("object_name", c_char_p), ("relaxed_maps", c_bool),
        ("pin_root_path", c_char_p), ("_attach_prog_fd", c_uint32), ("kconfig", c_char_p),
        ("btf_custom_path", c_char_p), ("kernel_log_buf", c_void_p), ("kernel_log_size", c_size_t),
        ("kernel_log_level", c_uint32)],
    "UprobeOpts": [  # struct bpf_uprobe_opts
        ("sz", c_size_t), ("ref_ctr_offset", c_size_t), ("bpf_cookie", c_uint64), ("retprobe", c_bool),
        ("func_name", c_char_p)],
    "KprobeOpts": [  # struct bpf_kprobe_opts
        ("sz", c_size_t), ("bpf_cookie", c_uint64), ("offset", c_size_t), ("retprobe", c_bool)],
    "ProgLoadOpts": [  # struct bpf_prog_load_opts (libbpf >= 1.0)
        ("sz", c_size_t), ("attempts", c_int), ("expected_attach_type", c_uint32),
        ("prog_btf_fd", c_uint32), ("prog_flags", c_uint32), ("prog_ifindex", c_uint32),
        ("kern_version", c_uint32), ("attach_btf_id", c_uint32), ("attach_prog_fd", c_uint32),
        ("attach_btf_obj_fd", c_uint32), ("fd_array", c_void_p),
        ("func_info", c_void_p), ("func_info_cnt", c_uint32), ("func_info_rec_size", c_uint32),
        ("line_info", c_void_p), ("line_info_cnt", c_uint32), ("line_info_rec_size", c_uint32),
        ("log_level", c_uint32), ("log_size", c_uint32), ("log_buf", c_void_p)],
    "UsdtOpts": [("sz", c_size_t), ("usdt_cookie", c_uint64)],  # struct bpf_usdt_opts
    "IterAttachOpts": [  # struct bpf_iter_attach_opts
        ("sz", c_size_t), ("link_info", c_void_p), ("link_info_len", c_uint32)],
    "TcHook": [  # struct bpf_tc_hook
        ("sz", c_size_t), ("ifindex", c_int), ("attach_point", c_int), ("parent", c_uint32)],
    "TcOpts": [  # struct bpf_tc_opts
        ("sz", c_size_t), ("prog_fd", c_int), ("flags", c_uint32), ("prog_id", c_uint32),
        ("handle", c_uint32), ("priority", c_uint32)],
    "TcxOpts": [  # struct bpf_tcx_opts (libbpf >= 1.3)
        ("sz", c_size_t), ("flags", c_uint32), ("relative_fd", c_uint32),
        ("relative_id", c_uint32), ("expected_revision", c_uint64)],
    "MapBatchOpts": [  # struct bpf_map_batch_opts
        ("sz", c_size_t), ("elem_flags", c_uint64), ("flags", c_uint64)],
    "TestRunOpts": [  # struct bpf_test_run_opts
        ("sz", c_size_t), ("data_in", c_void_p), ("data_out", c_void_p),
        ("data_size_in", c_uint32), ("data_size_out", c_uint32),
        ("ctx_in", c_void_p), ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32), ("ctx_size_out", c_uint32),
        ("retval", c_uint32), ("repeat", c_int), ("duration", c_uint32),
        ("flags", c_uint32), ("cpu", c_uint32), ("batch_size", c_uint32)],
}


def _struct(name: str) -> Any:
    cls = globals().get(name)
    if cls is None:
        # setdefault: two threads making one struct both get the first one
        # made (one class per struct, or byref() of the other one's is refused).
        cls = globals().setdefault(name, type(name, (Structure,), {"_fields_": _STRUCTS[name]}))
    return cls


def __getattr__(name: str) -> Any:
    if name not in _STRUCTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return _struct(name)


class _Ptr:
    """A pointer argument in PROTOTYPES, its ctypes type made when the
    function is first used (each POINTER type is another class to create)."""

    __slots__ = ("target",)

    def __init__(self, target: str | type) -> None:
        self.target = target

    def resolve(self) -> Any:
        t = self.target
        return POINTER(_struct(t) if isinstance(t, str) else t)


class _Lib:
    """libbpf's functions, each given its C prototype (PROTOTYPES) on first
    use: declaring all ~90 up front, with their pointer types, cost ~0.5 ms of
    every start, and a run calls a third of them. A name this libbpf does
    not export raises AttributeError (``has(name)`` asks first); so does one
    without a prototype, which ctypes would call as returning int (a pointer
    cut to 32 bits) rather than fail."""

    def __init__(self, cdll: ctypes.CDLL) -> None:
        self._cdll = cdll

    def __getattr__(self, name: str):  # only for names not yet looked up
        proto = PROTOTYPES.get(name)
        if proto is None:
            raise AttributeError(f"libbpf.{name}: no prototype in PROTOTYPES")
        f = getattr(self._cdll, name)
        f.restype = proto[0]
        f.argtypes = [a.resolve() if isinstance(a, _Ptr) else a for a in proto[1:]]
        setattr(self, name, f)  # later calls find it without __getattr__
        return f


def has(name: str) -> bool:
    """Whether the bound libbpf exports ``name``."""
    return hasattr(_cdll, name)


P = c_void_p
# (restype, *argtypes) of every libbpf function bpfkit calls. A function only
# newer libbpf versions have is listed too: has(name) tells whether it is there.
PROTOTYPES: dict[str, tuple] = {
    "libbpf_major_version": (c_uint32,),
    "libbpf_minor_version": (c_uint32,),
    "libbpf_num_possible_cpus": (c_int,),
    "libbpf_strerror": (c_int, c_int, c_char_p, c_size_t),
    "libbpf_probe_bpf_map_type": (c_int, c_int, P),
    "bpf_object__open_file": (P, c_char_p, _Ptr("ObjectOpenOpts")),
    "bpf_object__open_mem": (P, c_void_p, c_size_t, _Ptr("ObjectOpenOpts")),
    "bpf_object__load": (c_int, P),
    "bpf_object__close": (None, P),
    "bpf_object__name": (c_char_p, P),
    "bpf_object__btf": (P, P),
    "bpf_object__next_map": (P, P, P),
    "bpf_object__next_program": (P, P, P),
    "btf__raw_data": (c_void_p, P, _Ptr(c_uint32)),
    "bpf_map__name": (c_char_p, P),
    "bpf_map__fd": (c_int, P),
    "bpf_map__type": (c_int, P),
    "bpf_map__key_size": (c_uint32, P),
    "bpf_map__value_size": (c_uint32, P),
    "bpf_map__max_entries": (c_uint32, P),
    "bpf_map__set_max_entries": (c_int, P, c_uint32),
    "bpf_map__map_flags": (c_uint32, P),
    "bpf_map__is_internal": (c_bool, P),
    "bpf_map__btf_key_type_id": (c_uint32, P),
    "bpf_map__btf_value_type_id": (c_uint32, P),
    "bpf_map__initial_value": (c_void_p, P, _Ptr(c_size_t)),
    "bpf_map__set_type": (c_int, P, c_int),
    "bpf_map__set_key_size": (c_int, P, c_uint32),
    "bpf_map__set_value_size": (c_int, P, c_uint32),
    "bpf_map__set_pin_path": (c_int, P, c_char_p),
    "bpf_map__pin_path": (c_char_p, P),
    "bpf_map__set_inner_map_fd": (c_int, P, c_int),
    "libbpf_probe_bpf_prog_type": (c_int, c_int, P),
    "bpf_obj_pin": (c_int, c_int, c_char_p),
    "bpf_obj_get": (c_int, c_char_p),
    "bpf_obj_get_info_by_fd": (c_int, c_int, c_void_p, _Ptr(c_uint32)),
    "bpf_enable_stats": (c_int, c_int),
    "bpf_map_get_fd_by_id": (c_int, c_uint32),
    "bpf_prog_get_fd_by_id": (c_int, c_uint32),
    "btf__load_from_kernel_by_id": (P, c_uint32),
    "btf__free": (None, P),
    "btf__parse_split": (P, c_char_p, P),
    "btf__load_vmlinux_btf": (P,),
    "btf__find_by_name_kind": (ctypes.c_int32, P, c_char_p, c_uint32),
    "bpf_prog_load": (c_int, c_int, c_char_p, c_char_p, c_void_p, c_size_t, _Ptr("ProgLoadOpts")),
    "bpf_program__name": (c_char_p, P),
    "bpf_program__section_name": (c_char_p, P),
    "bpf_program__fd": (c_int, P),
    "bpf_program__type": (c_int, P),
    "bpf_program__autoload": (c_bool, P),
    "bpf_program__set_autoload": (c_int, P, c_bool),
    "bpf_program__autoattach": (c_bool, P),
    "bpf_program__set_autoattach": (None, P, c_bool),
    "bpf_program__insn_cnt": (c_size_t, P),
    "bpf_program__log_level": (c_uint32, P),
    "bpf_program__set_log_level": (c_int, P, c_uint32),
    "bpf_program__set_log_buf": (c_int, P, c_void_p, c_size_t),
    "bpf_program__attach": (P, P),
    "bpf_program__attach_tracepoint": (P, P, c_char_p, c_char_p),
    "bpf_program__attach_raw_tracepoint": (P, P, c_char_p),
    "bpf_program__attach_trace": (P, P),
    "bpf_program__attach_kprobe_opts": (P, P, c_char_p, _Ptr("KprobeOpts")),
    "bpf_program__attach_uprobe_opts": (P, P, c_int, c_char_p, c_size_t, _Ptr("UprobeOpts")),
    "bpf_link__destroy": (c_int, P),
    "bpf_link__fd": (c_int, P),
    "bpf_program__attach_perf_event": (P, P, c_int),
    "bpf_program__attach_usdt": (P, P, c_int, c_char_p, c_char_p, c_char_p, _Ptr("UsdtOpts")),
    "bpf_program__attach_xdp": (P, P, c_int),
    "bpf_program__attach_cgroup": (P, P, c_int),
    "bpf_program__attach_netns": (P, P, c_int),
    "bpf_program__attach_iter": (P, P, _Ptr("IterAttachOpts")),
    "bpf_iter_create": (c_int, c_int),
    "bpf_tc_hook_create": (c_int, _Ptr("TcHook")),
    "bpf_tc_hook_destroy": (c_int, _Ptr("TcHook")),
    "bpf_tc_attach": (c_int, _Ptr("TcHook"), _Ptr("TcOpts")),
    "bpf_tc_detach": (c_int, _Ptr("TcHook"), _Ptr("TcOpts")),
    "bpf_prog_attach": (c_int, c_int, c_int, c_int, c_uint),
    "bpf_prog_detach2": (c_int, c_int, c_int, c_int),
    "bpf_program__set_type": (c_int, P, c_int),
    "bpf_program__set_expected_attach_type": (c_int, P, c_int),
    "bpf_program__expected_attach_type": (c_int, P),
    "bpf_program__set_attach_target": (c_int, P, c_int, c_char_p),
    "bpf_program__attach_tcx": (P, P, c_int, _Ptr("TcxOpts")),
    "bpf_prog_test_run_opts": (c_int, c_int, _Ptr("TestRunOpts")),
    "bpf_map_lookup_elem": (c_int, c_int, c_void_p, c_void_p),
    "bpf_map_update_elem": (c_int, c_int, c_void_p, c_void_p, c_uint64),
    "bpf_map_delete_elem": (c_int, c_int, c_void_p),
    "bpf_map_lookup_and_delete_elem": (c_int, c_int, c_void_p, c_void_p),
    "bpf_map_get_next_key": (c_int, c_int, c_void_p, c_void_p),
    "bpf_map_lookup_batch": (c_int, c_int, c_void_p, c_void_p, c_void_p, c_void_p,
                                        _Ptr(c_uint32), _Ptr("MapBatchOpts")),
    "bpf_map_delete_batch": (c_int, c_int, c_void_p, _Ptr(c_uint32), _Ptr("MapBatchOpts")),
    "bpf_map_lookup_and_delete_batch": (c_int, c_int, c_void_p, c_void_p, c_void_p, c_void_p,
                                        _Ptr(c_uint32), _Ptr("MapBatchOpts")),
}
lib = _Lib(_cdll)

_libc.mount.restype = c_int
_libc.mount.argtypes = [c_char_p, c_char_p, c_char_p, ctypes.c_ulong, c_void_p]
_libc.vsnprintf.restype = c_int
_libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_void_p, c_void_p]

VERSION = (lib.libbpf_major_version(), lib.libbpf_minor_version())

# What newer libbpf versions add that bpfkit uses when present: (symbol, since, what)
NEWER = [
    ("bpf_program__attach_netfilter", "1.2", "netfilter programs"),
    ("bpf_program__attach_tcx", "1.3", "tcx links (tc without a qdisc)"),
    ("bpf_program__attach_uprobe_multi", "1.3", "uprobe.multi"),
    ("bpf_program__attach_netkit", "1.3", "netkit"),
    ("bpf_token_create", "1.4", "BPF tokens and arena maps"),
    ("bpf_program__attach_sockmap", "1.5", "sockmap links"),
]


def path() -> str:
    """The file the bound libbpf was loaded from."""
    with open("/proc/self/maps") as f:
        for line in f:
            name = line.rsplit(" ", 1)[-1].strip()
            if "/libbpf.so" in name:
                return name
    return LIBRARY


def lacks() -> list[str]:
    """Features of newer libbpf versions this one does not have."""
    return [f"{what} ({since})" for sym, since, what in NEWER if not has(sym)]


def errno_of(ret: int | None) -> int:
    """errno of a failed call: -ret for int results, C errno for NULL results."""
    if ret is not None and ret < 0:
        return -ret
    return ctypes.get_errno() or 1


def strerror(err: int) -> str:
    buf = ctypes.create_string_buffer(256)
    lib.libbpf_strerror(err, buf, len(buf))
    return buf.value.decode(errors="replace") or os.strerror(err)


def mount(source: str, target: str, fstype: str) -> None:
    if _libc.mount(source.encode(), target.encode(), fstype.encode(), 0, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


# --- libbpf's log -------------------------------------------------------------
# libbpf prints warnings and verifier logs through one process-wide callback.
# We route them into per-thread capture lists so errors can carry them.

# The format as an address, not c_char_p: libbpf prints ~300 debug lines for
# one monitor's open, load and attach, and a c_char_p would copy each format
# into a bytes object only for the callback to ignore it.
_PRINT_FN = CFUNCTYPE(c_int, c_uint, c_void_p, c_void_p)
_capture = _local()
LEVEL_WARN, LEVEL_INFO, LEVEL_DEBUG = 0, 1, 2


@_PRINT_FN
def _on_print(level: int, fmt: int, va_list: int) -> int:
    if level == LEVEL_DEBUG:  # nearly every call: first, before the thread-local lookup
        return 0
    try:
        lines = getattr(_capture, "lines", None)
        if lines is None:
            return 0
        # A va_list is consumed by use: keep a copy of its bytes (what va_copy
        # does on x86-64 and arm64) so a long verifier log can be formatted again.
        saved = ctypes.create_string_buffer(32)
        ctypes.memmove(saved, va_list, 32)
        buf = ctypes.create_string_buffer(1 << 16)
        n = _libc.vsnprintf(buf, len(buf), fmt, va_list)
        if n >= len(buf):
            buf = ctypes.create_string_buffer(n + 1)
            _libc.vsnprintf(buf, len(buf), fmt, ctypes.addressof(saved))
        lines.append(buf.value.decode(errors="replace"))
    except Exception:
        pass
    return 0


PROTOTYPES["libbpf_set_print"] = (c_void_p, _PRINT_FN)
lib.libbpf_set_print(_on_print)


class captured_log:
    """``with captured_log() as lines``: what libbpf prints (warnings, info) in the block."""

    def __enter__(self) -> list[str]:
        self.outer = getattr(_capture, "lines", None)
        self.lines: list[str] = []
        _capture.lines = self.lines
        return self.lines

    def __exit__(self, *exc: object) -> None:
        _capture.lines = self.outer
        if self.outer is not None:
            self.outer.extend(self.lines)
