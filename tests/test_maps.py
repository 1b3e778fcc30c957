"""Every map kind of the core round-trips typed keys and values in the kernel."""

from __future__ import annotations

import os

import pytest

from bpfkit import BPF_NOEXIST, BPFError, BPFObject, MapType, PerCpuValues
from bpfkit.core.kernel.system import possible_cpus

pytestmark = pytest.mark.kernel


@pytest.fixture
def obj(bpf_obj):
    with BPFObject.open(bpf_obj("maps")) as o:
        o.rodata.target_tgid = os.getpid()
        o.load()
        yield o


def test_hash_with_struct_key_and_rich_value(obj: BPFObject) -> None:
    flows = obj.maps.flows
    assert flows.type == MapType.HASH
    key = {"addr": 0x0100007F, "port": 443, "proto": 6}
    flows[key] = {"packets": 10, "name": "web", "color": "BLUE", "tag": {"as_u32": 0xAABBCCDD},
                  "range": {"lo": -3, "hi": 3}, "small": 5, "big": 2**29 - 1}
    v = flows[key]
    assert (v.packets, v.name, v.color.name, v.tag.bytes) == (10, "web", "BLUE", b"\xdd\xcc\xbb\xaa")
    assert (v.range.lo, v.range.hi, v.small, v.big) == (-3, 3, 5, 2**29 - 1)
    assert key in flows and (0, 0, 0) not in flows
    assert flows.get((0, 0, 0)) is None
    # keys come back typed, and the decoded key is accepted as a key again
    (k,) = list(flows.keys())
    assert (k.addr, k.port, k.proto) == (0x0100007F, 443, 6)
    assert flows[k].packets == 10
    # update flags
    with pytest.raises(KeyError):
        flows.update(key, {"packets": 1}, BPF_NOEXIST)
    del flows[key]
    assert flows.get(key) is None
    with pytest.raises(KeyError):
        del flows[key]


def test_hash_full_and_clear(obj: BPFObject) -> None:
    flows = obj.maps.flows
    for i in range(4):
        flows[(i, i, i)] = {"packets": i}
    with pytest.raises(BPFError, match="full"):
        flows[(9, 9, 9)] = {"packets": 9}
    assert sorted(v.packets for _, v in flows.items()) == [0, 1, 2, 3]
    flows.clear()
    assert list(flows.items()) == []


def test_array(obj: BPFObject) -> None:
    arr = obj.maps.arr
    assert len(arr) == 8 and list(arr.keys()) == list(range(8))
    arr[3] = -42
    assert arr[3] == -42 and arr[0] == 0
    assert dict(arr.items())[3] == -42
    arr.clear()
    assert arr[3] == 0
    with pytest.raises(BPFError):
        obj.maps.arr[8] = 1


def test_percpu_hash_and_array(obj: BPFObject) -> None:
    ncpu = possible_cpus()
    h = obj.maps.pc_hash
    h[7] = 5  # one value: every CPU gets it
    v = h[7]
    assert isinstance(v, PerCpuValues) and v == [5] * ncpu and v.sum() == 5 * ncpu
    h[8] = list(range(ncpu))
    assert h[8] == list(range(ncpu))
    assert {k: vals.sum() for k, vals in h.items()} == {7: 5 * ncpu, 8: sum(range(ncpu))}
    with pytest.raises(ValueError, match="per-CPU"):
        h[9] = [1] * (ncpu + 1)
    # the BPF side writes the per-CPU array: the sum is the number of calls
    obj.attach("count_getpid")
    for _ in range(50):
        os.getpid()
    assert obj.maps.pc_arr[0].sum() == 50 == obj.bss.getpid_calls


def test_lru_hash_and_lru_percpu_hash(obj: BPFObject) -> None:
    lru = obj.maps.lru
    for i in range(200):  # more than max_entries: old ones are evicted, nothing fails
        lru[i] = f"item{i}"
    assert lru[199] == "item199"
    assert 0 < len(list(lru)) <= 64
    lp = obj.maps.lru_pc
    lp[1] = {"addr": 1, "port": 2, "proto": 3}
    vals = lp[1]
    assert len(vals) == possible_cpus() and vals[0].port == 2
    assert vals.sum()["port"] == 2 * possible_cpus()


