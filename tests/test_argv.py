"""The argparse-free fast path must give exactly what argparse gives, or defer to it."""

from __future__ import annotations

import pytest

from bpfkit.argv import Parser, UsageError, _Defer


def make() -> Parser:
    p = Parser(prog="t")
    g = p.add_argument_group("filters")
    g.add_argument("--pid", type=int)
    g.add_argument("--comm", metavar="NAME")
    g.add_argument("--min-lat-ms", type=float)
    p.add_argument("--failed", action="store_true")
    p.add_argument("--watch", action="append", metavar="PATH")
    p.add_argument("--set", dest="assign", action="append", default=[])
    p.add_argument("--mode", choices=["a", "b"], default="a")
    p.add_argument("--verbose", "-v", action="store_true")
    p.add_argument("sources", nargs="+")
    p.set_defaults(func="f")
    return p


FAST = [
    ["x.c"],
    ["x.c", "y.c", "--pid", "42", "-v"],
    ["--pid=7", "--comm", "cat", "--min-lat-ms", "1.5", "x.c"],
    ["--watch", "/etc", "--watch=/root", "--set", "a=1", "--set", "b=2", "x.c"],
    ["--mode", "b", "--failed", "x.c"],
]
DEFERRED = [
    ["--pi", "3", "x.c"],              # abbreviation: argparse accepts it
    ["-vv", "x.c"],                    # clustered short flags
    ["--pid", "-3", "x.c"],            # a value that looks like an option
    ["x.c", "--pid", "4", "y.c"],      # positionals split by an option
]
ERRORS = [
    ["--pid", "x", "x.c"],
    ["--mode", "c", "x.c"],
    ["--bogus", "x.c"],
    [],
    ["--pid"],
    ["--failed=1", "x.c"],
]


@pytest.mark.parametrize("argv", FAST)
def test_fast_path_equals_argparse(argv: list[str]) -> None:
    p = make()
    fast = p._fast(argv)
    assert vars(fast) == vars(p.to_argparse().parse_args(argv))


@pytest.mark.parametrize("argv", DEFERRED + ERRORS)
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    p = make()
    with pytest.raises(_Defer):
        p._fast(argv)
    try:
        expected = vars(p.to_argparse().parse_args(argv))
    except UsageError as exc:
        with pytest.raises(UsageError) as got:
            p.parse_args(argv)
        assert str(got.value) == str(exc) and "(see t --help)" in str(exc)
    else:
        assert vars(p.parse_args(argv)) == expected


def test_append_default_is_not_shared() -> None:
    p = make()
    a = p.parse_args(["--set", "a=1", "x.c"])
    b = p.parse_args(["x.c"])
    assert (a.assign, b.assign) == (["a=1"], [])
