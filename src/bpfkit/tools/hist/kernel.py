"""What the engine learns from the running system before it loads: tracefs
event formats (field offsets for generic spans: no compiler needed), syscall
names and numbers, block device names, kernel symbols, WireGuard devices."""

from __future__ import annotations

import os

from ...argv import UsageError

TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def tracefs() -> str:
    for d in TRACEFS:
        if os.path.isdir(os.path.join(d, "events")):
            return d
    from ...core.kernel import system  # lazy: mounting tracefs is the rare case

    system.ensure_tracefs()
    return TRACEFS[0]


# -- tracefs event formats ------------------------------------------------------------------
class Field:
    """One field of a tracefs event record."""

    __slots__ = ("array", "loc", "name", "offset", "pointer", "signed", "size")

    def __init__(self, name: str, offset: int, size: int, signed: bool, loc: bool, array: bool,
                 pointer: bool = False) -> None:
        self.name, self.offset, self.size = name, offset, size
        self.signed, self.loc, self.array, self.pointer = signed, loc, array, pointer

    def __repr__(self) -> str:
        return f"<Field {self.name} @{self.offset}+{self.size}{' loc' if self.loc else ''}>"


class EventFormat:
    """events/CAT/NAME/format: the event id and its fields by name."""

    __slots__ = ("category", "fields", "id", "name")

    def __init__(self, category: str, name: str, id_: int, fields: dict[str, Field]) -> None:
        self.category, self.name, self.id, self.fields = category, name, id_, fields

    @property
    def label(self) -> str:
        return f"{self.category}:{self.name}"


def parse_format(text: str, category: str = "", name: str = "") -> EventFormat:
    """Parse the text of a tracefs format file."""
    id_ = -1
    fields: dict[str, Field] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("name:") and not name:
            name = line[5:].strip()
        elif line.startswith("ID:"):
            id_ = int(line[3:])
        elif line.startswith("field:"):
            parts = {}
            for item in line.split(";"):
                key, sep, value = item.strip().partition(":")
                if sep:
                    parts[key] = value.strip()
            decl = parts.get("field", "")
            loc = decl.startswith("__data_loc")
            fname = decl.split()[-1] if decl else ""
            array = "[" in fname
            pointer = "*" in decl and not array
            fname = fname.split("[")[0].lstrip("*")
            if not fname or fname.startswith("common_"):
                continue
            fields[fname] = Field(fname, int(parts.get("offset", 0)), int(parts.get("size", 0)),
                                  parts.get("signed", "0") == "1", loc, array and not loc, pointer)
    return EventFormat(category, name, id_, fields)


def event_format(category: str, name: str) -> EventFormat:
    """The format of tracepoint CAT:NAME (UsageError when this kernel has none)."""
    bad = {"/", "\0", ".."}
    if not category or not name or any(b in category or b in name for b in bad):
        raise UsageError(f"{category}:{name}: not a tracepoint name")
    path = os.path.join(tracefs(), "events", category, name, "format")
    try:
        with open(path) as f:
            return parse_format(f.read(), category, name)
    except FileNotFoundError:
        raise UsageError(f"this kernel has no tracepoint {category}:{name}") from None


def parse_tracepoint(text: str) -> tuple[str, str]:
    """'tp:CAT:NAME', 'tracepoint:CAT:NAME' or 'CAT:NAME' -> (CAT, NAME)."""
    parts = text.strip().split(":")
    if len(parts) == 3 and parts[0] in ("tp", "t", "tracepoint"):
        parts = parts[1:]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"{text.strip()!r}: a tracepoint is tp:CATEGORY:NAME")
    return parts[0], parts[1]


# -- syscalls --------------------------------------------------------------------------------
# This kernel does not expose its syscall table: sys_call_table is not in
# kallsyms without CONFIG_KALLSYMS_ALL, and the syscall metadata array the
# tracing code was built from lives in init memory, freed after boot. The
# numbers come from the UAPI header generated from the same table for this
# architecture (linux-libc-dev); names are checked against tracefs
# (events/syscalls/sys_enter_NAME exists only for syscalls this kernel has).
_HEADERS = {
    "x86_64": ("asm/unistd_64.h",),
    "i686": ("asm/unistd_32.h",),
    "aarch64": ("asm-generic/unistd.h",),
    "riscv64": ("asm-generic/unistd.h",),
    "ppc64le": ("asm/unistd_64.h",),
    "s390x": ("asm/unistd_64.h",),
}
_TRIPLETS = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "i686": "i386-linux-gnu",
             "riscv64": "riscv64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu"}


