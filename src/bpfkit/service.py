"""`bpfkit service install|uninstall|status`: run a monitor, or the agent, as a
systemd service, with its log rotated by logrotate.

Two units, as eBPF agents ship them: a template `bpfkit@.service` (one
instance per monitor: `bpfkit@fileaudit`, options in /etc/bpfkit/NAME.env)
and `bpfkit-agent.service` (every monitor, /etc/bpfkit/agent.toml). Both are
Type=notify (READY=1 once every probe is attached), reload with SIGHUP (which
reopens the log: logrotate's postrotate), restart on failure within start
limits, and are hardened: the process is root only by name, its capabilities
bounded to what the monitors use (CAPABILITIES below: root owns tracefs, so
no DAC override; LimitMEMLOCK instead of SYS_RESOURCE), a read-only system,
no home, private /tmp, no module loading, no W+X memory (ctypes callbacks
survive it: libffi's static trampolines), private files (UMask=0077).

`--root DIR` writes into DIR instead of / (packages build their tree this
way); `--dry-run` prints what would be written.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from .argv import Parser, UsageError
from .core.kernel.errors import BPFError
from .runner import add_runner_arguments
from .tools import load, names

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

UNIT_DIR = "/etc/systemd/system"
PACKAGED_UNIT_DIR = "/usr/lib/systemd/system"
CONF_DIR = "/etc/bpfkit"
LOG_DIR = "/var/log/bpfkit"
LOGROTATE = "/etc/logrotate.d/bpfkit"
# BPF and PERFMON to load and read programs; NET_ADMIN for cgroup_skb/XDP/tc
# programs (dnswatch's packet source); SYSLOG to read kernel addresses (kallsyms
# with kptr_restrict). Root owns tracefs, so no DAC override; LimitMEMLOCK
# covers memlock on kernels before 5.11 and perf buffer pages.
CAPABILITIES = "CAP_BPF CAP_PERFMON CAP_NET_ADMIN CAP_SYSLOG"
# Debian's and Ubuntu's kernels add kernel.perf_event_paranoid levels 3 and 4
# (their default) under which any perf event needs CAP_SYS_ADMIN, and
# tracepoint, kprobe, uprobe and USDT programs attach through perf events.
PERF_SYS_ADMIN = ("# kernel.perf_event_paranoid > 2 (Debian's and Ubuntu's default) opens perf events,\n"
                  "# which tracepoint and probe attachment uses, only to CAP_SYS_ADMIN\n")

_HARDENING = f"""\
UMask=0077
NoNewPrivileges=yes
{{caps}}ProtectSystem=strict
ReadWritePaths={LOG_DIR} -/sys/fs/bpf
ProtectHome=yes
PrivateTmp=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
MemoryDenyWriteExecute=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
PrivateMounts=yes
IPAddressDeny=any
IPAddressAllow=localhost
SystemCallArchitectures=native
SystemCallFilter=~@clock @cpu-emulation @module @mount @obsolete @raw-io @reboot @swap
KeyringMode=private
RemoveIPC=yes
LimitMEMLOCK=infinity
"""


def perf_needs_sys_admin() -> bool:
    """Whether this host's kernel.perf_event_paranoid is above 2 (see PERF_SYS_ADMIN)."""
    try:
        with open("/proc/sys/kernel/perf_event_paranoid") as f:
            return int(f.read()) > 2
    except (OSError, ValueError):
        return False


def capability_lines(sys_admin: bool) -> str:
    if sys_admin:
        return f"{PERF_SYS_ADMIN}CapabilityBoundingSet={CAPABILITIES} CAP_SYS_ADMIN\n"
    return f"CapabilityBoundingSet={CAPABILITIES}\n"


def unit(kind: str, bpfkit: str, *, sys_admin: bool = False) -> str:
    """The text of bpfkit@.service ("template") or bpfkit-agent.service
    ("agent"); ``sys_admin``: for kernels whose perf events need it."""
    if kind == "template":
        head = ("Description=bpfkit %i monitor\n"
                "Documentation=file:///usr/share/doc/bpfkit/README.md\n")
        exec_start = (f"EnvironmentFile=-{CONF_DIR}/%i.env\n"
                      f"ExecStart={bpfkit} %i --output {LOG_DIR}/%i.log $BPFKIT_ARGS\n")
    else:
        head = ("Description=bpfkit agent: every monitor in one process\n"
                "Documentation=file:///usr/share/doc/bpfkit/README.md\n")
        exec_start = f"ExecStart={bpfkit} agent --config {CONF_DIR}/agent.toml\n"
    return (f"[Unit]\n{head}After=local-fs.target network.target\n"
            "StartLimitIntervalSec=300\nStartLimitBurst=5\n\n"
            "[Service]\nType=notify\nNotifyAccess=main\n"
            f"{exec_start}"
            "ExecReload=/bin/kill -HUP $MAINPID\n"
            "Restart=on-failure\nRestartSec=5s\nTimeoutStopSec=30s\n"
            f"{_HARDENING.format(caps=capability_lines(sys_admin))}\n"
            "[Install]\nWantedBy=multi-user.target\n")


