"""The agent's configuration: one TOML file (Python's own tomllib: no
dependency, typed values, comments), checked whole before anything starts.

    [agent]                      # the agent's own options
    json = false
    output = ""                  # one combined file; "" is standard output
    metrics = "127.0.0.1:9464"   # "" is off

    [monitors.fileopen]          # one table per monitor
    enabled = true
    required = false             # true: the agent does not start without it
    min-lat-ms = 1               # any option of `bpfkit fileopen`, dashes or underscores
    output = "/var/log/bpfkit/fileopen.log"   # its own file instead of the combined one

Each monitor's table is turned into that monitor's command line and parsed
by the monitor's own parser and checks, so the config accepts exactly what
the CLI accepts and refuses it with the same words.
"""

from __future__ import annotations

from ..argv import Parser, UsageError
from ..runner import add_runner_arguments
from ..tools import load, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

DEFAULT_PATH = "/etc/bpfkit/agent.toml"
AGENT_KEYS = {"json": bool, "output": str, "output-group": str, "metrics": str, "host": str,
              "rotate-size": str, "rotate-every": str, "rotate-keep": int, "rotate-gzip": bool}
MONITOR_KEYS = {"enabled", "required", "args"}


class ConfigError(UsageError):
    """A mistake in the configuration: one line, exit 2, nothing started."""


class MonitorConfig:
    __slots__ = ("argv", "name", "output", "required")

    def __init__(self, name: str, argv: list[str], *, required: bool, output: str | None) -> None:
        self.name, self.argv, self.required, self.output = name, argv, required, output


class AgentConfig:
    __slots__ = ("agent", "monitors", "path")

    def __init__(self, path: str, agent: dict[str, Any], monitors: list[MonitorConfig]) -> None:
        self.path, self.agent, self.monitors = path, agent, monitors


def options_of(tool: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """--option -> (its canonical spelling, argparse keywords), for a monitor."""
    p = Parser()
    cls = load(tool)
    cls.add_arguments(p)
    add_runner_arguments(p, interval_default=cls.interval_default, interval_help=cls.interval_help)
    out = {}
    for _, flags, kw in p._records:
        longs = [f for f in flags if f.startswith("--")]
        if longs:
            out[longs[0][2:]] = (longs[0], kw)
    return out


def positionals_of(tool: str) -> list[str]:
    """The monitor's positional arguments (given in the config as args = [...])."""
    p = Parser()
    load(tool).add_arguments(p)
    return [flags[0] for _, flags, _ in p._records if not flags[0].startswith("-")]


def _argv(where: str, table: dict[str, Any], known: dict[str, tuple[str, dict[str, Any]]]) -> list[str]:
    argv: list[str] = []
    for key, value in table.items():
        if key in MONITOR_KEYS or key == "output":
            continue
        name = key.replace("_", "-")
        if name not in known:
            tool = where.split(".")[-1].rstrip("]")
            raise ConfigError(f"{where}: unknown option {key!r} (see bpfkit {tool} --help)")
        flag, kw = known[name]
        action = kw.get("action", "store")
        if action == "store_true":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: {key} is true or false, not {value!r}")
            if value:
                argv.append(flag)
        elif action == "append":
            for item in value if isinstance(value, list) else [value]:
                argv += [flag, _text(where, key, item)]
        else:
            argv += [flag, _text(where, key, value)]
    return argv


def _text(where: str, key: str, value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ConfigError(f"{where}: {key} takes one value, not {type(value).__name__}")
    if isinstance(value, bool):
        raise ConfigError(f"{where}: {key} takes a value, not {str(value).lower()}")
    return str(value)


def parse(text: str, path: str) -> AgentConfig:
    """Check a configuration whole: every monitor's options through its own parser."""
    import tomllib  # lazy: only the agent reads TOML

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: {exc}") from None
    unknown = set(data) - {"agent", "monitors"}
    if unknown:
        raise ConfigError(f"config {path}: unknown table [{sorted(unknown)[0]}] (there are [agent] and "
                          "[monitors.NAME])")
    agent = data.get("agent", {})
    for key, value in agent.items():
        kind = AGENT_KEYS.get(key.replace("_", "-"))
        if kind is None:
            raise ConfigError(f"config {path}: [agent] unknown option {key!r} ({', '.join(AGENT_KEYS)})")
        if not isinstance(value, kind):
            raise ConfigError(f"config {path}: [agent] {key} must be a {kind.__name__}")
    agent = {k.replace("_", "-"): v for k, v in agent.items()}
    tools = names()
    monitors = []
    for name, table in data.get("monitors", {}).items():
        where = f"config {path}: [monitors.{name}]"
        if name not in tools:
            raise ConfigError(f"{where}: unknown monitor (there are {', '.join(t for t in tools)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: must be a table")
        for key in MONITOR_KEYS:
            if key in table and not isinstance(table[key], bool):
                raise ConfigError(f"{where}: {key} is true or false")
        if not table.get("enabled", True):
            continue
        output = table.get("output")
        if output is not None and not isinstance(output, str):
            raise ConfigError(f"{where}: output must be a path")
        args = table.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"{where}: args is a list of strings (the positional arguments)")
        argv = _argv(where, table, options_of(name)) + (["--", *args] if args else [])
        monitors.append(MonitorConfig(name, argv, required=bool(table.get("required", False)),
                                      output=output or None))
    return AgentConfig(path, agent, monitors)


def default_text() -> str:
    """The configuration `bpfkit agent --print-default-config` prints: every
    monitor on, each option shown commented out with its help."""
    lines = [
        "# bpfkit agent configuration (TOML). Installed at " + DEFAULT_PATH + ".",
        "# Every monitor's options are its command-line options (`bpfkit NAME --help`),",
        "# spelled with dashes or underscores. A monitor this kernel cannot run is",
        "# reported and the others run, unless it says `required = true`.",
        "",
        "[agent]",
        "json = false                 # text: each monitor's lines prefixed with [NAME]",
        'output = ""                  # one combined file for every monitor ("": standard output)',
        'metrics = "127.0.0.1:9464"   # Prometheus endpoint ("": off)',
        "",
    ]
    for name in names():
        positional = positionals_of(name)
        lines += [f"[monitors.{name}]", f"enabled = {'false' if positional else 'true'}", "required = false",
                  '# output = ""   # its own file instead of the combined one']
        if positional:
            what = " ".join(positional).upper()
            lines.append(f"# args = []   # {what}: what to run, as on its command line")
        for opt, (_, kw) in options_of(name).items():
            if opt in ("json", "output", "metrics", "verbose", "duration", "help", "output-group"):
                continue
            default = kw.get("default")
            if kw.get("action") == "store_true":
                shown = "false"
            elif isinstance(default, (int, float)) and not isinstance(default, bool):
                shown = repr(default)
            elif default in (None, []):
                shown = ""
            else:
                shown = f'"{default}"'
            helptext = " ".join(str(kw.get("help", "")).split())
            lines.append(f"# {opt} = {shown}   # {helptext}"[:200])
        lines.append("")
    return "\n".join(lines)


__all__ = ["DEFAULT_PATH", "AgentConfig", "ConfigError", "MonitorConfig", "default_text", "options_of",
           "parse"]
