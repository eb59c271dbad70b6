"""What the reading page needs of one message, as plain data (no HTML is made here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from webmail.protocols.store import Address


def gettext_noop(text: str) -> str:
    """Marks `text` for makemessages (which knows this name) without importing Django."""
    return text


class Problem(str):
    """A note on what was broken in a message. Compares and prints as its English text;
    `template` and `params` let a page show it in the reader's language."""

    template: str
    params: dict

    def __new__(cls, template: str, **params: object) -> Problem:
        problem = super().__new__(cls, template.format(**params) if params else template)
        problem.template = template
        problem.params = params
        return problem

    def __reduce__(self):  # parsed messages are cached, so notes must pickle
        return (_problem, (self.template, self.params))


def _problem(template: str, params: dict) -> Problem:
    return Problem(template, **params)


@dataclass(frozen=True)
class PartInfo:
    """One part a reader can download or open. `part_id` is the IMAP-style section number
    ("2", "2.1", ...) counted from the message (or nested message) being shown."""

    part_id: str
    filename: str  # decoded and made safe for display and download; never empty
    content_type: str  # lower-case "type/subtype"
    size: int  # decoded bytes
    content_id: str | None  # without angle brackets
    inline: bool  # shown inside the body (cid image) rather than listed only
    is_message: bool  # message/rfc822: can be opened as a message of its own


@dataclass
class ParsedMessage:
    subject: str
    from_: list[Address]
    to: list[Address]
    cc: list[Address]
    reply_to: list[Address]
    date: datetime | None
    message_id: str
    text_body: str | None  # decoded text/plain, if the message has one to show
    html_body: str | None  # decoded text/html, NOT sanitized: pass it through webmail.sanitize
    attachments: list[PartInfo] = field(default_factory=list)  # every part a reader may download
    problems: list[str] = field(default_factory=list)  # Problems: notes on what was broken
    too_large: bool = False  # not parsed for display; only headers and the original are offered
    truncated: bool = False  # only the message's beginning was read: its text as far as it goes

    @property
    def inline_images(self) -> dict[str, str]:
        """content-id -> part id, for rewriting cid: URLs."""
        return {p.content_id: p.part_id for p in self.attachments if p.content_id}


@dataclass(frozen=True)
class PartContent:
    part_id: str
    filename: str
    content_type: str
    data: bytes  # decoded (base64/quoted-printable undone)
