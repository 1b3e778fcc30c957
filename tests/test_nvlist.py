"""snapaudit's packed-nvlist decoder against libnvpair's own output.

The fixtures (tests/fixtures/nvlist, made by its gen.py with Debian's real libnvpair; the op
fixtures are byte-identical to what libzfs_core 2.1.11 put in zc_nvlist_src, checked with a BPF
tracepoint) carry libnvpair's reading of each buffer, so no download is needed here. Then the
contract for untrusted input: cut at every byte, mutated and random bytes give a result or
NvlistError, never another exception, never a hang. When the ZFS libraries were fetched
(scripts/fetch-zfs-libs.sh), random nvlists are also packed by libnvpair and compared live,
and the libzfs_core test helper is exercised in its fake /dev/zfs namespace.
"""

from __future__ import annotations

import json
import os
import random
import struct
import sys
import time
from pathlib import Path

import pytest

from bpfkit.tools.snapaudit.nvlist import Decoded, NvlistError, decode, sniff

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "nvlist"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


def from_json(v):
    if isinstance(v, dict):
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        return {k: from_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def load(name: str) -> tuple[bytes, dict]:
    return (FIXTURES / f"{name}.bin").read_bytes(), json.loads((FIXTURES / f"{name}.json").read_text())


def check(d: Decoded, meta: dict) -> None:
    assert d.values == from_json(meta["values"])
    assert d.truncated is meta["truncated"]
    assert d.encoding == meta["encoding"]
    assert [list(p) for p in d.duplicates] == meta["duplicates"]
    assert d.pairs == meta["pairs"]
    assert d.limited is False
    if meta["consumed"] is not None:
        assert d.consumed == meta["consumed"]


def test_fixtures_present():
    assert len(NAMES) >= 30, "run tests/fixtures/nvlist/gen.py"


@pytest.mark.parametrize("name", NAMES)
def test_fixture(name):
    buf, meta = load(name)
    if meta["error"]:
        with pytest.raises(NvlistError):
            decode(buf, meta["size"])
        d = decode(buf, meta["size"], **meta["decode"])
    else:
        d = decode(buf, meta["size"])
    check(d, meta)
    # Without the size, a cut buffer is still a cut buffer, and a whole one still whole.
    check(decode(buf, **meta["decode"]), meta)
    if meta["encoding"] == "xdr":  # libnvpair's XDR buffer may end in zero padding
        assert d.consumed <= len(buf) and not buf[d.consumed:].strip(b"\0")
    if meta["values"] and not meta["duplicates"] and name != "all_types_xdr":
        assert d.nvflag == 1  # NV_UNIQUE_NAME, as fnvlist_alloc()
    assert sniff(buf) == meta["encoding"]


def test_op_fixture_shapes():
    """What snapaudit will look up, per op (see shared/notes/zfs.md)."""
    v = {n: decode(load(n)[0]).values for n in NAMES if not load(n)[1]["error"]}
    assert list(v["snapshot"]["snaps"]) == ["tank/fs@2024-06-01", "tank/fs/sub@2024-06-01"]
    assert v["destroy_snaps"]["defer"] is True
    assert v["destroy"] == {} and v["rollback"] == {}
    assert v["rollback_to"] == {"target": "tank/fs@2024-06-01"}
    assert v["hold"]["holds"]["tank/fs@2024-06-01"] == "keep" and v["hold"]["cleanup_fd"] == 5
    assert v["release"] == {"tank/fs@2024-06-01": {"keep": True, "backup": True}}
    assert v["bookmark"]["tank/fs#b2"] == "tank/fs#b1"
    assert v["clone"]["origin"] == "tank/fs@2024-06-01"
    assert v["channel_program"]["arg"] == {"argv": ["tank/fs@a", "tank/fs@b"]}
    assert v["channel_program"]["sync"] is True
    rec = v["recv_new"]["begin_record"]
    assert len(rec) == 312 and rec[56:56 + 8] == b"src/fs@r"  # drr_u.drr_begin.drr_toname
    assert v["create_encrypted"]["hidden_args"]["wkeydata"] == list(range(32))
    assert v["log_history"] == {"message": "zfs destroy tank/fs@2024-06-01"}


def test_hostile_names_keep_every_byte():
    names = list(decode(load("hostile_names")[0]).values["snaps"])
    raw = [n.encode("utf-8", "surrogateescape") for n in names]
    assert raw[0] == b"tank/fs@a\nJun 1 12:00:00 host sshd[1]: Accepted"
    assert raw[1] == b"tank/fs@\x1b[2K\x1b[1Gok"
    assert raw[2] == b"tank/fs@\xff\xfe\xc3("
    assert raw[3] == "tank/fs@\u202eevil".encode()


def test_size_argument():
    buf, meta = load("snapshot")
    d = decode(buf + b"trailing garbage", len(buf))
    assert d.values == from_json(meta["values"]) and not d.truncated and d.consumed == len(buf)
    d = decode(buf[:100], len(buf))
    assert d.truncated and d.values == {"snaps": {"tank/fs@2024-06-01": True}}
    with pytest.raises(NvlistError):  # claims to be whole, but ends inside a pair
        decode(buf[:100], 100)
    with pytest.raises(NvlistError):
        decode(buf, -1)
    with pytest.raises(NvlistError):
        decode(b"", 0)
    empty = decode(b"")
    assert empty.truncated and empty.encoding is None and empty.values == {}
    assert decode(bytearray(buf)) == decode(memoryview(buf)) == decode(buf)


def test_max_pairs_stops_like_a_cut():
    buf, _ = load("many_snaps")
    d = decode(buf, max_pairs=11)
    assert d.truncated and d.limited and d.pairs == 11
    assert len(d.values["snaps"]) == 10  # the "snaps" pair itself is one of the 11


def test_big_endian_native():
    # {"a": UINT32 7} packed by a big-endian host: header endian byte 0.
    pair = struct.pack(">ihhii", 32, 2, 0, 1, 6) + b"a\0" + b"\0" * 6 + struct.pack(">I", 7) + b"\0" * 4
    buf = b"\x00\x00\x00\x00" + struct.pack(">iI", 0, 1) + pair + b"\0" * 4
    d = decode(buf, len(buf))
    assert d.values == {"a": 7} and d.endian == "big" and not d.truncated


# --- malformed input: each mutation must give NvlistError ----------------------------------------

def _snap1() -> bytearray:
    # snapshot_noprops: header(4) version/nvflag(8); pair "snaps" at 12 (NVLIST, 48 bytes);
    # its child "tank/fs@x" at 60 (BOOLEAN, 32 bytes); terminators at 92 and 96.
    buf = bytearray(load("snapshot_noprops")[0])
    assert len(buf) == 100 and buf[28:34] == b"snaps\0" and buf[76:86] == b"tank/fs@x\0"
    return buf


def _mut(**at: bytes) -> bytes:
    buf = _snap1()
    for off, data in at.items():
        o = int(off[1:])
        buf[o:o + len(data)] = data
    return bytes(buf)


@pytest.mark.parametrize("bad,why", [
    (_mut(o0=b"\x07"), "unknown encoding"),
    (_mut(o1=b"\x05"), "bad byte-order flag"),
    (_mut(o60=struct.pack("<i", 16)), "pair smaller than the minimum"),
    (_mut(o60=struct.pack("<i", -8)), "negative pair size"),
    (_mut(o60=struct.pack("<i", 4000)), "pair past the end of a whole buffer"),
    (_mut(o64=struct.pack("<h", 0)), "zero name size"),
    (_mut(o64=struct.pack("<h", 30)), "name size past the pair"),
    (_mut(o80=b"\0"), "NUL inside the name"),
    (_mut(o85=b"X"), "name not NUL-terminated"),
    (_mut(o72=struct.pack("<i", 99)), "unknown data type"),
    (_mut(o68=struct.pack("<i", 1)), "BOOLEAN with an element"),
    (_mut(o72=struct.pack("<i", 21)), "BOOLEAN_VALUE with no room for its value"),
    (_mut(o20=struct.pack("<i", 2)), "NVLIST with 2 elements"),
    (_mut(o36=struct.pack("<i", 1)), "embedded nvlist version 1"),
    (_mut(o12=struct.pack("<i", 56)), "NVLIST value slot of the wrong size"),
])
def test_malformed(bad, why):
    with pytest.raises(NvlistError):
        decode(bad, len(bad))


def test_bad_boolean_value():
    pair = struct.pack("<ihhii", 32, 2, 0, 1, 21) + b"b\0" + b"\0" * 6 + struct.pack("<i", 2) + b"\0" * 4
    buf = b"\x00\x01\x00\x00" + struct.pack("<iI", 0, 1) + pair + b"\0" * 4
    with pytest.raises(NvlistError):
        decode(buf, len(buf))
    ok = buf[:12] + pair[:24] + struct.pack("<i", 1) + pair[28:] + b"\0" * 4
    assert decode(ok, len(ok)).values == {"b": True}


def test_depth_bound():
    buf, _ = load("deep40")
    with pytest.raises(NvlistError):
        decode(buf)
    with pytest.raises(NvlistError):
        decode(buf[:1600])  # even cut: the 33 levels that are there are already too deep
    assert decode(load("deep20")[0], max_depth=20).pairs == 21
    with pytest.raises(NvlistError):
        decode(load("deep20")[0], max_depth=19)


# --- cut at every byte --------------------------------------------------------------------------

def is_prefix(part, full) -> bool:
    """part is what a cut buffer may give of full: the same leading pairs, the last container
    possibly shorter."""
    if isinstance(part, dict):
        if not isinstance(full, dict) or list(part) != list(full)[: len(part)]:
            return False
        return all(is_prefix(v, full[k]) for k, v in part.items())
    if isinstance(part, list) and part and isinstance(part[0], dict):
        return len(part) <= len(full) and all(is_prefix(a, b) for a, b in zip(part, full, strict=False))
    return part == full


@pytest.mark.parametrize("name", ["snapshot", "release", "hold", "channel_program", "recv_new",
                                  "hostile_names", "all_types", "all_types_xdr", "snapshot_xdr",
                                  "duplicates", "deep20"])
def test_cut_at_every_byte(name):
    buf = load(name)[0]
    full = decode(buf, len(buf))
    end = full.consumed
    last_pairs = 0
    for n in range(len(buf)):
        part = decode(buf[:n])
        assert part.truncated is (n < end)
        assert part.pairs >= last_pairs  # more bytes never decode fewer pairs
        last_pairs = part.pairs
        if name != "duplicates":  # a repeated name is replaced later on: not a prefix then
            assert is_prefix(part.values, full.values), n
        assert decode(buf[:n], len(buf)) == part
        if n < end:
            with pytest.raises(NvlistError):
                decode(buf[:n], n)  # the same bytes claimed whole are malformed


# --- garbage ------------------------------------------------------------------------------------

def _decode_any(data: bytes, size: int | None = None) -> Decoded | None:
    try:
        d = decode(data, size)
    except NvlistError:
        return None
    assert d.consumed <= len(data) and d.pairs <= 65536
    return d


def test_random_mutations_and_garbage():
    """Seeded, time-boxed: flipped bits, overwritten words, spliced fixtures, pure noise."""
    rnd = random.Random(0x5A23)
    corpus = [load(n)[0] for n in NAMES]
    deadline = time.monotonic() + 1.0
    runs = 0
    while time.monotonic() < deadline:
        src = bytearray(rnd.choice(corpus))
        kind = rnd.randrange(5)
        if kind == 0:
            for _ in range(rnd.randint(1, 4)):
                i = rnd.randrange(len(src))
                src[i] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            i = rnd.randrange(max(1, len(src) - 4))
            word = rnd.choice([0, -1, 1, 7, 24, 0x7FFFFFFF, -(2**31), rnd.getrandbits(31)])
            src[i:i + 4] = struct.pack("<i", word)
        elif kind == 2:
            other = rnd.choice(corpus)
            i, j = rnd.randrange(len(src)), rnd.randrange(len(other))
            src = src[:i] + other[j:]
        elif kind == 3:
            header = rnd.choice([b"\x00\x01\x00\x00", b"\x01\x01\x00\x00"])
            src = bytearray(header + rnd.randbytes(rnd.randrange(200)))
        else:
            src = bytearray(rnd.randbytes(rnd.randrange(64)))
        data = bytes(src)
        _decode_any(data)
        _decode_any(data, len(data))
        runs += 1
    assert runs > 200


def test_hypothesis_fuzz():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    corpus = [load(n)[0] for n in NAMES]

    @hypothesis.settings(max_examples=400, deadline=None, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(
        which=st.integers(0, len(corpus) - 1),
        edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)), max_size=4),
        cut=st.none() | st.integers(0, 1 << 16),
        noise=st.binary(max_size=300),
        header=st.sampled_from([b"", b"\x00\x01\x00\x00", b"\x01\x01\x00\x00"]),
    )
    def fuzz(which, edits, cut, noise, header):
        data = bytearray(corpus[which])
        for off, blob in edits:
            off %= len(data)
            data[off:off + len(blob)] = blob
        if cut is not None:
            data = data[: cut % (len(data) + 1)]
        _decode_any(bytes(data))
        _decode_any(bytes(data), len(data))
        _decode_any(header + noise)

    fuzz()


