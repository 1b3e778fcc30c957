"""bpfkit: load CO-RE eBPF objects from Python, with typed maps, globals and ring buffers."""

__version__ = "0.1.0"

# Names are imported on first use (PEP 562), so `bpfkit <tool>` and a plain
# `import bpfkit.output` do not pay for modules they never touch.
__all__ = [
    "BPF_ANY", "BPF_EXIST", "BPF_NOEXIST", "BPFAttachError", "BPFError",
    "BPFKernelFeatureError", "BPFLoadError", "BPFNameError", "BPFObject",
    "BPFPermissionError", "KernelMap", "Link", "Map", "MapType", "PerCpuValues", "PerfBuffer",
    "Program", "RingBuffer", "load_pinned_map",
]
_MODULES = ("errors", "maps", "program", "ringbuf", "perfbuf", "kobjects", "object")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .core.errors import (
        BPFAttachError,
        BPFError,
        BPFKernelFeatureError,
        BPFLoadError,
        BPFNameError,
        BPFPermissionError,
    )
    from .core.kobjects import KernelMap, load_pinned_map
    from .core.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapType, PerCpuValues
    from .core.object import BPFObject
    from .core.perfbuf import PerfBuffer
    from .core.program import Link, Program
    from .core.ringbuf import RingBuffer


def __getattr__(name: str) -> object:
    if name in __all__:
        from importlib import import_module

        for module in _MODULES:
            value = getattr(import_module(f".core.{module}", __name__), name, None)
            if value is not None:
                globals()[name] = value
                return value
    raise AttributeError(f"module 'bpfkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), *__all__]
