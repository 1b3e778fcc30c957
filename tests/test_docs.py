"""Every Python example in docs/library.md runs and its asserts hold."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import ROOT

from bpfkit.core.build import build

pytestmark = pytest.mark.kernel
DOC = ROOT / "docs" / "library.md"


def examples() -> list[tuple[str, str]]:
    text = DOC.read_text()
    out = []
    for m in re.finditer(r"^## (.+?)$(.*?)(?=^## |\Z)", text, re.S | re.M):
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", m.group(2), re.S)):
            out.append((f"{m.group(1)}#{i}", code))
    return out


def test_every_feature_has_an_example() -> None:
    titles = {name.split("#")[0] for name, _ in examples()}
    assert len(titles) == 23, titles


@pytest.mark.parametrize(("name", "code"), examples(), ids=[n for n, _ in examples()])
def test_example_runs(name: str, code: str) -> None:
    build(ROOT / "examples" / "features.bpf.c")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"{name}:\n{r.stderr}"
