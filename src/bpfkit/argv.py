"""Command-line parsing that imports argparse only when it has work to do.

A ``Parser`` records its ``add_argument()`` calls. ``parse_args()`` first
tries a strict little parser that knows exact option names, store /
store_true / append with ``type`` and ``choices``, and positionals (one value
or ``nargs="+"``). Anything else -- ``--help``, an abbreviated or unknown
option, clustered short flags, a missing or bad value -- goes to a real
argparse parser built from the same records, so help and error messages are
argparse's own. Why: argparse pulls in re, enum and gettext, ~9 ms, a quarter
of a monitor's start-up, and a systemd-restarted monitor never needs them.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

_FAST_ACTIONS = ("store", "store_true", "append")


class UsageError(Exception):
    """A bad command-line option or value: the CLI prints it after the command's
    name (``prog`` when the parser knows better), as one line, and exits 2.
    Raised before anything is opened or loaded."""

    def __init__(self, message: str, *, prog: str | None = None) -> None:
        super().__init__(message)
        self.prog = prog


# -- option types: argparse `type=` functions that accept only sane values ----------------
# argparse names the type in its message ("invalid pid value: '0'"), so each is a
# named function. Every number is finite and bounded: nan, inf and 1e400 are refused.
PID_MAX = 1 << 22  # PID_MAX_LIMIT on 64-bit kernels


def _refuse(text: str, what: str) -> Exception:
    import argparse  # lazy: only a bad value pays for argparse

    return argparse.ArgumentTypeError(f"must be {what}, not {text!r}")


def _int_in(text: str, lo: int, hi: int, what: str) -> int:
    try:
        if not text.isascii():  # int() takes Arabic-Indic and fullwidth digits too
            raise ValueError(text)
        value = int(text, 10)
    except ValueError:
        raise _refuse(text, what) from None
    if not lo <= value <= hi:
        raise _refuse(text, what)
    return value


def _float_in(text: str, lo: float, hi: float, what: str, *, low_open: bool = False) -> float:
    try:
        if not text.isascii():
            raise ValueError(text)
        value = float(text)
    except ValueError:
        raise _refuse(text, what) from None
    if value != value or not lo <= value <= hi or (low_open and value == lo):  # NaN != NaN
        raise _refuse(text, what)
    return value


def pid(text: str) -> int:
    """A process id: 1..4194304."""
    return _int_in(text, 1, PID_MAX, f"a process id (1-{PID_MAX})")


def uid(text: str) -> int:
    """A user id: 0..4294967294 (-1 is "no user")."""
    return _int_in(text, 0, 2**32 - 2, "a user id (0-4294967294)")


def port(text: str) -> int:
    """A TCP/UDP port: 1..65535."""
    return _int_in(text, 1, 65535, "1-65535")


def seconds(text: str) -> float:
    """A duration: 0 to a year, finite."""
    return _float_in(text, 0.0, 366 * 86400.0, "seconds from 0 to a year")


def interval(text: str) -> float:
    """A positive polling interval: up to an hour."""
    return _float_in(text, 0.0, 3600.0, "more than 0 and at most 3600 seconds", low_open=True)


def milliseconds(text: str) -> float:
    """A latency threshold: 0 to an hour, in ms."""
    return _float_in(text, 0.0, 3_600_000.0, "milliseconds from 0 to 3600000")


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def size(text: str) -> int:
    """A file size: bytes, or with K/M/G (1024-based): 4K .. 1T."""
    what = "a size like 100M or 1G (4K to 1024G)"
    unit = text[-1:].upper() if text[-1:].upper() in ("K", "M", "G") else ""
    number = text[:-1] if unit else text
    value = _int_in(number.removesuffix("i").removesuffix("B"), 1, 1 << 40, what) * _SIZE_UNITS[unit]
    if not 4096 <= value <= 1 << 40:
        raise _refuse(text, what)
    return value


def period(text: str) -> float:
    """A rotation period: seconds, or with s/m/h/d: 1m .. 366d."""
    what = "a period like 30m, 1h or 1d (1m to 366d)"
    unit = text[-1:] if text[-1:] in ("s", "m", "h", "d") else ""
    value = _float_in(text[:-1] if unit else text, 0.0, 366 * 86400.0, what) * _TIME_UNITS[unit]
    if not 60 <= value <= 366 * 86400:
        raise _refuse(text, what)
    return value


def ring_kilobytes(text: str) -> int:
    """A ring buffer size in KiB: a power of two from 4 KiB (a page) to 1 GiB."""
    what = "a power of two of KiB from 4 to 1048576"
    value = _int_in(text, 4, 1 << 20, what)
    if value & (value - 1):
        raise _refuse(text, what)
    return value


class _Defer(Exception):
    """The fast path cannot decide: argparse must."""


class _Group:
    def __init__(self, parser: Parser, title: str | None, description: str | None) -> None:
        self._parser, self.title, self.description = parser, title, description

    def add_argument(self, *names: str, **kw: Any) -> None:
        self._parser._records.append((self, names, kw))


class Parser:
    """The subset of argparse.ArgumentParser a subcommand's set-up uses."""

    def __init__(self, prog: str | None = None, description: str | None = None) -> None:
        self.prog, self.description = prog, description
        self._records: list[tuple[_Group | None, tuple[str, ...], dict[str, Any]]] = []
        self._defaults: dict[str, Any] = {}

    def add_argument(self, *names: str, **kw: Any) -> None:
        self._records.append((None, names, kw))

    def add_argument_group(self, title: str | None = None, description: str | None = None) -> _Group:
        return _Group(self, title, description)

    def set_defaults(self, **kw: Any) -> None:
        self._defaults.update(kw)

    def parse_args(self, argv: Sequence[str]) -> Any:
        try:
            return self._fast(list(argv))
        except _Defer:
            return self._checked(self.to_argparse().parse_args(argv))

    def _checked(self, ns: Any) -> Any:
        """argparse (3.11) turns `--opt=--` into an empty list for a one-value
        option, past its type check: refuse that like any missing value."""
        for _, names, kw in self._records:
            if names[0].startswith("-") and kw.get("action", "store") == "store" and "nargs" not in kw:
                dest = kw.get("dest") or _dest(names)
                if isinstance(getattr(ns, dest, None), list):
                    raise UsageError(f"argument {'/'.join(names)}: expected one value "
                                     f"(see {self.prog} --help)", prog=self.prog)
        return ns

    def to_argparse(self) -> argparse.ArgumentParser:
        p = parser_class()(prog=self.prog, description=self.description)
        groups: dict[int, Any] = {}
        for group, names, kw in self._records:
            target: Any = p
            if group is not None:
                if id(group) not in groups:
                    groups[id(group)] = p.add_argument_group(group.title, group.description)
                target = groups[id(group)]
            target.add_argument(*names, **kw)
        p.set_defaults(**self._defaults)
        return p

    # -- the fast path --------------------------------------------------------------
    def _fast(self, argv: list[str]) -> SimpleNamespace:
        options: dict[str, tuple[str, dict[str, Any]]] = {}
        positionals: list[tuple[str, dict[str, Any]]] = []
        ns: dict[str, Any] = {}
        for _, names, kw in self._records:
            action = kw.get("action", "store")
            if names[0][0] != "-":
                positionals.append((kw.get("dest", names[0]), kw))
                continue
            dest = kw.get("dest") or _dest(names)
            ns[dest] = kw.get("default", False if action == "store_true" else None)
            for n in names:
                options[n] = (dest, kw)
        ns.update(self._defaults)  # parser-level defaults win, as in argparse

        values: list[str] = []
        runs = 0  # separate stretches of positional values
        last_was_value = False
        i = 0
        while i < len(argv):
            tok = argv[i]
            i += 1
            if tok.startswith("-") and tok != "-":
                last_was_value = False
                name, eq, value = tok.partition("=") if tok.startswith("--") else (tok, "", "")
                if name not in options:
                    raise _Defer
                dest, kw = options[name]
                action = kw.get("action", "store")
                if action not in _FAST_ACTIONS or "nargs" in kw or kw.get("const") is not None:
                    raise _Defer
                if action == "store_true":
                    if eq:
                        raise _Defer
                    ns[dest] = True
                    continue
                if not eq:
                    if i >= len(argv) or argv[i].startswith("-"):
                        raise _Defer
                    value = argv[i]
                    i += 1
                v = _convert(kw, value)
                if action == "append":
                    ns[dest] = [*(ns[dest] or ()), v]
                else:
                    ns[dest] = v
            else:
                if not last_was_value:
                    runs += 1
                last_was_value = True
                values.append(tok)
        for dest, kw in options.values():
            if kw.get("required") and ns.get(dest) is None:
                raise _Defer
        self._assign_positionals(positionals, values, runs, ns)
        return SimpleNamespace(**ns)

    @staticmethod
    def _assign_positionals(positionals: list[tuple[str, dict[str, Any]]], values: list[str],
                            runs: int, ns: dict[str, Any]) -> None:
        if runs > 1 or (values and not positionals):
            raise _Defer
        for k, (dest, kw) in enumerate(positionals):
            nargs = kw.get("nargs")
            if nargs == "+" and k == len(positionals) - 1:
                if not values:
                    raise _Defer
                ns[dest] = [_convert(kw, v) for v in values]
                values = []
            elif nargs is None and values:
                ns[dest] = _convert(kw, values.pop(0))
            else:
                raise _Defer
        if values:
            raise _Defer


