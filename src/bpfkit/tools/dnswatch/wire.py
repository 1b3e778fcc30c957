"""DNS messages from the wire: header, question and answers, fast.

The hot path (every captured message) parses the 12-byte header and the
question here, and the answers of the common record types (A, AAAA, CNAME,
DNAME, NS, PTR, MX, TXT, SRV, SOA): about 10 us per message where dnspython's
``dns.message.from_wire`` takes about 75 us on the project's VM. The text of
every other record type comes from dnspython (``dns.rdata.from_wire``,
imported lazily: 55-75 ms), or RFC 3597's generic ``\\# LEN HEX`` when
dnspython is not installed. Every text is the one dnspython prints (the
unit tests compare them on a corpus).

Names are in the master-file (presentation) form dnspython prints, which is
unambiguous for any bytes: ``.`` separates labels, a dot inside a label is
``\\.``, the characters ``"().;\\@$`` are backslash-escaped and every byte
outside 0x21-0x7e is ``\\DDD`` (decimal): a newline in a label is ``\\010``,
ESC is ``\\027``, a non-UTF-8 byte ``\\195``. So a crafted name can neither
forge an output line nor pass for another name.

A capture cut short (the message was longer than the bytes captured) still
gives its header and question; answers are parsed up to the cut.
"""

from __future__ import annotations

from _socket import AF_INET6, inet_ntop

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

HEADER = 12

