"""Monitors, one package each: NAME.bpf.c, NAME.h and a small Python module
declaring options, .rodata configuration and event -> row/record.

Besides the ones shipped here, directories listed in $BPFKIT_TOOLS_PATH
(colon-separated) may hold more monitor packages of the same shape (a site's
own monitors): they become `bpfkit NAME` and agent monitors too.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..runner.tool import Tool


def _dirs() -> list[str]:
    extra = [d for d in os.environ.get("BPFKIT_TOOLS_PATH", "").split(":") if d]
    return [__path__[0], *extra]


def _packages(here: str) -> list[str]:
    try:
        entries = list(os.scandir(here))
    except NotADirectoryError:
        return _zip_packages(here)
    except OSError:
        return []
    return [e.name for e in entries if e.is_dir() and os.path.exists(os.path.join(e.path, "__init__.py"))]


def _zip_packages(here: str) -> list[str]:
    """Tool packages inside the zip archive bpfkit runs from (the single-file
    deploy, bpfkit.pyz), from zipimport's table of contents as pkgutil reads it
    (pkgutil itself would import inspect: milliseconds of start-up)."""
    import zipimport  # already loaded: it imported this module

    archive = getattr(__loader__, "archive", "")  # type: ignore[name-defined]
    prefix = os.path.relpath(here, archive) + os.sep if archive else ""
    if not prefix:
        return []
    toc = getattr(zipimport, "_zip_directory_cache", {}).get(archive)  # private: may go away
    if toc is None:
        import zipfile  # lazy: only a zipapp whose Python lacks zipimport's cache pays for it

        with zipfile.ZipFile(archive) as z:
            toc = z.namelist()
    found = set()
    for name in toc:
        if name.startswith(prefix):
            parts = name[len(prefix):].split(os.sep)
            if len(parts) == 2 and parts[1] in ("__init__.py", "__init__.pyc"):
                found.add(parts[0])
    return sorted(found)


def names() -> list[str]:
    """Tool package names, found without importing them (start-up stays cheap)."""
    return sorted({n for d in _dirs() for n in _packages(d)})


def load(name: str) -> type[Tool]:
    if name in _packages(__path__[0]):
        # Only the chosen tool is imported; by __import__, not importlib's
        # import_module: importing importlib (and warnings) costs ~0.5 ms.
        return __import__(name, globals(), None, ("TOOL",), 1).TOOL
    for d in _dirs()[1:]:
        if name in _packages(d):
            import importlib.util  # lazy: a site's own monitor, from $BPFKIT_TOOLS_PATH
            import sys

            spec = importlib.util.spec_from_file_location(f"bpfkit_site_tools.{name}",
                                                          os.path.join(d, name, "__init__.py"))
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
            return module.TOOL
    raise KeyError(name)


def discover() -> dict[str, type[Tool]]:
    """Every tool, by command name."""
    tools = (load(n) for n in names())
    return {t.name: t for t in tools}
