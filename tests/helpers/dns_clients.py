"""DNS clients for the dnswatch tests: real resolvers, each started as its own process.

Every client function starts the process and returns a `Client` at once (`.pid` is the pid that
sends the queries: wrappers exec, they never fork); `.result()` waits for it. With `gate=True`
the process waits on stdin before resolving, so a tracer can be started on its pid first;
`.release()` lets it go.

glibc (`getent`), musl (`musl`) and Go reading /etc/resolv.conf (`go` without `server=`) take
no port in `nameserver` lines: they need the responder on port 53, so they run in a `NetNS`
(see netns.py) where `DnsResponder(port=53, netns=ns)` listens, and in a private mount
namespace where a temporary resolv.conf (and nsswitch.conf with `hosts: files dns`) are
bind-mounted over the real ones (`unshare --mount`, propagation private: the host's files and
mounts are never touched). `dig` and Go with `server=` take a port and can run anywhere.

Stub resolvers: `Dnsmasq` and `SystemdResolved` run inside the namespace and forward to the
responder; clients then use them as their nameserver.

Built clients (`build_musl`, `build_go`) are compiled into a cache directory
($XDG_CACHE_HOME or ~/.cache)/bpfkit/dns-clients, named by a hash of their source and
compiler, so they are rebuilt only when either changes.

`missing(...)` names the Debian package of each absent tool, for skip messages.

Run as a script, this module is also a pipelining TCP client (several queries written at once on
one connection, replies read back):

    python dns_clients.py pipeline HOST PORT NAME[/TYPE]...
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SRC = HERE / "dns_clients"
MUSL_SRC = SRC / "musl_resolve.c"
GO_SRC = SRC / "go_resolve.go"

# tool -> Debian package that brings it
PACKAGES = {
    "getent": "libc-bin",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "mount": "mount",
    "dig": "bind9-dnsutils",
    "musl-gcc": "musl-tools",
    "go": "golang-go",
    "dnsmasq": "dnsmasq-base",
    "strace": "strace",
    "ip": "iproute2",
}
NSSWITCH = "hosts: files dns\n"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bpfkit" / "dns-clients"


def which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/lib/go/bin")


def missing(*tools: str) -> str | None:
    """None when every tool is here, else e.g. "needs dig (Debian package bind9-dnsutils)"."""
    gone = [t for t in tools if which(t) is None]
    if not gone:
        return None
    pkgs = sorted({PACKAGES.get(t, t) for t in gone})
    return f"needs {', '.join(gone)} (Debian package {' '.join(pkgs)})"


# --------------------------------------------------------------------------- building


def _cached_build(name: str, src: Path, key_extra: str, build: Any) -> Path:
    """cache/NAME-HASH/NAME (the binary keeps its plain name: it is the traced comm), built by
    build(tmp_path) when absent; other NAME-* builds are removed."""
    key = hashlib.sha256(src.read_bytes() + key_extra.encode()).hexdigest()[:16]
    cache = cache_dir()
    out = cache / f"{name}-{key}" / name
    if out.is_file() and os.access(out, os.X_OK):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{name}.{os.getpid()}"
    try:
        build(tmp)
        os.replace(tmp, out)  # atomic: concurrent builders are harmless
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    for old in cache.glob(f"{name}-*"):
        if old != out.parent:
            shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)
    return out


def _run_build(argv: Sequence[str], **kw: Any) -> None:
    r = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)
    if r.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stderr}{r.stdout}")


def build_musl() -> Path:
    """The static musl getaddrinfo client (musl-gcc -static), built once per source change."""
    cc = which("musl-gcc")
    if cc is None:
        raise FileNotFoundError(missing("musl-gcc"))
    flags = ["-static", "-O2", "-Wall"]
    return _cached_build(
        "musl_resolve", MUSL_SRC, " ".join([cc, *flags]),
        lambda out: _run_build([cc, *flags, "-o", str(out), str(MUSL_SRC)]),
    )


def go_env() -> dict[str, str]:
    """Offline, self-contained Go build environment (caches under cache_dir())."""
    c = cache_dir()
    return dict(
        os.environ,
        GOCACHE=str(c / "go-build"),
        GOPATH=str(c / "gopath"),
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GO111MODULE="on",
        CGO_ENABLED="0",
        GOTELEMETRY="off",
    )


def build_go() -> Path:
    """The Go resolver client (pure Go, static, standard library only), built once per change."""
    go = which("go")
    if go is None:
        raise FileNotFoundError(missing("go"))
    version = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
    return _cached_build(
        "go_resolve", GO_SRC, version,
        lambda out: _run_build([go, "build", "-trimpath", "-o", str(out), GO_SRC.name], cwd=SRC,
                               env=go_env()),
    )


# --------------------------------------------------------------------------- running


def resolv_conf(
    nameservers: Iterable[str] = ("127.0.0.1",),
    *,
    use_vc: bool = False,
    edns0: bool = False,
    timeout: int = 1,
    attempts: int = 1,
    single_request: bool = False,
    options: Iterable[str] = (),
) -> str:
    """resolv.conf text. glibc, musl and Go read `timeout:`/`attempts:`; glibc and Go `use-vc`."""
    opts = [f"timeout:{timeout}", f"attempts:{attempts}", *options]
    if use_vc:
        opts.append("use-vc")
    if edns0:
        opts.append("edns0")
    if single_request:
        opts.append("single-request")
    lines = [f"nameserver {n}" for n in nameservers]
    return "\n".join([*lines, "options " + " ".join(opts)]) + "\n"


# In the private mount namespace: bind our files over the real ones (following a symlinked
# /etc/resolv.conf; a dangling one gets a tmpfs for its directory), hide a host nscd (getent
# would ask it instead of DNS), optionally wait for a line on stdin, then exec the client.
_MOUNT_SCRIPT = r"""set -e
bind() {
    t=$(readlink -f "$2") || t=$2
    if [ ! -e "$t" ]; then mount -t tmpfs tmpfs "${t%/*}"; : > "$t"; fi
    mount --bind "$1" "$t"
}
[ -z "$1" ] || bind "$1" /etc/resolv.conf
[ -z "$2" ] || bind "$2" /etc/nsswitch.conf
[ ! -d /run/nscd ] || mount -t tmpfs tmpfs /run/nscd
[ -z "$3" ] || read -r _
shift 3
exec "$@"
"""
_GATE_SCRIPT = 'read -r _; exec "$@"'


@dataclasses.dataclass
class Result:
    argv: list[str]
    pid: int
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [ln for ln in self.stdout.splitlines() if ln.strip()]

    def check(self) -> Result:
        if self.returncode:
            raise AssertionError(f"{self.argv} -> {self.returncode}\n{self.stderr}{self.stdout}")
        return self


class Client:
    """A started client process. `pid` is the resolver's own pid (the wrappers exec into it)."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        netns: Any = None,
        resolv: str | None = None,
        nsswitch: str | None = None,
        gate: bool = False,
        env: dict[str, str] | None = None,
        wrap: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)  # the resolver's own command line (Result.argv)
        run = [*wrap, *self.argv]
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        cmd: list[str] = []
        if netns is not None:
            cmd += netns.prefix()
        if resolv is not None or nsswitch is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="dns-client-")
            files = []
            for name, text in (("resolv.conf", resolv), ("nsswitch.conf", nsswitch)):
                if text is None:
                    files.append("")
                    continue
                p = Path(self._tmp.name) / name
                p.write_text(text)
                files.append(str(p))
            cmd += ["unshare", "--mount", "--propagation", "private", "--",
                    "sh", "-c", _MOUNT_SCRIPT, "sh", *files, "1" if gate else "", *run]
        elif gate:
            cmd += ["sh", "-c", _GATE_SCRIPT, "sh", *run]
        else:
            cmd += run
        self.cmd = cmd
        self.gate = gate
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE if gate else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.pid = self.proc.pid

    def release(self) -> None:
        """Let a gated client resolve."""
        assert self.proc.stdin is not None
        self.t0 = time.monotonic()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 20.0) -> Result:
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        finally:
            self._cleanup()
        return Result(self.argv, self.pid, self.proc.returncode, out, err, time.monotonic() - self.t0)

    def kill(self) -> None:
        """SIGKILL the client and anything below it (a wrapper's tracee), then reap it."""
        if self.proc.poll() is None:
            stop_tree(self.proc, signal.SIGKILL)
            with contextlib.suppress(ValueError, OSError):
                self.proc.communicate(timeout=5)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._cleanup()


