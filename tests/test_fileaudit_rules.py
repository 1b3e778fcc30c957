"""fileaudit's pure logic: prefix hashes, normalisation, whole-component
matching, the severity table."""

from __future__ import annotations

import pytest

from bpfkit.tools.fileaudit import fnv1a, normalize, severity, syscall_name, under, watch_set


def test_fnv1a_is_the_64_bit_variant() -> None:
    assert fnv1a(b"") == 0xCBF29CE484222325
    assert fnv1a(b"a") == 0xAF63DC4C8601EC8C  # published FNV-1a test vector


@pytest.mark.parametrize(("raw", "norm"), [
    ("/etc/./passwd", "/etc/passwd"), ("/tmp/x/../../etc/shadow", "/etc/shadow"),
    ("//etc//sudoers", "/etc/sudoers"), ("/etc/cron.d/", "/etc/cron.d"), ("/..", "/"),
])
def test_normalize(raw: str, norm: str) -> None:
    assert normalize(raw) == norm


def test_prefixes_match_whole_components_only() -> None:
    assert under("/usr/lib/systemd/system/x.service", ["/usr/lib/systemd"])
    assert under("/usr/lib/systemd", ["/usr/lib/systemd"])
    assert not under("/usr/lib/systemd-boot/x", ["/usr/lib/systemd"])
    assert not under("/etcetera", ["/etc"])
    assert under("/anything", ["/"])


@pytest.mark.parametrize(("op", "paths", "level"), [
    ("WRITE", ["/etc/shadow"], "HIGH"), ("CREATE", ["/etc/sudoers.d/90-evil"], "HIGH"),
    ("WRITE", ["/home/alice/.ssh/authorized_keys"], "HIGH"), ("WRITE", ["/root/.ssh/config"], "HIGH"),
    ("CREATE", ["/etc/cron.d/job"], "HIGH"), ("WRITE", ["/var/spool/cron/crontabs/root"], "HIGH"),
    ("CREATE", ["/etc/systemd/system/evil.service"], "HIGH"), ("WRITE", ["/etc/ld.so.preload"], "HIGH"),
    ("WRITE", ["/etc/pam.d/sshd"], "HIGH"),
    ("RENAME", ["/tmp/x", "/etc/passwd"], "HIGH"),   # renamed over a HIGH file
    ("DELETE", ["/etc/motd"], "MEDIUM"), ("CHMOD", ["/etc/hosts"], "MEDIUM"),
    ("CHOWN", ["/root/notes"], "MEDIUM"), ("RENAME", ["/etc/a", "/etc/b"], "MEDIUM"),
    ("WRITE", ["/etc/hosts"], "LOW"), ("MKDIR", ["/root/dir"], "LOW"),
    ("WRITE", ["/etc/passwdx"], "LOW"),  # not /etc/passwd
])
def test_severity_table(op: str, paths: list[str], level: str) -> None:
    assert severity(op, paths) == level


def test_watch_set_adds_merged_usr_aliases(tmp_path) -> None:
    import os

    ws = watch_set([str(tmp_path) + "/./w/", "/usr/lib/systemd"])
    assert ws[0] == f"{tmp_path}/w"
    if os.path.islink("/lib") and os.path.realpath("/lib") == "/usr/lib":
        assert "/lib/systemd" in ws


def test_syscall_name_is_null_for_a_change_outside_a_known_syscall() -> None:
    import enum

    calls = enum.IntEnum("fileaudit_syscall", [("FS_OPENAT", 2)])
    assert syscall_name(calls.FS_OPENAT) == "openat"
    assert syscall_name(0) is None  # io_uring, the kernel's own opens (LSM/fexit hooks)
