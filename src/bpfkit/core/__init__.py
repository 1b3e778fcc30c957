"""The library, in floors that import only downwards:

    kernel/   libbpf binding, UAPI numbers, errors, system facts, features, info, pins
    codecs/   BTF and typed values; all generated decoders
    maps/     live fd-backed maps (one class per kind, registry in maps/__init__),
              pre-load MapSpecs, maps opened from a pin or an id
    events/   ring buffer and perf buffer readers (the ring protocols only)
    kinds.py, program.py, globals.py, hooks.py, bpfkit_h.py, object.py, build.py

A module may import from its own floor or the floors below, never above, not
even for type hints. scripts/check_imports.py proves it; the tests run it.
"""

__version__ = "0.1.0"  # the package's version (pyproject reads it from here)