def _need_ns(netns: Any, who: str) -> None:
    if netns is None:
        raise ValueError(f"{who} reads nameservers from resolv.conf (port 53 only): give it netns=")


def getent(
    name: str,
    db: str = "ahosts",
    *,
    netns: Any,
    nameservers: Iterable[str] = ("127.0.0.1",),
    use_vc: bool = False,
    edns0: bool = False,
    timeout: int = 1,
    attempts: int = 1,
    single_request: bool = False,
    gate: bool = False,
    wrap: Sequence[str] = (),
) -> Client:
    """glibc: `getent DB NAME` (ahosts: A+AAAA; ahostsv4, ahostsv6, hosts) through a private
    resolv.conf in `netns`. Exit status 2 means not found (NXDOMAIN, timeout, SERVFAIL alike).

    getent ahosts* passes AI_ADDRCONFIG, for which glibc counts no loopback address: in a
    namespace with only lo, ahostsv4/ahostsv6 fail at once without a query (ahosts still asks
    both). `NetNS.add_link()` gives the namespace addresses, as a real host has."""
    _need_ns(netns, "getent")
    rc = resolv_conf(nameservers, use_vc=use_vc, edns0=edns0, timeout=timeout, attempts=attempts,
                     single_request=single_request)
    return Client([which("getent") or "getent", db, name], netns=netns, resolv=rc, nsswitch=NSSWITCH,
                  gate=gate, wrap=wrap)


