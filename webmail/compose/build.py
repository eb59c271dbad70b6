"""A Draft turned into the bytes of an RFC 5322 message, for sending or for the Drafts
folder.

How a message is built, and why:

1. Every address is checked again (a Draft is plain data and may hold anything); one
   that is not valid stops the build with InvalidAddresses.
2. Every header value passes through `header_line` (no control characters, no line
   separators), and the stdlib's EmailMessage writes the fields under policy.SMTP:
   RFC 2047 words for non-ASCII names and subjects, RFC 2231 `filename*` for non-ASCII
   attachment names. Message-IDs in In-Reply-To and References are folded by us between
   ids, because the stdlib would RFC 2047-encode a long one (bpo-35805 fixed that only
   for Message-ID itself).
3. Bodies are encoded to 7 bits (quoted-printable or base64, whichever the stdlib finds
   shorter), so no line exceeds 998 octets and no server needs 8BITMIME. Only an attached
   message (message/rfc822), which RFC 2046 forbids to encode, goes as it is: 7bit or 8bit.
4. Attachments are not read into the tree: each part gets a random placeholder, and after
   serialising, the placeholders are replaced by the files' content read in chunks.
5. Before that replacement, the serialised text is parsed again and each part must have
   exactly the header fields we set, in the same order. If anything had become a new
   header line (a bug of ours, or of the stdlib's folding: CVE-2024-6923), the build fails
   with UnsafeMessage instead of sending it.
"""

from __future__ import annotations

import base64
import codecs
import re
import secrets
from datetime import datetime
from email import policy
from email.headerregistry import Address as HeaderAddress
from email.headerregistry import Group, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage, Message
from email.parser import BytesParser

from webmail.mime.filenames import filename_display
from webmail.protocols.store import Address

from .addresses import InvalidAddresses, address_ascii, address_key, domain_ascii, name_clean
from .draft import Attachment, Draft
from .header_values import header_line, message_id_valid
from .html_text import html_to_text

USER_AGENT = "Postfach"
MAX_SUBJECT = 1000  # characters; the field is folded, so this only bounds absurd input
MAX_REFERENCES = 20  # msg-ids kept in References: the first one and the newest ones
DRAFT_INFO = "X-Postfach-Draft-Info"
_CHUNK = 57 * 1024  # bytes read at a time; 57 bytes make one 76-character base64 line
_MAX_LINE = 998  # octets per line (RFC 5322 2.1.1), for attached messages sent as they are
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_SURROGATES = re.compile("[\ud800-\udfff]")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")


class UnsafeMessage(ValueError):
    """The serialised message does not have the header fields it was built with."""


class _MessageIdsHeader(UnstructuredHeader):
    """In-Reply-To and References: a list of msg-ids (already checked by
    message_id_valid), written as they are and folded only between ids."""

    @classmethod
    def parse(cls, value, kwds):
        kwds["parse_tree"] = None  # fold() below never needs one
        kwds["decoded"] = " ".join(str(value).split())

    def fold(self, *, policy):
        head = f"{self.name}:"
        lines = [head]
        for message_id in str(self).split():
            if lines[-1] != head and len(lines[-1]) + 1 + len(message_id) > policy.max_line_length:
                lines.append("")
            lines[-1] += " " + message_id
        return policy.linesep.join(lines) + policy.linesep


def _header_registry() -> HeaderRegistry:
    registry = HeaderRegistry()
    registry.map_to_type("in-reply-to", _MessageIdsHeader)
    registry.map_to_type("references", _MessageIdsHeader)
    return registry


# policy.SMTP writes CRLF line ends; cte_type="7bit" makes set_content pick
# quoted-printable or base64 for anything that is not short ASCII lines.
POLICY = policy.SMTP.clone(cte_type="7bit", header_factory=_header_registry())


