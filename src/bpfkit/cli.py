"""The `bpfkit` command: thin. Parses arguments and runs one subcommand.

Start-up is part of the product (a monitor restarted by systemd, a one-shot
trace), so only the chosen subcommand's parser and modules are built and
imported, argparse only when needed (see argv.py); the full parser exists
for `bpfkit --help` and unknown commands.
"""

from __future__ import annotations

import gc
import os
import sys

from .argv import Parser, UsageError, parser_class
from .core.kernel.errors import BPFError, BPFLoadError

try:
    import _signal as signal  # the C module; `signal` wraps it in enums (~4 ms)
except ImportError:  # pragma: no cover - not CPython
    import signal  # type: ignore[no-redef]

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

    from .runner.tool import Tool


# -- built-in subcommands: (help, set-up of its parser) ------------------------------
def _setup_build(p: argparse.ArgumentParser) -> None:
    p.add_argument("sources", nargs="+", metavar="FILE.bpf.c")
    p.add_argument("-o", "--output", metavar="OUT",
                   help="object path (default: FILE.bpf.o); with several sources, they are "
                        "compiled and linked into OUT (bpftool gen object)")
    p.add_argument("-I", dest="include", action="append", default=[], metavar="DIR",
                   help="more include directories")
    p.add_argument("-D", dest="define", action="append", default=[], metavar="NAME[=VALUE]",
                   help="preprocessor definitions")
    p.add_argument("--cflags", default="", metavar="FLAGS",
                   help='more clang flags, e.g. --cflags="-mcpu=v3" (clang 14 needs it for some '
                        "programs to pass older verifiers); the compiler: $CLANG, else the newest clang-N")
    p.add_argument("--keep-type", dest="keep_types", action="append", default=[], metavar="TYPE",
                   help="keep a C type in BTF though the source only uses it locally, e.g. "
                        "--keep-type 'struct event' (the typed readers then decode it)")
    p.add_argument("--force", action="store_true", help="compile even when up to date")
    p.add_argument("--min-btf", nargs="?", const="", metavar="OUT.btf",
                   help="also write the minimal kernel BTF the object needs, for kernels "
                        "without /sys/kernel/btf/vmlinux (default: FILE.bpf.btf)")
    p.add_argument("--vmlinux-btf", metavar="FILE", default=None,
                   help="kernel BTF to take --min-btf from (default: this kernel's)")
    p.add_argument("--verbose", "-v", action="store_true", help="print the clang command")
    p.set_defaults(func=_cmd_build)


def _cmd_build(args: argparse.Namespace) -> int:
    # lazy: only `bpfkit build` needs the builder (and shlex imports re)
    import shlex
    import tempfile
    from pathlib import Path

    from .core.build import build, link, min_core_btf
    from .core.kernel.system import VMLINUX_BTF

    if args.min_btf and len(args.sources) > 1 and not args.output:
        raise UsageError("--min-btf PATH takes one object: give -o to link the sources into one")
    try:
        cflags = shlex.split(args.cflags)
    except ValueError as exc:
        raise UsageError(f"--cflags: {exc}") from None
    opts = {"include_dirs": [Path(d) for d in args.include], "defines": args.define, "cflags": cflags,
            "keep_types": args.keep_types, "force": args.force, "verbose": args.verbose}
    outs: list[Path] = []
    if args.output and len(args.sources) > 1:
        with tempfile.TemporaryDirectory(prefix="bpfkit-build-") as tmp:
            parts = [build(src, Path(tmp) / f"{i}.bpf.o", **opts)[0] for i, src in enumerate(args.sources)]
            outs.append(link(parts, args.output))
        print(f"built: {outs[0]} (linked from {len(parts)} objects)", file=sys.stderr)
    else:
        for src in args.sources:
            out, compiled = build(src, args.output, **opts)
            outs.append(out)
            if args.verbose or compiled:
                print(f"{'built' if compiled else 'up to date'}: {out}", file=sys.stderr)
    if args.min_btf is not None:
        for out in outs:
            btf = min_core_btf(out, args.min_btf or None, vmlinux_btf=args.vmlinux_btf or VMLINUX_BTF)
            print(f"minimal BTF: {btf} ({os.path.getsize(btf)} bytes)", file=sys.stderr)
    return 0


def _setup_doctor(p: argparse.ArgumentParser) -> None:
    from . import doctor  # lazy: only the chosen subcommand is imported

    doctor.add_arguments(p)
    p.set_defaults(func=doctor.run)