def musl(
    name: str,
    family: int | None = None,
    *,
    netns: Any,
    nameservers: Iterable[str] = ("127.0.0.1",),
    timeout: int = 1,
    attempts: int = 1,
    gate: bool = False,
    wrap: Sequence[str] = (),
) -> Client:
    """musl getaddrinfo() (static binary): family None (A+AAAA), 4 or 6. Exit 0 found,
    2 EAI_NONAME (NXDOMAIN/no data), 3 EAI_AGAIN (timeout/SERVFAIL), 1 other."""
    _need_ns(netns, "musl")
    argv = [str(build_musl()), name, *([str(family)] if family else [])]
    rc = resolv_conf(nameservers, timeout=timeout, attempts=attempts)
    # musl reads /etc/hosts and /etc/resolv.conf only (no nsswitch)
    return Client(argv, netns=netns, resolv=rc, gate=gate, wrap=wrap)


def go(
    kind: str,
    name: str,
    *,
    netns: Any = None,
    server: str | None = None,
    tcp: bool = False,
    nameservers: Iterable[str] = ("127.0.0.1",),
    use_vc: bool = False,
    timeout: float = 5.0,
    resolv_timeout: int = 1,
    attempts: int = 1,
    gate: bool = False,
    wrap: Sequence[str] = (),
) -> Client:
    """Go's pure resolver: kind host (A+AAAA), ip4, ip6, mx, txt, cname, ptr. With server
    ("127.0.0.1:5353", "[::1]:5353") every query goes there (no namespace needed); without it
    the resolver reads a private resolv.conf in `netns`. Exit 0 found, 2 not found, 3 timeout or
    SERVFAIL, 1 other."""
    argv = [str(build_go()), "-timeout", f"{timeout}s"]
    if server:
        argv += ["-server", server]
    if tcp:
        argv.append("-tcp")
    argv += [kind, name]
    if server:
        return Client(argv, netns=netns, gate=gate, wrap=wrap)
    _need_ns(netns, "go without server=")
    rc = resolv_conf(nameservers, use_vc=use_vc, timeout=resolv_timeout, attempts=attempts)
    return Client(argv, netns=netns, resolv=rc, nsswitch=NSSWITCH, gate=gate, wrap=wrap)


def dig(
    name: str,
    qtype: str = "A",
    *,
    server: str = "127.0.0.1",
    port: int = 53,
    tcp: bool = False,
    tries: int = 1,
    timeout: int = 1,
    netns: Any = None,
    extra: Iterable[str] = (),
    gate: bool = False,
    wrap: Sequence[str] = (),
) -> Client:
    """`dig @SERVER -p PORT NAME TYPE` (+tcp). Not +short: the header's status is kept (see
    `dig_status`); `answers` gives the data. dig retries over TCP by itself on TC=1."""
    argv = [which("dig") or "dig", f"@{server}", "-p", str(port), f"+tries={tries}", f"+time={timeout}",
            "+nocmd", "+noquestion", "+nostats", *(["+tcp"] if tcp else []),
            *extra, name, qtype]
    return Client(argv, netns=netns, gate=gate, wrap=wrap)