def _dest(names: tuple[str, ...]) -> str:
    longs = [n for n in names if n.startswith("--")]
    return (longs[0] if longs else names[0]).lstrip("-").replace("-", "_")


def _convert(kw: dict[str, Any], text: str) -> Any:
    try:
        value = kw["type"](text) if "type" in kw else text
    except Exception:  # argparse says what was wrong
        raise _Defer from None
    if "choices" in kw and value not in kw["choices"]:
        raise _Defer
    return value


_parser_cls: type[argparse.ArgumentParser] | None = None


def parser_class() -> type[argparse.ArgumentParser]:
    """argparse.ArgumentParser whose usage errors are one line on stderr, exit 2."""
    global _parser_cls
    if _parser_cls is None:
        import argparse  # lazy: the point of this module

        class _Formatter(argparse.HelpFormatter):
            # argparse builds a formatter per add_argument(); its default width
            # comes from shutil, whose import (bz2, lzma, ...) costs ms.
            def __init__(self, prog: str, **kw: Any) -> None:
                if kw.get("width") is None:
                    try:
                        cols = int(os.environ.get("COLUMNS") or 0) or os.get_terminal_size().columns
                    except (ValueError, OSError):
                        cols = 80
                    kw["width"] = max(cols - 2, 40)
                super().__init__(prog, **kw)

        class _Parser(argparse.ArgumentParser):
            def __init__(self, *a: Any, **kw: Any) -> None:
                kw.setdefault("formatter_class", _Formatter)
                super().__init__(*a, **kw)

            def error(self, message: str) -> None:  # type: ignore[override]
                raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)

        _parser_cls = _Parser
    return _parser_cls
