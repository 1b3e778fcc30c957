"""What this kernel lets us load and attach, learnt by really trying: one
trivial program per attach kind (features.bpf.c), loaded and attached alone.
`bpfkit doctor` prints it beside what core.kernel.features predicts, which is
what the loader and the hook fallbacks decide by."""

from __future__ import annotations

from pathlib import Path

from ..core.hooks import refusal
from ..core.kernel.errors import BPFError
from ..core.object import BPFObject

FEATURES_OBJ = Path(__file__).with_name("features.bpf.o")


def _features() -> Path | bytes:
    """The probe object: a file, or bytes when bpfkit runs from a zip archive."""
    if FEATURES_OBJ.is_file():
        return FEATURES_OBJ
    try:
        return __loader__.get_data(str(FEATURES_OBJ))  # type: ignore[name-defined,union-attr]
    except (OSError, AttributeError):
        return FEATURES_OBJ
KINDS = ["tracepoint", "raw_tp", "tp_btf", "uprobe", "uretprobe", "kprobe", "kretprobe",
         "fentry", "fexit"]


class Probe:
    __slots__ = ("detail", "kind", "ok", "predicted")

    def __init__(self, kind: str, ok: bool, detail: str = "", predicted: str | None = None) -> None:
        self.kind, self.ok, self.detail = kind, ok, detail
        self.predicted = predicted  # what the hook fallbacks would say (None: offered)


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
        with BPFObject.open(_features(), name="features") as obj:
            target = f"probe_{kind}"
            for p in obj.progs:
                p.autoload = p.name == target
            prog = obj.progs[target]
            predicted = refusal(prog)
            obj.load()
            if kind in ("uprobe", "uretprobe"):
                prog.attach_uprobe(libc_path(), "getpid")
            else:
                prog.attach()
        return Probe(kind, True, predicted=predicted)
    except BPFError as exc:
        return Probe(kind, False, str(exc).split("\n")[0], predicted=locals().get("predicted"))


def probe_all() -> list[Probe]:
    return [probe_kind(k) for k in KINDS]


__all__ = ["KINDS", "Probe", "libc_path", "probe_all", "probe_kind"]
