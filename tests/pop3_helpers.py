"""Small helpers the POP3 and blob-store tests share: a message to put on the server, what
another device sees there, and what lies in a directory."""

import secrets
from pathlib import Path

from tests.dovecot import MailUser


def message(subject: str, body: bytes = b"Hello.\r\n") -> bytes:
    return (
        f"From: Sender <sender@example.org>\r\nTo: reader@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\n"
    ).encode() + body


def server_subjects(user: MailUser) -> list[str]:
    """The subjects in the user's INBOX as another device sees them, sorted."""
    with user.client() as client:
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search(), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for data in found.values()
    )


def files_under(root: Path) -> list[str]:
    """Every file below `root`, as sorted relative paths."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
