"""bpfkit: load CO-RE eBPF objects from Python, with typed maps, globals and ring buffers."""

from .core.errors import (
    BPFAttachError,
    BPFError,
    BPFKernelFeatureError,
    BPFLoadError,
    BPFNameError,
    BPFPermissionError,
)
from .core.maps import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapType, PerCpuValues
from .core.object import BPFObject
from .core.program import Link, Program
from .core.ringbuf import RingBuffer

__version__ = "0.1.0"

__all__ = [
    "BPF_ANY", "BPF_EXIST", "BPF_NOEXIST", "BPFAttachError", "BPFError",
    "BPFKernelFeatureError", "BPFLoadError", "BPFNameError", "BPFObject",
    "BPFPermissionError", "Link", "Map", "MapType", "PerCpuValues", "Program", "RingBuffer",
]
