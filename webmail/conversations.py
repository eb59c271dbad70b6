"""Reads for conversations: the thread of one message, and a folder listed by thread.

Both read the local index only (no mail server), across the folder and the account's
Sent folders (special use \\Sent; the INBOX when Sent is the folder read), and group
with webmail.threads. Both bound their work, since a folder may hold 100,000 messages
and only `message_id` has an index of its own (In-Reply-To and References have none):

- The conversation of a message: its ancestors by the ids its headers name (message_id
  index, CLOSURE_ROUNDS rounds); then, per folder, the WINDOW messages dated from the
  conversation's start on, read as narrow tuples through the folder/date index, of
  which those naming a known id join (replies, replies to those, other branches), or
  without reference headers share its subject; for a reply without reference headers
  also the WINDOW before it, where its original is. At most CONVERSATION_CAP messages.
  A reply that came more than WINDOW messages after the start is missed when an older
  message is opened, never when the newest one is: its References name its ancestors.
- The conversation list groups the newest THREAD_WINDOW messages of the folder (by UID,
  arrival order, through the unique folder/UID index) with the Sent messages of the same
  time, and pages through those conversations; older mail is in the message list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Q

from accounts.models import MailAccount
from webmail.models import IndexedFolder, IndexedMessage
from webmail.paging import PageLinks
from webmail.protocols.store import MessageSummary
from webmail.services.index import indexed_summary
from webmail.threads import ThreadItem, references_split, subject_parts, threads_build

CONVERSATION_CAP = 200  # messages gathered for one conversation
CLOSURE_ROUNDS = 3
WINDOW = 500  # messages per folder read (narrow rows) from the conversation's start on
THREAD_WINDOW = 2000  # newest messages of a folder the conversation list groups

_COLUMNS = [
    "folder_id", "uid", "message_id", "in_reply_to", "references", "subject", "from_name",
    "from_addr", "to", "date", "internal_date", "size", "flags", "has_attachments",
]  # fmt: skip


# What linking needs, read as tuples from the windows of a conversation.
_LINK_COLUMNS = ["pk", "message_id", "in_reply_to", "references", "subject", "date"]
# What grouping needs, read as tuples for the conversation list.
_THREAD_COLUMNS = [
    "pk", "folder_id", "uid", "message_id", "in_reply_to", "references", "subject", "date",
    "internal_date", "flags",
]  # fmt: skip


@dataclass(frozen=True)
class ConversationEntry:
    summary: MessageSummary
    folder: str
    uidvalidity: int
    place: str  # "" in the folder being read, else "sent" or "inbox"
    current: bool  # the message being read


def _item(row: IndexedMessage) -> ThreadItem:
    return ThreadItem(
        key=row.pk,
        message_id=row.message_id,
        in_reply_to=row.in_reply_to,
        references=references_split(row.references),
        subject=row.subject,
        date=row.date or row.internal_date,
    )


def _ids(row: IndexedMessage) -> set[str]:
    return {i for i in (row.message_id, row.in_reply_to, *references_split(row.references)) if i}


def _folders(account: MailAccount, folder: str) -> tuple[IndexedFolder | None, list[IndexedFolder]]:
    """The folder being read (None unless fully indexed) and the other side of its
    conversations: the account's Sent folders, or the INBOX when reading Sent."""
    rows = IndexedFolder.objects.filter(account=account, selectable=True).filter(
        Q(name=folder) | Q(special_use="\\Sent") | Q(name="INBOX")
    )
    rows = list(rows.only("name", "special_use", "uidvalidity", "fully_indexed", "messages"))
    current = next((r for r in rows if r.name == folder and r.fully_indexed), None)
    if current is None:
        return None, []
    side = "INBOX" if current.special_use == "\\Sent" else "\\Sent"
    return current, [r for r in rows if r.name != folder and side in (r.name, r.special_use)]


