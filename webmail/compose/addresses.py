"""Address fields as people type them, turned into checked mailboxes.

`addresses_parse("Anna Müller <anna@example.org>, bob@example.net; \\"Meyer, Bob\\" <b@x.de>")`
gives three `Address`es, or raises `InvalidAddresses` naming every entry it could not
read. We split the field ourselves rather than with `email.utils.getaddresses`: on this
Python it has no `strict` mode and silently turns some malformed input into other
addresses (CVE-2023-27043, design/security.md 3.9).

What counts as an address, decided here once:

1. Entries are separated by "," or ";" outside quotes, angle brackets and comments; empty
   entries (a trailing comma) are ignored, and an address typed twice is kept once.
2. An entry is `addr`, `Name <addr>`, `"Name, with comma" <addr>` or `addr (Name)`.
3. The addr-spec is a dot-atom local part, "@", and a host name with at least one dot.
   Quoted local parts and domain literals ([192.0.2.1]) are refused: nobody types them,
   and they are where parsers disagree.
4. The local part must be ASCII: anything else needs SMTPUTF8, which we do not use.
   The domain may be Unicode (IDN); it is kept as typed and `address_ascii` gives the
   punycode form that goes into headers and the SMTP envelope.
5. Control characters (CR, LF, NUL, ...) or Unicode line separators anywhere in an entry
   make it invalid: an address is never repaired, since a repaired address is a
   different one.
"""

from __future__ import annotations

import re
import unicodedata

from webmail.protocols.store import Address

from .header_values import has_line_breaking, header_line

MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3: a path holds at most 256 octets with its brackets
MAX_LOCAL_PART = 64
MAX_DOMAIN = 253
MAX_LABEL = 63
MAX_NAME = 256

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL_PART = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_ASCII_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# The dots IDNA treats as label separators (RFC 3490 3.1): ideographic, full-width and
# half-width full stops.
_IDN_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_COMMENT_NAME = re.compile(r"(?s)(\S+)\s*\((.*)\)")


class InvalidAddresses(ValueError):
    """Some entries of an address field are not addresses. `entries` lists them as the
    user typed them (stripped of surrounding spaces), for a form error."""

    def __init__(self, entries: list[str]):
        super().__init__("not valid addresses: " + ", ".join(repr(e) for e in entries))
        self.entries = entries


def addresses_parse(text: str, *, skip_invalid: bool = False) -> list[Address]:
    """The mailboxes of a typed To, Cc or Bcc field; [] for an empty field. Raises
    InvalidAddresses listing every entry that is not a valid address, or, with
    `skip_invalid` (for autosaving a field still being typed), leaves those out."""
    addresses: list[Address] = []
    invalid: list[str] = []
    seen: set[str] = set()
    for entry in _entries_split(text or ""):
        address = _entry_parse(entry)
        if address is None:
            invalid.append(entry)
            continue
        key = address_key(address.addr)
        if key not in seen:
            seen.add(key)
            addresses.append(address)
    if invalid and not skip_invalid:
        raise InvalidAddresses(invalid)
    return addresses


def address_valid(addr: str) -> bool:
    """Whether `addr` is an addr-spec we send to (see the module's rules 3 to 5)."""
    try:
        address_ascii(addr)
    except ValueError:
        return False
    return True


def address_ascii(addr: str) -> str:
    """`addr` as it goes into headers and the envelope: the local part as typed, the
    domain lower-cased and IDNA-encoded. Raises ValueError for an invalid address."""
    if not isinstance(addr, str) or has_line_breaking(addr) or len(addr) > MAX_ADDRESS * 4:
        raise ValueError("not an address")
    local, at, domain = addr.rpartition("@")
    if not at or len(local) > MAX_LOCAL_PART or not _LOCAL_PART.fullmatch(local):
        raise ValueError("not an address")
    result = f"{local}@{domain_ascii(domain)}"
    if len(result) > MAX_ADDRESS:
        raise ValueError("address too long")
    return result