def test_batch_lookup_matches_key_walk(obj: BPFObject) -> None:
    h = obj.maps.pc_hash
    for k in range(16):
        h[k] = k
    batched = dict(h.items())
    assert h._batch_ok  # the kernel supports batch ops for hashes
    walked = {k: h[k] for k in h.keys()}  # noqa: SIM118 - keys() walks get_next_key
    assert batched == walked and len(batched) == 16


def test_max_entries_resize_before_load(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o:
        o.maps.flows.max_entries = 32
        o.load()
        for i in range(32):
            o.maps.flows[(i, 0, 0)] = {"packets": i}
        assert len(list(o.maps.flows.keys())) == 32
        with pytest.raises(BPFError, match=r"before obj\.load"):
            o.maps.flows.max_entries = 64


def test_unknown_map_names_the_existing_ones(obj: BPFObject) -> None:
    with pytest.raises(BPFError, match=r"no map named 'flow' \(this object has: arr, flows, lru"):
        _ = obj.maps.flow


def test_map_ops_before_load_explain(bpf_obj) -> None:
    with BPFObject.open(bpf_obj("maps")) as o, pytest.raises(BPFError, match=r"obj\.load"):
        o.maps.arr[0]


def test_full_map_is_its_own_error_with_errno(obj: BPFObject) -> None:
    import errno

    from bpfkit import BPFMapFullError

    flows = obj.maps.flows
    for i in range(4):
        flows[(i, i, i)] = {"packets": i}
    with pytest.raises(BPFMapFullError) as exc:
        flows[(9, 9, 9)] = {"packets": 9}
    assert exc.value.errno == errno.E2BIG


def test_a_live_map_needs_no_object(bpf_obj) -> None:
    """A map opened by id is the same fd-backed class as the object's, and
    outlives the object that created it."""
    from bpfkit import Map, map_by_id

    with BPFObject.open(bpf_obj("maps")) as o:
        o.load()
        o.maps.arr[2] = 77
        m = map_by_id(o.maps.arr.id)
    assert type(m) is type(o.maps.arr) and isinstance(m, Map)
    with m:
        assert m[2] == 77 and m.name == "arr" and len(m) == 8
        m[3] = 5
        assert m[3] == 5
    with pytest.raises(BPFError, match="closed"):
        m[2]


def test_live_maps_are_made_on_first_use(bpf_obj) -> None:
    """After load a live Map is made when first asked for (a monitor touches
    its ring and perhaps a counter), then always the same one; iterating makes
    them all. One first asked for after close() is refused: its libbpf spec is
    freed memory by then."""
    with BPFObject.open(bpf_obj("maps")) as o:
        o.load()
        live = o.maps
        assert live.made() == []
        arr = o.maps.arr
        assert live.made() == [arr] and o.maps["arr"] is arr
        assert {m.name for m in o.maps} == set(o.maps.names()) == {m.name for m in live.made()}
    with BPFObject.open(bpf_obj("maps")) as o:
        o.load()
        arr = o.maps.arr
        arr[1] = 9
    with pytest.raises(BPFError, match="'arr' is closed"):  # made ones close with the object
        arr[1]
    with pytest.raises(BPFError, match="closed"):
        _ = o.maps.flows


def test_a_held_map_does_not_keep_its_object_alive(bpf_obj) -> None:
    """A loaded object nobody holds is freed (links detached, maps closed) at
    once, without a garbage collection, even while one of its maps is held."""
    import gc
    import weakref

    gc.disable()  # as in the CLI: only reference counting frees it
    try:
        o = BPFObject.open(bpf_obj("maps"))
        o.load()
        arr = o.maps.arr
        gone = weakref.ref(o)
        del o
        assert gone() is None
        with pytest.raises(BPFError, match="'arr' is closed"):
            arr[1]
    finally:
        gc.enable()


def test_map_specs_before_load_and_live_maps_after(bpf_obj) -> None:
    from bpfkit import MapSpec

    with BPFObject.open(bpf_obj("maps")) as o:
        spec = o.maps.flows
        assert isinstance(spec, MapSpec) and spec.max_entries == 4
        spec.max_entries = 6
        o.load()
        assert o.maps.flows.max_entries == 6 and not isinstance(o.maps.flows, MapSpec)
        with pytest.raises(BPFError, match=r"cannot set max_entries .*before obj\.load"):
            spec.max_entries = 8  # libbpf's own refusal, reported with its errno
