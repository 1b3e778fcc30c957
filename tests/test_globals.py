""".rodata/.bss/.data globals: typed, settable before load, live after."""

from __future__ import annotations

import os

import pytest

from bpfkit import BPFError, BPFObject

pytestmark = pytest.mark.kernel


def test_globals_before_and_after_load(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o:
        # initial values come from the object
        assert o.rodata.label == "default" and o.rodata.favourite.name == "GREEN"
        assert o.data.adjust == -5 and o.data.greeting == "hello"
        assert o.bss.getpid_calls == 0
        o.rodata.target_tgid = os.getpid()
        o.rodata.favourite = "RED"
        o.data.greeting = "bonjour"
        o.bss.getpid_calls = 1000  # .bss can be preset too
        assert o.rodata.target_tgid == os.getpid()
        o.load()
        assert o.rodata.favourite.name == "RED" and o.data.greeting == "bonjour"
        with pytest.raises(BPFError, match="read-only once loaded"):
            o.rodata.target_tgid = 1
        o.attach()
        for _ in range(10):
            os.getpid()
            os.getppid()
        # live reads of what the kernel wrote
        assert o.bss.getpid_calls == 1010
        assert o.data.adjust == 5
        assert (o.bss.last_key.addr, o.bss.last_key.port) == (0x0100007F, 8080)
        # live write seen by the kernel
        o.data.adjust = 100
        os.getppid()
        assert o.data.adjust == 101
        assert o.bss.to_dict()["getpid_calls"] == 1010


def test_rodata_config_filters_in_kernel(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o:
        o.rodata.target_tgid = 1  # init: never us
        o.load()
        o.attach()
        for _ in range(10):
            os.getpid()
        assert o.bss.getpid_calls == 0


def test_unknown_global_names_the_existing_ones(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o:
        with pytest.raises(BPFError, match=r"no .rodata global named 'target'.*target_tgid"):
            o.rodata.target = 1
        with pytest.raises(BPFError, match=r"no data section named '\.data\.x'"):
            o.section(".data.x")


def test_values_are_type_checked(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o:
        with pytest.raises(ValueError, match="does not fit"):
            o.rodata.target_tgid = -1
        with pytest.raises(ValueError, match="do not fit"):
            o.rodata.label = "much too long"
