"""bpfkit: load CO-RE eBPF objects from Python, with typed maps, globals and ring buffers."""

from .core import __version__ as __version__

# Names are imported on first use (PEP 562), so `bpfkit <tool>` and a plain
# `import bpfkit.output` do not pay for modules they never touch.
_WHERE = {
    "BPF_ANY": "kernel.uapi", "BPF_EXIST": "kernel.uapi", "BPF_NOEXIST": "kernel.uapi",
    "AttachType": "kernel.uapi", "MapType": "kernel.uapi", "ProgType": "kernel.uapi",
    "BPFAttachError": "kernel.errors", "BPFError": "kernel.errors",
    "BPFKernelFeatureError": "kernel.errors", "BPFLoadError": "kernel.errors",
    "BPFMapFullError": "kernel.errors", "BPFNameError": "kernel.errors",
    "BPFPermissionError": "kernel.errors",
    "Map": "maps", "MapSpec": "maps", "PerCpuValues": "maps", "load_pinned_map": "maps",
    "map_by_id": "maps",
    "PerfBuffer": "events.perfbuf", "RingBuffer": "events.ringbuf",
    "Link": "links", "Program": "program", "TestRun": "program",
    "BPFObject": "object",
    "HookChoice": "hooks",
}
# Earlier names that still work: a map opened from a pin or an id is a plain Map now.
_ALIASES = {"KernelMap": "Map"}
__all__ = [
    "BPF_ANY",
    "BPF_EXIST",
    "BPF_NOEXIST",
    "AttachType",
    "BPFAttachError",
    "BPFError",
    "BPFKernelFeatureError",
    "BPFLoadError",
    "BPFMapFullError",
    "BPFNameError",
    "BPFObject",
    "BPFPermissionError",
    "HookChoice",
    "KernelMap",
    "Link",
    "Map",
    "MapSpec",
    "MapType",
    "PerCpuValues",
    "PerfBuffer",
    "ProgType",
    "Program",
    "RingBuffer",
    "TestRun",
    "load_pinned_map",
    "map_by_id",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .core.events.perfbuf import PerfBuffer
    from .core.events.ringbuf import RingBuffer
    from .core.hooks import HookChoice
    from .core.kernel.errors import (
        BPFAttachError,
        BPFError,
        BPFKernelFeatureError,
        BPFLoadError,
        BPFMapFullError,
        BPFNameError,
        BPFPermissionError,
    )
    from .core.kernel.uapi import BPF_ANY, BPF_EXIST, BPF_NOEXIST, AttachType, MapType, ProgType
    from .core.links import Link
    from .core.maps import Map, MapSpec, PerCpuValues, load_pinned_map, map_by_id
    from .core.object import BPFObject
    from .core.program import Program, TestRun

    KernelMap = Map


def __getattr__(name: str) -> object:
    real = _ALIASES.get(name, name)
    module = _WHERE.get(real)
    if module is None:
        raise AttributeError(f"module 'bpfkit' has no attribute {name!r}")
    from importlib import import_module  # lazy: PEP 562 loader, see above

    value = getattr(import_module(f".core.{module}", __name__), real)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return [*globals(), *__all__]
