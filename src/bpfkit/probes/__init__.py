"""What this kernel lets us load and attach, learnt by really trying."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core import libbpf
from ..core.errors import BPFError
from ..core.object import BPFObject

FEATURES_OBJ = Path(__file__).with_name("features.bpf.o")
KINDS = ["tracepoint", "raw_tp", "tp_btf", "uprobe", "uretprobe", "kprobe", "kretprobe",
         "fentry", "fexit"]
BPF_MAP_TYPE_RINGBUF = 27


@dataclass
class Probe:
    kind: str
    ok: bool
    detail: str = ""


def libc_path() -> str:
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "/libc.so" in path or "/libc-" in path:
                return path
    raise BPFError("libc not found in /proc/self/maps")


def probe_kind(kind: str) -> Probe:
    """Load and attach the ``probe_<kind>`` program alone."""
    try:
        with BPFObject.open(FEATURES_OBJ) as obj:
            target = f"probe_{kind}"
            for p in obj.progs:
                p.autoload = p.name == target
            obj.load()
            prog = obj.progs[target]
            if kind in ("uprobe", "uretprobe"):
                prog.attach_uprobe(libc_path(), "getpid")
            else:
                prog.attach()
        return Probe(kind, True)
    except BPFError as exc:
        return Probe(kind, False, str(exc).split("\n")[0])


def ringbuf_supported() -> bool:
    return libbpf.lib.libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, None) == 1


def probe_all() -> list[Probe]:
    out = [Probe("ringbuf", ringbuf_supported())]
    out += [probe_kind(k) for k in KINDS]
    return out


__all__ = ["KINDS", "Probe", "probe_all", "probe_kind", "ringbuf_supported"]
