"""Writes to the local index (webmail.models): what the sync stores, and write-through.

Write-through: an action taken in the webmail goes to the server first; once the server
has done it, the organise and folder services call the `index_*` hooks below, so the
reader sees the result at once instead of after the next sync. A hook never talks to
the server and never fails the action: the index is a cache, and the next sync puts
right whatever a hook could not.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import Q

from accounts.models import MailAccount
from webmail import clock
from webmail.mime.headers import address_list
from webmail.models import (
    MESSAGE_ID_LENGTH,
    PREVIEW_LENGTH,
    IndexedFolder,
    IndexedMessage,
    RenderedBody,
    VanishedMessage,
)
from webmail.protocols.store import (
    Address,
    FolderInfo,
    FolderState,
    IndexEntry,
    MessageSummary,
)
from webmail.search_fold import document_fold

log = logging.getLogger(__name__)

SQL_CHUNK = 500  # UIDs per IN (...) clause: far below every database's parameter limit
SEARCH_TEXT_LENGTH = 10_000  # characters


# -- rows from what the server said --------------------------------------------------------


def flags_text(flags: Iterable[str]) -> str:
    return " ".join(sorted(set(flags)))


def _flag_columns(flags: frozenset[str]) -> dict:
    return {
        "flags": flags_text(flags),
        "seen": "\\Seen" in flags,
        "flagged": "\\Flagged" in flags,
        "answered": "\\Answered" in flags,
    }


def _quoted_name(name: str) -> str:
    if not name or all(ch.isalnum() or ch in " .-_'" for ch in name):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def addresses_text(addresses: Sequence[Address]) -> str:
    """"Name <addr>, ..." with names quoted where they hold commas or the like, so
    mime.headers.address_list reads the same addresses back."""
    return ", ".join(
        f"{_quoted_name(a.name)} <{a.addr}>" if a.name and a.addr else a.addr or _quoted_name(a.name)
        for a in addresses
    )


def _row(
    folder: IndexedFolder,
    entry: IndexEntry,
    carried: VanishedMessage | IndexedMessage | None = None,
) -> IndexedMessage:
    """The row for a message the server described; with `carried`, a tombstone or another
    row of the same message, whose body text (never fetched again) replaces the entry's."""
    summary = entry.summary
    sender = summary.sender
    text = carried.search_text if carried is not None else entry.text[:SEARCH_TEXT_LENGTH]
    preview = carried.preview if carried is not None else entry.text[:PREVIEW_LENGTH]
    return IndexedMessage(
        folder=folder,
        uid=summary.uid,
        message_id=entry.message_id[:MESSAGE_ID_LENGTH],
        in_reply_to=entry.in_reply_to[:MESSAGE_ID_LENGTH],
        references=" ".join(entry.references),
        subject=summary.subject,
        from_name=(sender.name if sender else "")[:998],
        from_addr=(sender.addr if sender else "")[:998],
        to=addresses_text(summary.recipients),
        cc=addresses_text(entry.cc),
        date=summary.date,
        internal_date=summary.internal_date,
        size=summary.size,
        has_attachments=summary.has_attachments,
        preview=preview,
        search_text=text,
        search_document=document_fold(
            sender.name if sender else "",
            sender.addr if sender else "",
            ", ".join(str(a) for a in summary.recipients),
            ", ".join(str(a) for a in entry.cc),
            summary.subject,
            text,
        ),
        **_flag_columns(summary.flags),
    )


_UPDATED = [
    "message_id", "in_reply_to", "references", "subject", "from_name", "from_addr", "to",
    "cc", "date", "internal_date", "size", "flags", "seen", "flagged", "answered",
    "has_attachments", "preview", "search_text", "search_document",
]  # fmt: skip