def dig_status(r: Result) -> str | None:
    """NOERROR, NXDOMAIN, SERVFAIL... from dig's header line; None when there was no reply."""
    for ln in r.stdout.splitlines():
        if "status:" in ln:
            return ln.split("status:")[1].split(",")[0].strip()
    return None


def answers(r: Result) -> list[str]:
    """Answer data from any client's output: addresses (getent, musl), "A x"/"MX 10 y" (go),
    the last field of dig's answer lines."""
    out: list[str] = []
    for ln in r.stdout.splitlines():
        f = ln.split()
        if not f or ln.startswith(";"):
            continue
        if r.argv and r.argv[0].endswith("dig"):
            out.append(" ".join(f[4:]))
        elif r.argv and r.argv[0].endswith("getent"):
            if f[0] not in out:
                out.append(f[0])
        else:
            out.append(ln.strip())
    return out


# --------------------------------------------------------------------------- stub resolvers


def _listening(pid: int, addr: str, port: int, proto: str = "udp") -> bool:
    """Whether a socket in pid's network namespace listens on addr:port (IPv4, /proc/PID/net)."""
    want = f"{socket.htonl(int.from_bytes(socket.inet_aton(addr), 'big')):08X}:{port:04X}"
    try:
        with open(f"/proc/{pid}/net/{proto}") as f:
            return any(ln.split()[1] == want for ln in list(f)[1:])
    except (FileNotFoundError, ProcessLookupError):
        return False


def _wait_listening(proc: subprocess.Popen[Any], addr: str, port: int, what: str, timeout: float,
                    log: Path | None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{text}")
        if _listening(proc.pid, addr, port, "udp") and _listening(proc.pid, addr, port, "tcp"):
            return
        time.sleep(0.02)
    raise TimeoutError(f"{what} not listening on {addr}:{port} after {timeout} s")


def descendants(pid: int) -> list[int]:
    """Every process below pid (children first seen first), from /proc/PID/task/TID/children."""
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for f in Path(f"/proc/{p}/task").glob("*/children"):
            with contextlib.suppress(OSError, ValueError):
                kids = [int(x) for x in f.read_text().split()]
                out += kids
                todo += kids
    return out


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, ProcessLookupError):
        return True


def stop_tree(proc: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, grace: float = 3.0) -> None:
    """Stop proc and every process below it (a wrapper such as strace may leave its tracee
    running when it dies): `sig` to all, then SIGKILL to whatever is left after `grace`."""
    if proc is None or proc.poll() is not None:
        return  # reaped: its pid may already be someone else's
    pids = descendants(proc.pid)
    for p in reversed(pids):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, sig)
    proc.send_signal(sig)
    end = time.monotonic() + grace
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for p in pids:
        while not _gone(p) and time.monotonic() < end:
            time.sleep(0.01)
        if not _gone(p):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)


class _Daemon:
    """A DNS daemon the tests start in a namespace: its process tree and its
    temporary directory go on stop() (or at the end of a with block)."""

    proc: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self, timeout: float = 5.0) -> Any:
        raise NotImplementedError

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        stop_tree(self.proc)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Dnsmasq(_Daemon):
    """dnsmasq as a caching-off stub in `netns`, on LISTEN:53, forwarding to the responder.

    Runs as user nobody after binding (as packaged dnsmasq does as `dnsmasq`), one process.
    `log` holds its stderr (--log-queries)."""

    def __init__(self, netns: Any, upstream: tuple[str, int] = ("127.0.0.1", 53), listen: str = "127.0.0.2",
                 port: int = 53, wrap: Sequence[str] = ()) -> None:
        self.netns, self.upstream, self.listen, self.port = netns, upstream, listen, port
        self.wrap = list(wrap)  # e.g. ["strace", "-f", "-o", FILE]: prefix to the daemon's command
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log: Path | None = None

    def start(self, timeout: float = 5.0) -> Dnsmasq:
        exe = which("dnsmasq")
        if exe is None:
            raise FileNotFoundError(missing("dnsmasq"))
        host, uport = self.upstream
        self._tmp = tempfile.TemporaryDirectory(prefix="dnsmasq-")
        self.log = Path(self._tmp.name) / "dnsmasq.log"
        argv = [*self.netns.prefix(), *self.wrap, exe, "--keep-in-foreground", "--conf-file=/dev/null",
                "--no-resolv", "--no-hosts", "--no-poll", "--cache-size=0", f"--server={host}#{uport}",
                f"--listen-address={self.listen}", "--bind-interfaces", f"--port={self.port}",
                "--user=nobody", "--group=nogroup", f"--pid-file={self._tmp.name}/pid",
                "--log-facility=-", "--log-queries"]
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        try:
            _wait_listening(self.proc, self.listen, self.port, "dnsmasq", timeout, self.log)
        except BaseException:
            self.stop()
            raise
        return self


