"""Hook fallbacks declared once: the first alternative this kernel can run wins.

In the BPF program (bpfkit.bpf.h):

    BPFKIT_HOOKS(unlink, unlink_fentry, unlink_kprobe, unlink_tp);

or from Python before load: ``obj.declare_hooks("unlink", "unlink_fentry", ...)``.
At load, each group keeps its first program whose hook this kernel offers and
switches the others off (autoload), as libbpf-tools does by hand with
fentry_can_attach()/kprobe_exists()/tracepoint_exists(). ``obj.chosen_hooks``
says what was kept and why the others were not.
"""

from __future__ import annotations

import os

from . import libbpf, system
from .errors import BPFKernelFeatureError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .program import Program

HOOKS_PREFIX = "bpfkit_hooks_"
BPF_PROG_TYPE_TRACING, BPF_PROG_TYPE_LSM = 26, 29
_prog_type_ok: dict[int, bool] = {}
_filter_functions: set[str] | None = None


def _prog_type_supported(ptype: int) -> bool:
    if ptype not in _prog_type_ok:
        _prog_type_ok[ptype] = libbpf.lib.libbpf_probe_bpf_prog_type(ptype, None) == 1
    return _prog_type_ok[ptype]


def _kprobe_functions() -> set[str]:
    global _filter_functions
    if _filter_functions is None:
        path = os.path.join(system.tracefs_path() or system.TRACEFS, "available_filter_functions")
        try:
            with open(path) as f:
                _filter_functions = {line.split()[0] for line in f if line.strip()}
        except OSError:
            _filter_functions = set()
    return _filter_functions


def _raw_tracepoint_exists(name: str) -> bool:
    path = os.path.join(system.ensure_tracefs()[0], "available_events")
    try:
        with open(path) as f:
            return any(line.rstrip("\n").partition(":")[2] == name for line in f)
    except OSError:
        return True  # cannot tell: let the attach decide


def unavailable(prog: Program, btf_custom_path: str | None = None) -> str | None:
    """Why this kernel cannot run ``prog``'s hook, or None when it can."""
    kind, target = prog.kind, prog.section.split("/", 1)[1] if "/" in prog.section else ""
    if kind == "tracepoint":
        category, _, event = target.partition("/")
        if not system.tracepoint_exists(category, event):
            return f"no tracepoint {category}:{event}"
    elif kind in ("kprobe", "kretprobe"):
        if not system.kprobes_available():
            return "no kprobe support in this kernel"
        func = target.split("+", 1)[0]
        funcs = _kprobe_functions()
        if func and funcs and func not in funcs:
            return f"no kprobe-able function {func}"
    elif kind in ("fentry", "fexit", "fmod_ret", "lsm"):
        if not os.path.exists(system.VMLINUX_BTF):
            return f"{kind} needs kernel BTF"
        ptype = BPF_PROG_TYPE_LSM if kind == "lsm" else BPF_PROG_TYPE_TRACING
        if not _prog_type_supported(ptype):
            return f"{kind} programs are refused by this kernel"
    elif kind in ("tp_btf", "raw_tp"):
        if kind == "tp_btf" and not os.path.exists(system.VMLINUX_BTF):
            return "tp_btf needs kernel BTF"
        if target and not _raw_tracepoint_exists(target):
            return f"no tracepoint {target}"
    return None


class HookChoice:
    """One group's outcome: the program kept, and why each earlier one was not."""

    __slots__ = ("group", "kind", "program", "skipped")

    def __init__(self, group: str, program: str, kind: str, skipped: list[tuple[str, str]]) -> None:
        self.group, self.program, self.kind, self.skipped = group, program, kind, skipped

    def __repr__(self) -> str:
        return f"<HookChoice {self.group}: {self.program} ({self.kind})>"

    def __str__(self) -> str:
        why = "".join(f"; {name} skipped: {reason}" for name, reason in self.skipped)
        return f"{self.group}: {self.program} ({self.kind}){why}"


def choose(group: str, progs: list[Program], btf_custom_path: str | None) -> HookChoice:
    """Keep the first available program of ``progs``; switch the rest off."""
    skipped: list[tuple[str, str]] = []
    chosen = None
    for prog in progs:
        if chosen is not None:
            prog.autoload = False
            continue
        reason = unavailable(prog, btf_custom_path)
        if reason is None:
            chosen = prog
            prog.autoload = True
        else:
            prog.autoload = False
            skipped.append((prog.name, reason))
    if chosen is None:
        tried = "; ".join(f"{name}: {reason}" for name, reason in skipped)
        raise BPFKernelFeatureError(f"no hook of {group!r} works on this kernel ({tried})")
    return HookChoice(group, chosen.name, chosen.kind, skipped)


__all__ = ["HOOKS_PREFIX", "HookChoice", "choose", "unavailable"]
