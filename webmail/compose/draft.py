"""What the user writes, as plain data: the input of message_build and draft_build.

Views fill a Draft from the compose form (addresses through addresses_parse, uploads
streamed to files first); reply.py pre-fills one from a received message; reopen.py reads
one back from the Drafts folder. Nothing here checks anything: message_build checks
every address again and makes every header value safe, whatever a Draft holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from webmail.protocols.store import Address

REPLY = "reply"
FORWARD = "forward"
_FLAGS = {REPLY: "\\Answered", FORWARD: "$Forwarded"}


@dataclass
class Identity:
    """Who sends: the From mailbox and where replies should go."""

    addr: str
    name: str = ""
    reply_to: list[Address] = field(default_factory=list)


@dataclass(frozen=True)
class Attachment:
    """A file to attach. The content stays on disk at `path` (uploads are streamed there)
    and is read in chunks while the message is built. `filename` is the name the
    recipient sees, not a path; `size` is in bytes."""

    filename: str
    content_type: str
    path: Path
    size: int


@dataclass(frozen=True)
class MessageRef:
    """One message in a folder of the user's own store, as a URL names it."""

    folder: str
    uidvalidity: int
    uid: int


@dataclass(frozen=True)
class Answers:
    """The message a draft replies to or forwards, so that sending it can flag that
    message \\Answered or $Forwarded (after checking its folder's UIDVALIDITY)."""

    folder: str
    uidvalidity: int
    uid: int
    kind: str  # REPLY or FORWARD

    @classmethod
    def of(cls, ref: MessageRef, kind: str) -> Answers:
        if kind not in _FLAGS:
            raise ValueError(f"unknown kind {kind!r}")
        return cls(ref.folder, ref.uidvalidity, ref.uid, kind)

    @property
    def flag(self) -> str:
        return _FLAGS[self.kind]


@dataclass
class Draft:
    identity: Identity
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    subject: str = ""
    text: str = ""  # the plain-text body; made from `html` when empty and html is given
    html: str | None = None  # the HTML body as the editor made it (sent as written)
    attachments: list[Attachment] = field(default_factory=list)
    in_reply_to: str | None = None  # a msg-id with its angle brackets
    references: list[str] = field(default_factory=list)  # msg-ids, oldest first
    answers: Answers | None = None

    @property
    def recipients(self) -> list[Address]:
        """To, Cc and Bcc together, in that order."""
        return [*self.to, *self.cc, *self.bcc]
