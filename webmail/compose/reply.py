"""Replies and forwards, pre-filled from the raw bytes of the original.

The functions take the original's raw bytes (RawMessage.data) rather than a
ParsedMessage, because threading needs the References field, which ParsedMessage does
not carry; they parse with webmail.mime themselves. Everything taken from the original
is checked again before it goes into the Draft (Roundcube #8404: a received subject
injected headers into replies): addresses must pass address_valid, names and subjects
are one line, msg-ids must look like msg-ids.

Subjects: every leading reply or forward prefix is stripped, then exactly one "Re: " or
"Fwd: " is added. Prefixes are Re, Aw (German), Antw (Dutch), Fwd, Fw, Wg (German), Sv
(Scandinavian) in any case, with an optional counter ("Re[2]:", "Re(3):"). So "AW: Re:
Sommerfest" answers as "Re: Sommerfest" and forwards as "Fwd: Sommerfest". Thunderbird
and Outlook strip only reply prefixes and keep "Re: Fwd: x"; a subject that collects
prefixes from two languages helps nobody, so we strip them all.

Recipients: a reply goes to Reply-To if the original has one, else to From. A reply to
a message the user sent (From is one of their addresses) goes to its To instead, as in
Thunderbird. Reply-all adds the original To to To and keeps the original Cc in Cc, as
Outlook and Gmail do, drops the user's own addresses (`own_addresses`, compared without
case, plus the identity's address) and lists each address once.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import tzinfo
from pathlib import Path

from webmail.mime.model import ParsedMessage
from webmail.mime.parse import message_parse
from webmail.protocols.store import Address

from .addresses import address_key, address_valid, name_clean
from .build import references_capped
from .draft import FORWARD, REPLY, Answers, Attachment, Draft, Identity, MessageRef
from .files import attachments_extract, file_new
from .header_values import header_line, message_ids_parse, raw_header_values, raw_headers
from .quote import (
    attribution,
    forward_banner,
    forward_header_lines,
    original_html,
    original_text,
    signature_html,
    signature_text,
    text_quote,
)

_PREFIXES = re.compile(
    r"^(?:\s*(?:re|aw|antw|fwd?|wg|sv)\s*(?:\[\d{1,4}\]|\(\d{1,4}\))?\s*:)+\s*", re.IGNORECASE
)


def subject_base(subject: str) -> str:
    """The subject without its leading reply and forward prefixes, on one line."""
    return _PREFIXES.sub("", header_line(subject))


def subject_reply(subject: str) -> str:
    return f"Re: {subject_base(subject)}".rstrip()


def subject_forward(subject: str) -> str:
    return f"Fwd: {subject_base(subject)}".rstrip()


def draft_reply(
    raw: bytes,
    *,
    identity: Identity,
    own_addresses: Iterable[str] = (),
    signature: str = "",
    source: MessageRef | None = None,
    time_zone: tzinfo | None = None,
) -> Draft:
    """A reply to the sender (Reply-To, else From) with the original quoted below the
    signature. `source` names the original in its folder, so sending can flag it
    \\Answered; `time_zone` is the reader's, for the date in the attribution line."""
    original = message_parse(raw)
    own = _own_keys(identity, own_addresses)
    to = _usable(original.reply_to or original.from_)
    if to and all(address_key(a.addr) in own for a in to):
        to = _usable(original.to)
    return _reply(raw, original, identity, to, [], signature, source, time_zone)


def draft_reply_all(
    raw: bytes,
    *,
    identity: Identity,
    own_addresses: Iterable[str] = (),
    signature: str = "",
    source: MessageRef | None = None,
    time_zone: tzinfo | None = None,
) -> Draft:
    """A reply to the sender and to everyone in the original's To and Cc, without the
    user's own addresses and without repeats."""
    original = message_parse(raw)
    own = _own_keys(identity, own_addresses)
    sender = _usable(original.reply_to or original.from_)
    if sender and all(address_key(a.addr) in own for a in sender):
        sender = []
    seen = set(own)
    to = _unique([*sender, *_usable(original.to)], seen)
    cc = _unique(_usable(original.cc), seen)
    if not to and cc:
        to = [cc.pop(0)]
    return _reply(raw, original, identity, to, cc, signature, source, time_zone)


