"""The `bpfkit` command: thin. Parses arguments and runs one subcommand."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence

from .core.errors import BPFError, BPFLoadError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .runner import Tool


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def _cmd_build(args: argparse.Namespace) -> int:
    from .core.build import build

    if args.output and len(args.sources) > 1:
        raise UsageError("bpfkit build: -o takes one source file")
    for src in args.sources:
        out, compiled = build(src, args.output, force=args.force, verbose=args.verbose)
        if args.verbose or compiled:
            print(f"{'built' if compiled else 'up to date'}: {out}", file=sys.stderr)
    return 0


def _cmd_doctor(args: argparse.Namespace) -> int:
    from . import doctor

    return doctor.run(args)


def _cmd_run(args: argparse.Namespace) -> int:
    from . import runobj

    return runobj.run(args)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="bpfkit", description="Load, run and build CO-RE eBPF programs from Python.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("doctor", help="what this kernel offers (BTF, tracefs, hooks that load)")
    from .doctor import add_arguments as doctor_args

    doctor_args(d)
    d.set_defaults(func=_cmd_doctor)

    b = sub.add_parser("build", help="compile .bpf.c files to CO-RE objects (clang, vmlinux.h)")
    b.add_argument("sources", nargs="+", metavar="FILE.bpf.c")
    b.add_argument("-o", "--output", metavar="OUT", help="object path (default: FILE.bpf.o)")
    b.add_argument("--force", action="store_true", help="compile even when up to date")
    b.add_argument("--verbose", "-v", action="store_true", help="print the clang command")
    b.set_defaults(func=_cmd_build)

    r = sub.add_parser("run", help="load and attach an object, print its ring-buffer events as JSON lines")
    from .runobj import add_arguments as run_args

    run_args(r)
    r.set_defaults(func=_cmd_run)

    from .runner import add_runner_arguments
    from .tools import discover

    for tool in discover().values():
        t = sub.add_parser(tool.name, help=tool.help, description=tool.help)
        tool.add_arguments(t)
        add_runner_arguments(t)
        t.set_defaults(func=_tool_runner(tool))
    return p


def _tool_runner(tool: Tool) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from .runner import run as run_tool

        return run_tool(tool, args)

    return run


def _version() -> str:
    from . import __version__

    return f"bpfkit {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    # SIGTERM stops like Ctrl+C; SIGPIPE (| head) ends quietly.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    verbose = False
    try:
        args = build_parser().parse_args(argv)
        verbose = bool(getattr(args, "verbose", False))
        if not getattr(args, "func", None):
            build_parser().print_help(sys.stderr)
            return 2
        return args.func(args)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    except BPFLoadError as exc:
        if verbose and exc.log:
            print(exc.log.rstrip(), file=sys.stderr)
        print(f"bpfkit: {exc.summary()}", file=sys.stderr)
        return 1
    except BPFError as exc:
        print(f"bpfkit: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
