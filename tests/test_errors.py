"""Errors a user meets: one clear line on stderr, the right exit code, no traceback."""

from __future__ import annotations

import shutil

import pytest
from conftest import BPFKIT, ROOT, run_cli

from bpfkit import BPFError, BPFLoadError, BPFObject
from bpfkit.core.kernel import features

pytestmark = pytest.mark.kernel

REJECTS = [
    ("null_value", "invalid mem access 'map_value_or_null'", "NULL check"),
    ("endless_loop", "infinite loop detected", "constant bound"),
    ("too_large", "BPF program is too large", "split it with tail calls"),
    ("big_stack", "combined stack size", "512 bytes of stack"),
    ("no_gpl", "cannot call GPL-restricted function", 'SEC("license") = "GPL"'),
    ("raw_deref", "invalid mem access 'scalar'", "BPF_CORE_READ"),
]


def one_line_error(r, code: int = 1) -> str:
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, r.stderr
    return lines[0]


@pytest.mark.parametrize(("name", "reason", "fix"), REJECTS)
def test_verifier_rejections_carry_log_reason_and_fix(bpf_obj, name: str, reason: str, fix: str) -> None:
    path = bpf_obj(f"rejects/{name}")
    with pytest.raises(BPFLoadError) as info, BPFObject.open(path) as obj:
        obj.load()
    err = info.value
    assert reason in err.log and reason in err.reason  # full log kept, reason found in it
    assert fix in (err.hint or "")
    assert err.program == "prog"
    if name == "too_large":  # the verifier's slowest case: the CLI path is the same, shown by the others
        if features.verifier_log_keeps_tail():  # only its end is kept, in one verifier run
            assert len(err.log) < 5 << 20 and err.log.startswith("[the start of the verifier log")
        return
    line = one_line_error(run_cli("run", str(path)))
    assert line.startswith("bpfkit: the verifier rejected program 'prog'")
    assert reason in line and fix in line


def test_a_log_level_asked_for_still_gives_the_reason(bpf_obj) -> None:
    with pytest.raises(BPFLoadError) as info, BPFObject.open(bpf_obj("rejects/null_value")) as obj:
        obj.progs.prog.log_level = 1
        obj.load()
    assert "invalid mem access 'map_value_or_null'" in info.value.reason
    assert info.value.log == obj.progs.prog.verifier_log


def test_verbose_prints_the_verifier_log(bpf_obj) -> None:
    r = run_cli("run", str(bpf_obj("rejects/null_value")), "--verbose")
    assert r.returncode == 1 and "R0 invalid mem access" in r.stderr
    assert len(r.stderr.splitlines()) > 3 and "Traceback" not in r.stderr


@pytest.mark.skipif(not shutil.which("setpriv"), reason="needs setpriv (util-linux)")
def test_without_privileges_says_what_to_run(bpf_obj) -> None:
    import subprocess

    r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", *BPFKIT, "run",
                        str(bpf_obj("ringbuf"))], capture_output=True, text=True, cwd=ROOT)
    line = one_line_error(r)
    assert "needs root (or CAP_BPF and CAP_PERFMON" in line and "sudo" in line
    r = subprocess.run(["setpriv", "--inh-caps=-all", "--bounding-set=-all", *BPFKIT, "doctor"],
                       capture_output=True, text=True, cwd=ROOT)
    assert "needs root" in one_line_error(r)


@pytest.mark.skipif(not shutil.which("unshare"), reason="needs unshare (util-linux)")
def test_kernel_without_btf_is_named(bpf_obj) -> None:
    import subprocess

    # Hide /sys/kernel/btf in a private mount namespace: a kernel without BTF, for this process.
    script = f"mount -t tmpfs none /sys/kernel/btf && exec {' '.join(BPFKIT)} run {bpf_obj('ringbuf')}"
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True)
    line = one_line_error(r)
    assert "this kernel has no BTF" in line and "CONFIG_DEBUG_INFO_BTF" in line


@pytest.mark.skipif(features.kprobes_supported(), reason="this kernel has kprobes")
def test_missing_hook_names_the_kernel_feature(bpf_obj) -> None:
    line = one_line_error(run_cli("run", str(bpf_obj("attach")), "--prog", "on_kprobe"))
    assert "kprobe" in line and "no kprobe support" in line


def test_refused_fentry_names_the_kind(bpf_obj) -> None:
    r = run_cli("run", str(bpf_obj("attach")), "--prog", "on_fentry", "--duration", "0")
    if r.returncode == 0:
        pytest.skip("this kernel allows fentry")
    assert "fentry programs are refused by this kernel" in one_line_error(r)


def test_unknown_names_list_what_exists(bpf_obj) -> None:
    line = one_line_error(run_cli("run", str(bpf_obj("attach")), "--prog", "on_nothing"))
    assert "no program named 'on_nothing'" in line and "on_tp" in line
    line = one_line_error(run_cli("run", str(bpf_obj("ringbuf")), "--set", "nope=1"))
    assert "no global named 'nope'" in line and "target_tgid" in line


def test_usage_errors_exit_2(bpf_obj) -> None:
    assert "unrecognized arguments: --bogus" in one_line_error(
        run_cli("run", str(bpf_obj("ringbuf")), "--bogus"), code=2)
    assert "invalid choice" in one_line_error(run_cli("frobnicate"), code=2)
    assert "argument --duration: must be seconds" in one_line_error(
        run_cli("run", "x.o", "--duration", "soon"), code=2)


def test_missing_object_file(tmp_path) -> None:
    line = one_line_error(run_cli("run", str(tmp_path / "absent.bpf.o")))
    assert "no such file" in line
    (tmp_path / "junk.bpf.o").write_bytes(b"not an ELF file")
    assert "cannot open junk" in one_line_error(run_cli("run", str(tmp_path / "junk.bpf.o")))


def test_libbpf_own_line_is_in_the_error() -> None:
    """libbpf's warning, formatted from its printf format and arguments (the
    print callback's path), is what the error says."""
    with pytest.raises(BPFError, match=r"elf: .* is not a proper ELF object"):
        BPFObject.open(b"not an ELF file" * 8)