def index_entries_store(
    folder: IndexedFolder,
    entries: Sequence[IndexEntry],
    carried: dict[int, VanishedMessage | IndexedMessage] | None = None,
) -> int:
    """Inserts the messages, or updates them where their UID is indexed already (a batch
    repeated after a crash): never a duplicate. `carried` maps UIDs to tombstones or rows
    of the same messages (index_texts_known): their text is taken over and the
    tombstones are consumed, in the caller's transaction. Returns how many were given."""
    if not entries:
        return 0
    carried = carried or {}
    IndexedMessage.objects.bulk_create(
        [_row(folder, entry, carried.get(entry.summary.uid)) for entry in entries],
        update_conflicts=True,
        unique_fields=["folder", "uid"],
        update_fields=_UPDATED,
        batch_size=SQL_CHUNK,
    )
    used = [tomb.pk for tomb in carried.values() if isinstance(tomb, VanishedMessage)]
    for chunk in _chunks(used):
        VanishedMessage.objects.filter(pk__in=chunk).delete()
    return len(entries)


# -- tombstones: two-phase deletes (mail-sync.md) ------------------------------------------


def _tombstone_key(message_id: str, internal_date, size: int) -> tuple:
    return (message_id, internal_date, size)


def _tombstones_make(folder: IndexedFolder, rows) -> None:
    """Keeps what only the index knows of these rows (see VanishedMessage), SQL_CHUNK rows
    at a time: a rebuilt folder of 100,000 messages must not sit in memory at once."""
    now = clock.now()
    columns = ("uid", "message_id", "internal_date", "size", "has_attachments", "preview",
               "search_text")  # fmt: skip
    batch: list[VanishedMessage] = []
    for values in rows.values_list(*columns).iterator(chunk_size=SQL_CHUNK):
        batch.append(
            VanishedMessage(
                account_id=folder.account_id,
                folder_name=folder.name,
                generation=folder.generation,
                vanished_at=now,
                **dict(zip(columns, values, strict=True)),
            )
        )
        if len(batch) >= SQL_CHUNK:
            VanishedMessage.objects.bulk_create(batch)
            batch = []
    VanishedMessage.objects.bulk_create(batch)


def index_texts_known(
    account: MailAccount, entries: Sequence[IndexEntry]
) -> dict[int, VanishedMessage | IndexedMessage]:
    """UID -> where the index already holds the text of the same message (Message-ID,
    internal date and size equal), for those entries that have one: a tombstone first
    (the message moved, or its folder got a new UIDVALIDITY; each tombstone goes to one
    entry at most), else a row of another folder of the account (copied there, or moved
    from a folder this sync has not looked at yet). Only entries with a Message-ID take
    part: date and size alone are too weak a key to give one message another's text."""
    wanted: dict[tuple, list[int]] = {}
    for entry in entries:
        summary = entry.summary
        if entry.message_id and summary.internal_date is not None:
            key = _tombstone_key(
                entry.message_id[:MESSAGE_ID_LENGTH], summary.internal_date, summary.size
            )
            wanted.setdefault(key, []).append(summary.uid)
    found: dict[int, VanishedMessage | IndexedMessage] = {}
    ids = sorted({key[0] for key in wanted})
    for chunk in _chunks(ids):
        tombs = VanishedMessage.objects.filter(account=account, message_id__in=chunk)
        for tomb in tombs.order_by("-vanished_at"):
            uids = wanted.get(_tombstone_key(tomb.message_id, tomb.internal_date, tomb.size))
            if uids:
                found[uids.pop()] = tomb
    ids = sorted({key[0] for key, uids in wanted.items() if uids})
    for chunk in _chunks(ids):
        live = IndexedMessage.objects.filter(folder__account=account, message_id__in=chunk)
        for row in live.only("message_id", "internal_date", "size", "preview", "search_text"):
            for uid in wanted.get(_tombstone_key(row.message_id, row.internal_date, row.size), []):
                found.setdefault(uid, row)
    return found


def index_tombstones_purge(account: MailAccount, *, before) -> int:
    """Drops the tombstones made before `before` (the start of the last complete sync:
    every folder was looked at since, so whatever they could re-link was re-linked)."""
    return VanishedMessage.objects.filter(account=account, vanished_at__lt=before).delete()[0]