# Record types by number: the common ones, as dnspython names them.
QTYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 13: "HINFO", 15: "MX", 16: "TXT", 17: "RP",
    18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR", 36: "KX",
    37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG",
    47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA",
    55: "HIP", 59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB",
    65: "HTTPS", 99: "SPF", 108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR",
    252: "AXFR", 255: "ANY", 256: "URI", 257: "CAA", 32768: "TA", 32769: "DLV",
}
QTYPE_NUMBERS = {v: k for k, v in QTYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE"}
CLASSES = {1: "IN", 3: "CH", 4: "HS", 254: "NONE", 255: "ANY"}
QR, TC = 0x8000, 0x0200


def type_name(t: int) -> str:
    return QTYPES.get(t) or f"TYPE{t}"


def rcode_name(r: int) -> str:
    return RCODES.get(r) or str(r)


def class_name(c: int) -> str:
    return CLASSES.get(c) or f"CLASS{c}"


def parse_type(text: str) -> int:
    """'AAAA', 'aaaa', 'TYPE65' or '65' -> the number; ValueError for anything else."""
    t = text.strip().upper()
    if t in QTYPE_NUMBERS:
        return QTYPE_NUMBERS[t]
    if t.startswith("TYPE"):
        t = t[4:]
    if t.isascii() and t.isdigit() and 0 <= int(t) < 65536:
        return int(t)
    raise ValueError(text)


# -- names ---------------------------------------------------------------------------------------

def _label_table() -> list[str]:
    out = []
    for c in range(256):
        if c in b'"().;\\@$':
            out.append("\\" + chr(c))
        elif 0x20 < c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return out


_LABEL = _label_table()
_PLAIN = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')


def label_text(label: bytes) -> str:
    if not label.translate(None, _PLAIN):  # nothing to escape (one C-level pass)
        return label.decode("ascii")
    return "".join([_LABEL[c] for c in label])


def name_text(labels: tuple[bytes, ...] | list[bytes], final_dot: bool = True) -> str:
    """Presentation form of a name (labels without the root), as dnspython prints it."""
    if not labels:
        return "."
    text = ".".join([label_text(x) for x in labels])
    return text + "." if final_dot else text


class BadMessage(Exception):
    """Not a DNS message (or cut before its question)."""


def read_name(msg: bytes, off: int) -> tuple[list[bytes], int]:
    """Labels of the name at ``off`` (compression followed, only backwards, as
    dnspython requires) and the offset after it where it started."""
    labels: list[bytes] = []
    end = -1
    total = 1
    n = len(msg)
    while True:
        if off >= n:
            raise BadMessage("name runs past the end")
        c = msg[off]
        if c == 0:
            off += 1
            break
        if c >= 0xC0:
            if off + 1 >= n:
                raise BadMessage("name runs past the end")
            ptr = ((c & 0x3F) << 8) | msg[off + 1]
            if end < 0:
                end = off + 2
            if ptr >= off:  # forward or self pointer: a loop
                raise BadMessage("bad compression pointer")
            off = ptr
            continue
        if c > 63:
            raise BadMessage("bad label type")
        if off + 1 + c > n:
            raise BadMessage("name runs past the end")
        total += c + 1
        if total > 255:
            raise BadMessage("name longer than 255 bytes")
        labels.append(msg[off + 1: off + 1 + c])
        off += 1 + c
    return labels, (end if end >= 0 else off)


# -- header and question --------------------------------------------------------------------------

NAME_CACHE = 4096
_NAMES: dict[bytes, tuple[list[bytes], tuple[bytes, ...], str]] = {}


class Header:
    """The header and first question of a message."""

    __slots__ = ("ancount", "flags", "id", "labels", "offset", "qclass", "qdcount", "qkey", "qname",
                 "qtype", "rcode")

    def __init__(self, msg: bytes) -> None:
        if len(msg) < HEADER:
            raise BadMessage("shorter than a header")
        self.id = (msg[0] << 8) | msg[1]
        self.flags = (msg[2] << 8) | msg[3]
        self.rcode = self.flags & 0xF
        self.qdcount = (msg[4] << 8) | msg[5]
        self.ancount = (msg[6] << 8) | msg[7]
        if self.qdcount < 1:
            raise BadMessage("no question")
        # The question's name is never compressed (nothing comes before it to
        # point to): its bytes are a cache key, and hot names are parsed once.
        end = msg.find(b"\0", HEADER) + 1  # a candidate end; checked by read_name on a miss
        hit = _NAMES.get(msg[HEADER:end]) if end > HEADER else None
        if hit is None:
            labels, off = read_name(msg, HEADER)
            hit = (labels, tuple(x.lower() for x in labels), name_text(labels, final_dot=False))
            if off == end:
                if len(_NAMES) >= NAME_CACHE:
                    _NAMES.clear()
                _NAMES[msg[HEADER:end]] = hit
        else:
            off = end
        if off + 4 > len(msg):
            raise BadMessage("question cut short")
        # labels as sent; qkey compares case-insensitively; qname: presentation form
        self.labels, self.qkey, self.qname = hit
        self.qtype = (msg[off] << 8) | msg[off + 1]
        self.qclass = (msg[off + 2] << 8) | msg[off + 3]
        off += 4
        # further questions (qdcount > 1: nobody sends them) are skipped
        for _ in range(self.qdcount - 1):
            _, off = read_name(msg, off)
            off += 4
        self.offset = off

    @property
    def response(self) -> bool:
        return bool(self.flags & QR)

    @property
    def tc(self) -> bool:
        return bool(self.flags & TC)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


# -- answers -----------------------------------------------------------------------------------------

def _char_string(b: bytes) -> str:
    out = []
    for c in b:
        if c in (0x22, 0x5C):
            out.append("\\" + chr(c))
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append(f"\\{c:03d}")
    return '"' + "".join(out) + '"'


def _u16(b: bytes, o: int) -> int:
    return (b[o] << 8) | b[o + 1]


def _u32(b: bytes, o: int) -> int:
    return int.from_bytes(b[o: o + 4], "big")


def _ipv6(raw: bytes) -> str:
    return inet_ntop(AF_INET6, raw)


def rdata_text(msg: bytes, rtype: int, rclass: int, off: int, rdlen: int) -> str:
    """The text of one record's data, as dnspython prints it."""
    end = off + rdlen
    if rtype == 1 and rdlen == 4:
        return f"{msg[off]}.{msg[off + 1]}.{msg[off + 2]}.{msg[off + 3]}"
    if rtype == 28 and rdlen == 16:
        return _ipv6(msg[off:end])
    if rtype in (2, 5, 12, 39):  # NS, CNAME, PTR, DNAME
        labels, after = read_name(msg, off)
        if after == end:
            return name_text(labels)
    elif rtype == 15 and rdlen >= 3:  # MX
        labels, after = read_name(msg, off + 2)
        if after == end:
            return f"{_u16(msg, off)} {name_text(labels)}"
    elif rtype == 33 and rdlen >= 7:  # SRV
        labels, after = read_name(msg, off + 6)
        if after == end:
            return f"{_u16(msg, off)} {_u16(msg, off + 2)} {_u16(msg, off + 4)} {name_text(labels)}"
    elif rtype in (16, 99) and rdlen >= 1:  # TXT, SPF
        strings, o = [], off
        while o < end:
            n = msg[o]
            if o + 1 + n > end:
                break
            strings.append(_char_string(msg[o + 1: o + 1 + n]))
            o += 1 + n
        if o == end:
            return " ".join(strings)
    elif rtype == 6:  # SOA
        mname, o = read_name(msg, off)
        rname, o = read_name(msg, o)
        if o + 20 == end:
            nums = " ".join(str(_u32(msg, o + 4 * i)) for i in range(5))
            return f"{name_text(mname)} {name_text(rname)} {nums}"
    return _other_rdata(msg, rtype, rclass, off, rdlen)


_dnspython: Any = None  # the dns.rdata module once imported; False when not installed


def _other_rdata(msg: bytes, rtype: int, rclass: int, off: int, rdlen: int) -> str:
    global _dnspython
    if _dnspython is None:
        try:
            import dns.rdata  # lazy: 55-75 ms, only for record types parsed nowhere else

            _dnspython = dns.rdata
        except ImportError:
            _dnspython = False
    if _dnspython:
        try:
            return _dnspython.from_wire(rclass, rtype, msg, off, rdlen).to_text()
        except Exception:  # dnspython raises many kinds for bad rdata
            pass
    return f"\\# {rdlen} {msg[off: off + rdlen].hex()}" if rdlen else "\\# 0"


class Answer:
    __slots__ = ("data", "name", "rclass", "rtype", "ttl")

    def __init__(self, name: str, rtype: int, rclass: int, ttl: int, data: str) -> None:
        self.name, self.rtype, self.rclass, self.ttl, self.data = name, rtype, rclass, ttl, data

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": type_name(self.rtype), "ttl": self.ttl, "data": self.data}


def answers(msg: bytes, h: Header) -> tuple[list[Answer], bool]:
    """The answer section: (records, complete). Not complete when the bytes
    end (a cut capture) or go wrong before ancount records were read."""
    out: list[Answer] = []
    off, n = h.offset, len(msg)
    try:
        qname = None
        for _ in range(h.ancount):
            if off + 1 < n and msg[off] == 0xC0 and msg[off + 1] == HEADER:  # the question's name
                name = qname = qname or (h.qname + "." if h.qname != "." else ".")
                off += 2
            else:
                labels, off = read_name(msg, off)
                name = name_text(labels)
            if off + 10 > n:
                return out, False
            rtype, rclass = _u16(msg, off), _u16(msg, off + 2)
            ttl, rdlen = _u32(msg, off + 4), _u16(msg, off + 8)
            off += 10
            if off + rdlen > n:
                return out, False
            if rtype != 41:  # OPT belongs in the additional section; never data
                out.append(Answer(name, rtype, rclass, ttl, rdata_text(msg, rtype, rclass, off, rdlen)))
            off += rdlen
    except BadMessage:
        return out, False
    return out, True


__all__ = ["HEADER", "QTYPES", "RCODES", "Answer", "BadMessage", "Header", "answers", "class_name",
           "label_text", "name_text", "parse_type", "rcode_name", "rdata_text", "read_name", "type_name"]
