"""Attachment names that are safe to show and to hand to a browser as a download name
(design/security.md 3.6): no path, no controls, no bidi tricks, a bounded length with
the real extension kept, and a Content-Disposition value per RFC 6266."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote

from webmail.mime.headers import ELLIPSIS, header_text

MAX_CHARS = 120
MAX_BYTES = 240  # UTF-8; most file systems allow 255 bytes per name
_MAX_EXTENSION = 16  # characters after the last dot still counted as an extension

_PATH_SEPARATORS = re.compile(r"[/\\]")
# Characters Windows refuses in names; a download name should work on every system.
_RESERVED = re.compile(r'[<>:"|?*]')
_PART_ID = re.compile(r"[^0-9.]")
# RFC 8187 attr-char, the characters filename* may carry unencoded.
_ATTR_CHARS = "!#$&+-.^_`|~"

_EXTENSIONS = {
    "application/gzip": ".gz",
    "application/json": ".json",
    "application/ms-tnef": ".dat",
    "application/msword": ".doc",
    "application/pdf": ".pdf",
    "application/pgp-encrypted": ".asc",
    "application/pgp-keys": ".asc",
    "application/pgp-signature": ".asc",
    "application/pkcs7-mime": ".p7m",
    "application/pkcs7-signature": ".p7s",
    "application/rtf": ".rtf",
    "application/vnd.ms-excel": ".xls",
    "application/vnd.ms-powerpoint": ".ppt",
    "application/vnd.ms-tnef": ".dat",
    "application/vnd.oasis.opendocument.presentation": ".odp",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.rar": ".rar",
    "application/x-7z-compressed": ".7z",
    "application/x-gzip": ".gz",
    "application/x-pkcs7-signature": ".p7s",
    "application/x-rar-compressed": ".rar",
    "application/x-tar": ".tar",
    "application/xml": ".xml",
    "application/zip": ".zip",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "audio/wav": ".wav",
    "image/bmp": ".bmp",
    "image/gif": ".gif",
    "image/heic": ".heic",
    "image/jpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/png": ".png",
    "image/svg+xml": ".svg",
    "image/tiff": ".tif",
    "image/webp": ".webp",
    "message/delivery-status": ".txt",
    "message/disposition-notification": ".txt",
    "message/global": ".eml",
    "message/rfc822": ".eml",
    "text/calendar": ".ics",
    "text/csv": ".csv",
    "text/html": ".html",
    "text/markdown": ".md",
    "text/plain": ".txt",
    "text/rtf": ".rtf",
    "text/vcard": ".vcf",
    "text/x-vcard": ".vcf",
    "text/xml": ".xml",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
}


def filename_display(name: str | None, content_type: str, part_id: str) -> str:
    """The name to show for a part and to offer as its download name; never empty.

    `name` is what the parser decoded from filename*/filename/name (RFC 2231/2047); any
    encoded words left in it are decoded here too. Path components, controls, bidi
    overrides, line breaks and leading dots go; a long name is cut with its extension
    kept. With nothing left, the name is made from the part: "attachment-2.1.pdf".
    """
    cleaned = _clean(name)
    if cleaned:
        return cleaned
    part = _PART_ID.sub("", part_id or "")[:40] or "0"
    return f"attachment-{part}{extension_for(content_type)}"


def extension_for(content_type: str) -> str:
    """A file extension (with its dot) that fits a MIME type; ".bin" when unknown."""
    content_type = (content_type or "").strip().lower()
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    return ".txt" if content_type.startswith("text/") else ".bin"


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A Content-Disposition value (RFC 6266): an ASCII `filename="..."` for old user
    agents, and the exact name as `filename*=UTF-8''...` (RFC 8187). The name is cleaned
    again here, so no caller can put a line break or a quote into the header."""
    name = _clean(filename) or "download"
    kind = "inline" if inline else "attachment"
    return (
        f'{kind}; filename="{_ascii_fallback(name)}"; '
        f"filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"
    )


def _clean(name: str | None) -> str:
    # header_text decodes stray encoded words, removes controls, bidi and line breaks.
    text = header_text(name, limit=1000)
    text = _PATH_SEPARATORS.split(text)[-1]
    text = _RESERVED.sub("_", text)
    # A leading dot hides a file on Unix; trailing dots and spaces vanish on Windows.
    text = text.strip(" .")
    return _shorten(text)


def _split_extension(name: str) -> tuple[str, str]:
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or not extension or len(extension) > _MAX_EXTENSION:
        return name, ""
    return stem, "." + extension


def _fits(name: str) -> bool:
    return len(name) <= MAX_CHARS and len(name.encode("utf-8")) <= MAX_BYTES


def _shorten(name: str) -> str:
    if _fits(name):
        return name
    stem, extension = _split_extension(name)
    stem = stem[: MAX_CHARS - len(extension) - 1]
    while stem and not _fits(stem + ELLIPSIS + extension):
        stem = stem[:-1]
    return stem.rstrip(" .") + ELLIPSIS + extension


def _ascii_fallback(name: str) -> str:
    # "Grüße.txt" -> "Gru_e.txt": accents dropped, anything else non-ASCII replaced.
    # "%" and "\" go too, since some agents percent-decode or unescape this value.
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in text)
    stem, extension = _split_extension(text)
    if not any(c.isalnum() for c in stem):
        stem = "attachment"
    return (stem + extension).lstrip(".")
