#!/usr/bin/env python3
"""Prove the import rules of src/bpfkit, from the source alone (ast; nothing is imported):

1. No cycle in the import graph, counting every import: at module level,
   inside functions, and type-only ones under TYPE_CHECKING.
2. Floors: a module imports only from its own floor or the floors below
   (FLOORS, lowest first). Within core/: kernel <- codecs <- maps <- events <- the rest.
3. Every import inside a function says why in a comment (on its line or the
   line above): such imports exist for start-up time, never to dodge a cycle.

Usage: check_imports.py [--graph] [SRC]   (exit 1 and one line per violation when a rule is broken)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

# Lowest floor first; a module belongs to the first prefix it matches, longest first.
FLOORS: list[tuple[str, ...]] = [
    ("bpfkit.core.kernel",),
    ("bpfkit.core.codecs",),
    ("bpfkit.core.maps",),
    ("bpfkit.core.events",),
    ("bpfkit.core",),  # kinds, program, globals, hooks, bpfkit_h, object, build
    ("bpfkit.argv", "bpfkit.output", "bpfkit.trace"),
    ("bpfkit.runner",),
    ("bpfkit.probes",),
    ("bpfkit.tools", "bpfkit.runobj", "bpfkit.doctor", "bpfkit.agent", "bpfkit.service"),
    ("bpfkit.cli", "bpfkit.__main__", "bpfkit"),
]


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def floor_of(module: str) -> int:
    best, best_len = len(FLOORS), -1
    for i, prefixes in enumerate(FLOORS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    return best


class Import:
    __slots__ = ("in_function", "line", "target", "type_only")

    def __init__(self, target: str, line: int, in_function: bool, type_only: bool) -> None:
        self.target, self.line, self.in_function, self.type_only = target, line, in_function, type_only


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    base = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def imports_of(path: Path, module: str, modules: set[str]) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    out: list[Import] = []

    def visit(node: ast.AST, in_function: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            fn = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            tc = type_only or (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                               and child.test.id == "TYPE_CHECKING")
            if isinstance(child, ast.Import):
                for alias in child.names:
                    if alias.name.split(".")[0] == "bpfkit":
                        out.append(Import(alias.name, child.lineno, in_function, type_only))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    target = _resolve(module, is_package, child.level, child.module)
                else:
                    target = child.module or ""
                if target.split(".")[0] == "bpfkit":
                    for alias in child.names:  # `from pkg import submodule` imports the submodule
                        sub = f"{target}.{alias.name}"
                        out.append(Import(sub if sub in modules else target, child.lineno,
                                          in_function, type_only))
            visit(child, fn, tc)

    visit(tree, False, False)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strong(v)
    return out


def has_reason(lines: list[str], lineno: int) -> bool:
    """A comment on the import's line, or a comment line heading the block of
    imports (and blank lines) it stands in."""
    if "#" in lines[lineno - 1]:
        return True
    i = lineno - 2
    while i >= 0:
        text = lines[i].strip()
        if text.startswith("#"):
            return True
        if text and not text.startswith(("import ", "from ")):
            return False
        i -= 1
    return False


def check(src: Path) -> tuple[list[str], dict[str, set[str]]]:
    files = {module_name(p, src): p for p in sorted(src.rglob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {m: set() for m in modules}
    problems: list[str] = []
    for module, path in files.items():
        lines = path.read_text().splitlines()
        for imp in imports_of(path, module, modules):
            target = imp.target
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]  # a name imported from a module
            if target == module or target not in modules:
                continue
            graph[module].add(target)
            where = f"{path.relative_to(src.parent)}:{imp.line}"
            if floor_of(target) > floor_of(module):
                kind = " (type-only)" if imp.type_only else ""
                problems.append(f"{where}: {module} imports {target}{kind}, a higher floor")
            if imp.in_function and not has_reason(lines, imp.line):
                problems.append(f"{where}: import of {target} inside a function without a comment saying why")
    for comp in cycles(graph):
        problems.append("import cycle: " + " -> ".join(comp))
    return problems, graph


def main(argv: list[str]) -> int:
    show = "--graph" in argv
    rest = [a for a in argv if a != "--graph"]
    src = Path(rest[0]) if rest else Path(__file__).resolve().parent.parent / "src"
    problems, graph = check(src)
    if show:
        for m in sorted(graph, key=lambda m: (floor_of(m), m)):
            print(f"[{floor_of(m)}] {m} -> {', '.join(sorted(graph[m])) or '-'}")
    for p in problems:
        print(p, file=sys.stderr)
    if not problems:
        edges = sum(len(v) for v in graph.values())
        print(f"ok: {len(graph)} modules, {edges} imports, no cycle, no upward import, "
              "every function-level import says why")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