def parse_unistd(text: str) -> dict[str, int]:
    """'#define __NR_read 0' lines -> {'read': 0} (expressions are skipped)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "#define" and parts[1].startswith("__NR_"):
            name, value = parts[1][5:], parts[2]
            if value.isdigit() and not name.startswith(("syscalls", "arch_specific")):
                out[name] = int(value)
    return out


class SyscallTable:
    """Syscall names <-> numbers for this machine's architecture."""

    def __init__(self) -> None:
        self._by_name: dict[str, int] | None = None
        self._by_nr: dict[int, str] = {}
        self.source = ""

    def _load(self) -> dict[str, int]:
        if self._by_name is not None:
            return self._by_name
        machine = os.uname().machine
        table: dict[str, int] = {}
        for header in _HEADERS.get(machine, ("asm/unistd_64.h",)):
            for base in (f"/usr/include/{_TRIPLETS.get(machine, '')}", "/usr/include"):
                path = os.path.join(base, header)
                try:
                    with open(path) as f:
                        table = parse_unistd(f.read())
                except OSError:
                    continue
                if table:
                    self.source = path
                    break
            if table:
                break
        self._by_name = table
        self._by_nr = {nr: name for name, nr in table.items()}
        return table

    def name(self, nr: int) -> str:
        self._load()
        return self._by_nr.get(nr) or f"syscall_{nr}"

    def number(self, name: str) -> int:
        """The number of syscall ``name`` (UsageError when this kernel has no such syscall)."""
        table = self._load()
        name = name.strip()
        if name.startswith("syscall_") and name[8:].isdigit():
            return int(name[8:])
        if name.isdigit():
            return int(name)
        exists = os.path.isdir(os.path.join(tracefs(), "events", "syscalls", f"sys_enter_{name}"))
        if name not in table:
            if exists:
                where = self.source or "unistd header"
                raise UsageError(f"--syscall {name}: no number known for it (no {where} entry); "
                                 "give its number")
            raise UsageError(f"--syscall {name}: no such syscall on this kernel")
        return table[name]


SYSCALLS = SyscallTable()


# -- devices and symbols ------------------------------------------------------------------------
def block_name(dev: int) -> str:
    """Kernel dev_t (major << 20 | minor) -> 'vda', or 'MAJ:MIN'."""
    major, minor = dev >> 20, dev & 0xFFFFF
    try:
        with open(f"/sys/dev/block/{major}:{minor}/uevent") as f:
            for line in f:
                if line.startswith("DEVNAME="):
                    return line[8:].strip()
    except OSError:
        pass
    return f"{major}:{minor}"


def kallsyms(names: set[str] | None = None, *, addresses: set[int] | None = None) -> dict:
    """name -> address for ``names``, or address -> name for ``addresses``."""
    out: dict = {}
    try:
        with open("/proc/kallsyms") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                if names is not None and parts[2] in names:
                    out[parts[2]] = int(parts[0], 16)
                elif addresses is not None:
                    a = int(parts[0], 16)
                    if a in addresses:
                        out[a] = parts[2]
    except OSError:
        pass
    return out


def netns_inode(pid: str = "self") -> int:
    return os.stat(f"/proc/{pid}/ns/net").st_ino


def interfaces() -> dict[str, tuple[int, str]]:
    """This network namespace's interfaces: name -> (ifindex, DEVTYPE from uevent)."""
    out = {}
    base = "/sys/class/net"
    try:
        names = os.listdir(base)
    except OSError:
        return out
    for name in names:
        try:
            with open(os.path.join(base, name, "ifindex")) as f:
                ifindex = int(f.read())
            devtype = ""
            with open(os.path.join(base, name, "uevent")) as f:
                for line in f:
                    if line.startswith("DEVTYPE="):
                        devtype = line[8:].strip()
        except (OSError, ValueError):
            continue
        out[name] = (ifindex, devtype)
    return out


__all__ = ["SYSCALLS", "EventFormat", "Field", "SyscallTable", "block_name", "event_format", "interfaces",
           "kallsyms", "netns_inode", "parse_format", "parse_tracepoint", "parse_unistd", "tracefs"]
