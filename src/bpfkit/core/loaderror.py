"""What went wrong when bpf_object__load() failed, in one line.

libbpf says it in its log, but its last line is always the useless "failed
to load object"; the cause is an earlier line ("map 'start': failed to
create", "missing BPF prog type, check ELF section name", "extern ... not
found in kernel BTF", "attach program FD is not set", "failed to find kernel
BTF type ID of 'x'"). That line is the message. The verifier's reason and
fix are added only when the verifier ran (its log is between BEGIN/END PROG
LOAD LOG markers).
"""

from __future__ import annotations

import errno as E

from .kernel import libbpf
from .kernel.errors import ENOTSUPP, BPFError, BPFKernelFeatureError, BPFLoadError, error_for

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .maps import MapSpec
    from .program import Program

# libbpf lines that only say that something failed, never why
_GENERIC = ("failed to load object", "failed to load: -", "failed to prepare load attributes",
            "Retrying without BTF", "-- BEGIN PROG LOAD LOG", "-- END PROG LOAD LOG",
            "failed to load BPF skeleton", "load bpf program failed", "BPF program load failed",
            # warnings libbpf survives (a BTF it dropped), printed before the real cause
            "BTF loading error", "BTF is optional, ignoring", "-- BEGIN BTF LOAD LOG",
            "-- END BTF LOAD LOG", "Error loading .BTF into kernel", "Error loading ELF section .BTF")
# (words in libbpf's line, the error class, a fix worth saying)
_KNOWN: list[tuple[str, type[BPFError], str]] = [
    ("missing BPF prog type", BPFLoadError,
     "libbpf does not know this SEC() name: call prog.set_type() (and set_expected_attach_type()) "
     "before load, or use a section name libbpf knows"),
    ("attach program FD is not set", BPFLoadError,
     "an freplace program needs prog.set_attach_target('function', target_prog_fd) before load"),
    ("failed to find kernel BTF type ID", BPFKernelFeatureError,
     "this kernel has no such function to attach to (declare an alternative hook with BPFKIT_HOOKS)"),
    ("not found in kernel", BPFKernelFeatureError,
     "this kernel lacks a function or variable the program uses (guard it with bpf_ksym_exists / "
     "__weak, or build for this kernel)"),
]


def _cause(log: str) -> str:
    """The first line of libbpf's log that says why (without 'libbpf: ')."""
    lines = [x.strip().removeprefix("libbpf: ") for x in log.splitlines() if x.strip().startswith("libbpf:")]
    for line in lines:
        if not any(g in line for g in _GENERIC):
            return line
    return lines[-1] if lines else ""


def load_error(err: int, log: str, obj_name: str, progs: dict[str, Program],
               specs: dict[str, MapSpec], kept: dict[str, str] | None = None) -> BPFError:
    """The error to raise for a failed load with errno ``err`` and libbpf's
    ``log``. ``kept``: verifier logs libbpf wrote to buffers it was given
    (it prints only the ones it allocated), by program name, "" for the
    buffer every other program shared."""
    import re  # lazy: only a failed load pays for re

    failed = None
    for m in re.finditer(r"prog '([^']+)': (?:BPF program load failed|failed to load)", log):
        failed = m.group(1)
    cause = _cause(log)
    if failed is None:
        m2 = re.match(r"prog '([^']+)'", cause)
        failed = m2.group(1) if m2 else None
    prog = progs.get(failed) if failed else None
    vlog = ""
    m3 = re.search(r"-- BEGIN PROG LOAD LOG --\n(.*?)-- END PROG LOAD LOG --", log, re.S)
    if m3:
        vlog = m3.group(1)
    elif kept and failed:
        vlog = kept.get(failed) or kept.get("", "")
    if prog is not None and prog.attach_kind.trampoline and err in (E.EPERM, ENOTSUPP, E.EOPNOTSUPP) \
            and not vlog:
        return BPFKernelFeatureError(
            f"{prog.kind} programs are refused by this kernel ({prog.name!r} failed to load: "
            f"{libbpf.strerror(err)}); use a tracepoint or tp_btf hook instead", errno=err)
    where = f"program {prog.name!r} of {obj_name}" if prog else obj_name
    if vlog:
        return BPFLoadError(f"the verifier rejected {where}", program=failed, log=vlog, errno=err)
    if err == E.EPERM and not cause.startswith(("map ", "prog ")):
        return error_for(err, f"loading {obj_name} was refused: {libbpf.strerror(err)} "
                              "(kernel lockdown or kernel.unprivileged_bpf_disabled?)")
    text = cause or libbpf.strerror(err)
    if "missing BPF prog type" in cause and re.search(r"'(tcx|netkit)/", cause):
        return BPFLoadError(f"loading {where} failed: {text}; fix: tcx and netkit sections need "
                            "libbpf 1.3+ (BPFKIT_LIBBPF=path picks one), or prog.set_type("
                            "ProgType.SCHED_CLS) before load to attach it on clsact", errno=err)
    for words, cls, fix in _KNOWN:
        if words in cause:
            return cls(f"loading {where} failed: {text}; fix: {fix}", errno=err)
    m4 = re.match(r"map '([^']+)': failed to create", cause)
    if m4 and m4.group(1) in specs:
        spec = specs[m4.group(1)]
        if spec.max_entries == 0 and err == E.EINVAL:
            text += f"; fix: max_entries of map {spec.name!r} is 0: set it before load"
        elif err in (E.ENOMEM, E.E2BIG):
            text += (f"; fix: map {spec.name!r} asks for more memory than the kernel gives "
                     "(a smaller max_entries)")
    exc = BPFLoadError(f"loading {where} failed: {text}", program=failed, errno=err)
    exc.libbpf_log = log
    return exc


__all__ = ["load_error"]