def domain_ascii(domain: str) -> str:
    """A host name in its ASCII (punycode) form, lower-cased. Raises ValueError.

    Unicode labels are NFC-normalised, lower-cased and punycoded ("xn--"), as IDNA 2008
    and browsers (UTS 46, non-transitional) do, so "straße.de" stays "xn--strae-oqa.de"
    rather than becoming "strasse.de" as Python's built-in IDNA 2003 codec would have it.
    A label must consist of letters, digits, marks and hyphens.
    """
    domain = unicodedata.normalize("NFC", domain).translate(_IDN_DOTS).lower()
    labels = domain.split(".")
    if len(labels) < 2:
        raise ValueError("a domain needs a dot")
    encoded = [_label_ascii(label) for label in labels]
    if encoded[-1].isdigit():
        raise ValueError("a numeric top-level domain")
    result = ".".join(encoded)
    if len(result) > MAX_DOMAIN:
        raise ValueError("domain too long")
    return result


def address_key(addr: str) -> str:
    """What two spellings of one address have in common, for finding duplicates and
    the user's own addresses: the ASCII form, compared without case."""
    try:
        return address_ascii(addr).lower()
    except ValueError:
        return (addr or "").strip().lower()


def name_clean(name: str | None) -> str:
    """A display name made safe for a header: one line, at most MAX_NAME characters."""
    return header_line(name)[:MAX_NAME].strip()


def _label_ascii(label: str) -> str:
    if label.isascii():
        if not _ASCII_LABEL.fullmatch(label):
            raise ValueError("not a host name label")
        return label
    if label.startswith("-") or label.endswith("-") or label[2:4] == "--":
        raise ValueError("not a host name label")
    for char in label:
        if char != "-" and unicodedata.category(char)[0] not in "LMN":
            raise ValueError("not a host name label")
    encoded = "xn--" + label.encode("punycode").decode("ascii")
    if len(encoded) > MAX_LABEL:
        raise ValueError("label too long")
    return encoded


def _entries_split(text: str) -> list[str]:
    """`text` cut at "," and ";" outside quotes, angle brackets and comments."""
    entries: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    angle = comment = 0
    for char in text:
        current.append(char)
        if escaped:
            escaped = False
        elif char == "\\" and (quoted or comment):
            escaped = True
        elif quoted:
            quoted = char != '"'
        elif char == '"':
            quoted = True
        elif char == "(":
            comment += 1
        elif char == ")" and comment:
            comment -= 1
        elif comment:
            pass
        elif char == "<":
            angle += 1
        elif char == ">" and angle:
            angle -= 1
        elif char in ",;" and not angle:
            current.pop()
            entries.append("".join(current))
            current = []
    entries.append("".join(current))
    return [entry.strip() for entry in entries if entry.strip()]


def _entry_parse(entry: str) -> Address | None:
    if has_line_breaking(entry):
        return None
    if entry.endswith(">"):
        start = _last_unquoted(entry, "<")
        if start < 0:
            return None
        addr = entry[start + 1 : -1].strip()
        name = _name_unquote(entry[:start].strip())
    else:
        comment = _COMMENT_NAME.fullmatch(entry)
        if comment:
            addr, name = comment.group(1), comment.group(2).strip()
        else:
            addr, name = entry, ""
    if name is None or not address_valid(addr):
        return None
    return Address(name=name_clean(name), addr=addr)


def _last_unquoted(text: str, wanted: str) -> int:
    position = -1
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == wanted and not quoted:
            position = index
    return position


def _name_unquote(name: str) -> str | None:
    """The display name without its quotes, or None when it cannot be read (a stray
    quote or bracket)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        inner = name[1:-1]
        out = []
        escaped = False
        for char in inner:
            if escaped:
                out.append(char)
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                return None
            else:
                out.append(char)
        return None if escaped else "".join(out)
    if any(char in name for char in '"<>'):
        return None
    return name
