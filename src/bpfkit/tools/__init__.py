"""Monitors, one package each: NAME.bpf.c, NAME.h and a small Python module
declaring options, .rodata configuration and event -> row/record."""

from __future__ import annotations

import importlib
import pkgutil

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..runner import Tool


def discover() -> dict[str, Tool]:
    """Every tool package under bpfkit.tools, by name."""
    tools: dict[str, Tool] = {}
    for mod in pkgutil.iter_modules(__path__):
        if mod.ispkg:
            tool = importlib.import_module(f"{__name__}.{mod.name}").TOOL
            tools[tool.name] = tool
    return tools