def _place(folder: IndexedFolder) -> str:
    return "sent" if folder.special_use == "\\Sent" else "inbox"


def _entries(rows, folders: dict[int, IndexedFolder], current_folder: int, current_pk=None):
    """Conversation entries oldest first; a message kept in both folders (mail to oneself)
    shows once, from the folder being read."""
    by_message_id: dict[str, IndexedMessage] = {}
    kept = []
    for row in rows:
        if row.message_id:
            other = by_message_id.get(row.message_id)
            if other is not None:
                if other.folder_id != current_folder and row.folder_id == current_folder:
                    kept[kept.index(other)] = row
                    by_message_id[row.message_id] = row
                continue
            by_message_id[row.message_id] = row
        kept.append(row)
    return [
        ConversationEntry(
            summary=indexed_summary(row),
            folder=folders[row.folder_id].name,
            uidvalidity=folders[row.folder_id].uidvalidity,
            place=_place(folders[row.folder_id]) if row.folder_id != current_folder else "",
            current=row.pk == current_pk,
        )
        for row in kept
    ]


def _linked(window: list, found: dict[int, IndexedMessage]) -> list[int]:
    """The rows of `window` that name an id of the conversation (found so far, growing
    as rows join it: replies to replies), or, without reference headers, share its
    subject; threads_build makes the final choice. Twice over, for replies dated before
    their parent by a wrong clock."""
    known = set().union(*(_ids(row) for row in found.values()))
    subjects = {subject_parts(row.subject)[0] for row in found.values()} - {""}
    window = sorted(window, key=lambda row: (row.date is not None, row.date or datetime.min))
    picked: dict[int, None] = {}
    for _pass in range(2):
        grew = False
        for row in window:
            if row.pk in found or row.pk in picked:
                continue
            names = _ids(row)
            headerless = not (row.in_reply_to or row.references)
            if names & known or (headerless and subject_parts(row.subject)[0] in subjects):
                picked[row.pk] = None
                known |= names
                grew = True
                if len(found) + len(picked) >= CONVERSATION_CAP:
                    return list(picked)
        if not grew:
            break
    return list(picked)


def conversation_for_message(
    *, account: MailAccount, folder: str, uidvalidity: int, uid: int
) -> list[ConversationEntry]:
    """The conversation of one message from the index, oldest first, with the message
    itself marked `current`; empty when the folder is not indexed (yet) or the message
    is alone."""
    current_folder, sent = _folders(account, folder)
    if current_folder is None or current_folder.uidvalidity != uidvalidity:
        return []
    folders = {f.pk: f for f in (current_folder, *sent)}
    rows = IndexedMessage.objects.filter(folder_id__in=list(folders)).only(*_COLUMNS)
    current = rows.filter(folder_id=current_folder.pk, uid=uid).first()
    if current is None:
        return []
    found = {current.pk: current}
    asked: set[str] = set()
    wanted = _ids(current)
    for _round in range(CLOSURE_ROUNDS):
        new = wanted - asked
        if not new or len(found) >= CONVERSATION_CAP:
            break
        asked |= new
        for row in rows.filter(message_id__in=sorted(new))[: CONVERSATION_CAP - len(found)]:
            found.setdefault(row.pk, row)
            wanted |= _ids(row)
    dates = [d for d in (r.date for r in found.values()) if d is not None]
    window: list = []
    for folder_pk in folders:  # one query each, so each walks its folder/date index
        in_folder = IndexedMessage.objects.filter(folder_id=folder_pk)
        if dates:  # later replies and other branches, from the conversation's start on
            after = in_folder.filter(date__gte=min(dates)).order_by("date")
            window += after.values_list(*_LINK_COLUMNS, named=True)[:WINDOW]
        if current.date and not (current.in_reply_to or current.references):
            # A header-less reply: its original came before it.
            before = in_folder.filter(date__lte=current.date).order_by("-date")
            window += before.values_list(*_LINK_COLUMNS, named=True)[:WINDOW]
    picked = _linked(window, found)
    if picked:
        found.update((row.pk, row) for row in rows.filter(pk__in=picked))
    for conversation in threads_build(_item(row) for row in found.values()):
        keys = [item.key for item in conversation.items]
        if current.pk in keys:
            if len(keys) < 2:
                return []
            members = [found[key] for key in keys]
            return _entries(members, folders, current_folder.pk, current.pk)
    return []