def _chunks(uids: Sequence[int]) -> Iterable[list[int]]:
    uids = list(uids)
    for start in range(0, len(uids), SQL_CHUNK):
        yield uids[start : start + SQL_CHUNK]


def index_flags_set(folder: IndexedFolder, flags: dict[int, frozenset[str]]) -> int:
    """Sets the flags of indexed UIDs; returns how many rows actually changed (UIDs not in
    the index, and rows that already had these flags, are not counted)."""
    changed: dict[str, list[int]] = {}
    for chunk in _chunks(sorted(flags)):
        rows = IndexedMessage.objects.filter(folder=folder, uid__in=chunk)
        for uid, current in rows.values_list("uid", "flags"):
            wanted = flags_text(flags[uid])
            if wanted != current:
                changed.setdefault(wanted, []).append(uid)
    count = 0
    for text, uids in changed.items():
        columns = _flag_columns(frozenset(text.split()))
        for chunk in _chunks(uids):
            count += IndexedMessage.objects.filter(folder=folder, uid__in=chunk).update(**columns)
    return count


def index_uids_delete(folder: IndexedFolder, uids: Iterable[int]) -> int:
    """Removes these UIDs from the folder's index, leaving tombstones (two-phase delete);
    returns how many were there."""
    count = 0
    for chunk in _chunks(sorted(set(uids))):
        rows = IndexedMessage.objects.filter(folder=folder, uid__in=chunk)
        _tombstones_make(folder, rows)
        count += _deleted(rows)
    return count


def _deleted(rows) -> int:
    # Only the messages: delete() also counts rows that cascade from them.
    return rows.delete()[1].get(IndexedMessage._meta.label, 0)


def index_folder_clear(folder: IndexedFolder) -> int:
    """Removes every message of the folder from its index, leaving tombstones (a
    UIDVALIDITY change or a folder gone: its mail may come back under other UIDs)."""
    rows = IndexedMessage.objects.filter(folder=folder)
    _tombstones_make(folder, rows)
    return _deleted(rows)


def folder_counts_refresh(folder: IndexedFolder) -> None:
    """Message, unread and progress counts from the index. A folder not fully indexed keeps
    the server's message and unread counts; only its progress is counted here."""
    rows = IndexedMessage.objects.filter(folder=folder)
    folder.indexed_count = rows.count()
    fields = ["indexed_count"]
    if folder.fully_indexed:
        folder.messages = folder.total_count = folder.indexed_count
        folder.unseen = rows.filter(seen=False).count()
        fields += ["messages", "total_count", "unseen"]
    folder.save(update_fields=fields)


# -- folders -------------------------------------------------------------------------------


def _folder_columns(state: FolderState) -> dict:
    return {
        "delimiter": state.delimiter or "",
        "special_use": state.special_use or "",
        "selectable": state.selectable,
    }


def index_folder_create(account: MailAccount, state: FolderState) -> IndexedFolder:
    return IndexedFolder.objects.create(
        account=account,
        name=state.name,
        messages=state.messages,
        unseen=state.unseen,
        total_count=state.messages,
        **_folder_columns(state),
    )


def index_folder_update(folder: IndexedFolder, state: FolderState) -> None:
    """Takes over what LIST said of the folder (and, until it is fully indexed, the
    server's counts, which lists show meanwhile)."""
    columns = _folder_columns(state)
    if not folder.fully_indexed:
        columns.update(messages=state.messages, unseen=state.unseen, total_count=state.messages)
    changed = [name for name, value in columns.items() if getattr(folder, name) != value]
    for name in changed:
        setattr(folder, name, columns[name])
    if changed:
        folder.save(update_fields=changed)