def draft_forward(
    raw: bytes,
    *,
    identity: Identity,
    signature: str = "",
    source: MessageRef | None = None,
    time_zone: tzinfo | None = None,
    attachment_dir: Path | None = None,
) -> Draft:
    """A forward with the original inline: a "Forwarded message" block with Subject,
    Date, From, To and Cc, then the original text. With `attachment_dir`, the original's
    attachments are written there and attached too."""
    original = message_parse(raw)
    rows = forward_header_lines(original, time_zone=time_zone)
    header_block = "\n".join([forward_banner(), *(f"{label}: {value}" for label, value in rows)])
    text = _above_quote(signature) + header_block + "\n\n" + original_text(original).strip("\n")
    quoted_html = original_html(original)
    body_html = None
    if quoted_html is not None:
        table = "".join(
            f"<tr><th>{html.escape(label)}:</th><td>{html.escape(value)}</td></tr>"
            for label, value in rows
        )
        body_html = (
            f"<p><br></p>{signature_html(signature)}"
            f"<p>{html.escape(forward_banner())}</p><table>{table}</table><br>{quoted_html}"
        )
    attachments = []
    if attachment_dir is not None:
        attachments = attachments_extract(raw, original.attachments, attachment_dir)
    return Draft(
        identity=identity,
        subject=subject_forward(original.subject),
        text=text,
        html=body_html,
        attachments=attachments,
        answers=Answers.of(source, FORWARD) if source else None,
    )


def draft_forward_attached(
    raw: bytes,
    *,
    identity: Identity,
    attachment_dir: Path,
    signature: str = "",
    source: MessageRef | None = None,
) -> Draft:
    """A forward with the original attached as it is (message/rfc822), its bytes
    written to a file in `attachment_dir`."""
    original = message_parse(raw)
    path = file_new(attachment_dir)
    path.write_bytes(raw)
    name = header_line(subject_base(original.subject))[:100] or "message"
    attachment = Attachment(
        filename=f"{name}.eml", content_type="message/rfc822", path=path, size=len(raw)
    )
    text = _above_quote(signature).rstrip("\n") + "\n" if signature else ""
    return Draft(
        identity=identity,
        subject=subject_forward(original.subject),
        text=text,
        attachments=[attachment],
        answers=Answers.of(source, FORWARD) if source else None,
    )


def reply_threading(raw: bytes, original: ParsedMessage) -> tuple[str | None, list[str]]:
    """In-Reply-To and References for a reply (RFC 5322 3.6.4): the original's
    Message-ID, and its References (else its In-Reply-To, if that is a single msg-id)
    followed by its Message-ID, capped to the first and the newest ones."""
    headers = raw_headers(raw)
    ids = message_ids_parse(original.message_id)
    parent = ids[0] if ids else None
    references = message_ids_parse(" ".join(raw_header_values(headers, "references")))
    if not references:
        in_reply_to = message_ids_parse(" ".join(raw_header_values(headers, "in-reply-to")))
        references = in_reply_to if len(in_reply_to) == 1 else []
    if parent:
        references = [r for r in references if r != parent] + [parent]
    return parent, references_capped(references)


def _reply(
    raw: bytes,
    original: ParsedMessage,
    identity: Identity,
    to: list[Address],
    cc: list[Address],
    signature: str,
    source: MessageRef | None,
    time_zone: tzinfo | None,
) -> Draft:
    in_reply_to, references = reply_threading(raw, original)
    said = attribution(original, time_zone=time_zone)
    text = _above_quote(signature) + said + "\n" + text_quote(original_text(original))
    quoted_html = original_html(original)
    body_html = None
    if quoted_html is not None:
        body_html = (
            f"<p><br></p>{signature_html(signature)}<p>{html.escape(said)}</p>"
            f'<blockquote type="cite">{quoted_html}</blockquote>'
        )
    return Draft(
        identity=identity,
        to=to,
        cc=cc,
        subject=subject_reply(original.subject),
        text=text,
        html=body_html,
        in_reply_to=in_reply_to,
        references=references,
        answers=Answers.of(source, REPLY) if source else None,
    )


def _above_quote(signature: str) -> str:
    """Room to write in, then the signature, then the quote: the signature belongs to
    the new text, so it stands above what is quoted."""
    block = signature_text(signature)
    return f"\n\n{block}\n\n" if block else "\n\n"


def _own_keys(identity: Identity, own_addresses: Iterable[str]) -> set[str]:
    return {address_key(a) for a in [identity.addr, *own_addresses] if a}


def _usable(addresses: list[Address]) -> list[Address]:
    """Received addresses that may go into a Draft: valid ones, names on one line."""
    return [Address(name_clean(a.name), a.addr) for a in addresses if address_valid(a.addr)]


def _unique(addresses: list[Address], seen: set[str]) -> list[Address]:
    result = []
    for address in addresses:
        key = address_key(address.addr)
        if key not in seen:
            seen.add(key)
            result.append(address)
    return result
