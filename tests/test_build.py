"""`bpfkit build`: compiles like the package does, and only when something changed."""

from __future__ import annotations

import os
import shutil
import time

import pytest
from conftest import ROOT, run_cli

from bpfkit import BPFObject

SRC = ROOT / "examples" / "hello.bpf.c"


def test_build_skips_unchanged_and_rebuilds_changed(tmp_path) -> None:
    src = tmp_path / "hello.bpf.c"
    shutil.copy(SRC, src)
    out = tmp_path / "out" / "hello.bpf.o"
    r = run_cli("build", str(src), "-o", str(out), check=True)
    assert f"built: {out}" in r.stderr and out.is_file()
    mtime = out.stat().st_mtime_ns
    r = run_cli("build", str(src), "-o", str(out), check=True)
    assert r.stderr == "" and out.stat().st_mtime_ns == mtime  # nothing compiled
    time.sleep(0.01)
    os.utime(src)  # the source changed: compile again
    assert "built:" in run_cli("build", str(src), "-o", str(out), check=True).stderr
    assert out.stat().st_mtime_ns > mtime


def test_header_change_rebuilds(tmp_path) -> None:
    (tmp_path / "prog.h").write_text("#define VALUE 1\n")
    src = tmp_path / "prog.bpf.c"
    src.write_text('#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include "prog.h"\n'
                   'int v = VALUE;\nSEC("raw_tp/sys_enter") int p(void *c) { return v; }\n'
                   'char LICENSE[] SEC("license") = "GPL";\n')
    run_cli("build", str(src), check=True)
    assert run_cli("build", str(src), check=True).stderr == ""
    time.sleep(0.01)
    (tmp_path / "prog.h").write_text("#define VALUE 2\n")
    assert "built:" in run_cli("build", str(src), check=True).stderr
    obj = BPFObject.open(tmp_path / "prog.bpf.o")
    assert obj.data.v == 2
    obj.close()


def test_object_keeps_btf_but_no_dwarf(tmp_path) -> None:
    out = tmp_path / "h.bpf.o"
    run_cli("build", str(SRC), "-o", str(out), check=True)
    data = out.read_bytes()
    assert b".BTF" in data and b".debug_info" not in data


def test_compile_error_is_reported(tmp_path) -> None:
    src = tmp_path / "bad.bpf.c"
    src.write_text("int broken( {\n")
    r = run_cli("build", str(src))
    assert r.returncode == 1 and "error" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == f"bpfkit: clang failed to compile {src}"
    assert "Traceback" not in r.stderr


def test_missing_source_is_one_line(tmp_path) -> None:
    r = run_cli("build", str(tmp_path / "nope.bpf.c"))
    assert r.returncode == 1 and r.stderr.strip() == f"bpfkit: {tmp_path / 'nope.bpf.c'}: no such file"


@pytest.mark.kernel
def test_open_from_bytes(tmp_path) -> None:
    out = tmp_path / "h.bpf.o"
    run_cli("build", str(SRC), "-o", str(out), check=True)
    with BPFObject.open(out.read_bytes(), name="hello") as obj:
        obj.load()
        assert "counts" in obj.maps and obj.rodata.target_uid == 0xFFFFFFFF


@pytest.mark.kernel
def test_min_btf_loads_the_object_on_a_kernel_without_btf(tmp_path) -> None:
    """`bpfkit build --min-btf` keeps just the types hello.bpf.o's CO-RE
    relocations use; with it the object loads where /sys/kernel/btf is gone."""
    import subprocess
    import sys

    src = tmp_path / "hello.bpf.c"
    shutil.copy(SRC, src)
    r = run_cli("build", str(src), "--min-btf", check=True)
    btf = tmp_path / "hello.bpf.btf"
    assert f"minimal BTF: {btf}" in r.stderr
    assert 0 < btf.stat().st_size < 10_000 < os.path.getsize("/sys/kernel/btf/vmlinux")
    probe = tmp_path / "probe"
    code = (f"import os\nfrom bpfkit import BPFObject\n"
            f"assert not os.path.exists('/sys/kernel/btf/vmlinux')\n"
            f"obj = BPFObject.open({str(tmp_path / 'hello.bpf.o')!r}, btf_custom_path={str(btf)!r})\n"
            f"obj.load(); obj.attach(); obj.bss.enabled = True\n"
            f"open({str(probe)!r}, 'w').close()\n"
            f"print(obj.bss.total_calls > 0)\n")
    script = 'mount -t tmpfs none /sys/kernel/btf && exec "$0" -c "$1"'
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                        sys.executable, code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_min_btf_errors_are_one_line(tmp_path) -> None:
    r = run_cli("build", str(SRC), "--min-btf", str(tmp_path / "x.btf"),
                "--vmlinux-btf", str(tmp_path / "missing"))
    errors = [line for line in r.stderr.splitlines() if not line.startswith(("built:", "up to date:"))]
    assert r.returncode == 1 and len(errors) == 1 and "no such BTF file" in errors[0]