def index_folders_reconcile(
    account: MailAccount, states: Sequence[FolderState]
) -> tuple[list[tuple[IndexedFolder, FolderState]], dict[str, int]]:
    """Makes the account's folder rows match the server's folder list: new folders get a
    row, folders gone lose theirs (and their messages). A folder gone whose UIDVALIDITY
    reappears under exactly one new name was renamed elsewhere: its row and messages move
    to the new name (servers keep UIDVALIDITY across RENAME; should one not, the folder's
    sync sees the different UIDVALIDITY and rebuilds it). Returns the rows with their
    states, and the counts of folders created, deleted and renamed."""
    by_name: dict[str, FolderState] = {}
    for state in states:
        if len(state.name.encode()) <= 2000:  # beyond that, no database index takes it
            by_name.setdefault(state.name, state)
    counts = {"created": 0, "deleted": 0, "renamed": 0}
    with transaction.atomic():
        rows = {row.name: row for row in IndexedFolder.objects.filter(account=account)}
        gone = [row for name, row in rows.items() if name not in by_name]
        new = [state for name, state in by_name.items() if name not in rows]
        for state in list(new):
            if not state.uidvalidity:
                continue
            was = [row for row in gone if row.uidvalidity == state.uidvalidity]
            twins = [other for other in new if other.uidvalidity == state.uidvalidity]
            if len(was) == 1 and len(twins) == 1:
                row = was[0]
                del rows[row.name]
                row.name = state.name
                row.save(update_fields=["name"])
                rows[row.name] = row
                gone.remove(row)
                new.remove(state)
                counts["renamed"] += 1
        for row in gone:
            del rows[row.name]
            index_folder_clear(row)
            row.delete()
            counts["deleted"] += 1
        for state in new:
            rows[state.name] = index_folder_create(account, state)
            counts["created"] += 1
        pairs = []
        for name, state in by_name.items():
            index_folder_update(rows[name], state)
            pairs.append((rows[name], state))
    return pairs, counts


# -- write-through hooks for the organise and folder services ------------------------------


def _indexed_folder(account: MailAccount, folder: str, uidvalidity: int) -> IndexedFolder | None:
    """The folder's row, if the index holds it under this UIDVALIDITY."""
    return IndexedFolder.objects.filter(
        account=account, name=folder, uidvalidity=uidvalidity
    ).first()


def _hook(function):
    """A hook failing (a database hiccup, a constraint a concurrent sync got to first)
    must not turn an action the server did into an error page: log, and let the next
    sync put the index right."""

    def guarded(*args, **kwargs):
        try:
            with transaction.atomic():
                return function(*args, **kwargs)
        except (DatabaseError, IntegrityError):
            log.exception("index write-through %s failed", function.__name__)
            return None

    guarded.__name__ = function.__name__
    guarded.__doc__ = function.__doc__
    return guarded


@_hook
def index_flags_changed(
    *,
    account: MailAccount,
    folder: str,
    uidvalidity: int,
    uids: Sequence[int],
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
) -> None:
    """The server added `add` and removed `remove` on these UIDs."""
    row = _indexed_folder(account, folder, uidvalidity)
    if row is None or not uids:
        return
    flags: dict[int, frozenset[str]] = {}
    for chunk in _chunks(sorted(set(uids))):
        rows = IndexedMessage.objects.filter(folder=row, uid__in=chunk)
        for uid, current in rows.values_list("uid", "flags"):
            flags[uid] = (frozenset(current.split()) | set(add)) - set(remove)
    if index_flags_set(row, flags):
        folder_counts_refresh(row)


@_hook
def index_messages_removed(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: Sequence[int]
) -> None:
    """The server moved these UIDs away or expunged them."""
    row = _indexed_folder(account, folder, uidvalidity)
    if row is None or not uids:
        return
    if index_uids_delete(row, uids):
        folder_counts_refresh(row)