def message_build(draft: Draft, *, now: datetime, message_id_domain: str | None = None) -> bytes:
    """The message to send: Date, Message-ID (at `message_id_domain`, else at the
    sender's domain), From, Reply-To, To, Cc (never Bcc), Subject, In-Reply-To,
    References, MIME-Version, User-Agent, and the bodies and attachments.

    `now` must be an aware datetime; the Date field keeps its offset. Raises
    InvalidAddresses for any address that is not valid, ValueError for a naive `now`
    or an invalid `message_id_domain`, and OSError when an attachment cannot be read.
    """
    return _build(draft, now=now, message_id_domain=message_id_domain, for_drafts=False)


def draft_build(draft: Draft, *, now: datetime, message_id_domain: str | None = None) -> bytes:
    """The message to keep in the Drafts folder: as message_build, plus the Bcc field
    (as Thunderbird keeps it, so reopening the draft keeps the blind copies) and an
    X-Postfach-Draft-Info field that remembers what the draft answers and whether its
    plain text was made from the HTML. reopen.draft_from_message reads both back."""
    return _build(draft, now=now, message_id_domain=message_id_domain, for_drafts=True)


def envelope_sender(draft: Draft) -> str:
    """The SMTP MAIL FROM address: the identity's address in ASCII form."""
    return address_ascii(draft.identity.addr)


def envelope_recipients(draft: Draft) -> list[str]:
    """The SMTP RCPT TO addresses: To, Cc and Bcc in ASCII form, each once."""
    seen: set[str] = set()
    result = []
    for address in draft.recipients:
        addr = address_ascii(address.addr)
        if addr.lower() not in seen:
            seen.add(addr.lower())
            result.append(addr)
    return result


def references_capped(ids: list[str], limit: int = MAX_REFERENCES) -> list[str]:
    """At most `limit` msg-ids: the first (the thread's start) and the newest ones, as
    RFC 5322 3.6.4 and RFC 5537 3.4.4 suggest for trimming a long References field."""
    if len(ids) <= limit:
        return list(ids)
    return [ids[0], *ids[len(ids) - (limit - 1) :]]


# --- Building --------------------------------------------------------------------------


def _build(
    draft: Draft, *, now: datetime, message_id_domain: str | None, for_drafts: bool
) -> bytes:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    _addresses_check(draft)
    sender = address_ascii(draft.identity.addr)
    domain = domain_ascii(message_id_domain) if message_id_domain else sender.rpartition("@")[2]
    message = EmailMessage(policy=POLICY)
    _headers_write(message, draft, now=now, domain=domain, for_drafts=for_drafts)
    placeholders = _bodies_write(message, draft)
    data = message.as_bytes()
    _headers_verify(message, data)
    return _placeholders_fill(data, placeholders)


def _headers_write(
    message: EmailMessage, draft: Draft, *, now: datetime, domain: str, for_drafts: bool
) -> None:
    message["Date"] = now
    message["From"] = _header_addresses([Address(draft.identity.name, draft.identity.addr)])
    if draft.identity.reply_to:
        message["Reply-To"] = _header_addresses(draft.identity.reply_to)
    if draft.to:
        message["To"] = _header_addresses(draft.to)
    elif not draft.cc:
        # Only blind copies: say so, as sendmail and Thunderbird do, rather than leave
        # out To (which some filters count against a message).
        message["To"] = Group("undisclosed-recipients", ())
    if draft.cc:
        message["Cc"] = _header_addresses(draft.cc)
    if for_drafts and draft.bcc:
        message["Bcc"] = _header_addresses(draft.bcc)
    message["Subject"] = header_line(draft.subject)[:MAX_SUBJECT]
    message["Message-ID"] = f"<{secrets.token_hex(16)}@{domain}>"
    if draft.in_reply_to and message_id_valid(draft.in_reply_to):
        message["In-Reply-To"] = draft.in_reply_to
    references = references_capped([r for r in draft.references if message_id_valid(r)])
    if references:
        message["References"] = " ".join(references)
    message["MIME-Version"] = "1.0"
    message["User-Agent"] = USER_AGENT
    if for_drafts:
        message[DRAFT_INFO] = _draft_info(draft)


