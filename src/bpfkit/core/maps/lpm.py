"""LPM_TRIE maps keyed by IP prefixes: ``trie["10.0.0.0/8"] = v``,
``trie["10.1.2.3"]`` -> the value of the longest prefix holding the address.

The key is struct bpf_lpm_trie_key: a host-order u32 prefix length, then the
address in network order (4 bytes: IPv4, 16: IPv6, other sizes: raw bytes
given as (prefixlen, data)).
"""

from __future__ import annotations

import struct

from ..codecs.types import Codec
from .base import Map

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_PREFIXLEN = struct.Struct("=I")


class LpmKeyCodec(Codec):
    """Prefix keys <-> "10.0.0.0/8" strings (or (prefixlen, bytes) for other sizes)."""

    def __init__(self, size: int) -> None:
        self.size, self.name = size, f"lpm_key[{size}]"
        self.data_len = size - 4
        self.version = {4: 4, 16: 6}.get(self.data_len)

    def encode(self, value: Any) -> bytes:
        import ipaddress  # lazy: every object's start-up would pay for it, few have LPM maps

        if isinstance(value, tuple):
            plen, data = value
            data = self._address(data) if isinstance(data, str) else bytes(data)
        elif isinstance(value, (str, ipaddress.IPv4Network, ipaddress.IPv6Network,
                                ipaddress.IPv4Address, ipaddress.IPv6Address)):
            if self.version is None:
                raise ValueError(f"an address needs a 4- or 16-byte key, this one has {self.data_len}")
            net = ipaddress.ip_network(value, strict=False)  # a bare address: a full-length prefix
            if net.version != self.version:
                raise ValueError(f"{value} is not an IPv{self.version} prefix")
            plen, data = net.prefixlen, net.network_address.packed
        else:
            raise TypeError(f"an LPM key is 'ADDR/LEN', an address or (prefixlen, data), not {value!r}")
        if len(data) != self.data_len or not 0 <= plen <= 8 * self.data_len:
            raise ValueError(f"prefix {plen} over {len(data)} bytes does not fit a {self.size}-byte key")
        return _PREFIXLEN.pack(plen) + data

    def _address(self, text: str) -> bytes:
        import ipaddress  # lazy: see encode()

        return ipaddress.ip_address(text).packed

    def decoder(self) -> Callable[..., Any]:
        import ipaddress  # lazy: see encode()

        n, version = self.data_len, self.version

        def dec(buf: Any, off: int = 0) -> Any:
            plen = _PREFIXLEN.unpack_from(buf, off)[0]
            data = bytes(buf[off + 4: off + 4 + n])
            if version is None:
                return plen, data
            return f"{ipaddress.ip_address(data)}/{plen}"

        return dec


class LpmTrieMap(Map):
    """Longest-prefix-match map. Keys: "ADDR/LEN" strings (an address alone is
    a full-length prefix, which is how a lookup asks for the longest match)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.key_codec = LpmKeyCodec(self.key_size)