@_hook
def index_messages_moved(
    *,
    account: MailAccount,
    folder: str,
    uidvalidity: int,
    target: str,
    target_uidvalidity: int,
    new_uids: dict[int, int],
) -> bool:
    """The server moved these UIDs to `target`, where they got `new_uids` (old UID -> new,
    from COPYUID, RFC 4315). When the target's index holds that UIDVALIDITY, the rows move
    over at once with all they know (body text included), so the target lists them before
    the next sync. Its UIDNEXT stays: that sync still fetches from there and skips the
    UIDs indexed here. The rows themselves move (folder and UID updated), so their
    rendered bodies stay with them, except renderings that link the message's own images:
    those links name the old folder and UID. Returns False when the rows could not all be
    moved (the caller then marks the target as not fully indexed)."""
    source = _indexed_folder(account, folder, uidvalidity)
    target_row = _indexed_folder(account, target, target_uidvalidity)
    if source is None or target_row is None or not target_row.fully_indexed or not new_uids:
        return False
    moved: list[IndexedMessage] = []
    for chunk in _chunks(sorted(new_uids)):
        rows = IndexedMessage.objects.filter(folder=source, uid__in=chunk).only("pk", "uid")
        moved += rows
    # A sync that ran in between may have indexed some in the target already: those stay,
    # and the source's copies go.
    taken: set[int] = set()
    for chunk in _chunks(sorted(new_uids[row.uid] for row in moved)):
        rows = IndexedMessage.objects.filter(folder=target_row, uid__in=chunk)
        taken.update(rows.values_list("uid", flat=True))
    stale = [row.pk for row in moved if new_uids[row.uid] in taken]
    moving = [row for row in moved if new_uids[row.uid] not in taken]
    for chunk in _chunks(stale):
        IndexedMessage.objects.filter(pk__in=chunk).delete()
    for row in moving:
        row.folder, row.uid = target_row, new_uids[row.uid]
    IndexedMessage.objects.bulk_update(moving, ["folder", "uid"], batch_size=SQL_CHUNK)
    for chunk in _chunks([row.pk for row in moving]):
        RenderedBody.objects.filter(message_id__in=chunk, expires_at__isnull=False).delete()
    folder_counts_refresh(source)
    folder_counts_refresh(target_row)
    return len(moved) == len(new_uids)


@_hook
def index_folder_grew(*, account: MailAccount, folder: str) -> None:
    """Mail went into `folder` (moved there, appended) under UIDs the index does not know:
    until the next sync has fetched them, its list comes from the server. A POP3
    account's local folders are the store itself, always complete: nothing to do."""
    if account.protocol == MailAccount.Protocol.POP3:
        return
    IndexedFolder.objects.filter(account=account, name=folder, fully_indexed=True).update(
        fully_indexed=False
    )


@_hook
def index_folder_renamed(
    *, account: MailAccount, folder: str, new_name: str, delimiter: str | None
) -> None:
    """Renaming a folder renames the folders inside it too; UIDs and UIDVALIDITY stay."""
    rows = IndexedFolder.objects.filter(account=account)
    inside = Q(name=folder)
    if delimiter:
        inside |= Q(name__startswith=folder + delimiter)
    for row in rows.filter(inside):
        row.name = new_name + row.name[len(folder) :]
        row.save(update_fields=["name"])


@_hook
def index_folder_deleted(*, account: MailAccount, folder: str) -> None:
    IndexedFolder.objects.filter(account=account, name=folder).delete()


@_hook
def index_folder_added(*, account: MailAccount, folder: str, delimiter: str | None) -> None:
    """A folder made here: listed at once, empty until its first sync says otherwise."""
    if IndexedFolder.objects.filter(account=account).exists():
        IndexedFolder.objects.get_or_create(
            account=account, name=folder, defaults={"delimiter": delimiter or ""}
        )


def indexed_folder_info(row: IndexedFolder) -> FolderInfo:
    """A folder's row as the same FolderInfo the server's folder list gives."""
    return FolderInfo(
        name=row.name,
        delimiter=row.delimiter or None,
        special_use=row.special_use or None,
        selectable=row.selectable,
        messages=row.messages,
        unseen=row.unseen,
    )


def indexed_summary(row: IndexedMessage) -> MessageSummary:
    """A row of the index as the same summary the server's list gives."""
    sender = Address(name=row.from_name, addr=row.from_addr)
    return MessageSummary(
        uid=row.uid,
        subject=row.subject,
        sender=sender if (sender.name or sender.addr) else None,
        recipients=tuple(address_list(row.to)),
        date=row.date,
        internal_date=row.internal_date,
        size=row.size,
        flags=frozenset(row.flags.split()),
        has_attachments=row.has_attachments,
    )
