"""Typed errors. Each speaks to the user in its first line; details follow.

Every error that comes from a failed call carries the call's ``errno``
(``None`` when there was no call), and the classes are the ones a caller
branches on: permission, not supported by this kernel, map full, a bad name,
a refused load, a failed attach. Usage errors of the command line are not
here: they belong to the CLI (bpfkit.argv.UsageError).
"""

from __future__ import annotations

import errno as E

ENOTSUPP = 524  # the kernel's internal "not supported"; leaks to user space from bpf()


class BPFError(Exception):
    """Base of every error bpfkit raises on purpose; ``errno`` when a call failed."""

    def __init__(self, message: str, *, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno


class BPFPermissionError(BPFError):
    """Not root, missing CAP_BPF/CAP_PERFMON, lockdown, or a mode a file forbids."""


class BPFKernelFeatureError(BPFError):
    """The kernel lacks something the program needs (BTF, kprobes, fentry...)."""


class BPFAttachError(BPFError):
    """A program loaded but could not be attached to its hook."""


class BPFMapFullError(BPFError):
    """An update found the map at max_entries (E2BIG)."""


class BPFNameError(BPFError, KeyError, AttributeError):
    """An unknown map, program or global name; lists the names that exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


def unknown_name(kind: str, name: str, known: list[str]) -> BPFNameError:
    have = ", ".join(sorted(known)) or "none"
    return BPFNameError(f"no {kind} named {name!r} (this object has: {have})")


def error_for(err: int, message: str) -> BPFError:
    """The error class a caller would branch on for ``err``, carrying it."""
    if err in (E.EPERM, E.EACCES):
        return BPFPermissionError(message, errno=err)
    if err in (E.EOPNOTSUPP, ENOTSUPP, E.ENOSYS):
        return BPFKernelFeatureError(message, errno=err)
    return BPFError(message, errno=err)


# Common verifier rejections: (pattern in the log, the usual fix). Patterns are
# compiled on first use: importing `re` would slow every program's start-up.
_HINTS: list[tuple[str, str]] = [
    (r"invalid mem access '(map_value_or_null|ptr_or_null|\w*_or_null)'",
     "a map value or pointer is used without a NULL check: test the result of "
     "bpf_map_lookup_elem()/bpf_ringbuf_reserve() before dereferencing it"),
    (r"infinite loop detected|back-edge from insn|unbounded loop",
     "a loop the verifier cannot prove ends: give it a constant bound, or use bpf_loop()"),
    (r"BPF program is too large|too many states",
     "the program is too complex for the verifier (1M instructions): bound loops more "
     "tightly, unroll less, or split it with tail calls"),
    (r"combined stack size|stack size exceeds|invalid (?:write|read) to stack R10 off=-5[1-9]\d",
     "more than 512 bytes of stack: move large buffers into a per-CPU array map"),
    (r"GPL-(?:restricted|only)|cannot call GPL",
     "a GPL-only helper needs a GPL-compatible licence: "
     'char LICENSE[] SEC("license") = "GPL";'),
    (r"R\d+ invalid mem access 'scalar'|R\d+ invalid mem access 'inv'",
     "kernel memory is dereferenced directly: read it with BPF_CORE_READ() or "
     "bpf_probe_read_kernel()"),
    (r"unknown func|program of this type cannot use helper",
     "a helper this kernel or program type does not offer"),
    (r"invalid access to map value|value is outside of the allowed memory range",
     "an index into a map value is not bounded: check it against the array size first"),
]


def verifier_hint(log: str) -> str | None:
    """The fix for the first known rejection found, looking at the reason line first."""
    import re  # lazy: only a rejected load pays for re

    for text in (last_meaningful_line(log), log):
        for pattern, hint in _HINTS:
            if re.search(pattern, text):
                return hint
    return None


_NOISE = (r"^(processed \d+ insns|verification time|stack depth|max_states|"
          r"-- (BEGIN|END) PROG LOAD LOG|\s*$|\d+: \(|; |from \d+ to \d+:|"
          r"func#|mark_precise|last_idx|regs=|parent didn't|cur state:|old state:|\.\.\.)")


def last_meaningful_line(log: str) -> str:
    """The verifier's own reason, usually the last line that is not statistics."""
    import re  # lazy: only a rejected load pays for re

    for line in reversed(log.splitlines()):
        if not re.match(_NOISE, line.strip()):
            return line.strip()
    return log.strip().splitlines()[-1] if log.strip() else ""


class BPFLoadError(BPFError):
    """The kernel refused to load a program. ``log`` is the verifier's log
    when the verifier ran (then ``reason`` and ``hint`` are set), else empty."""

    def __init__(self, message: str, *, program: str | None = None, log: str = "",
                 errno: int | None = None) -> None:
        super().__init__(message, errno=errno)
        self.program = program
        self.log = log
        self.libbpf_log = ""  # everything libbpf said, when the verifier did not run
        self.reason = last_meaningful_line(log) if log else ""
        self.hint = verifier_hint(log) if log else None

    def summary(self) -> str:
        """One line for a CLI: what failed, the verifier's reason, the fix."""
        parts = [str(self)]
        if self.reason:
            parts.append(f"verifier: {self.reason}")
        if self.hint:
            parts.append(f"fix: {self.hint}")
        return "; ".join(parts)


__all__ = [
    "ENOTSUPP", "BPFAttachError", "BPFError", "BPFKernelFeatureError", "BPFLoadError",
    "BPFMapFullError", "BPFNameError", "BPFPermissionError", "error_for", "last_meaningful_line",
    "unknown_name", "verifier_hint",
]
