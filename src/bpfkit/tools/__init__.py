"""Monitors, one package each: NAME.bpf.c, NAME.h and a small Python module
declaring options, .rodata configuration and event -> row/record."""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..runner.tool import Tool


def names() -> list[str]:
    """Tool package names, found without importing them (start-up stays cheap)."""
    here = __path__[0]
    return sorted(e.name for e in os.scandir(here)
                  if e.is_dir() and os.path.exists(os.path.join(e.path, "__init__.py")))


def load(name: str) -> type[Tool]:
    from importlib import import_module  # lazy: only the chosen tool is imported

    return import_module(f"{__name__}.{name}").TOOL


def discover() -> dict[str, type[Tool]]:
    """Every tool, by command name."""
    tools = (load(n) for n in names())
    return {t.name: t for t in tools}
