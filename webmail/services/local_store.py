"""The local store: mail this server keeps itself (POP3 accounts), in the blob store for
the raw bytes and in the index tables for everything lists, reading, search and threads
need, so those work for it as they do for IMAP (architecture.md, "One store interface").

A POP3 account gets local folders like an IMAP account's (INBOX, Sent, Drafts, Trash,
Archive with their special use), always fully indexed, with UIDs handed out here from
`uidnext` under UIDVALIDITY 1.
"""

from __future__ import annotations

from dataclasses import replace

from django.conf import settings
from django.db.models import F
from django.db.models.functions import Now

from accounts.models import MailAccount
from webmail.blobs import BlobStore
from webmail.mime.summary import index_entry_from_raw
from webmail.models import IndexedFolder, IndexedMessage, StoredMessage
from webmail.protocols.store import IndexEntry

from .index import index_entries_store
from .sync import TEXT_BYTES

LOCAL_UIDVALIDITY = 1
# Name and special use (RFC 6154) of the folders every local store has; INBOX has none.
LOCAL_FOLDERS = [
    ("INBOX", ""),
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Trash", "\\Trash"),
    ("Archive", "\\Archive"),
]
# How much of a message is parsed for its index row: larger ones are indexed from their
# beginning (headers and first text), so memory stays bounded whatever their size.
INDEX_PARSE_BYTES = 2 * 1024 * 1024


def blob_store() -> BlobStore:
    return BlobStore(settings.DATA_DIR / "blobs")


def local_folders_ensure(*, account: MailAccount) -> IndexedFolder:
    """Makes the account's local folders where missing; returns its INBOX. Idempotent."""
    IndexedFolder.objects.bulk_create(
        [
            IndexedFolder(
                account=account,
                name=name,
                delimiter="/",
                special_use=special_use,
                uidvalidity=LOCAL_UIDVALIDITY,
                uidnext=1,
                fully_indexed=True,
            )
            for name, special_use in LOCAL_FOLDERS
        ],
        ignore_conflicts=True,
    )
    return IndexedFolder.objects.get(account=account, name="INBOX")


def uid_take(folder: IndexedFolder) -> int:
    """The folder's next UID, taken in the caller's transaction (the row stays locked
    until it commits, so two writers never get the same one)."""
    locked = IndexedFolder.objects.select_for_update().get(pk=folder.pk)
    uid = max(locked.uidnext, 1)
    IndexedFolder.objects.filter(pk=folder.pk).update(uidnext=uid + 1)
    return uid


def _read_start(store: BlobStore, digest: str, limit: int) -> bytes:
    with store.open(digest) as file:
        return file.read(limit)


def stored_entry_read(*, digest: str, size: int) -> IndexEntry:
    """The index entry of the durable blob `digest`, without UID or date of arrival yet
    (stored_message_add sets them): parsed before the transaction, so the database is not
    held while a large message is read."""
    raw = _read_start(blob_store(), digest, INDEX_PARSE_BYTES)
    return index_entry_from_raw(
        raw, uid=0, size=size, received=None, complete=len(raw) >= size, text_limit=TEXT_BYTES
    )


def stored_message_add(
    *, account: MailAccount, folder: IndexedFolder, digest: str, size: int, entry: IndexEntry
) -> tuple[StoredMessage, bool]:
    """The StoredMessage for the durable blob `digest`, with its index row in `folder`
    made from `entry` (stored_entry_read), in the caller's transaction. When the account
    stores these bytes already, that row is returned and nothing is added (False): the
    same mail is never stored twice."""
    existing = StoredMessage.objects.filter(account=account, digest=digest).first()
    if existing is not None:
        return existing, False
    stored = StoredMessage.objects.create(
        account=account, digest=digest, size=size, stored_at=Now()
    )
    stored.refresh_from_db(fields=["stored_at"])  # the database's clock (rule 2)
    uid = uid_take(folder)
    summary = replace(
        entry.summary,
        uid=uid,
        internal_date=stored.stored_at,
        date=entry.summary.date or stored.stored_at,
    )
    index_entries_store(folder, [replace(entry, summary=summary)])
    stored.indexed = IndexedMessage.objects.get(folder=folder, uid=uid)
    stored.save(update_fields=["indexed"])
    # One more message, unread: counted up under the folder's row lock (uid_take) rather
    # than recounted, which costs a scan of the folder per message on a big download.
    unseen = 0 if summary.seen else 1
    IndexedFolder.objects.filter(pk=folder.pk).update(
        messages=F("messages") + 1,
        total_count=F("total_count") + 1,
        indexed_count=F("indexed_count") + 1,
        unseen=F("unseen") + unseen,
    )
    return stored, True


def stored_messages_verify(*, account: MailAccount) -> list[StoredMessage]:
    """The account's stored messages whose blob is missing or does not match its digest
    and size (re-read from disk now)."""
    store = blob_store()
    return [
        stored
        for stored in StoredMessage.objects.filter(account=account).order_by("pk")
        if store.problem(stored.digest, stored.size) is not None
    ]