@dataclass(frozen=True)
class ConversationRow:
    """One conversation in a folder's list: its newest message in that folder."""

    summary: MessageSummary
    messages: int  # in the folder and in Sent, a copy kept in both counted once
    unread: int  # in the folder
    uids: frozenset[int]  # its messages in the folder


@dataclass(frozen=True)
class ConversationPage(PageLinks):
    rows: list[ConversationRow]
    uidvalidity: int
    page_number: int  # 1-based
    page_count: int
    partial: bool  # the folder holds more than the THREAD_WINDOW grouped


def _conversation_row(members: list, folder_pk: int, summary: MessageSummary) -> ConversationRow:
    here = [row for row in members if row.folder_id == folder_pk]
    copies = {row.message_id for row in members if row.message_id}
    return ConversationRow(
        summary=summary,
        messages=len(copies) + sum(1 for row in members if not row.message_id),
        unread=sum(1 for row in here if "\\Seen" not in row.flags.split()),
        uids=frozenset(row.uid for row in here),
    )


def conversation_page(*, account: MailAccount, folder: str, page: int) -> ConversationPage | None:
    """One page of the folder's conversations, newest first (MAIL_PAGE_SIZE a page), from
    the index alone; None while the folder is not fully indexed. Only the newest
    THREAD_WINDOW messages are grouped (`partial` says when there are more): the cost of
    a page does not grow with the folder, and nobody pages through forty pages of
    conversations when the message list and search reach the older mail."""
    current, sent = _folders(account, folder)
    if current is None:
        return None
    # Plain tuples, not models: 2,000 model instances cost more than the grouping.
    recent = list(
        IndexedMessage.objects.filter(folder_id=current.pk)
        .order_by("-uid")
        .values_list(*_THREAD_COLUMNS, named=True)[:THREAD_WINDOW]
    )
    dates = [row.date for row in recent if row.date is not None]
    sent_rows = []
    if sent and dates:  # the replies sent in the same time
        sent_rows = list(
            IndexedMessage.objects.filter(folder_id__in=[f.pk for f in sent], date__gte=min(dates))
            .order_by("-date")
            .values_list(*_THREAD_COLUMNS, named=True)[:THREAD_WINDOW]
        )
    rows = {row.pk: row for row in (*recent, *sent_rows)}
    listed = []  # the members of each conversation with a message here, oldest first
    for conversation in threads_build(_item(row) for row in rows.values()):
        members = [rows[item.key] for item in conversation.items]
        if any(row.folder_id == current.pk for row in members):
            listed.append(members)  # else only sent mail: it is listed in Sent
    size = settings.MAIL_PAGE_SIZE
    page_count = max(1, math.ceil(len(listed) / size))
    page = min(max(1, page), page_count)
    shown = listed[(page - 1) * size : page * size]
    newest_here = [[row for row in members if row.folder_id == current.pk][-1] for members in shown]
    summaries = {
        row.pk: indexed_summary(row)
        for row in IndexedMessage.objects.filter(pk__in=[row.pk for row in newest_here]).only(
            *_COLUMNS
        )
    }
    return ConversationPage(
        rows=[
            _conversation_row(members, current.pk, summaries[newest.pk])
            for members, newest in zip(shown, newest_here, strict=True)
        ],
        uidvalidity=current.uidvalidity,
        page_number=page,
        page_count=page_count,
        partial=current.messages > len(recent),
    )