RESOLVED_PACKAGES = ("systemd-resolved", "libsystemd-shared")


def resolved_root() -> Path:
    """Where `fetch_systemd_resolved` unpacks the packages (BPFKIT_RESOLVED_ROOT overrides)."""
    return Path(os.environ.get("BPFKIT_RESOLVED_ROOT") or cache_dir() / "systemd-resolved")


def find_systemd_resolved() -> tuple[Path, Path | None] | None:
    """(binary, library dir for LD_LIBRARY_PATH or None): an unpacked copy first, then an installed one."""
    root = resolved_root()
    exe = root / "lib/systemd/systemd-resolved"
    if exe.is_file():
        return exe, root / "usr/lib/x86_64-linux-gnu/systemd"
    for p in ("/lib/systemd/systemd-resolved", "/usr/lib/systemd/systemd-resolved"):
        if os.path.isfile(p):
            return Path(p), None
    return None


def fetch_systemd_resolved(dest: Path | None = None) -> Path:
    """Download (apt-get download: no install, no maintainer scripts) and unpack systemd-resolved
    and the libsystemd-shared it was built with into dest. Never `apt-get install` it on a test
    machine: its postinst turns /etc/resolv.conf into a symlink to 127.0.0.53's stub file."""
    dest = dest or resolved_root()
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="resolved-debs-") as d:
        os.chmod(d, 0o755)  # apt's _apt user downloads into it
        _run_build(["apt-get", "download", "-q", *RESOLVED_PACKAGES], cwd=d)
        for deb in Path(d).glob("*.deb"):
            _run_build(["dpkg-deb", "-x", str(deb), str(dest)])
    return dest


_RESOLVED_SCRIPT = r"""set -e
conf=$1 passwd=$2 group=$3; shift 3
[ -z "$passwd" ] || mount --bind "$passwd" /etc/passwd
[ -z "$group" ] || mount --bind "$group" /etc/group
mount --bind "$conf" /etc/systemd
for d in /run/systemd /run/dbus /usr/lib/systemd/resolved.conf.d /usr/local/lib/systemd/resolved.conf.d; do
    [ ! -d "$d" ] || mount -t tmpfs tmpfs "$d"
done
exec "$@"
"""


