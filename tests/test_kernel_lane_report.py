"""scripts/test-kernels.py's report of the hooks each monitor kept (pure logic)."""

from __future__ import annotations

import importlib.util
import sys

from conftest import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("test_kernels_script", ROOT / "scripts" / "test-kernels.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_hooks_kept_per_monitor_from_verbose_lines() -> None:
    text = "\n".join([
        "fileaudit: openat: fexit_open (fexit)",
        "fileaudit: unlinkat: lsm_unlink+lsm_rmdir+fexit_unlink+fexit_rmdir (lsm)",
        "fileaudit: fchmodat2: none (optional); lsm_chmod+fexit_fchmodat2 skipped: no function",
        "fileaudit: ring events: ringbuf",
        "tcptrack: state: on_state (tp_btf)",
        "tcptrack: connect4: connect4_fentry+connect4_fexit (fentry)",
        "tcptrack: enter_open attached as tracepoint tracepoint/syscalls/sys_enter_open",
        "snapaudit: ZFS control device: /dev/null (1:3)",
        "snapaudit: ioctl: enter_ioctl+exit_ioctl (tracepoint)",
    ])
    assert _script().parse_hooks(text) == {"fileaudit": "lsm+fexit", "tcptrack": "fentry+tp_btf",
                                           "snapaudit": "tracepoint"}
