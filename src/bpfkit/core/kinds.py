"""Attach kinds: what a program's SEC() name says about how it attaches.

One table for the whole library. Each kind knows whether ``obj.attach()``
can attach it from the section name alone, whether attaching needs tracefs,
and why this kernel could not run it (from kernel.features), which is what
the hook fallbacks ask. A new attach kind is an entry here (plus, when it
takes arguments, an ``attach_*`` method on Program).
"""

from __future__ import annotations

from .kernel import features

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# auto: "target" (auto-attachable when the section names a target after "/"),
# "always", or "never" (needs an argument: an interface, a cgroup, a binary...).
TARGET, ALWAYS, NEVER = "target", "always", "never"


class AttachKind:
    __slots__ = ("auto", "family", "name", "needs_tracefs", "refusal")

    def __init__(self, name: str, family: str, auto: str, *, tracefs: bool = False,
                 refusal: Callable[[str], str | None] | None = None) -> None:
        self.name, self.family, self.auto = name, family, auto
        self.needs_tracefs = tracefs
        self.refusal = refusal or _always_offered

    def __repr__(self) -> str:
        return f"<AttachKind {self.name}>"

    def auto_attachable(self, section: str) -> bool:
        return self.auto == ALWAYS or (self.auto == TARGET and "/" in section)

    @property
    def trampoline(self) -> bool:
        return self.family == "trampoline"


def _always_offered(target: str) -> str | None:
    return None


def _tracepoint(target: str) -> str | None:
    category, _, event = target.partition("/")
    if not features.tracepoint_exists(category, event):
        return f"no tracepoint {category}:{event}"
    return None


def _raw_tp(target: str) -> str | None:
    if target and not features.raw_tracepoint_exists(target):
        return f"no tracepoint {target}"
    return None


def _tp_btf(target: str) -> str | None:
    # A custom BTF file (btf_custom_path) serves CO-RE only: attaching by
    # BTF id needs the kernel's own BTF.
    if not features.kernel_btf():
        return "tp_btf needs kernel BTF"
    return _raw_tp(target)


def _kprobe(target: str) -> str | None:
    return features.kprobe_refusal(target.split("+", 1)[0])


def _kprobe_multi(target: str) -> str | None:
    return features.kprobe_refusal("")


def _ksyscall(target: str) -> str | None:
    if not features.kprobes_supported():
        return "no kprobe support in this kernel"
    return features.kprobe_refusal(features.syscall_wrapper_prefix() + target) if target else None


def _trampoline(kind: str) -> Callable[[str], str | None]:
    return lambda target: features.trampoline_refusal(kind, target)


_KINDS = [
    AttachKind("tracepoint", "tracepoint", TARGET, tracefs=True, refusal=_tracepoint),
    AttachKind("raw_tp", "raw_tp", TARGET, refusal=_raw_tp),
    AttachKind("tp_btf", "raw_tp", ALWAYS, refusal=_tp_btf),
    # k/uprobes attach through their perf PMU (sysfs); tracefs only on kernels before 4.17
    AttachKind("kprobe", "kprobe", TARGET, refusal=_kprobe),
    AttachKind("kretprobe", "kprobe", TARGET, refusal=_kprobe),
    AttachKind("kprobe.multi", "kprobe", TARGET, refusal=_kprobe_multi),
    AttachKind("kretprobe.multi", "kprobe", TARGET, refusal=_kprobe_multi),
    AttachKind("ksyscall", "kprobe", TARGET, refusal=_ksyscall),
    AttachKind("kretsyscall", "kprobe", TARGET, refusal=_ksyscall),
    AttachKind("uprobe", "uprobe", TARGET),
    AttachKind("uretprobe", "uprobe", TARGET),
    AttachKind("uprobe.multi", "uprobe", TARGET),
    AttachKind("uretprobe.multi", "uprobe", TARGET),
    AttachKind("usdt", "uprobe", TARGET),
    AttachKind("fentry", "trampoline", ALWAYS, refusal=_trampoline("fentry")),
    AttachKind("fexit", "trampoline", ALWAYS, refusal=_trampoline("fexit")),
    AttachKind("fmod_ret", "trampoline", ALWAYS, refusal=_trampoline("fmod_ret")),
    AttachKind("lsm", "trampoline", ALWAYS, refusal=_trampoline("lsm")),
    AttachKind("lsm_cgroup", "trampoline", NEVER),
    AttachKind("freplace", "trampoline", NEVER),
    AttachKind("iter", "iter", ALWAYS),
    AttachKind("xdp", "net", NEVER),
    AttachKind("tc", "net", NEVER),
    AttachKind("tcx", "net", NEVER),
    AttachKind("socket", "net", NEVER),
    AttachKind("sk_lookup", "net", NEVER),
    AttachKind("sk_skb", "net", NEVER),
    AttachKind("sk_msg", "net", NEVER),
    AttachKind("sockops", "net", NEVER),
    AttachKind("flow_dissector", "net", NEVER),
    AttachKind("cgroup", "cgroup", NEVER),
    AttachKind("perf_event", "perf_event", NEVER),
    AttachKind("syscall", "syscall", NEVER),
    AttachKind("struct_ops", "struct_ops", NEVER),
]
KINDS: dict[str, AttachKind] = {k.name: k for k in _KINDS}

# SEC() prefix (the part before "/") -> kind, where the two differ.
_ALIASES = {
    "tp": "tracepoint", "raw_tracepoint": "raw_tp", "raw_tracepoint.w": "raw_tp", "raw_tp.w": "raw_tp",
    "uprobe.s": "uprobe", "uretprobe.s": "uretprobe", "uprobe.multi.s": "uprobe.multi",
    "uretprobe.multi.s": "uretprobe.multi", "usdt.s": "usdt",
    "fentry.s": "fentry", "fexit.s": "fexit", "fmod_ret.s": "fmod_ret", "lsm.s": "lsm", "iter.s": "iter",
    "xdp.frags": "xdp", "xdp_devmap": "xdp", "xdp_cpumap": "xdp", "xdp.frags_devmap": "xdp",
    "classifier": "tc", "action": "tc", "sk_reuseport": "sk_lookup", "cgroup_skb": "cgroup",
    "sk_skb.s": "sk_skb",
}
_OTHER = AttachKind("other", "other", NEVER)


def kind_of_section(section: str) -> AttachKind:
    """The attach kind a SEC() name stands for (kind "other" when unknown)."""
    head = section.split("/", 1)[0]
    return KINDS.get(_ALIASES.get(head, head)) or _OTHER


def target_of_section(section: str) -> str:
    """What the section names after its kind: 'syscalls/sys_enter_openat', 'vfs_open'."""
    return section.split("/", 1)[1] if "/" in section else ""


__all__ = ["KINDS", "AttachKind", "kind_of_section", "target_of_section"]
