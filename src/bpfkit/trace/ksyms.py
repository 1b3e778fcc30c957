"""Kernel symbols from /proc/kallsyms: address -> (name, offset), name -> address,
the module each belongs to. Loaded once, on first use (reading kallsyms costs the
kernel ~0.1 s), then every lookup is a binary search.

Without CAP_SYSLOG (kernel.kptr_restrict = 1) or for everyone (kptr_restrict = 2)
the kernel shows every address as 0: names and modules still load, but anything
that needs an address raises BPFPermissionError saying so. BPF programs appear
as ``bpf_prog_<tag>_<name>`` in module ``bpf`` while loaded.
"""

from __future__ import annotations

from bisect import bisect_right

from ..core.kernel.errors import BPFError, BPFNameError, BPFPermissionError

KALLSYMS = "/proc/kallsyms"


class KSym:
    """One symbol an address resolved to: ``name``, its start ``addr``, the
    ``offset`` of the address into it, the ``module`` ('' for vmlinux) and the
    kallsyms ``kind`` letter (t/T text, d/D data...)."""

    __slots__ = ("addr", "kind", "module", "name", "offset")

    def __init__(self, name: str, addr: int, offset: int, module: str, kind: str) -> None:
        self.name, self.addr, self.offset, self.module, self.kind = name, addr, offset, module, kind

    def __iter__(self):  # name, offset = ksyms.lookup(addr)
        return iter((self.name, self.offset))

    def __str__(self) -> str:
        """``name+0x1a`` (``[module]`` after it for a module symbol), as stack traces show."""
        text = f"{self.name}+{self.offset:#x}" if self.offset else self.name
        return f"{text} [{self.module}]" if self.module else text

    def __repr__(self) -> str:
        return (f"KSym({self.name!r}, addr={self.addr:#x}, offset={self.offset:#x}, "
                f"module={self.module!r}, kind={self.kind!r})")


class KernelSymbols:
    """The symbols of the running kernel, sorted by address. Use ``kernel_symbols()``
    for the one shared, lazily loaded instance; make your own to read again
    (modules and BPF programs come and go)."""

    def __init__(self, path: str = KALLSYMS) -> None:
        with open(path, "rb") as f:
            text = f.read().decode(errors="replace")
        # "ffffffff81000000 T _stext" or "... t name\t[module]". The kernel image's
        # symbols come first and have no module: one split() of that whole part.
        tab = text.find("\t")
        cut = len(text) if tab < 0 else text.rfind("\n", 0, tab) + 1
        tokens = text[:cut].split()
        addrs = [int(a, 16) for a in tokens[0::3]]
        kinds = tokens[1::3]
        names = tokens[2::3]
        modules = [""] * len(names)
        for line in text[cut:].split("\n"):  # modules, ftrace trampolines, BPF programs
            parts = line.split(maxsplit=3)
            if len(parts) >= 3:
                addrs.append(int(parts[0], 16))
                kinds.append(parts[1])
                names.append(parts[2])
                modules.append(parts[3].strip("[]") if len(parts) > 3 else "")
        order = sorted(range(len(addrs)), key=addrs.__getitem__)  # stable: aliases keep their order
        self.path = path
        self.restricted = bool(addrs) and not any(addrs)
        self._addrs = [addrs[i] for i in order]
        self._kinds = "".join([kinds[i][:1] for i in order])
        self._names = [names[i] for i in order]
        self._modules = [modules[i] for i in order]
        # the lowest address wins (written last), as in libbpf-tools' ksyms
        self._by_name = dict(zip(reversed(self._names), range(len(order) - 1, -1, -1), strict=True))

    def __len__(self) -> int:
        return len(self._names)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def _need_addresses(self, what: str) -> None:
        if self.restricted:
            raise BPFPermissionError(f"{what}: every address in {self.path} reads as 0 ({_why_zero()})",
                                     errno=1)

    def lookup(self, addr: int) -> KSym | None:
        """The symbol ``addr`` falls in (the last one starting at or below it), or None
        below the first symbol. Absolute symbols (kind A) are skipped."""
        self._need_addresses(f"cannot resolve kernel address {addr:#x}")
        i = bisect_right(self._addrs, addr) - 1
        while i >= 0 and self._kinds[i] in "aA":
            i -= 1
        if i < 0 or not self._addrs[i]:
            return None
        start = self._addrs[i]
        return KSym(self._names[i], start, addr - start, self._modules[i], self._kinds[i])

    def name(self, addr: int) -> str:
        """``name+0x1a`` for an address, or its hex when no symbol covers it."""
        sym = self.lookup(addr)
        return str(sym) if sym else f"{addr:#x}"

    def address(self, name: str) -> int:
        """The address of ``name`` (the lowest one when several symbols share the name)."""
        i = self._index(name)
        self._need_addresses(f"cannot give the address of {name}")
        return self._addrs[i]

    def addresses(self, name: str) -> list[int]:
        """Every address a name has (static functions of the same name in several files)."""
        self._index(name)
        self._need_addresses(f"cannot give the addresses of {name}")
        return [a for a, n in zip(self._addrs, self._names, strict=True) if n == name]

    def module(self, name: str) -> str:
        """The module ``name`` is in ('' for the kernel image, 'bpf' for BPF programs)."""
        return self._modules[self._index(name)]

    def kind(self, name: str) -> str:
        return self._kinds[self._index(name)]

    def modules(self) -> set[str]:
        """Names of the modules that have symbols (with 'bpf' while BPF programs are loaded)."""
        return {m for m in self._modules if m}

    def _index(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise BPFNameError(f"no kernel symbol named {name!r} in {self.path}") from None


_SHARED: dict[str, KernelSymbols] = {}


def kernel_symbols(reload: bool = False) -> KernelSymbols:
    """The shared KernelSymbols, read from /proc/kallsyms on the first call only
    (``reload=True`` reads it again)."""
    if reload or KALLSYMS not in _SHARED:
        try:
            _SHARED[KALLSYMS] = KernelSymbols(KALLSYMS)
        except OSError as exc:
            raise BPFError(f"cannot read {KALLSYMS}: {exc.strerror}", errno=exc.errno) from exc
    return _SHARED[KALLSYMS]


def ksym(addr: int) -> str:
    """``name+0x1a`` for a kernel address (the shared table)."""
    return kernel_symbols().name(addr)


def _why_zero() -> str:
    try:
        with open("/proc/sys/kernel/kptr_restrict") as f:
            level = f.read().strip()
    except OSError:
        level = "?"
    if level == "2":
        return "kernel.kptr_restrict is 2, which hides kernel addresses from everyone, root too: " \
               "`sysctl kernel.kptr_restrict=1` shows them to root"
    why = f"kernel.kptr_restrict is {level}"
    if level == "0":
        try:
            with open("/proc/sys/kernel/perf_event_paranoid") as f:
                why += f" and kernel.perf_event_paranoid is {f.read().strip()} (above 1)"
        except OSError:
            pass
    return f"{why}: kernel addresses are shown only to root (CAP_SYSLOG); run as root"


__all__ = ["KALLSYMS", "KSym", "KernelSymbols", "kernel_symbols", "ksym"]
