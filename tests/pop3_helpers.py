"""Small helpers the POP3 and blob-store tests share: a message to put on the server, what
another device sees there, what lies in a directory, and the check that no mail was lost."""

import hashlib
import secrets
from collections.abc import Iterable
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


def server_raw_messages(user: MailUser) -> list[bytes]:
    """Every message in the user's INBOX, its bytes as another device reads them (IMAP
    BODY.PEEK[]: the bytes POP3's RETR gives too), in server order."""
    with user.client() as client:
        client.select_folder("INBOX", readonly=True)
        found = client.fetch(client.search(), ["BODY.PEEK[]"])
    return [found[uid][b"BODY[]"] for uid in sorted(found)]


def assert_nothing_lost(user: MailUser, account, *, ever: Iterable[bytes] = ()) -> None:
    """mail-sync.md's check after a fault, once the last fetch has completed:

    - every message ever on the server (those there now, and `ever`: what the test put
      there, some of it deleted since) is still there or stored here with the same bytes
      (SHA-256 of the server's bytes against the blobs, re-read from disk);
    - every message on the server now is stored here, and nothing stored here came from
      anywhere else;
    - nothing is stored twice: one StoredMessage per digest, one index row in the local
      INBOX per StoredMessage, no other rows there.
    """
    # Here, not at the top: test_blobs imports this module in processes without Django.
    from webmail.models import IndexedMessage, StoredMessage
    from webmail.services.local_store import blob_store

    on_server = {_sha(raw) for raw in server_raw_messages(user)}
    stored = list(StoredMessage.objects.filter(account=account))
    digests = [row.digest for row in stored]
    store = blob_store()
    assert len(digests) == len(set(digests)), "a message is stored twice"
    assert [row.digest for row in stored if store.problem(row.digest, row.size)] == []
    ever_there = on_server | {_sha(raw) for raw in ever}
    assert ever_there - on_server - set(digests) == set(), "a message was lost"
    assert on_server - set(digests) == set(), "a message on the server is not stored here"
    assert set(digests) - ever_there == set(), "stored bytes no server message has"
    assert [row.digest for row in stored if row.indexed_id is None] == [], "not in the index"
    inbox = IndexedMessage.objects.filter(folder__account=account, folder__name="INBOX")
    assert sorted(inbox.values_list("pk", flat=True)) == sorted(row.indexed_id for row in stored)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