def _setup_agent(p: argparse.ArgumentParser) -> None:
    from . import agent  # lazy: only the chosen subcommand is imported

    agent.add_arguments(p)
    p.set_defaults(func=agent.run)


def _setup_service(p: argparse.ArgumentParser) -> None:
    from . import service  # lazy: only the chosen subcommand is imported

    service.add_arguments(p)
    p.set_defaults(func=service.run)


def _setup_run(p: argparse.ArgumentParser) -> None:
    from . import runobj  # lazy: only the chosen subcommand is imported

    runobj.add_arguments(p)
    p.set_defaults(func=runobj.run)


BUILTINS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "doctor": ("what this kernel offers (BTF, tracefs, hooks that load)", _setup_doctor),
    "build": ("compile .bpf.c files to CO-RE objects (clang, vmlinux.h)", _setup_build),
    "run": ("load and attach an object, print its ring-buffer events as JSON lines", _setup_run),
    "agent": ("every monitor in one process from one config, with Prometheus metrics", _setup_agent),
    "service": ("install a monitor or the agent as a systemd service, with log rotation", _setup_service),
}


def _setup_tool(tool: type[Tool]) -> Callable[[argparse.ArgumentParser], None]:
    def setup(p: argparse.ArgumentParser) -> None:
        from .runner import add_runner_arguments, run  # lazy: only a monitor's run needs it

        tool.add_arguments(p)
        add_runner_arguments(p, interval_default=tool.interval_default, interval_help=tool.interval_help)
        p.set_defaults(func=lambda args: run(tool, args))

    return setup


def build_parser() -> argparse.ArgumentParser:
    """Every subcommand (imports every tool): for --help and unknown commands."""
    from .tools import discover  # lazy: --help and mistakes only

    cls = parser_class()
    p = cls(prog="bpfkit", description="Load, run and build CO-RE eBPF programs from Python.")
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=cls)
    commands = dict(BUILTINS)
    for tool in discover().values():
        commands[tool.name] = (tool.help, _setup_tool(tool))
    for name, (help_, setup) in commands.items():
        setup(sub.add_parser(name, help=help_, description=help_))
    return p


def parse_args(argv: Sequence[str]) -> argparse.Namespace | None:
    """The parsed command line; None when no command was given (help is printed)."""
    cmd = argv[0] if argv else ""
    setup = None
    if cmd in BUILTINS:
        help_, setup = BUILTINS[cmd]
    elif cmd and not cmd.startswith("-"):
        from . import tools  # lazy: the tool list is read only when a tool is asked for

        if cmd in tools.names():
            tool = tools.load(cmd)
            help_, setup = tool.help, _setup_tool(tool)
    if setup is None:
        args = build_parser().parse_args(argv)
        if not getattr(args, "func", None):
            build_parser().print_help(sys.stderr)
            return None
        return args
    p = Parser(prog=f"bpfkit {cmd}", description=help_)
    setup(p)  # type: ignore[arg-type]
    return p.parse_args(argv[1:])


def _version() -> str:
    from . import __version__  # lazy: --version only

    return f"bpfkit {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    # Start-up allocates thousands of long-lived objects (modules, argparse,
    # BTF types); collections that walk them cost milliseconds and free
    # nothing. The runner freezes them and turns collection back on.
    gc.disable()
    # SIGTERM stops like Ctrl+C; SIGPIPE (| head) ends quietly; SIGHUP is
    # logrotate's "reopen": a monitor installs its handler before it starts,
    # and until then (imports, parsing) a HUP must not kill it.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    verbose = False
    argv = sys.argv[1:] if argv is None else list(argv)
    prog = f"bpfkit {argv[0]}" if argv and not argv[0].startswith("-") else "bpfkit"
    try:
        args = parse_args(argv)
        if args is None:
            return 2
        verbose = bool(getattr(args, "verbose", False))
        return args.func(args)
    except UsageError as exc:
        print(f"{exc.prog or prog}: {exc}", file=sys.stderr)
        return 2
    except BPFLoadError as exc:
        if verbose and (exc.log or exc.libbpf_log):
            print((exc.log or exc.libbpf_log).rstrip(), file=sys.stderr)
        print(f"bpfkit: {exc.summary()}", file=sys.stderr)
        return 1
    except BPFError as exc:
        print(f"bpfkit: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        gc.enable()


if __name__ == "__main__":
    sys.exit(main())