def _bodies_write(message: EmailMessage, draft: Draft) -> list[_Placeholder]:
    """text/plain, or multipart/alternative with the HTML; then multipart/mixed with
    one placeholder part per attachment."""
    text = draft.text or (html_to_text(draft.html) if draft.html else "")
    message.set_content(_body_text(text), charset="utf-8")
    if draft.html:
        message.add_alternative(_body_text(draft.html), subtype="html", charset="utf-8")
    placeholders = []
    for attachment in draft.attachments:
        part, placeholder = _attachment_part(attachment)
        if message.get_content_type() != "multipart/mixed":
            message.make_mixed()
        message.attach(part)
        placeholders.append(placeholder)
    if message.is_multipart():
        for part in message.get_payload():
            _mime_version_drop(part)
    return placeholders


def _addresses_check(draft: Draft) -> None:
    addrs = [draft.identity.addr, *(a.addr for a in draft.identity.reply_to)]
    addrs += [a.addr for a in draft.recipients]
    invalid = []
    for addr in addrs:
        try:
            address_ascii(addr)
        except ValueError:
            invalid.append(addr if isinstance(addr, str) else repr(addr))
    if invalid:
        raise InvalidAddresses(invalid)


def _header_addresses(addresses: list[Address]) -> list[HeaderAddress]:
    seen: set[str] = set()
    result = []
    for address in addresses:
        key = address_key(address.addr)
        if key in seen:
            continue
        seen.add(key)
        result.append(
            HeaderAddress(
                display_name=name_clean(address.name), addr_spec=address_ascii(address.addr)
            )
        )
    return result


