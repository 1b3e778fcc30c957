"""Floor 1 of the library: the kernel as bpfkit sees it.

The libbpf binding (libbpf.py) and its log, the BPF UAPI numbers (uapi.py),
typed errors (errors.py), facts about the process and host (system.py), every
"does this kernel have X" answer (features.py), object info and ids (info.py)
and pins (pins.py). Imports nothing of bpfkit above it.
"""
