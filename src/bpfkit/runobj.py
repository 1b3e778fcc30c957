"""`bpfkit run OBJ`: load and attach any compiled object and stream the events
of its ring and perf buffers, through the same runner as the monitors."""

from __future__ import annotations

from .argv import UsageError
from .core.kernel.errors import BPFError, BPFNameError
from .core.kernel.uapi import MapType
from .runner import add_runner_arguments
from .runner import run as run_tool
from .runner.tool import Tool

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from .core.object import BPFObject
    from .runner.tool import Clock


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("object", metavar="FILE.bpf.o")
    p.add_argument("--set", dest="assign", action="append", default=[], metavar="NAME=VALUE",
                   help="set a .rodata/.bss/.data global before load (repeatable)")
    p.add_argument("--prog", action="append", default=[], metavar="NAME",
                   help="load and attach only these programs (repeatable; default: all)")
    p.add_argument("--ring", action="append", default=[], metavar="MAP",
                   help="ring or perf buffer(s) to read (default: all)")
    p.add_argument("--event", metavar="STRUCT",
                   help="decode events as this struct (default: the type BPFKIT_RINGBUF declared)")
    add_runner_arguments(p, ring_default=None)


def parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text, 0)
    except ValueError:
        return text


class RunObject(Tool):
    """Any object, as a monitor: every event as a JSON line of its fields."""

    name = "run"
    ring_field = True
    ts_required = False

    def __init__(self, args: argparse.Namespace, clock: Clock) -> None:
        super().__init__(args, clock)
        self.assign = []
        for spec in args.assign:
            name, sep, value = spec.partition("=")
            if not sep or not name:
                raise UsageError(f"--set needs NAME=VALUE, got {spec!r}")
            self.assign.append((name, parse_value(value)))
        args.json = True  # text columns need a tool that knows the events

    def object_path(self) -> str:  # type: ignore[override]
        return self.args.object

    def rings(self, obj: BPFObject) -> list[str]:
        if self.args.ring:
            for name in self.args.ring:
                obj.maps[name]  # unknown names fail here, listing the real ones
            return list(self.args.ring)
        return [m.name for m in obj.maps if m.type in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)]

    def event_type(self, ring: str) -> str | None:
        return self.args.event

    def configure(self, obj: BPFObject) -> None:
        for name, value in self.assign:
            self._assign(obj, name, value)
        if self.args.prog:
            wanted = set(self.args.prog)
            for name in wanted:
                obj.progs[name]  # unknown names fail here, listing the real ones
            for p in obj.progs:
                p.autoload = p.name in wanted

    def attached(self, obj: BPFObject, links: list[Any]) -> None:
        not_attached = "".join(f"\nbpfkit run: {name} not attached: {why}"
                               for name, why in obj.unattached.items())
        self.banner = (f"running {obj.name}: {len(links)} program(s) attached. "  # type: ignore[misc]
                       f"Ctrl+C to stop.{not_attached}")

    @staticmethod
    def _assign(obj: BPFObject, name: str, value: Any) -> None:
        known: list[str] = []
        for section in (".rodata", ".bss", ".data"):
            try:
                sec = obj.section(section)
            except BPFNameError:
                continue
            if name in sec.names():
                try:
                    setattr(sec, name, value)
                except (TypeError, ValueError) as exc:
                    raise UsageError(f"--set {name}: {exc}") from None
                return
            known += sec.names()
        raise BPFError(f"--set: no global named {name!r} (this object has: {', '.join(known) or 'none'})")

    def record(self, ev: Any) -> dict[str, Any] | None:
        return ev._asdict() if hasattr(ev, "_asdict") else {"data": bytes(ev).hex()}


def run(args: argparse.Namespace) -> int:
    return run_tool(RunObject, args)