# --- against the live library, when fetched -----------------------------------------------------

def _lzc():
    sys.path.insert(0, str(Path(__file__).resolve().parent / "helpers"))
    try:
        import lzc
    finally:
        sys.path.pop(0)
    try:
        lzc.Libs.get()
    except (lzc.LibsMissing, OSError) as e:
        pytest.skip(f"ZFS libraries not fetched (scripts/fetch-zfs-libs.sh): {e}")
    return lzc


def _random_spec(rnd: random.Random, lzc, depth: int = 0) -> dict:
    T = lzc.Typed
    gens = [
        lambda: None, lambda: rnd.random() < 0.5, lambda: rnd.getrandbits(64),
        lambda: T("int32", rnd.randint(-(2**31), 2**31 - 1)), lambda: T("int8", rnd.randint(-128, 127)),
        lambda: T("uint16", rnd.getrandbits(16)), lambda: T("hrtime", rnd.getrandbits(63)),
        lambda: T("double", rnd.uniform(-1e9, 1e9)),
        lambda: rnd.randbytes(rnd.randrange(12)).replace(b"\0", b"."),
        lambda: T("byte_array", rnd.randbytes(rnd.randrange(9))),
        lambda: T("int16_array", [rnd.randint(-(2**15), 2**15 - 1) for _ in range(rnd.randrange(5))]),
        lambda: T("uint64_array", [rnd.getrandbits(64) for _ in range(rnd.randrange(4))]),
        lambda: T("boolean_array", [rnd.random() < 0.5 for _ in range(rnd.randrange(4))]),
        lambda: T("string_array", [rnd.randbytes(rnd.randrange(6)).replace(b"\0", b"-")
                                   for _ in range(rnd.randrange(4))]),
    ]
    if depth < 3:
        gens += [lambda: _random_spec(rnd, lzc, depth + 1),
                 lambda: [_random_spec(rnd, lzc, depth + 1) for _ in range(rnd.randint(1, 3))]]
    spec = {}
    for i in range(rnd.randrange(6)):
        key = rnd.choice([f"k{i}", f"tank/fs@s{i}", rnd.randbytes(rnd.randint(1, 8)).replace(b"\0", b"?")])
        spec[key] = rnd.choice(gens)()
    return spec


def test_random_nvlists_against_libnvpair():
    lzc = _lzc()
    rnd = random.Random(2113)
    for i in range(300):
        spec = _random_spec(rnd, lzc)
        for xdr in (False, True):
            buf = lzc.pack(spec, xdr)
            dups: list = []
            expected = lzc.as_dict(lzc.unpack(buf), (), dups)
            d = decode(buf, len(buf))
            want = (expected, [list(p) for p in dups], False, "xdr" if xdr else "native")
            assert (d.values, [list(p) for p in d.duplicates], d.truncated, d.encoding) == want, (i, xdr)


def test_lzc_helper_in_fake_namespace():
    lzc = _lzc()
    if os.geteuid() != 0:
        pytest.skip("needs root for the mount namespace")
    mounts = Path("/proc/self/mountinfo").read_text()

    def ops():
        with lzc.Lzc() as z:
            return lzc.all_ops(z)

    res = lzc.run_in_fake_zfs_namespace(ops)
    assert res and set(res.values()) == {25}, res  # ENOTTY: every ioctl was issued, none understood
    assert Path("/proc/self/mountinfo").read_text() == mounts
    assert not Path("/dev/zfs").exists()
