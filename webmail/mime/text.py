"""Plain text from the beginning of a body part, for previews and search.

The input is the first bytes of one text part exactly as the server holds it (still in
its transfer encoding, possibly cut in the middle of a line, an encoded quantum, a
character or an HTML tag); the output is readable text with whitespace collapsed. Never
raises: what cannot be read is left out.
"""

from __future__ import annotations

import base64
import binascii
import html
import re

from .headers import charset_decode, controls_strip

_WHITESPACE = re.compile(r"\s+")
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
# Whole elements whose content is never text a reader sees; an unterminated one (the
# excerpt ends inside it) takes the rest of the excerpt with it.
_INVISIBLE = re.compile(r"(?is)<(style|script|head|title|template)\b.*?(?:</\1\s*>|\Z)")
_COMMENT = re.compile(r"(?s)<!--.*?(?:-->|\Z)")
_BLOCK_TAG = re.compile(r"(?i)<(?:br|p|div|tr|li|h[1-6]|table|blockquote)\b[^>]*>")
_TAG = re.compile(r"(?s)<[^>]*(?:>|\Z)")
# A quoted reply's attribution and quoted lines say nothing new about the message.
_QUOTED_LINE = re.compile(r"(?m)^[ \t]*>.*$")


def text_excerpt(
    data: bytes,
    *,
    transfer_encoding: str | None,
    charset: str | None,
    html_text: bool = False,
    limit: int = 4096,
) -> str:
    """At most `limit` characters of readable text from the start of a part."""
    try:
        raw = _transfer_decode(data, (transfer_encoding or "").strip().lower())
        text, _known = charset_decode(raw, charset)
        text = text.rstrip("\ufffd")  # a character cut in two at the end of the excerpt
        if html_text:
            text = _html_text(text)
        else:
            text = _QUOTED_LINE.sub(" ", text)
        text = _WHITESPACE.sub(" ", controls_strip(text)).strip()
        return text[:limit]
    except Exception:  # an excerpt is a nicety; a message must never fail to index for it
        return ""


def _transfer_decode(data: bytes, encoding: str) -> bytes:
    if encoding == "base64":
        letters, padded, _ = data.partition(b"=")
        letters = _BASE64_JUNK.sub(b"", letters)
        if padded:  # the real end: its last quantum is short on purpose
            letters += b"=" * (-len(letters) % 4)
        else:  # cut off: whole quanta only
            letters = letters[: len(letters) - len(letters) % 4]
        return base64.b64decode(letters)
    if encoding == "quoted-printable":
        cut = data.rfind(b"=", max(0, len(data) - 2))
        if cut != -1:  # "=" or "=X" at the very end is an escape cut in two
            data = data[:cut]
        return binascii.a2b_qp(data)
    return data


def _html_text(markup: str) -> str:
    markup = _COMMENT.sub(" ", markup)
    markup = _INVISIBLE.sub(" ", markup)
    markup = _BLOCK_TAG.sub(" ", markup)
    markup = _TAG.sub("", markup)
    return html.unescape(markup)
