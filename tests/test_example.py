"""The README's first example runs as documented and sees a real open."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

pytestmark = pytest.mark.kernel


def test_hello_example_streams_a_real_open(tmp_path) -> None:
    marker = tmp_path / "hello-marker.txt"
    proc = subprocess.Popen([sys.executable, str(ROOT / "examples" / "hello.py"), "--seconds", "1.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    with open(marker, "w"):
        pass
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert f"{os.getpid()} python3 {marker}" in lines or any(
        ln.startswith(f"{os.getpid()} ") and ln.endswith(str(marker)) for ln in lines)
    total = next(ln for ln in lines if ln.startswith("total_calls"))
    assert int(total.split()[1]) >= 1 and total.endswith("dropped 0")
    assert any(ln.startswith("uid 0 opens ") for ln in lines)
