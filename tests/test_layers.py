"""The import rules of src/bpfkit (scripts/check_imports.py) and the start-up budget."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import check_imports

# Modules a monitor's start must not import: each costs milliseconds (re, enum,
# argparse: ~9 ms together) and an ordinary command line needs none of them.
BUDGETED_OUT = ("re", "enum", "argparse", "typing", "dataclasses", "pathlib", "socket", "platform",
                "json", "threading", "ipaddress", "fnmatch", "inspect", "subprocess", "shutil", "asyncio")
COMMAND_LINES = [["fileopen"], ["fileopen", "--pid", "1", "--min-lat-ms", "2.5", "-T"],
                 ["tcptrack", "--port", "22", "--alert-ports", "4444"],
                 ["fileaudit", "--watch", "/etc", "--attempts"], ["run", "x.bpf.o", "--duration", "1"],
                 ["snapaudit", "--pool", "tank", "--op", "destroy,rollback", "--attempts"],
                 ["hist", "syscall", "--by", "comm", "--interval", "1"], ["hist", "runqlat"],
                 ["count", "syscalls", "--top", "10"],
                 ["dnswatch", "--qtype", "A,AAAA", "--name", "example.com", "--failed", "--ports", "53,5353"]]


def test_the_source_keeps_its_floors() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_imports.py")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "no cycle, no upward import" in r.stdout


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    src = tmp_path / "src"
    for name, text in files.items():
        path = src / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for d in {p.parent for p in src.rglob("*.py")}:
        while d != src:
            (d / "__init__.py").touch()
            d = d.parent
    return src


def test_the_checker_finds_an_upward_import_even_type_only(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "bpfkit/core/object.py": "X = 1\n",
        "bpfkit/core/kernel/errors.py": ("TYPE_CHECKING = False\nif TYPE_CHECKING:\n"
                                         "    from ..object import X\n"),
    })
    problems, _ = check_imports.check(src)
    assert any("bpfkit.core.kernel.errors imports bpfkit.core.object (type-only), a higher floor" in p
               for p in problems), problems


def test_the_checker_finds_a_cycle_through_a_function_level_import(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "bpfkit/core/maps/a.py": "from .b import B\nA = 1\n",
        "bpfkit/core/maps/b.py": "def f():\n    from .a import A  # lazy\n    return A\nB = 2\n",
    })
    problems, _ = check_imports.check(src)
    assert problems == ["import cycle: bpfkit.core.maps.a -> bpfkit.core.maps.b"], problems


def test_the_checker_wants_a_reason_for_a_function_level_import(tmp_path: Path) -> None:
    src = _tree(tmp_path, {
        "bpfkit/core/kernel/a.py": "A = 1\n",
        "bpfkit/core/maps/b.py": "def f():\n    from ..kernel.a import A\n    return A\n",
    })
    problems, _ = check_imports.check(src)
    assert len(problems) == 1 and "inside a function without a comment" in problems[0], problems


@pytest.mark.parametrize("argv", COMMAND_LINES, ids=[" ".join(a) for a in COMMAND_LINES])
def test_parsing_a_command_line_imports_nothing_budgeted_out(argv: list[str]) -> None:
    """Everything a run imports is imported by then: the chosen tool, the
    runner and the whole library it loads objects with."""
    code = (f"import sys\nfrom bpfkit.cli import parse_args\nparse_args({argv!r})\n"
            "import bpfkit.runner, bpfkit.core.object\n"
            f"print(' '.join(m for m in {BUDGETED_OUT!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.split() == []
