"""Values that go into header fields of outgoing mail, made so they can never end a line.

Every header value we write passes through `header_line`: whatever the user typed, or a
received message carried into a reply, it comes out as one line of text. CPython's own
guards are not enough on their own: `EmailMessage` refuses only CR and LF, while its
folder splits values with `str.splitlines()`, which also breaks at VT, FF, FS, GS, RS,
NEL and U+2028/U+2029, and older patch levels did not quote line breaks when they
serialised (CVE-2024-6923, CVE-2026-1299; design/security.md 3.7 and 3.9).
"""

from __future__ import annotations

import re
import unicodedata
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

MAX_MESSAGE_ID = 250  # characters of one msg-id with its brackets; real ones are < 100
MAX_HEADER_BLOCK = 1024 * 1024  # bytes read when looking for a header in a raw message

_LINE_BREAKING = frozenset(("Cc", "Zl", "Zp"))  # controls and the Unicode line separators
_SURROGATES = re.compile("[\ud800-\udfff]")
_SPACES = re.compile(r"[ \t]{2,}")
# A msg-id as found in the wild: printable ASCII without brackets and spaces. RFC 5322
# asks for an "@" as well, but mailers that leave it out still deserve a threaded reply.
_MESSAGE_ID = re.compile(rf"<([!-;=?-~]{{1,{MAX_MESSAGE_ID - 2}}})>")


def header_line(text: str | None) -> str:
    """`text` as one line: every control character (CR, LF, NUL, tab, ...) and every
    Unicode line or paragraph separator becomes a space, runs of spaces shrink to one,
    lone surrogates become U+FFFD, and the ends are stripped."""
    if not text:
        return ""
    text = _SURROGATES.sub("\ufffd", str(text))
    text = "".join(" " if unicodedata.category(c) in _LINE_BREAKING else c for c in text)
    return _SPACES.sub(" ", text).strip()


def has_line_breaking(text: str) -> bool:
    """Whether `text` holds anything `header_line` would replace (used to refuse, rather
    than repair, addresses)."""
    return any(unicodedata.category(c) in _LINE_BREAKING for c in text)


def message_ids_parse(text: str | None) -> list[str]:
    """The msg-ids in a Message-ID, In-Reply-To or References value, each with its angle
    brackets, in order and without repeats. Anything else in the value is dropped, so a
    received header can never carry other text into our headers."""
    seen: set[str] = set()
    ids = []
    for match in _MESSAGE_ID.finditer(text or ""):
        message_id = match.group(0)
        if message_id not in seen:
            seen.add(message_id)
            ids.append(message_id)
    return ids


def message_id_valid(message_id: str) -> bool:
    return bool(_MESSAGE_ID.fullmatch(message_id or ""))


def raw_headers(raw: bytes) -> Message:
    """The top header block of a raw message, read without parsing any value (compat32
    only splits the lines, so no structured-header parser runs on hostile input)."""
    return BytesHeaderParser(policy=compat32).parsebytes(raw[:MAX_HEADER_BLOCK])


def raw_header_values(headers: Message, name: str) -> list[str]:
    """Every value of header `name` as text; 8-bit bytes come back as surrogate escapes,
    which the callers either drop (msg-ids are ASCII) or decode (webmail.mime.headers)."""
    name = name.lower()
    return [v for n, v in headers.raw_items() if n.lower() == name and isinstance(v, str)]
