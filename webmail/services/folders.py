"""Creating, renaming, deleting and subscribing folders on the server.

The rules live here, not only in the page that hides the buttons: the Inbox and every
folder with a role (Sent, Drafts, Trash, Junk, Archive, ..., see organise.folder_roles)
can be neither renamed nor deleted, nor can a folder with one of them inside; a folder
that holds other folders is not deleted (its subfolders would be left behind or lost,
depending on the server); a deletion is checked against the UIDVALIDITY its confirmation
page counted the messages of.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from accounts.models import MailAccount
from webmail.protocols.errors import ActionRefused, FolderChanged, FolderNotFound
from webmail.protocols.store import FolderInfo, FolderStatus, MailStore

from .errors import ActionNotAllowed
from .index import index_folder_added, index_folder_deleted, index_folder_renamed
from .organise import INBOX, folder_roles
from .stores import store_open

MAX_NAME = 200  # characters of one level of a folder name
# Control characters could end an IMAP command; * and % are LIST wildcards (RFC 3501 6.3.8).
_BAD_CHARACTERS = re.compile(r"[\x00-\x1f\x7f*%]")


@dataclass(frozen=True)
class FolderOverview:
    folders: list[FolderInfo]
    subscribed: frozenset[str]
    roles: dict[str, str]  # name -> role of the folders that have one
    protected: frozenset[str]  # may be neither renamed nor deleted
    parents: frozenset[str]  # hold other folders, so are not deleted
    delimiter: str | None  # the hierarchy separator new folders get


def folder_overview(*, account: MailAccount) -> FolderOverview:
    with store_open(account) as store:
        folders = store.folders()
        subscribed = store.folder_subscriptions()
    return FolderOverview(
        folders=folders,
        subscribed=subscribed,
        roles=folder_roles(folders),
        protected=_protected(folders),
        parents=frozenset(f.name for f in folders if _children(folders, f)),
        delimiter=_delimiter(folders),
    )


def _delimiter(folders: list[FolderInfo]) -> str | None:
    return next((f.delimiter for f in folders if f.delimiter), None)


def _protected(folders: list[FolderInfo]) -> frozenset[str]:
    """Folders with a role, and every folder that holds one of them."""
    roles = folder_roles(folders)
    protected = set(roles)
    for name in roles:
        info = next(f for f in folders if f.name == name)
        for depth in range(1, len(info.parts)):
            protected.add(info.delimiter.join(info.parts[:depth]))
    return frozenset(protected)


def _children(folders: list[FolderInfo], folder: FolderInfo) -> list[FolderInfo]:
    if not folder.delimiter:
        return []
    prefix = folder.name + folder.delimiter
    return [f for f in folders if f.name.startswith(prefix)]


def _leaf(name: str, delimiter: str | None) -> str:
    """A checked name for one level; the reader's spaces at either end are dropped."""
    name = name.strip()
    if not name:
        raise ActionNotAllowed(_("Give the folder a name."))
    if len(name) > MAX_NAME:
        raise ActionNotAllowed(
            _("A folder name can have at most %(count)d characters.") % {"count": MAX_NAME}
        )
    if _BAD_CHARACTERS.search(name) or (delimiter and delimiter in name):
        raise ActionNotAllowed(
            _("A folder name cannot contain %(characters)s or control characters.")
            % {"characters": " ".join(["*", "%", *([delimiter] if delimiter else [])])}
        )
    return name


def _folder(folders: list[FolderInfo], name: str) -> FolderInfo:
    info = next((f for f in folders if f.name == name), None)
    if info is None:
        raise FolderNotFound("no such folder")
    return info


def _refuse_protected(folders: list[FolderInfo], info: FolderInfo) -> None:
    roles = folder_roles(folders)
    if roles.get(info.name) == INBOX:
        raise ActionNotAllowed(_("The Inbox can be neither renamed nor deleted."))
    if info.name in roles:
        raise ActionNotAllowed(
            _(
                "This folder has a role on the mail server (such as Sent, Drafts, Trash, "
                "Junk or Archive), so it can be neither renamed nor deleted."
            )
        )
    if info.name in _protected(folders):
        raise ActionNotAllowed(
            _(
                "This folder holds a folder with a role on the mail server (such as Sent "
                "or Trash), so it can be neither renamed nor deleted."
            )
        )


