"""The quoted original in a reply or forward, as plain text and as HTML.

Plain text follows mail convention: every quoted line starts with "> ", and a line that
was already quoted gets one more ">" without a space (">> "), as Thunderbird writes it.
HTML quotes go into <blockquote type="cite">. The original's HTML is hostile input, so
what goes into a quote is webmail.sanitize's output, with remote and cid: images left
out; our own pieces (attribution, header table, signature) are escaped text.
"""

from __future__ import annotations

import html
from datetime import datetime, tzinfo

from django.utils import formats
from django.utils.translation import gettext

from webmail.mime.model import ParsedMessage
from webmail.protocols.store import Address
from webmail.sanitize import html_sanitize

from .html_text import html_to_text

SIGNATURE_SEPARATOR = "-- "  # RFC 3676 4.3: dash, dash, space, on a line of its own


def text_quote(text: str) -> str:
    """`text` with every line quoted; leading and trailing blank lines dropped."""
    lines = _lines(text)
    return "\n".join(">" + line if line.startswith(">") else f"> {line}".rstrip() for line in lines)


def original_text(original: ParsedMessage) -> str:
    """The original's text to quote: its plain-text body, else its HTML as text."""
    if original.text_body is not None:
        return original.text_body
    if original.html_body is not None:
        return html_to_text(original.html_body)
    return ""


def original_html(original: ParsedMessage) -> str | None:
    """The original's body as safe HTML to quote, or None when it has no HTML body."""
    if original.html_body is None:
        return None
    return html_sanitize(
        original.html_body, inline_image_url=lambda content_id: None, remote_image_url=None
    ).html


def attribution(original: ParsedMessage, *, time_zone: tzinfo | None = None) -> str:
    """The line above a quote: "On <date>, <name> wrote:"."""
    sender = original.from_[0] if original.from_ else None
    name = (sender.name or sender.addr) if sender else gettext("an unknown sender")
    if original.date is None:
        return gettext("%(name)s wrote:") % {"name": name}
    return gettext("On %(date)s, %(name)s wrote:") % {
        "date": date_text(original.date, time_zone=time_zone),
        "name": name,
    }


def date_text(date: datetime, *, time_zone: tzinfo | None = None) -> str:
    """A date in the reader's language; in `time_zone` if given, else in the sender's."""
    if time_zone is not None:
        date = date.astimezone(time_zone)
    return formats.date_format(date, "DATETIME_FORMAT")


def signature_text(signature: str) -> str:
    """The signature block: "-- " on its own line, then the signature; "" for none."""
    signature = "\n".join(_lines(signature))
    if not signature:
        return ""
    if signature.startswith(SIGNATURE_SEPARATOR.rstrip() + "\n") or signature.startswith(
        SIGNATURE_SEPARATOR + "\n"
    ):
        signature = signature.split("\n", 1)[1]
    return f"{SIGNATURE_SEPARATOR}\n{signature}"


def signature_html(signature: str) -> str:
    block = signature_text(signature)
    if not block:
        return ""
    lines = "<br>".join(html.escape(line) for line in block.split("\n"))
    return f'<div class="signature">{lines}</div>'


def forward_header_lines(
    original: ParsedMessage, *, time_zone: tzinfo | None = None
) -> list[tuple[str, str]]:
    """The header summary of a forwarded message as (label, value) pairs."""
    rows = [(gettext("Subject"), original.subject)]
    if original.date is not None:
        rows.append((gettext("Date"), date_text(original.date, time_zone=time_zone)))
    for label, addresses in (
        (gettext("From"), original.from_),
        (gettext("To"), original.to),
        (gettext("Cc"), original.cc),
    ):
        if addresses:
            rows.append((label, _addresses_text(addresses)))
    return rows


def forward_banner() -> str:
    label = gettext("Forwarded message")
    return f"-------- {label} --------"


def _addresses_text(addresses: list[Address]) -> str:
    return ", ".join(str(a) if a.addr else a.name for a in addresses)


def _lines(text: str) -> list[str]:
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return [line.rstrip() if line != SIGNATURE_SEPARATOR else line for line in lines]
