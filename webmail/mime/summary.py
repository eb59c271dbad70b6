"""An index entry from a message's raw bytes: the same fields IMAP sync reads from FETCH
(webmail.protocols.imap), for mail the server keeps itself (the local store POP3 fills).

The caller gives the message's beginning (at most what it is willing to parse) and says
whether that is the whole message. Never raises: what cannot be read is left empty, as
message_parse leaves it.
"""

from __future__ import annotations

import re
from datetime import datetime

from webmail.mime.parse import message_headers, message_parse
from webmail.mime.text import text_excerpt
from webmail.protocols.store import IndexEntry, MessageSummary

_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
MAX_REFERENCES = 50  # the last ones, as IMAP sync keeps them: threads need the nearest
_MULTIPART_MIXED = re.compile(r"^\s*multipart/mixed\b", re.IGNORECASE)


def _message_ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def index_entry_from_raw(
    raw: bytes,
    *,
    uid: int,
    size: int,
    received: datetime | None,
    complete: bool,
    text_limit: int,
    flags: frozenset[str] = frozenset(),
) -> IndexEntry:
    """The entry for a message of `size` bytes whose first bytes are `raw` (all of them
    when `complete`), received (stored here) at `received`, which is also its date when
    it has no Date header."""
    parsed = message_parse(raw, truncated=not complete)
    fields: dict[str, str] = {}
    for name, value in message_headers(raw):
        fields.setdefault(name.lower(), value)
    if complete:
        has_attachments = any(not part.inline for part in parsed.attachments)
    else:
        # Only the beginning was read, so its parts cannot be listed; a message too large
        # to read whole with a multipart/mixed body has attachments in all but name.
        has_attachments = bool(_MULTIPART_MIXED.match(fields.get("content-type", "")))
    body, is_html = parsed.text_body, False
    if not body and parsed.html_body:
        body, is_html = parsed.html_body, True
    text = ""
    if body:
        text = text_excerpt(
            body[: text_limit * 8].encode("utf-8", "replace"),
            transfer_encoding=None,
            charset="utf-8",
            html_text=is_html,
            limit=text_limit,
        )
    message_id = _message_ids(parsed.message_id)
    in_reply_to = _message_ids(fields.get("in-reply-to"))
    return IndexEntry(
        summary=MessageSummary(
            uid=uid,
            subject=parsed.subject,
            sender=parsed.from_[0] if parsed.from_ else None,
            recipients=tuple(parsed.to),
            date=parsed.date or received,
            internal_date=received,
            size=size,
            flags=flags,
            has_attachments=has_attachments,
        ),
        message_id=message_id[0] if message_id else "",
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=tuple(_message_ids(fields.get("references"))[-MAX_REFERENCES:]),
        cc=tuple(parsed.cc),
        text=text,
    )
