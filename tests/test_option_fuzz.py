"""Property: whatever a user types, every tool's option handling ends in a
usage error (exit 2), a clean start, or a one-line runtime error: never a
traceback. Bounded: a few hundred command lines per tool, no kernel."""

from __future__ import annotations

import os

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bpfkit import BPFObject, tools  # noqa: E402
from bpfkit.argv import Parser, UsageError  # noqa: E402
from bpfkit.cli import parse_args  # noqa: E402
from bpfkit.core.kernel.errors import BPFError  # noqa: E402
from bpfkit.runner import Clock, add_runner_arguments, output_group  # noqa: E402
from bpfkit.runner import settings as run_settings  # noqa: E402

NASTY = ["nan", "-nan", "inf", "-inf", "1e400", "1e30", "-1", "0", "1", "4294967296", "18446744073709551616",
         "0x10", "1_000", "²", "\u0661\u0662", "\uff11\uff12", "", " ", "-", "--", "a,b", "4444,,22",
         "\udcff\udcfe", "\n", "/",
         "/" + "a" * 5000, "ALL", "root", "-4", "3.5", "1e-9", "65536", "4096", "3"]


def option_names(tool_name: str) -> list[tuple[str, bool]]:
    """(option, takes a value) for a tool, from its own parser set-up."""
    p = Parser()
    tools.load(tool_name).add_arguments(p)
    add_runner_arguments(p)
    out = []
    for _, names, kw in p._records:
        if names[0].startswith("-"):
            out.append((names[-1], kw.get("action", "store") not in ("store_true", "store_false")))
    return out


def outcome(argv: list[str]) -> int:
    """The exit status the CLI would give, short of loading anything."""
    try:
        args = parse_args(argv)
        if args is None:
            return 2
        run_settings(args)
        output_group(getattr(args, "output_group", None))
        tool = tools.load(argv[0])(args, Clock())
        with BPFObject.open(tool.object_path()) as obj:  # what start-up does before load
            tool.declare(obj)
            tool.configure(obj)
        return 0
    except UsageError:
        return 2
    except BPFError:
        return 1
    except SystemExit as exc:  # --help
        return int(exc.code or 0)


@pytest.mark.parametrize("tool", tools.names())
def test_no_option_value_makes_a_traceback(tool: str) -> None:
    opts = option_names(tool)
    # any text a command line can hold (execve's arguments are C strings: no NUL)
    text = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=12)
    values = st.one_of(st.sampled_from(NASTY), text, st.integers().map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr))
    pairs = st.lists(st.tuples(st.sampled_from(opts), values), max_size=5)

    # derandomize: CI runs the same examples every time (BPFKIT_FUZZ_EXAMPLES=5000 explores more)
    @settings(max_examples=int(os.environ.get("BPFKIT_FUZZ_EXAMPLES", 150)), deadline=None,
              suppress_health_check=[HealthCheck.too_slow], database=None,
              derandomize="BPFKIT_FUZZ_EXAMPLES" not in os.environ)
    @given(pairs)
    def check(chosen: list[tuple[tuple[str, bool], str]]) -> None:
        argv = [tool]
        for (name, takes_value), value in chosen:
            if name in ("--help", "-h"):
                continue
            argv += [f"{name}={value}"] if takes_value else [name]
        assert outcome(argv) in (0, 1, 2)

    check()
