"""Start-up of the ways bpfkit is deployed: the single-file zipapp, the
installed .deb, and the development venv, measured in the same run.

Time from spawn until `bpfkit fileopen` prints its column header (printed once
every probe is attached), under a pseudo-terminal, median of N starts taken in
interleaved rounds (so that load on the machine hits every row alike).

    bench/deploy.py [-n N] [--dist DIR] [--also-python PYTHON ...]

Builds the .deb and two zipapps (with and without the .pyc beside each module)
with scripts/package.py (or takes bpfkit_*.deb and bpfkit.pyz from --dist),
installs the .deb into a throwaway root with dpkg --root (as the tests do), and
compares:
  zipapp            /usr/bin/python3 bpfkit.pyz fileopen
  zipapp, .py only  the same archive without .pyc: every module compiled at every start
  package           ROOT/usr/bin/bpfkit fileopen (#!/usr/bin/python3; byte-compiled at install)
  checkout          /usr/bin/python3 on src/ (the package's interpreter on the checkout's __pycache__)
  dev venv          .venv/bin/bpfkit fileopen (the venv's interpreter)
--also-python P adds the zipapp run by P (another minor version reads the .py, not the .pyc).
Run as root after `make build`.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
MARKER = b"FILENAME"


def time_to_marker(cmd: list[str], env: dict[str, str], timeout: float = 20.0) -> tuple[float, float]:
    """(seconds from spawn to the header, CPU seconds the process used in all, stop included)."""
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, close_fds=True,
                            env=env)
    os.close(slave)
    buf = b""
    try:
        while MARKER not in buf:
            left = timeout - (time.perf_counter() - t0)
            if left <= 0 or not select.select([master], [], [], left)[0]:
                raise RuntimeError(f"{' '.join(cmd)}: no {MARKER!r} within {timeout}s: {buf[-300:]!r}")
            try:
                buf += os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"{' '.join(cmd)} exited: {buf[-300:]!r}") from None
        wall = time.perf_counter() - t0
    finally:
        proc.send_signal(signal.SIGTERM)
        # keep reading: a monitor drains its queue to the terminal before it exits
        while True:
            try:
                if select.select([master], [], [], 5)[0] and os.read(master, 65536):
                    continue
            except OSError:
                pass
            break
        deadline = time.monotonic() + 10
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.005)
        os.close(master)
    return wall, usage.ru_utime + usage.ru_stime


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode:
        sys.exit(f"deploy.py: {' '.join(cmd)} -> {r.returncode}\n{r.stderr[-2000:]}")
    return r


def build(work: Path) -> tuple[Path, Path, Path]:
    package = [sys.executable, str(ROOT / "scripts/package.py")]
    run([*package, "deb", "--out", str(work / "dist")])
    run([*package, "zipapp", "--out", str(work / "dist")])
    run([*package, "zipapp", "--no-pyc", "--out", str(work / "nopyc")])
    (deb,) = (work / "dist").glob("bpfkit_*.deb")
    return deb, work / "dist/bpfkit.pyz", work / "nopyc/bpfkit.pyz"


def install(deb: Path, root: Path) -> Path:
    root.mkdir()
    run(["dpkg", f"--root={root}", "--force-script-chrootless", "--force-depends",
         f"--log={root}.dpkg.log", "-i", str(deb)])
    return root / "usr/bin/bpfkit"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-n", type=int, default=15, help="starts per row (default 15)")
    p.add_argument("--dist", type=Path, help="take bpfkit_*.deb and bpfkit.pyz from here instead of building")
    p.add_argument("--also-python", action="append", default=[], metavar="PYTHON",
                   help="also run the zipapp with this interpreter")
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("deploy.py: run as root (it loads BPF programs and installs into a throwaway root)")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "BPFKIT_")) and k != "NOTIFY_SOCKET"}
    with tempfile.TemporaryDirectory(prefix="bpfkit-deploy-") as tmp:
        work = Path(tmp)
        if args.dist:
            (deb,) = args.dist.glob("bpfkit_*.deb")
            pyz, nopyc = args.dist / "bpfkit.pyz", None
        else:
            deb, pyz, nopyc = build(work)
        installed = install(deb, work / "root")
        checkout = [SYSTEM_PYTHON, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'src')!r})\n"
                    "from bpfkit.cli import main; sys.exit(main())"]
        rows: dict[str, list[str]] = {"zipapp (.py + .pyc)": [SYSTEM_PYTHON, str(pyz), "fileopen"]}
        if nopyc:
            rows["zipapp (.py only)"] = [SYSTEM_PYTHON, str(nopyc), "fileopen"]
        for python in args.also_python:
            ver = run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.strip()
            rows[f"zipapp on Python {ver}"] = [python, str(pyz), "fileopen"]
        rows["package (.deb, dpkg --root)"] = [str(installed), "fileopen"]
        rows["checkout on /usr/bin/python3"] = [*checkout, "fileopen"]
        venv = ROOT / ".venv/bin/bpfkit"
        if venv.exists():
            rows["dev venv (.venv/bin/bpfkit)"] = [str(venv), "fileopen"]
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in rows}
        for cmd in rows.values():
            time_to_marker(cmd, env)  # warm the page cache once
        for _ in range(args.n):
            for name, cmd in rows.items():
                times[name].append(time_to_marker(cmd, env))
        base = statistics.median(w for w, _ in times["package (.deb, dpkg --root)"])
        sizes = {"zipapp (.py + .pyc)": pyz, "zipapp (.py only)": nopyc, "package (.deb, dpkg --root)": deb}
        print(f"`bpfkit fileopen`: spawn -> column header (attached), and the CPU the process used "
              f"(start to exit), median of {args.n}, same run:")
        for name, samples in times.items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            size = f"  [{sizes[name].stat().st_size // 1024} KiB]" if sizes.get(name) else ""
            print(f"  {name:<30} {wall * 1000:7.1f} ms (min {min(w for w, _ in samples) * 1000:5.1f})  "
                  f"{wall / base:5.2f}x the package   cpu {cpu * 1000:6.1f} ms{size}")


if __name__ == "__main__":
    main()
