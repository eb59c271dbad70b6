"""Files that hold attachments of a draft: new ones get random names in a directory the
caller owns (an upload area), so no name from a message ever becomes a path."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path

from webmail.mime.model import PartInfo
from webmail.mime.parse import message_part

from .draft import Attachment


def file_new(directory: Path) -> Path:
    """A new, empty file with a random name in `directory`."""
    path = Path(directory) / f"part-{secrets.token_hex(12)}"
    path.touch(exist_ok=False)
    return path


def attachments_extract(raw: bytes, parts: Iterable[PartInfo], directory: Path) -> list[Attachment]:
    """The listed parts of `raw`, decoded and written to new files in `directory`. Parts
    shown inside the HTML (cid: images) are left out; an attached message comes as its
    whole .eml."""
    attachments = []
    for info in parts:
        if info.inline:
            continue
        part = message_part(raw, info.part_id)
        if part is None:
            continue
        path = file_new(directory)
        path.write_bytes(part.data)
        attachments.append(
            Attachment(
                filename=part.filename,
                content_type=part.content_type,
                path=path,
                size=len(part.data),
            )
        )
    return attachments