def logrotate_config() -> str:
    """Daily, 14 kept, compressed; the service reopens its file on SIGHUP
    (never copytruncate: it loses lines under load)."""
    return (f"{LOG_DIR}/*.log {LOG_DIR}/*.jsonl {{\n"
            "    daily\n    rotate 14\n    compress\n    delaycompress\n    missingok\n"
            "    notifempty\n    create 0600 root root\n    sharedscripts\n"
            "    postrotate\n"
            "        systemctl reload 'bpfkit@*.service' bpfkit-agent.service >/dev/null 2>&1 || true\n"
            "    endscript\n}\n")


def _env_file(tool: str, options: list[str]) -> str:
    # Checked by the monitor's own parser now, not at the service's first start.
    p = Parser(prog=f"bpfkit {tool}")
    cls = load(tool)
    cls.add_arguments(p)
    add_runner_arguments(p, interval_default=cls.interval_default, interval_help=cls.interval_help)
    if "--output" in options or any(o.startswith("--output=") for o in options):
        raise UsageError(f"the service writes {LOG_DIR}/{tool}.log: no --output")
    p.parse_args([*options, "--output", "x"])
    quoted = " ".join(_quote(o) for o in options)
    return (f"# bpfkit@{tool}.service: the options of `bpfkit {tool}` (bpfkit service install wrote this)\n"
            f'BPFKIT_ARGS="{quoted}"\n')


def _quote(option: str) -> str:
    if any(c in option for c in '"\\$`\n'):
        raise UsageError(f"option {option!r}: quotes, backslashes and $ cannot go into a unit's environment")
    return option


def _systemd_running() -> bool:
    return os.path.isdir("/run/systemd/system")


class Plan:
    """Files to write (path -> (text, mode)) and commands to run after."""

    def __init__(self, root: str) -> None:
        self.root, self.files, self.dirs, self.commands = root, {}, [], []
        self.kept: list[str] = []  # files a package installed, which stand as they are

    def file(self, path: str, text: str, mode: int = 0o644) -> None:
        self.files[path] = (text, mode)

    def carry_out(self, dry_run: bool) -> None:
        for path in self.kept:
            if dry_run:
                with open(path) as f:
                    text = f.read()
                print(f"--- {path} (the package's, kept)\n{text}", end="" if text.endswith("\n") else "\n")
        for d in self.dirs:
            print(f"directory {d} (0750)" if dry_run else f"created {d}", file=sys.stderr)
            if not dry_run:
                os.makedirs(self.root + d, mode=0o750, exist_ok=True)
        for path, (text, mode) in self.files.items():
            if dry_run:
                print(f"--- {path} ({mode:04o})\n{text}", end="" if text.endswith("\n") else "\n")
                continue
            full = self.root + path
            os.makedirs(os.path.dirname(full), exist_ok=True)
            tmp = f"{full}.bpfkit-new"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, mode)
            os.replace(tmp, full)
            print(f"wrote {path}", file=sys.stderr)
        for cmd in self.commands:
            if dry_run:
                print("$ " + " ".join(cmd))
            elif self.root == "" and _systemd_running():
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode:
                    raise BPFError(f"{' '.join(cmd)}: {r.stderr.strip().splitlines()[-1:] or r.returncode}")
        if not dry_run and self.root == "" and self.commands and not _systemd_running():
            print("systemd is not running here: on a systemd host run " + "; ".join(
                " ".join(c) for c in self.commands), file=sys.stderr)


def _bpfkit_path() -> str:
    """The launcher of this bpfkit: the single-file bpfkit.pyz it runs from,
    else beside its interpreter (a venv, the package's /usr/bin), else on PATH."""
    archive = getattr(__loader__, "archive", None)  # type: ignore[name-defined]  # a zipimporter's
    if archive:
        return os.path.abspath(archive)
    beside = os.path.join(os.path.dirname(sys.executable), "bpfkit")
    if os.access(beside, os.X_OK):
        return beside
    here = shutil.which("bpfkit")
    return os.path.abspath(here) if here else "/usr/bin/bpfkit"


