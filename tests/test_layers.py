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


# What a monitor printing text to stdout must not import even once it runs:
# each is for other runs only (a perf buffer, a failed load, pins, an --output
# file, rotation, --json, map kinds it has none of or has not touched: live
# maps are made on first use) and costs start-up time.
OPTIONAL_AT_RUN = ("bpfkit.core.events.perfbuf", "bpfkit.core.kernel.perf", "bpfkit.core.kernel.pins",
                   "bpfkit.core.loaderror", "bpfkit.output.files", "bpfkit.output.rotation",
                   "bpfkit.output.jsonlines", "bpfkit.core.maps.lpm", "bpfkit.core.maps.values",
                   "bpfkit.core.maps.fdmaps", "bpfkit.core.maps.arrays", "operator", "importlib",
                   "warnings", "_socket", *BUDGETED_OUT)


@pytest.mark.kernel
def test_a_monitor_starts_without_the_modules_of_other_runs_and_without_compile() -> None:
    """A real fileopen start (open, load, attach, header, READY): only what it
    uses is imported by then, and generated decoders are made without
    compile(), whose first call in a process builds every AST node type
    (~1.3 ms of each start). Exit may import more (threads detach links)."""
    # compile() is refused to our code only: the import system compiles a
    # module whose .pyc is stale or missing (an edited file, -B) through it.
    code = ("import builtins, os, sys\n"
            "real = builtins.compile\n"
            "def refuse(*a, **k):\n"
            "    if not sys._getframe(1).f_code.co_filename.startswith('<frozen importlib'):\n"
            "        raise AssertionError('compile() called')\n"
            "    return real(*a, **k)\n"
            "builtins.compile = refuse\n"
            "import bpfkit.runner.session as session\n"
            "ready = session.notify_ready\n"
            "def snapshot():\n"
            f"    late = sorted(m for m in {OPTIONAL_AT_RUN!r} if m in sys.modules)\n"
            "    os.write(2, f'READY {late}\\n'.encode())\n"
            "    ready()\n"
            "session.notify_ready = snapshot\n"
            "from bpfkit.cli import main\n"
            "os.write(2, f'RC {main([\"fileopen\", \"--duration\", \"0.3\"])}\\n'.encode())\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       cwd=ROOT)
    assert "READY []" in r.stderr and "RC 0" in r.stderr, r.stderr[-2000:]


def test_every_libbpf_call_has_a_prototype() -> None:
    """The binding gives each function its prototype on first use; a call
    without one is refused (ctypes would return a pointer cut to an int)."""
    import re

    from bpfkit.core.kernel import libbpf

    called = set()
    for path in (ROOT / "src" / "bpfkit").rglob("*.py"):
        called |= set(re.findall(r"\blib\.(\w+)\(", path.read_text()))
    assert called and not called - set(libbpf.PROTOTYPES), called - set(libbpf.PROTOTYPES)
    with pytest.raises(AttributeError, match="no prototype"):
        libbpf.lib.bpf_map__key  # noqa: B018 - exported by libbpf, not declared here
    # a pointer argument is made from the struct the module hands out: one class per struct
    assert libbpf.lib.bpf_object__open_file.argtypes[1]._type_ is libbpf.ObjectOpenOpts
