"""A saved draft read back into a Draft, to edit it further.

The bytes come from the Drafts folder, which anything with the user's password can
write to, so they are read like any received message (webmail.mime) and checked again
(CVE-2026-48849 was a subject injected through draft restore): addresses that are not
valid are dropped, names and the subject are one line, msg-ids must look like msg-ids,
and the X-Postfach-Draft-Info field is read strictly. The HTML body is NOT sanitized,
exactly as ParsedMessage.html_body is not: whatever shows it must sanitize it.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from webmail.mime.headers import address_list
from webmail.mime.parse import message_parse
from webmail.protocols.store import Address

from .addresses import address_key, address_valid, name_clean
from .build import DRAFT_INFO
from .draft import FORWARD, REPLY, Answers, Draft, Identity
from .files import attachments_extract
from .header_values import (
    has_line_breaking,
    header_line,
    message_ids_parse,
    raw_header_values,
    raw_headers,
)

_INFO_FIELD = re.compile(r"([a-z]+)=([A-Za-z0-9_=-]{0,600})")
_MAX_UID = 2**32 - 1


def draft_from_message(raw: bytes, *, attachment_dir: Path) -> Draft:
    """The Draft a saved message was built from, as far as the message tells: sender,
    recipients (Bcc included, since draft_build keeps it), subject, bodies, threading,
    what it answers, and its attachments, written to new files in `attachment_dir`.

    A plain-text body that draft_build made from the HTML comes back empty, so that it is
    made again from the HTML as edited."""
    parsed = message_parse(raw)
    headers = raw_headers(raw)
    info = _draft_info(raw_header_values(headers, DRAFT_INFO))
    sender = _valid(parsed.from_)
    identity = Identity(
        addr=sender[0].addr if sender else "",
        name=sender[0].name if sender else "",
        reply_to=_valid(parsed.reply_to),
    )
    bcc = _valid(address_list(", ".join(raw_header_values(headers, "bcc"))))
    in_reply_to = message_ids_parse(" ".join(raw_header_values(headers, "in-reply-to")))
    text = parsed.text_body or ""
    if parsed.html_body is not None and info.get("text") == "html":
        text = ""
    return Draft(
        identity=identity,
        to=_valid(parsed.to),
        cc=_valid(parsed.cc),
        bcc=bcc,
        subject=header_line(parsed.subject),
        text=text,
        html=parsed.html_body,
        attachments=attachments_extract(raw, parsed.attachments, attachment_dir),
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=message_ids_parse(" ".join(raw_header_values(headers, "references"))),
        answers=_answers(info),
    )


def _valid(addresses: list[Address]) -> list[Address]:
    seen: set[str] = set()
    result = []
    for address in addresses:
        key = address_key(address.addr)
        if address_valid(address.addr) and key not in seen:
            seen.add(key)
            result.append(Address(name_clean(address.name), address.addr))
    return result


def _draft_info(values: list[str]) -> dict[str, str]:
    if len(values) != 1:  # none, or more than we ever write: trust none of them
        return {}
    fields = {}
    for item in " ".join(values[0].split()).split(";"):
        match = _INFO_FIELD.fullmatch(item.strip())
        if match:
            fields[match.group(1)] = match.group(2)
    return fields if fields.get("v") == "1" else {}


def _answers(info: dict[str, str]) -> Answers | None:
    kind = info.get("answers")
    if kind not in (REPLY, FORWARD):
        return None
    try:
        uidvalidity = int(info.get("uidvalidity", ""))
        uid = int(info.get("uid", ""))
        folder = base64.urlsafe_b64decode(info.get("folder", "").encode("ascii")).decode("utf-8")
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not (0 < uidvalidity <= _MAX_UID and 0 < uid <= _MAX_UID) or not folder:
        return None
    if has_line_breaking(folder):  # no controls in a folder name we would act on
        return None
    return Answers(folder=folder, uidvalidity=uidvalidity, uid=uid, kind=kind)
