"""`bpfkit ghost`: a site monitor on a tracepoint no kernel has (tests only)."""

from __future__ import annotations

from typing import Any

from bpfkit.runner.tool import Tool


class Ghost(Tool):
    name = "ghost"
    help = "a monitor this kernel cannot run"
    banner = "Haunting. Ctrl+C to stop."

    def row(self, ev: Any) -> tuple[Any, ...] | None:
        return (f"ghost pid={ev.pid}",)

    def record(self, ev: Any) -> dict[str, Any] | None:
        return {"event": "ghost", "pid": ev.pid}


TOOL = Ghost
