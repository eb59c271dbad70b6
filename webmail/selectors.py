"""Reads: what the mail pages show, from the local index or through an open store.

Views open one store per request (services.stores.store_open) and hand it to these
functions, so a page costs one connection however many reads it makes. Folder lists and
message lists come from the local index (webmail.models) once the sync has indexed the
folder; then the page needs no connection at all (services.stores.store_open_lazy).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Sum
from django.db.models.functions import Least
from django.utils.translation import gettext_lazy as _

from accounts.models import MailAccount
from webmail import clock
from webmail.mime.model import ParsedMessage, PartContent
from webmail.mime.parse import message_parse, message_part
from webmail.models import IndexedFolder, IndexedMessage
from webmail.paging import PageLinks
from webmail.protocols.errors import FolderNotFound, MailServerError, MessageNotFound
from webmail.protocols.store import (
    FolderInfo,
    FolderPage,
    MailStore,
    MessageSummary,
    Quota,
    RawMessage,
)
from webmail.sanitize import SANITIZER_VERSION, SanitizedHtml
from webmail.services.bodies import (
    body_cached,
    body_keep,
    body_message_id,
    body_page_cached,
    body_page_keep,
    body_sanitize,
)
from webmail.services.index import index_flags_changed, indexed_folder_info, indexed_summary
from webmail.services.pop3_quota import pop3_quota
from webmail.services.reading import message_seen_queue
from webmail.services.stores import store_open
from webmail.services.sync import UIDVALIDITY_ALERT

log = logging.getLogger(__name__)

# Special-use folders come first, in this order, named in the reader's language (RFC 6154).
SPECIAL_ORDER = ["INBOX", "\\Drafts", "\\Sent", "\\Archive", "\\Junk", "\\Trash"]
SPECIAL_LABELS = {
    "INBOX": _("Inbox"),
    "\\Drafts": _("Drafts"),
    "\\Sent": _("Sent"),
    "\\Archive": _("Archive"),
    "\\Junk": _("Junk"),
    "\\Trash": _("Trash"),
    "\\All": _("All mail"),
    "\\Flagged": _("Flagged"),
}
BODY_CACHE_SECONDS = 600


@dataclass(frozen=True)
class FolderEntry:
    info: FolderInfo
    label: str
    depth: int
    kind: str  # "inbox", "drafts", "sent", "archive", "junk", "trash", "all", "flagged", ""


@dataclass(frozen=True)
class MailboxView(PageLinks):
    folders: list[FolderEntry]
    current: FolderEntry
    page: FolderPage
    page_number: int  # 1-based
    page_count: int
    from_index: bool = False  # read from the local index, not from the server


def _role(info: FolderInfo) -> str:
    return "INBOX" if info.name.upper() == "INBOX" else (info.special_use or "")


def folder_entries(folders: list[FolderInfo]) -> list[FolderEntry]:
    """INBOX and special-use folders first (top level only), then the rest as a tree in
    name order, so children follow their parent."""
    special, others = [], []
    for info in folders:
        role = _role(info)
        if role in SPECIAL_ORDER and info.depth == 0:
            special.append(info)
        else:
            others.append(info)
    special.sort(key=lambda f: SPECIAL_ORDER.index(_role(f)))
    others.sort(key=lambda f: [part.casefold() for part in f.parts])
    entries = []
    for info in special + others:
        role = _role(info)
        label = SPECIAL_LABELS.get(role, info.leaf)
        kind = role.lstrip("\\").lower()
        depth = 0 if info in special else info.depth
        entries.append(FolderEntry(info=info, label=str(label), depth=depth, kind=kind))
    return entries


def mailbox_read(
    *, store: MailStore, folder: str, page: int, account: MailAccount | None = None
) -> MailboxView:
    """The folder list and one page of the folder's messages, newest first. With the
    `account`, both come from the local index where it holds them: the folder list (with
    unread counts) once the account's folders are indexed, the page once the folder is
    fully indexed; `store` is then not used. Everything else comes from the server."""
    rows = _indexed_folders(account) if account is not None else []
    if rows:
        entries = folder_entries([indexed_folder_info(row) for row in rows])
        row = next((r for r in rows if r.name == folder), None)
        if row is not None and row.fully_indexed and row.selectable:
            return _mailbox_from_index(entries, row, page)
        current = next((e for e in entries if e.info.name == folder), None)
    if not rows or current is None:  # not indexed yet, or made since the last sync
        entries = folder_entries(store.folders())
        current = next((e for e in entries if e.info.name == folder), None)
    if current is None or not current.info.selectable:
        raise FolderNotFound(folder)
    size = settings.MAIL_PAGE_SIZE
    page = max(1, page)
    folder_page = store.folder_page(folder, offset=(page - 1) * size, limit=size)
    page_count = max(1, math.ceil(folder_page.total / size))
    if page > page_count:  # a stale link after mail was deleted: show the last page
        page = page_count
        folder_page = store.folder_page(folder, offset=(page - 1) * size, limit=size)
    return MailboxView(
        folders=entries,
        current=current,
        page=folder_page,
        page_number=page,
        page_count=page_count,
    )


def _indexed_folders(account: MailAccount) -> list[IndexedFolder]:
    return list(
        IndexedFolder.objects.filter(account=account).only(
            "name", "delimiter", "special_use", "selectable", "messages", "unseen",
            "uidvalidity", "fully_indexed",
        )
    )  # fmt: skip


_SUMMARY_COLUMNS = [
    "uid", "subject", "from_name", "from_addr", "to", "date", "internal_date", "size",
    "flags", "has_attachments",
]  # fmt: skip


def _mailbox_from_index(entries: list[FolderEntry], row: IndexedFolder, page: int) -> MailboxView:
    """One page newest first (by UID, which is arrival order, as the server's list is),
    counted from the folder's row rather than by a COUNT over its messages."""
    current = next(e for e in entries if e.info.name == row.name)
    size = settings.MAIL_PAGE_SIZE
    page_count = max(1, math.ceil(row.messages / size))
    page = min(max(1, page), page_count)  # a stale link after mail was deleted: the last page
    offset = (page - 1) * size
    messages = (
        IndexedMessage.objects.filter(folder_id=row.pk)
        .only(*_SUMMARY_COLUMNS)
        .order_by("-uid")[offset : offset + size]
    )
    return MailboxView(
        folders=entries,
        current=current,
        page=FolderPage(
            folder=row.name,
            uidvalidity=row.uidvalidity,
            total=row.messages,
            offset=offset,
            summaries=[indexed_summary(message) for message in messages],
        ),
        page_number=page,
        page_count=page_count,
        from_index=True,
    )


def _body_cache_key(account: MailAccount, folder: str, uidvalidity: int, uid: int,
                    part: str | None, images: bool) -> str:
    folder_digest = hashlib.sha256(folder.encode()).hexdigest()[:16]
    return (
        f"body:v{SANITIZER_VERSION}:{account.pk}:{folder_digest}:{uidvalidity}:{uid}:"
        f"{part or ''}:{int(images)}"
    )


@dataclass(frozen=True)
class OpenedMessage:
    uid: int
    uidvalidity: int
    part: str | None
    flags: frozenset[str]
    size: int  # of the whole message, also when only its beginning was read
    parsed: ParsedMessage


def _message_read(store: MailStore, folder: str, uidvalidity: int, uid: int) -> RawMessage:
    """The message for showing it: whole up to MAIL_MAX_PARSE_BYTES, else only that many of
    its first bytes (`truncated`), so a 500 MB message never sits in a web process."""
    return store.message_raw(
        folder, uid, uidvalidity=uidvalidity, max_bytes=settings.MAIL_MAX_PARSE_BYTES
    )


def _message_parse(raw: RawMessage, part: str | None) -> ParsedMessage:
    return message_parse(
        raw.data, part=part, max_bytes=settings.MAIL_MAX_PARSE_BYTES, truncated=raw.truncated
    )


def message_open(
    *,
    store: MailStore,
    folder: str,
    uidvalidity: int,
    uid: int,
    part: str | None = None,
    account: MailAccount | None = None,
) -> OpenedMessage:
    """Fetches and parses the message (only its beginning, if it is larger than
    MAIL_MAX_PARSE_BYTES: `parsed.truncated`), and marks it read on the server as a reader
    expects (the fetch itself never sets \\Seen; this explicit STORE does, checked against
    UIDVALIDITY), and then in the `account`'s index (write-through)."""
    raw = _message_read(store, folder, uidvalidity, uid)
    parsed = _message_parse(raw, part)
    flags = raw.flags
    if "\\Seen" not in flags:
        store.flags_add(folder, [uid], ["\\Seen"], uidvalidity=uidvalidity)
        flags = flags | {"\\Seen"}
        if account is not None:
            index_flags_changed(
                account=account, folder=folder, uidvalidity=uidvalidity, uids=[uid], add=["\\Seen"]
            )
    return OpenedMessage(
        uid=uid, uidvalidity=uidvalidity, part=part, flags=flags, size=raw.size, parsed=parsed
    )


@dataclass(frozen=True)
class IndexedOpenedMessage(OpenedMessage):
    body: SanitizedHtml | None = None  # its rendering as first shown (no remote images)


def message_open_indexed(
    *, account: MailAccount, folder: str, uidvalidity: int, uid: int
) -> IndexedOpenedMessage | None:
    """The message from the database alone, when its folder is fully indexed under this
    UIDVALIDITY and its body is rendered with the page's data (services.bodies); else
    None, and the caller opens it from the server (message_open). Marks it read in the
    index at once and queues the STORE of \\Seen to the server (services.reading)."""
    found = body_page_cached(account=account, folder=folder, uidvalidity=uidvalidity, uid=uid)
    if found is None:
        return None
    flags = found.flags
    if "\\Seen" not in flags:
        index_flags_changed(
            account=account, folder=folder, uidvalidity=uidvalidity, uids=[uid], add=["\\Seen"]
        )
        message_seen_queue(account=account, folder=folder, uidvalidity=uidvalidity, uid=uid)
        flags = flags | {"\\Seen"}
    return IndexedOpenedMessage(
        uid=uid, uidvalidity=uidvalidity, part=None, flags=flags, size=found.size,
        parsed=found.parsed, body=found.body,
    )


def message_body(
    *,
    account: MailAccount,
    folder: str,
    uidvalidity: int,
    uid: int,
    part: str | None,
    images: bool,
    parsed: ParsedMessage | None = None,
) -> SanitizedHtml:
    """The sanitized body. While the message is indexed, from the database when the
    worker's pre-render or an earlier open stored it (one query, no mail server), else
    rendered and stored there. A message not in the index is rendered and kept in this
    process's cache for a while (the page and then its body frame both need it).
    Rendering takes `parsed` when the caller has just parsed the message, else fetches it
    without marking it read."""
    where = {"account": account, "folder": folder, "uidvalidity": uidvalidity, "uid": uid}
    body = body_cached(**where, part=part, images=images)
    if body is not None:
        if parsed is not None and not part:  # the page just parsed it: keep its data too
            body_page_keep(**where, parsed=parsed)
        return body
    message_id = body_message_id(**where)
    key = _body_cache_key(account, folder, uidvalidity, uid, part, images)
    if message_id is None:
        body = cache.get(key)
        if body is not None:
            return body
    if parsed is None:
        with store_open(account) as store:
            raw = _message_read(store, folder, uidvalidity, uid)
        parsed = _message_parse(raw, part)
    body, links_expire = body_sanitize(**where, parsed=parsed, images=images)
    if message_id is not None:
        body_keep(
            account=account, message_id=message_id, part=part, images=images, body=body,
            links_expire=links_expire, parsed=parsed,
        )
    else:
        cache.set(key, body, BODY_CACHE_SECONDS)
    return body


def message_part_get(
    *, store: MailStore, folder: str, uidvalidity: int, uid: int, part_id: str
) -> PartContent:
    """One part of a message up to MAIL_MAX_PARSE_BYTES; the parts of a larger one are not
    listed on its page, and only come with the original."""
    raw = _message_read(store, folder, uidvalidity, uid)
    if raw.truncated:
        raise MessageNotFound(f"part {part_id} of a message too large to read")
    content = message_part(raw.data, part_id, max_bytes=settings.MAIL_MAX_PARSE_BYTES)
    if content is None:
        raise MessageNotFound(f"part {part_id}")
    return content


def message_original(*, store: MailStore, folder: str, uidvalidity: int, uid: int) -> bytes:
    """The message's exact bytes as the server holds them: whole, whatever its size (the
    views hand them out as one response; streaming them is not done yet)."""
    return store.message_raw(folder, uid, uidvalidity=uidvalidity).data


# -- quota ------------------------------------------------------------------------------

QUOTA_CACHE_SECONDS = 300  # usage changes slowly; no page should wait for GETQUOTAROOT
QUOTA_WARNING_PERCENT = 80
QUOTA_CRITICAL_PERCENT = 95
_NOT_CACHED = object()


@dataclass(frozen=True)
class QuotaUsage:
    """What the sidebar and the accounts page show of an account's storage quota."""

    used_bytes: int
    limit_bytes: int
    percent: int  # rounded down, so "80%" is never shown below the warning line; may pass 100
    level: str  # "ok", "warning" (>= 80%) or "critical" (>= 95%)
    messages: int | None
    message_limit: int | None

    @property
    def meter_value(self) -> int:
        return min(self.used_bytes, self.limit_bytes)  # a <meter> cannot show an overrun

    @property
    def warning_bytes(self) -> int:
        return self.limit_bytes * QUOTA_WARNING_PERCENT // 100

    @property
    def critical_bytes(self) -> int:
        return self.limit_bytes * QUOTA_CRITICAL_PERCENT // 100


def quota_usage_from(quota: Quota) -> QuotaUsage:
    percent = quota.used_bytes * 100 // quota.limit_bytes
    if percent >= QUOTA_CRITICAL_PERCENT:
        level = "critical"
    elif percent >= QUOTA_WARNING_PERCENT:
        level = "warning"
    else:
        level = "ok"
    return QuotaUsage(
        used_bytes=quota.used_bytes,
        limit_bytes=quota.limit_bytes,
        percent=percent,
        level=level,
        messages=quota.messages,
        message_limit=quota.message_limit,
    )


def _quota_cache_key(account: MailAccount) -> str:
    # The server and login are part of the key: an account pointed at another mailbox
    # must not show the old one's usage for five minutes.
    where = f"{account.incoming_host}:{account.incoming_port}:{account.incoming_login}"
    return f"quota:{account.pk}:{hashlib.sha256(where.encode()).hexdigest()[:16]}"


def quota_usage(*, account: MailAccount, store: MailStore) -> QuotaUsage | None:
    """The INBOX's storage quota for the sidebar: from the cache when it was read in the
    last QUOTA_CACHE_SECONDS, else asked through the caller's open `store` (ask last, after
    the page's own reads). None when the server has no quota, no storage limit, or could
    not say: a failure is logged and remembered for the same time, so a server that hangs
    on GETQUOTAROOT slows one page in five minutes, not every page, and never breaks it.
    A POP3 account's is its server mailbox's, from the database (`_pop3_quota_usage`)."""
    if account.protocol == MailAccount.Protocol.POP3:
        return _pop3_quota_usage(account)
    key = _quota_cache_key(account)
    cached = cache.get(key, _NOT_CACHED)
    if cached is not _NOT_CACHED:
        return cached
    try:
        quota = store.quota("INBOX")
    except MailServerError as exc:
        log.warning("quota of account %s unreadable: %s", account.pk, exc.code)
        quota = None
    usage = quota_usage_from(quota) if quota is not None else None
    cache.set(key, usage, QUOTA_CACHE_SECONDS)
    return usage


def quota_usage_cached(*, account: MailAccount) -> QuotaUsage | None:
    """The usage a page read in the last QUOTA_CACHE_SECONDS, without asking the server
    (the accounts page lists every account and opens no connection for this)."""
    if account.protocol == MailAccount.Protocol.POP3:
        return _pop3_quota_usage(account)
    cached = cache.get(_quota_cache_key(account))
    return cached if isinstance(cached, QuotaUsage) else None


def _pop3_quota_usage(account: MailAccount) -> QuotaUsage | None:
    """The POP3 server mailbox as the last fetch saw it against the limit the user or an
    admin entered (POP3 has no quota command): one query, no cache needed."""
    quota = pop3_quota(account=account)
    return quota_usage_from(quota) if quota is not None else None


# -- sync state ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncStatus:
    """What the sidebar and the accounts page say about an account's background sync."""

    indexed: int  # messages indexed so far by folders on their first sync
    total: int  # messages those folders hold; 0 when no folder is on its first sync
    error: str  # the last sync's failure in the reader's words, "" after a success
    error_at: datetime | None
    last_synced_at: datetime | None
    warning: str = ""  # something the reader should know although syncs succeed

    @property
    def in_progress(self) -> bool:
        return self.indexed < self.total


def sync_status(*, account: MailAccount) -> SyncStatus:
    """Progress of the first sync ("12,300 of 100,000": only folders that never finished
    a sync count, so new mail arriving later shows no bar) and the last error."""
    totals = IndexedFolder.objects.filter(account=account, synced_at__isnull=True).aggregate(
        indexed=Sum(Least("indexed_count", "total_count")), total=Sum("total_count")
    )
    return SyncStatus(
        indexed=totals["indexed"] or 0,
        total=totals["total"] or 0,
        error=account.sync_error if account.sync_failures else "",
        error_at=account.sync_error_at,
        last_synced_at=account.last_synced_at,
        warning=_uidvalidity_warning(account),
    )


def _uidvalidity_warning(account: MailAccount) -> str:
    """A folder whose UIDVALIDITY keeps changing is read again in full each time: a server
    fault (a broken index, a restore loop) its administrator should hear about."""
    folder = (
        IndexedFolder.objects.filter(
            account=account,
            uidvalidity_changes__gt=UIDVALIDITY_ALERT,
            uidvalidity_changes_since__gte=clock.now() - timedelta(days=1),
        )
        .order_by("-uidvalidity_changes")
        .first()
    )
    if folder is None:
        return ""
    return _(
        "The mail server keeps resetting the folder “%(folder)s” (%(count)d times in a "
        "day), so its mail has to be read again each time. If this goes on, tell the "
        "server's administrator."
    ) % {"folder": folder.name, "count": folder.uidvalidity_changes}


@dataclass(frozen=True)
class AccountUnread:
    account_id: int
    email: str
    unread_inbox: int
    folders: dict[str, int]  # folder name -> unseen, as the last sync saw it


def unread_counts(*, user) -> list[AccountUnread]:
    """Unread messages per folder of every account of `user`, from the index alone: the
    page polls this, so it must never wait for a mail server."""
    accounts = list(user.mail_accounts.order_by("pk").values_list("pk", "email"))
    folders: dict[int, dict[str, int]] = {pk: {} for pk, _email in accounts}
    rows = IndexedFolder.objects.filter(account__user=user, selectable=True).values_list(
        "account_id", "name", "unseen"
    )
    for account_id, name, unseen in rows:
        folders[account_id][name] = unseen
    return [
        AccountUnread(
            account_id=pk,
            email=email,
            unread_inbox=folders[pk].get("INBOX", 0),
            folders=folders[pk],
        )
        for pk, email in accounts
    ]


@dataclass(frozen=True)
class InboxRow:
    """A message of "All inboxes", with the account it belongs to."""

    summary: MessageSummary
    account_id: int
    account_email: str
    uidvalidity: int


@dataclass(frozen=True)
class AllInboxesPage(PageLinks):
    rows: list[InboxRow]
    total: int
    page_number: int
    page_count: int


def all_inboxes_page(*, user, page: int) -> AllInboxesPage:
    """The INBOX of every account of `user` as one list, newest first, from the index
    (MAIL_PAGE_SIZE a page): no mail server is asked."""
    rows = IndexedMessage.objects.filter(folder__account__user=user, folder__name="INBOX")
    total = rows.count()
    size = settings.MAIL_PAGE_SIZE
    page_count = max(1, math.ceil(total / size))
    page = max(1, min(page, page_count))
    newest_first = rows.select_related("folder__account").order_by(
        F("date").desc(nulls_last=True), "-id"
    )
    found = newest_first[(page - 1) * size : page * size]
    return AllInboxesPage(
        rows=[
            InboxRow(
                summary=indexed_summary(row),
                account_id=row.folder.account_id,
                account_email=row.folder.account.email,
                uidvalidity=row.folder.uidvalidity,
            )
            for row in found
        ],
        total=total,
        page_number=page,
        page_count=page_count,
    )