def _body_text(text: str) -> str:
    text = _SURROGATES.sub("\ufffd", text or "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _draft_info(draft: Draft) -> str:
    fields = ["v=1"]
    if draft.html and not draft.text:  # the plain text is made from the HTML
        fields.append("text=html")
    answers = draft.answers
    if answers is not None:
        folder = base64.urlsafe_b64encode(answers.folder.encode("utf-8")).decode("ascii")
        if len(folder) <= 600:  # a longer name would make a line longer than 998
            fields += [
                f"answers={answers.kind}",
                f"uidvalidity={int(answers.uidvalidity)}",
                f"uid={int(answers.uid)}",
                f"folder={folder}",
            ]
    return "; ".join(fields)


def _mime_version_drop(part: Message) -> None:
    # set_content adds MIME-Version to every part it fills; it belongs to the top only.
    del part["MIME-Version"]
    if part.is_multipart():
        for child in part.get_payload():
            _mime_version_drop(child)


# --- Attachments -----------------------------------------------------------------------


class _Placeholder:
    def __init__(self, token: bytes, attachment: Attachment, *, raw: bool) -> None:
        self.token = token
        self.attachment = attachment
        self.raw = raw  # copied as it is (message/rfc822) rather than base64-encoded


def _attachment_part(attachment: Attachment) -> tuple[EmailMessage, _Placeholder]:
    content_type = (attachment.content_type or "").strip().lower()
    if content_type != "message/rfc822" and (
        not _CONTENT_TYPE.fullmatch(content_type)
        or content_type.startswith(("multipart/", "message/"))
    ):
        content_type = "application/octet-stream"
    # filename_display drops paths, controls, line breaks, bidi tricks and quotes, and
    # bounds the length; what is left can only ever be a parameter value.
    filename = filename_display(attachment.filename, content_type, "1")
    cte = "base64"
    if content_type == "message/rfc822":
        cte = _message_file_encoding(attachment)
        if cte is None:  # not a message RFC 2046 lets us send unencoded: send it as a file
            content_type, cte = "application/octet-stream", "base64"
    token = f"postfach-attachment-{secrets.token_hex(16)}"
    part = EmailMessage(policy=POLICY)
    part["Content-Type"] = content_type
    if content_type.startswith("text/") and (charset := _text_charset(attachment)):
        part.set_param("charset", charset)
    if content_type != "message/rfc822":
        part.set_param("name", filename)
    part.add_header("Content-Disposition", "attachment", filename=filename)
    part["Content-Transfer-Encoding"] = cte
    part.set_payload(token)
    return part, _Placeholder(token.encode("ascii"), attachment, raw=cte != "base64")


def _text_charset(attachment: Attachment) -> str | None:
    """"us-ascii" or "utf-8" when the whole file is that, so the recipient need not guess;
    None for anything else (we cannot know which legacy charset a file was written in)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    ascii_only = True
    try:
        with open(attachment.path, "rb") as file:
            while chunk := file.read(_CHUNK):
                ascii_only = ascii_only and chunk.isascii()
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except (UnicodeDecodeError, OSError):
        return None
    return "us-ascii" if ascii_only else "utf-8"


def _message_file_encoding(attachment: Attachment) -> str | None:
    """ "7bit" or "8bit" for a message file we may attach as it is; None when it holds
    NUL bytes or a line longer than 998 octets."""
    eight_bit = False
    line = 0  # length of the line the last chunk ended in
    with open(attachment.path, "rb") as file:
        while chunk := file.read(_CHUNK):
            if b"\0" in chunk:
                return None
            eight_bit = eight_bit or not chunk.isascii()
            first, *others = _LINE_ENDS.split(chunk)
            line += len(first)  # the first piece continues the previous chunk's line
            for piece in others:
                if line > _MAX_LINE:
                    return None
                line = len(piece)
            if line > _MAX_LINE:
                return None
    return "8bit" if eight_bit else "7bit"


def _placeholders_fill(data: bytes, placeholders: list[_Placeholder]) -> bytes:
    if not placeholders:
        return data
    out = bytearray()
    position = 0
    for placeholder in placeholders:
        index = data.index(placeholder.token, position)
        out += data[position:index]
        if placeholder.raw:
            _raw_write(out, placeholder.attachment)
        else:
            _base64_write(out, placeholder.attachment)
        if out.endswith(b"\r\n"):  # the serialiser put a line end after the placeholder
            del out[-2:]
        position = index + len(placeholder.token)
    out += data[position:]
    return bytes(out)


def _base64_write(out: bytearray, attachment: Attachment) -> None:
    with open(attachment.path, "rb") as file:
        while chunk := file.read(_CHUNK):
            out += base64.encodebytes(chunk).replace(b"\n", b"\r\n")


def _raw_write(out: bytearray, attachment: Attachment) -> None:
    # Line ends become CRLF, also a bare CR or LF: one might otherwise end the SMTP DATA
    # early at a lenient server (SMTP smuggling).
    carry = b""
    with open(attachment.path, "rb") as file:
        while chunk := file.read(_CHUNK):
            chunk = carry + chunk
            carry = b""
            if chunk.endswith(b"\r"):  # its LF may start the next chunk
                chunk, carry = chunk[:-1], b"\r"
            out += _LINE_ENDS.sub(b"\r\n", chunk)
    out += _LINE_ENDS.sub(b"\r\n", carry)


# --- The check -------------------------------------------------------------------------


def _headers_verify(message: Message, data: bytes) -> None:
    """Parses `data` again and compares the header field names of every part with the
    message we built. An attached message is not looked into: its placeholder is not a
    message yet, and its own fields are the sender's, not ours."""
    parsed = BytesParser(policy=policy.compat32).parsebytes(data)
    _same_fields(message, parsed)


def _same_fields(ours: Message, theirs: Message) -> None:
    if [k.lower() for k in ours.keys()] != [k.lower() for k in theirs.keys()]:
        raise UnsafeMessage("the written header fields differ from the ones set")
    if ours.get_content_maintype() != "multipart":
        return
    mine, written = ours.get_payload(), theirs.get_payload()
    if not isinstance(written, list) or len(mine) != len(written):
        raise UnsafeMessage("the written parts differ from the ones built")
    for child, written_child in zip(mine, written, strict=True):
        _same_fields(child, written_child)
