"""The local store as a MailStore: how a POP3 account's mail is read and organised.

POP3 is only a source (pop3_fetch copies into the local store); everything the reader
does afterwards happens here, over the index tables and the blob store, so views and
services treat a POP3 account as they treat an IMAP one (architecture.md, "One store
interface, two kinds of store"). Here the index is not a cache of a server: it is the
store, so every change is made in one transaction and is final.

- UIDs are handed out per folder from `uidnext` under the folder's UIDVALIDITY: 1 for the
  folders every local store has (local_store), a new one for each folder the reader
  makes. Callers still pass the UIDVALIDITY their page was made with: a folder deleted
  and made anew under the same name must not take actions meant for the old one (rule 6).
- A move gives the messages new UIDs in the target; the rows themselves move, so their
  text and rendered bodies come along.
- Deleting for good removes the index row and stamps StoredMessage.user_deleted_at; the
  blob stays, since the cleanup's "keep until I delete it here" rule decides about the
  server copy from that stamp, and about the bytes later. Nothing here removes a blob.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from django.db import transaction
from django.db.models import Max, Q
from django.db.models.functions import Now

from accounts.models import MailAccount
from webmail import clock
from webmail.models import IndexedFolder, IndexedMessage, RenderedBody, StoredMessage
from webmail.protocols.errors import (
    ActionRefused,
    FolderChanged,
    FolderNotFound,
    MessageNotFound,
)
from webmail.protocols.store import (
    FolderInfo,
    FolderPage,
    FolderStatus,
    MovedMessages,
    Quota,
    RawMessage,
)

from .index import (
    SQL_CHUNK,
    folder_counts_refresh,
    index_flags_set,
    indexed_folder_info,
    indexed_summary,
)
from .local_store import (
    blob_store,
    local_folders_ensure,
    stored_entry_read,
    stored_message_add,
    uid_take,
)

DELIMITER = "/"


def _chunks(uids: Sequence[int]) -> list[list[int]]:
    uids = sorted(set(uids))
    return [uids[start : start + SQL_CHUNK] for start in range(0, len(uids), SQL_CHUNK)]


class LocalStore:
    """MailStore over one account's local folders. Made by services.stores.store_open."""

    def __init__(self, account: MailAccount) -> None:
        self.account = account
        local_folders_ensure(account=account)

    # -- folders ------------------------------------------------------------------------

    def _rows(self):
        return IndexedFolder.objects.filter(account=self.account)

    def _folder(self, name: str, uidvalidity: int | None = None) -> IndexedFolder:
        row = self._rows().filter(name=name).first()
        if row is None:
            raise FolderNotFound(name)
        if uidvalidity is not None and row.uidvalidity != uidvalidity:
            raise FolderChanged(f"{name}: UIDVALIDITY {row.uidvalidity}, not {uidvalidity}")
        return row

    def _messages(self, folder: IndexedFolder, uids: Sequence[int]) -> list[IndexedMessage]:
        """The rows, locked until the caller's transaction ends: a second tab moving the
        same message waits, then finds it gone from the folder instead of moving it on."""
        found: list[IndexedMessage] = []
        for chunk in _chunks(uids):
            rows = IndexedMessage.objects.filter(folder=folder, uid__in=chunk)
            found += rows.select_for_update().order_by("uid")
        return found

    def folders(self) -> list[FolderInfo]:
        rows = sorted(self._rows(), key=lambda row: (row.name != "INBOX", row.name))
        return [indexed_folder_info(row) for row in rows]

    def folder_status(self, folder: str) -> FolderStatus:
        row = self._folder(folder)
        return FolderStatus(
            name=row.name, uidvalidity=row.uidvalidity, uidnext=row.uidnext, messages=row.messages
        )

    def folder_page(self, folder: str, *, offset: int, limit: int) -> FolderPage:
        """Newest first by UID, which is arrival order here."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be >= 1 and offset >= 0")
        row = self._folder(folder)
        rows = IndexedMessage.objects.filter(folder=row)
        page = rows.order_by("-uid")[offset : offset + limit]
        return FolderPage(
            folder, row.uidvalidity, rows.count(), offset, [indexed_summary(m) for m in page]
        )

    def message_uids(self, folder: str, *, uidvalidity: int, below: int | None = None) -> list[int]:
        rows = IndexedMessage.objects.filter(folder=self._folder(folder, uidvalidity))
        if below is not None:
            rows = rows.filter(uid__lt=below)
        return list(rows.order_by("uid").values_list("uid", flat=True))

    def message_search(
        self,
        folder: str,
        *,
        words: Sequence[str],
        unseen: bool = False,
        flagged: bool = False,
        since: date | None = None,
        before: date | None = None,
    ) -> tuple[int, list[int]]:
        """No UIDs beyond the index's own matches: the index is all there is to search
        (a message without text in it has no text to find)."""
        return self._folder(folder).uidvalidity, []

    def special_folder(self, role: str) -> str | None:
        row = self._rows().filter(special_use=role, selectable=True).order_by("name").first()
        return row.name if row is not None else None

    def _uidvalidity_new(self) -> int:
        """For a folder made here: the time in seconds, and above every folder of the
        account, so a folder deleted and made again under its name does not take actions
        a page of the old one asks for (rule 6), as an IMAP server would not. (Within the
        second the deleted folder was made, the value can repeat: nothing records the
        values of deleted folders.)"""
        used = self._rows().aggregate(Max("uidvalidity"))["uidvalidity__max"] or 0
        return max(int(clock.now().timestamp()), used + 1)

    def folder_create(self, name: str, *, special_use: str | None = None) -> None:
        with transaction.atomic():
            _row, made = IndexedFolder.objects.get_or_create(
                account=self.account,
                name=name,
                defaults={
                    "delimiter": DELIMITER,
                    "special_use": special_use or "",
                    "uidvalidity": self._uidvalidity_new(),
                    "uidnext": 1,
                    "fully_indexed": True,
                },
            )
        if not made:
            raise ActionRefused(name, reason="ALREADYEXISTS")

    def folder_rename(self, name: str, new_name: str) -> None:
        """Renames the folder and the folders inside it; UIDs and UIDVALIDITY stay."""
        with transaction.atomic():
            self._folder(name)
            if self._rows().filter(name=new_name).exists():
                raise ActionRefused(new_name, reason="ALREADYEXISTS")
            inside = Q(name=name) | Q(name__startswith=name + DELIMITER)
            for row in self._rows().filter(inside).select_for_update():
                row.name = new_name + row.name[len(name) :]
                row.save(update_fields=["name"])

    def folder_delete(self, name: str, *, uidvalidity: int) -> None:
        """Deletes the folder; its messages are deleted here for good (stamped, bytes kept)."""
        with transaction.atomic():
            row = self._folder(name, uidvalidity)
            self._deleted_stamp(IndexedMessage.objects.filter(folder=row))
            row.delete()

    def folder_subscribe(self, name: str, *, subscribed: bool) -> None:
        """Local folders are always shown: there is no other program to tell."""

    def folder_subscriptions(self) -> frozenset[str]:
        return frozenset(self._rows().values_list("name", flat=True))

    def quota(self, folder: str = "INBOX") -> Quota | None:
        return None  # the local store sets no limit; the POP3 server's storage is shown apart

    # -- messages -----------------------------------------------------------------------

    def message_raw(
        self, folder: str, uid: int, *, uidvalidity: int, max_bytes: int | None = None
    ) -> RawMessage:
        row = self._folder(folder, uidvalidity)
        message = IndexedMessage.objects.filter(folder=row, uid=uid).first()
        stored = StoredMessage.objects.filter(indexed=message).first() if message else None
        if stored is None:
            raise MessageNotFound(f"{folder}/{uid}")
        try:
            with blob_store().open(stored.digest) as file:
                data = file.read() if max_bytes is None else file.read(max_bytes)
        except FileNotFoundError as exc:
            raise MessageNotFound(f"{folder}/{uid}: its stored bytes are missing") from exc
        return RawMessage(
            uid=uid,
            uidvalidity=row.uidvalidity,
            flags=frozenset(message.flags.split()),
            data=data,
            size=stored.size,
            truncated=len(data) < stored.size,
        )

    def _flags_change(
        self, folder: str, uids: list[int], add: Sequence[str], remove: Sequence[str],
        uidvalidity: int,
    ) -> list[int]:
        with transaction.atomic():
            row = self._folder(folder, uidvalidity)
            messages = self._messages(row, uids)
            index_flags_set(
                row,
                {m.uid: (frozenset(m.flags.split()) | set(add)) - set(remove) for m in messages},
            )
            folder_counts_refresh(row)
        return [m.uid for m in messages]

    def flags_add(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        return self._flags_change(folder, uids, flags, (), uidvalidity)

    def flags_remove(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        return self._flags_change(folder, uids, (), flags, uidvalidity)

    def messages_move(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> list[int]:
        return self.messages_move_mapped(folder, uids, target, uidvalidity=uidvalidity).uids

    def messages_move_mapped(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> MovedMessages:
        """The rows move to `target` under new UIDs taken from its `uidnext`, oldest first;
        renderings that link the message's own images go (they name the old UID)."""
        with transaction.atomic():
            source = self._folder(folder, uidvalidity)
            target_row = self._folder(target)
            if target_row.pk == source.pk:
                raise ActionRefused(target, reason="CANNOT")
            moving = self._messages(source, uids)
            new_uids = {}
            for message in moving:
                new_uids[message.uid] = uid_take(target_row)
                message.folder, message.uid = target_row, new_uids[message.uid]
            IndexedMessage.objects.bulk_update(moving, ["folder", "uid"], batch_size=SQL_CHUNK)
            for chunk in _chunks([m.pk for m in moving]):
                RenderedBody.objects.filter(message_id__in=chunk, expires_at__isnull=False).delete()
            folder_counts_refresh(source)
            target_row.refresh_from_db()
            folder_counts_refresh(target_row)
        return MovedMessages(
            uids=sorted(new_uids), target_uidvalidity=target_row.uidvalidity, new_uids=new_uids
        )

    def messages_expunge(self, folder: str, uids: list[int], *, uidvalidity: int) -> list[int]:
        """Deletes these messages here for good: the rows go, the stored message is
        stamped user_deleted_at and its bytes stay for the cleanup to judge."""
        with transaction.atomic():
            row = self._folder(folder, uidvalidity)
            gone = []
            for chunk in _chunks(uids):
                rows = IndexedMessage.objects.filter(folder=row, uid__in=chunk)
                gone += rows.values_list("uid", flat=True)
                self._deleted_stamp(rows)
            folder_counts_refresh(row)
        return sorted(gone)

    def _deleted_stamp(self, rows) -> None:
        StoredMessage.objects.filter(indexed__in=rows.values("pk")).update(user_deleted_at=Now())
        rows.delete()

    def message_append(
        self,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> int | None:
        """Stores the bytes as the fetch stores a downloaded message (durable blob first,
        then the rows in one transaction); `when` is not kept, the arrival here is."""
        row = self._folder(folder)
        digest, size = blob_store().write(raw)
        entry = stored_entry_read(digest=digest, size=size)
        entry = replace(entry, summary=replace(entry.summary, flags=frozenset(flags)))
        with transaction.atomic():
            stored, added = stored_message_add(
                account=self.account, folder=row, digest=digest, size=size, entry=entry
            )
            if not added:
                raise ActionRefused("these exact bytes are stored here already")
        return stored.indexed.uid