def _units(plan: Plan, bpfkit: str, sys_admin: bool) -> None:
    packaged = plan.root == "" and bpfkit == "/usr/bin/bpfkit" and \
        os.path.exists(f"{PACKAGED_UNIT_DIR}/bpfkit@.service")
    for kind, name in (("template", "bpfkit@.service"), ("agent", "bpfkit-agent.service")):
        if packaged and os.path.exists(f"{PACKAGED_UNIT_DIR}/{name}"):
            plan.kept.append(f"{PACKAGED_UNIT_DIR}/{name}")  # the package's own unit stands
        else:
            plan.file(f"{UNIT_DIR}/{name}", unit(kind, bpfkit, sys_admin=sys_admin))
    if packaged and os.path.exists(LOGROTATE):
        plan.kept.append(LOGROTATE)  # the package's config file: the admin may have edited it
    else:
        plan.file(LOGROTATE, logrotate_config())
    plan.dirs.append(LOG_DIR)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("install", "uninstall", "status"))
    p.add_argument("what", nargs="?", metavar="TOOL|agent", help="a monitor, or the agent")
    p.add_argument("options", nargs=REMAINDER, metavar="OPTION ...",
                   help="the monitor's options, e.g. --watch /etc --attempts")
    p.add_argument("--dry-run", action="store_true", help="print what would be written and run")
    p.add_argument("--root", default="", metavar="DIR", help="write under DIR instead of / (packaging)")
    p.add_argument("--bpfkit", metavar="PATH", help="the bpfkit command the units run (default: this one)")
    p.add_argument("--perf-events", choices=("auto", "sys-admin", "perfmon"), default="auto",
                   help="what perf events need on the target: CAP_SYS_ADMIN (Debian's and Ubuntu's "
                        "kernel.perf_event_paranoid 3) or CAP_PERFMON; auto: as on this host")


REMAINDER = "..."  # argparse.REMAINDER, without importing argparse for it


def _own_flags(args: argparse.Namespace) -> list[str]:
    """The monitor's options, with service install's own flags taken out of
    them wherever they were written (`install fileaudit --dry-run` too)."""
    rest, out = list(args.options or []), []
    while rest:
        opt = rest.pop(0)
        if opt == "--dry-run":
            args.dry_run = True
        elif opt in ("--root", "--bpfkit", "--perf-events") and rest:
            setattr(args, opt[2:].replace("-", "_"), rest.pop(0))
        elif opt.startswith(("--root=", "--bpfkit=", "--perf-events=")):
            name, _, value = opt[2:].partition("=")
            setattr(args, name.replace("-", "_"), value)
        elif opt != "--" or out:
            out.append(opt)
    return out


def run(args: argparse.Namespace) -> int:
    args.options = _own_flags(args)
    root = args.root.rstrip("/")
    plan = Plan(root)
    if args.action == "status":
        return _status()
    what = args.what
    if what is None:
        raise UsageError(f"{args.action} what? a monitor ({', '.join(names())}) or agent")
    if what != "agent" and what not in names():
        raise UsageError(f"no monitor {what!r} (there are {', '.join(names())}, and agent)")
    service = "bpfkit-agent.service" if what == "agent" else f"bpfkit@{what}.service"
    if args.action == "uninstall":
        plan.commands.append(["systemctl", "disable", "--now", service])
        if not args.dry_run and what != "agent":
            try:
                os.unlink(f"{root}{CONF_DIR}/{what}.env")
                print(f"removed {CONF_DIR}/{what}.env (logs in {LOG_DIR} are kept)", file=sys.stderr)
            except FileNotFoundError:
                pass
        plan.carry_out(args.dry_run)
        return 0
    if args.perf_events not in ("auto", "sys-admin", "perfmon"):
        raise UsageError(f"--perf-events: auto, sys-admin or perfmon, not {args.perf_events!r}")
    sys_admin = perf_needs_sys_admin() if args.perf_events == "auto" else args.perf_events == "sys-admin"
    _units(plan, args.bpfkit or _bpfkit_path(), sys_admin)
    if what == "agent":
        if args.options:
            raise UsageError(f"the agent takes its options from {CONF_DIR}/agent.toml")
        if not os.path.exists(f"{root}{CONF_DIR}/agent.toml"):
            from .agent.config import default_text  # lazy: only when installing the agent

            plan.file(f"{CONF_DIR}/agent.toml", default_text().replace(
                'output = ""                  # one combined file',
                f'output = "{LOG_DIR}/events.jsonl"   # one combined file').replace(
                "json = false", "json = true"), 0o640)
    else:
        plan.file(f"{CONF_DIR}/{what}.env", _env_file(what, list(args.options)), 0o640)
    plan.commands += [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", service]]
    plan.carry_out(args.dry_run)
    return 0


def _status() -> int:
    envs = sorted(f[:-4] for f in os.listdir(CONF_DIR) if f.endswith(".env")) \
        if os.path.isdir(CONF_DIR) else []
    services = [f"bpfkit@{t}.service" for t in envs]
    if os.path.exists(f"{CONF_DIR}/agent.toml"):
        services.append("bpfkit-agent.service")
    if not services:
        print("no bpfkit service installed")
        return 0
    for s in services:
        state = "unknown (systemd is not running)"
        if _systemd_running():
            r = subprocess.run(["systemctl", "is-active", s], capture_output=True, text=True)
            state = r.stdout.strip() or r.stderr.strip()
        print(f"{s:<32} {state}")
    return 0


__all__ = ["add_arguments", "logrotate_config", "run", "unit"]