def _full_name(parent: str, leaf: str, delimiter: str | None) -> str:
    return f"{parent}{delimiter}{leaf}" if parent else leaf


def _refuse_existing(folders: list[FolderInfo], name: str) -> None:
    if any(f.name == name for f in folders) or name.upper() == INBOX:
        raise ActionNotAllowed(_("A folder with this name exists already."))


def folder_create(*, account: MailAccount, name: str, parent: str = "") -> str:
    """Creates `name` at the top level or inside `parent`, subscribed (so other mail
    programs that show only subscribed folders show it too). Returns its full name."""
    with store_open(account) as store:
        folders = store.folders()
        delimiter = _delimiter(folders)
        if parent:
            parent_info = _folder(folders, parent)
            delimiter = parent_info.delimiter
            if not delimiter:
                raise ActionNotAllowed(_("This mail server does not keep folders in folders."))
        full = _full_name(parent, _leaf(name, delimiter), delimiter)
        _refuse_existing(folders, full)
        store.folder_create(full)
        store.folder_subscribe(full, subscribed=True)
    index_folder_added(account=account, folder=full, delimiter=delimiter)
    return full


def folder_rename(*, account: MailAccount, folder: str, new_name: str) -> str:
    """Gives the folder a new name at the same level (its subfolders move along, RFC
    3501 RENAME). Returns the new full name."""
    with store_open(account) as store:
        folders = store.folders()
        info = _folder(folders, folder)
        _refuse_protected(folders, info)
        parent = info.delimiter.join(info.parts[:-1]) if info.delimiter else ""
        full = _full_name(parent, _leaf(new_name, info.delimiter), info.delimiter)
        if full == folder:
            return full
        _refuse_existing(folders, full)
        subscribed = folder in store.folder_subscriptions()
        store.folder_rename(folder, full)
        if subscribed:  # RFC 3501 keeps subscriptions by name; not every server moves them
            _tidy(store, full, subscribed=True)
            _tidy(store, folder, subscribed=False)
    index_folder_renamed(account=account, folder=folder, new_name=full, delimiter=info.delimiter)
    return full


def folder_delete_preview(*, account: MailAccount, folder: str) -> FolderStatus:
    """The folder's message count and UIDVALIDITY for the confirmation page, after the
    same checks the deletion makes."""
    with store_open(account) as store:
        _check_deletable(store, folder)
        return store.folder_status(folder)


def _check_deletable(store: MailStore, folder: str) -> None:
    folders = store.folders()
    info = _folder(folders, folder)
    _refuse_protected(folders, info)
    if _children(folders, info):
        raise ActionNotAllowed(
            _("This folder holds other folders. Delete or move them first.")
        )


def folder_delete(*, account: MailAccount, folder: str, uidvalidity: int) -> None:
    """Deletes the folder and the mail in it, if it is still the folder whose messages
    the confirmation page counted."""
    with store_open(account) as store:
        _check_deletable(store, folder)
        subscribed = folder in store.folder_subscriptions()
        try:
            store.folder_delete(folder, uidvalidity=uidvalidity)
        except FolderChanged:
            raise ActionNotAllowed(
                _(
                    "This folder changed on the mail server since you were asked, so "
                    "nothing was deleted. Look at it again first."
                )
            ) from None
        if subscribed:  # a subscription can outlive its folder (RFC 3501 6.3.6)
            _tidy(store, folder, subscribed=False)
    index_folder_deleted(account=account, folder=folder)


def _tidy(store: MailStore, folder: str, *, subscribed: bool) -> None:
    """Subscription upkeep after the real change is done: a refusal here must not make a
    finished rename or deletion look failed."""
    try:
        store.folder_subscribe(folder, subscribed=subscribed)
    except ActionRefused:
        pass


def folder_subscribe(*, account: MailAccount, folder: str, subscribed: bool) -> None:
    with store_open(account) as store:
        _folder(store.folders(), folder)
        store.folder_subscribe(folder, subscribed=subscribed)