class SystemdResolved(_Daemon):
    """systemd-resolved run by hand (no systemd as PID 1, no D-Bus) in `netns`, its stub on
    127.0.0.53:53 (and 127.0.0.54), forwarding to the responder with cache, DNSSEC, LLMNR and
    mDNS off.

    It runs in a private mount namespace where /etc/systemd holds only our resolved.conf, /run/systemd
    and /run/dbus are empty tmpfs (so it never finds a system bus; it waits for one forever, which is
    harmless) and, when this machine has no `systemd-resolve` user, /etc/passwd and /etc/group copies
    add one (resolved started as root drops to that user by name)."""

    def __init__(self, netns: Any, upstream: tuple[str, int] = ("127.0.0.1", 53), *, extra_conf: str = "",
                 wrap: Sequence[str] = ()) -> None:
        self.netns, self.upstream, self.extra_conf = netns, upstream, extra_conf
        self.wrap = list(wrap)
        self.proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.log: Path | None = None

    def start(self, timeout: float = 10.0) -> SystemdResolved:
        found = find_systemd_resolved()
        if found is None:
            raise FileNotFoundError(f"systemd-resolved not found: unpack it with fetch_systemd_resolved() "
                                    f"into {resolved_root()}")
        exe, libdir = found
        self.netns.add_link()  # resolved forwards nothing while it sees no network
        self._tmp = tempfile.TemporaryDirectory(prefix="resolved-")
        tmp = Path(self._tmp.name)
        os.chmod(tmp, 0o755)
        confdir = tmp / "etc-systemd"
        confdir.mkdir()
        host, port = self.upstream
        server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        (confdir / "resolved.conf").write_text(
            "[Resolve]\n"
            f"DNS={server}\n"
            "DNSSEC=no\nDNSOverTLS=no\nLLMNR=no\nMulticastDNS=no\nCache=no\nReadEtcHosts=no\n"
            "DNSStubListener=yes\n" + self.extra_conf
        )
        passwd = group = ""
        if not _has_user("systemd-resolve"):
            uid = _free_id()
            user = f"systemd-resolve:x:{uid}:{uid}:systemd Resolver:/:/usr/sbin/nologin\n"
            (tmp / "passwd").write_text(Path("/etc/passwd").read_text() + user)
            (tmp / "group").write_text(Path("/etc/group").read_text() + f"systemd-resolve:x:{uid}:\n")
            passwd, group = str(tmp / "passwd"), str(tmp / "group")
        env = dict(os.environ, SYSTEMD_LOG_LEVEL=os.environ.get("SYSTEMD_LOG_LEVEL", "info"),
                   SYSTEMD_LOG_TARGET="console")
        env.pop("NOTIFY_SOCKET", None)
        env.pop("WATCHDOG_USEC", None)
        if libdir is not None:
            env["LD_LIBRARY_PATH"] = str(libdir)
        argv = [*self.netns.prefix(), "unshare", "--mount", "--propagation", "private", "--",
                "sh", "-c", _RESOLVED_SCRIPT, "sh", str(confdir), passwd, group, *self.wrap, str(exe)]
        self.log = tmp / "resolved.log"
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf, env=env)
        try:
            _wait_listening(self.proc, "127.0.0.53", 53, "systemd-resolved", timeout, self.log)
        except BaseException:
            self.stop()
            raise
        return self


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _free_id() -> int:
    import grp
    import pwd

    used = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    return next(i for i in range(990, 100, -1) if i not in used)


# --------------------------------------------------------------------------- pipelining client


def pipeline(host: str, port: int, queries: Sequence[tuple[str, str]], timeout: float = 5.0) -> list[Any]:
    """Write every query in one send() on one TCP connection, then read all replies (any order).
    Returns dnspython messages in arrival order."""
    import dns.message

    def framed(wire: bytes) -> bytes:
        return len(wire).to_bytes(2, "big") + wire

    msgs = [dns.message.make_query(n, t) for n, t in queries]
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(b"".join(framed(m.to_wire()) for m in msgs))
        buf, out = b"", []
        while len(out) < len(msgs):
            chunk = s.recv(65535)
            if not chunk:
                break
            buf += chunk
            while len(buf) >= 2 and len(buf) >= 2 + int.from_bytes(buf[:2], "big"):
                n = int.from_bytes(buf[:2], "big")
                out.append(dns.message.from_wire(buf[2 : 2 + n]))
                buf = buf[2 + n :]
    return out


def pipeline_client(host: str, port: int, names: Sequence[str], *, netns: Any = None,
                    gate: bool = False) -> Client:
    """`pipeline` in its own process (python dns_clients.py pipeline ...): prints one line per
    reply, "ID RCODE QNAME TYPE ANSWER..."."""
    return Client([sys.executable, str(Path(__file__)), "pipeline", host, str(port), *names],
                  netns=netns, gate=gate)


def main(argv: list[str]) -> int:
    if len(argv) < 4 or argv[0] != "pipeline":
        print(__doc__, file=sys.stderr)
        return 2
    import dns.rcode

    host, port = argv[1], int(argv[2])
    qs = [(n.split("/")[0], n.split("/")[1] if "/" in n else "A") for n in argv[3:]]
    for m in pipeline(host, port, qs):
        q = m.question[0]
        data = [rd.to_text() for rrset in m.answer for rd in rrset]
        print(m.id, dns.rcode.to_text(m.rcode()), q.name, q.rdtype.name, *data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
