"""Organising mail on the server: read and flagged marks, moves, Archive, Junk, the Trash.

The rules live here:
- which folder is the Trash, Junk, Archive, Sent or Drafts: the one the server marks (RFC
  6154), else a top-level folder with the name other mail programs use; each is created
  when an action needs one (writing mail needs Sent and Drafts) and none exists;
- deleting moves to the Trash, and deleting in the Trash removes mail for good, but only
  after the reader confirmed (ConfirmationRequired until then);
- only the Trash and Junk can be emptied, and only of the mail the confirmation page
  counted (UIDs below the UIDNEXT it saw), never of mail that arrived since.

Every change goes to the server first, checked against the UIDVALIDITY the reader's page
was made with (a stale page is StaleSelection and nothing is done), and what is returned
is what the server did, not what was asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import MailAccount
from webmail.protocols.errors import FolderChanged, FolderNotFound
from webmail.protocols.store import FolderInfo, MailStore

from .errors import ActionNotAllowed
from .index import (
    index_flags_changed,
    index_folder_grew,
    index_messages_moved,
    index_messages_removed,
)
from .stores import store_open
from .sync import account_sync_queue

INBOX = "INBOX"
TRASH, JUNK, ARCHIVE, SENT, DRAFTS = "\\Trash", "\\Junk", "\\Archive", "\\Sent", "\\Drafts"
# What other mail programs call these folders, for servers that mark none (top level,
# compared without regard to case). The first name is the one we create.
USUAL_NAMES = {
    TRASH: ("Trash", "Deleted Items", "Deleted Messages"),
    JUNK: ("Junk", "Spam", "Junk E-mail"),
    ARCHIVE: ("Archive",),
    SENT: ("Sent", "Sent Items", "Sent Messages"),
    DRAFTS: ("Drafts",),
}
CREATABLE = (TRASH, JUNK, ARCHIVE, SENT, DRAFTS)  # made when an action needs one
EMPTIABLE = (TRASH, JUNK)
MAX_SELECTION = 1000  # UIDs per request: a page shows 50, "select all" selects one page
MAX_EMPTY = 10_000  # messages removed per "Empty Trash"; the rest is reported as left


class StaleSelection(ActionNotAllowed):
    """The folder's UIDVALIDITY changed since the reader's page was made."""

    def __init__(self) -> None:
        super().__init__(
            _(
                "This folder changed on the mail server since the page was shown, so "
                "nothing was done. Look at the folder again and repeat what you wanted to do."
            )
        )


class SelectionGone(ActionNotAllowed):
    def __init__(self, count: int) -> None:
        super().__init__(
            ngettext(
                "The selected message is no longer in this folder; it may have been moved "
                "or deleted from another device. Nothing was done.",
                "None of the selected messages is in this folder any more; they may have "
                "been moved or deleted from another device. Nothing was done.",
                count,
            )
        )


class ConfirmationRequired(Exception):
    """Deleting in the Trash removes mail for good: the reader has to say so first."""

    def __init__(self, count: int) -> None:
        super().__init__(f"{count} messages would be removed for good")
        self.count = count


@dataclass(frozen=True)
class Outcome:
    """What the server did."""

    count: int  # messages changed, moved or removed
    target: str | None = None  # the folder they went to (its server name)
    target_role: str | None = None  # its role ("\\Trash", "INBOX", ...) for naming it
    expunged: bool = False  # removed for good
    left: int = 0  # still in the folder after an "Empty" that hit MAX_EMPTY


@dataclass(frozen=True)
class EmptyPreview:
    """What "Empty Trash/Junk" would remove, for its confirmation page."""

    folder: str
    role: str
    uidvalidity: int
    uidnext: int  # the POST removes only UIDs below this
    count: int


# -- which folder is which ----------------------------------------------------------------


def folder_roles(folders: list[FolderInfo]) -> dict[str, str]:
    """Folder name -> role ("INBOX", "\\Trash", ...) for every folder that has one: the
    server's special-use marks first; for a role no folder is marked with, the first
    selectable top-level folder with one of its USUAL_NAMES."""
    roles: dict[str, str] = {}
    for info in folders:
        if info.name.upper() == INBOX:
            roles[info.name] = INBOX
        elif info.special_use:
            roles[info.name] = info.special_use
    marked = set(roles.values())
    for role, names in USUAL_NAMES.items():
        if role in marked:
            continue
        wanted = [name.casefold() for name in names]
        candidates = [
            info
            for info in folders
            if info.depth == 0
            and info.selectable
            and info.name not in roles
            and info.name.casefold() in wanted
        ]
        if candidates:
            best = min(candidates, key=lambda info: wanted.index(info.name.casefold()))
            roles[best.name] = role
    return roles


def special_folder_find(store: MailStore, role: str, *, create: bool) -> str | None:
    """The folder with this role; with `create`, made (marked where the server can, RFC
    6154 CREATE-SPECIAL-USE) and subscribed when there is none."""
    name = store.special_folder(role)
    if name is not None:
        return name
    roles = folder_roles(store.folders())
    name = next((folder for folder, found in roles.items() if found == role), None)
    if name is not None or not create:
        return name
    if role not in CREATABLE:
        raise ValueError(f"{role} folders are not created here")
    name = USUAL_NAMES[role][0]
    store.folder_create(name, special_use=role)
    store.folder_subscribe(name, subscribed=True)
    return name


# -- acting on a selection -----------------------------------------------------------------


@contextmanager
def _acting(account: MailAccount, uids: list[int]) -> Iterator[MailStore]:
    if not uids:
        raise ActionNotAllowed(_("Select at least one message first."))
    if len(uids) > MAX_SELECTION:
        raise ActionNotAllowed(
            _("Select at most %(count)d messages at once.") % {"count": MAX_SELECTION}
        )
    with store_open(account) as store:
        try:
            yield store
        except FolderChanged:
            raise StaleSelection() from None


def _done(changed: list[int], asked: list[int]) -> None:
    if not changed:
        raise SelectionGone(len(asked))


def messages_mark_read(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: list[int], read: bool
) -> Outcome:
    return _flag(account, folder, uidvalidity, uids, "\\Seen", read)


def messages_mark_flagged(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: list[int], flagged: bool
) -> Outcome:
    return _flag(account, folder, uidvalidity, uids, "\\Flagged", flagged)


def _flag(
    account: MailAccount, folder: str, uidvalidity: int, uids: list[int], flag: str, on: bool
) -> Outcome:
    with _acting(account, uids) as store:
        change = store.flags_add if on else store.flags_remove
        changed = change(folder, uids, [flag], uidvalidity=uidvalidity)
    _done(changed, uids)
    index_flags_changed(
        account=account, folder=folder, uidvalidity=uidvalidity, uids=changed,
        add=[flag] if on else [], remove=[] if on else [flag],
    )
    return Outcome(count=len(changed))


def messages_move(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: list[int], target: str
) -> Outcome:
    """Moves to any folder that can hold mail."""
    with _acting(account, uids) as store:
        folders = store.folders()
        info = next((f for f in folders if f.name == target), None)
        if info is None:
            raise FolderNotFound("no such target folder")
        if not info.selectable:
            raise ActionNotAllowed(_("This folder cannot hold messages, only other folders."))
        return _move(
            account, store, folder, uidvalidity, uids, target, folder_roles(folders).get(target)
        )


def messages_archive(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: list[int]
) -> Outcome:
    """Moves to the Archive, which is created when there is none."""
    with _acting(account, uids) as store:
        target = special_folder_find(store, ARCHIVE, create=True)
        return _move(account, store, folder, uidvalidity, uids, target, ARCHIVE)


def messages_report_junk(
    *, account: MailAccount, folder: str, uidvalidity: int, uids: list[int]
) -> Outcome:
    """Moves to the Junk folder (server-side filters learn from that move), created when
    there is none."""
    with _acting(account, uids) as store:
        target = special_folder_find(store, JUNK, create=True)
        return _move(account, store, folder, uidvalidity, uids, target, JUNK)


def messages_delete(
    *,
    account: MailAccount,
    folder: str,
    uidvalidity: int,
    uids: list[int],
    confirmed: bool = False,
) -> Outcome:
    """Moves to the Trash; in the Trash itself removes for good, but raises
    ConfirmationRequired (and does nothing) unless `confirmed`."""
    with _acting(account, uids) as store:
        trash = special_folder_find(store, TRASH, create=False)
        if folder == trash:
            if not confirmed:
                raise ConfirmationRequired(len(uids))
            gone = store.messages_expunge(folder, uids, uidvalidity=uidvalidity)
            _done(gone, uids)
            index_messages_removed(
                account=account, folder=folder, uidvalidity=uidvalidity, uids=gone
            )
            return Outcome(count=len(gone), expunged=True)
        if trash is None:
            trash = special_folder_find(store, TRASH, create=True)
        return _move(account, store, folder, uidvalidity, uids, trash, TRASH)


def _move(
    account: MailAccount,
    store: MailStore,
    folder: str,
    uidvalidity: int,
    uids: list[int],
    target: str | None,
    role: str | None,
) -> Outcome:
    if target is None:
        raise FolderNotFound("no target folder")
    if target == folder:
        raise ActionNotAllowed(_("These messages are in that folder already."))
    result = store.messages_move_mapped(folder, uids, target, uidvalidity=uidvalidity)
    moved = result.uids
    _done(moved, uids)
    # Gone from this folder's list at once. Where the server told the new UIDs (COPYUID)
    # the rows move to the target's index with them; otherwise only the next sync (queued
    # now) learns them, and until then the target's list comes from the server.
    relinked = index_messages_moved(
        account=account,
        folder=folder,
        uidvalidity=uidvalidity,
        target=target,
        target_uidvalidity=result.target_uidvalidity,
        new_uids=result.new_uids,
    )
    if not relinked:
        index_messages_removed(
            account=account, folder=folder, uidvalidity=uidvalidity, uids=moved
        )
        index_folder_grew(account=account, folder=target)
    account_sync_queue([account])
    return Outcome(count=len(moved), target=target, target_role=role)


# -- emptying Trash and Junk ---------------------------------------------------------------


def _emptiable_role(store: MailStore, folder: str) -> str:
    role = folder_roles(store.folders()).get(folder)
    if role not in EMPTIABLE:
        raise ActionNotAllowed(_("Only the Trash and the Junk folder can be emptied."))
    return role


def folder_empty_preview(*, account: MailAccount, folder: str) -> EmptyPreview:
    with store_open(account) as store:
        role = _emptiable_role(store, folder)
        status = store.folder_status(folder)
    return EmptyPreview(
        folder=folder,
        role=role,
        uidvalidity=status.uidvalidity,
        uidnext=status.uidnext,
        count=status.messages,
    )


def folder_empty(
    *, account: MailAccount, folder: str, uidvalidity: int, below_uid: int
) -> Outcome:
    """Removes for good what the confirmation page counted: the UIDs below `below_uid`
    (its UIDNEXT), at most MAX_EMPTY of them; `left` says how many of those remain."""
    with store_open(account) as store:
        _emptiable_role(store, folder)
        try:
            uids = store.message_uids(folder, uidvalidity=uidvalidity, below=below_uid)
            batch = uids[:MAX_EMPTY]
            gone = store.messages_expunge(folder, batch, uidvalidity=uidvalidity)
        except FolderChanged:
            raise StaleSelection() from None
    index_messages_removed(account=account, folder=folder, uidvalidity=uidvalidity, uids=gone)
    return Outcome(count=len(gone), expunged=True, left=len(uids) - len(batch))
