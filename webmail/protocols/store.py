"""One interface for "a place that holds folders of messages".

The IMAP server (protocols.imap) implements it now; the local store that POP3 fills will
implement it later. Views and services do not care which one an account has. Everything
here is plain data: no Django, no request.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol


@dataclass(frozen=True)
class Address:
    name: str  # decoded display name, may be ""
    addr: str  # addr-spec, may be "" when the header was unparseable

    def __str__(self) -> str:
        return f"{self.name} <{self.addr}>" if self.name else self.addr


@dataclass(frozen=True)
class FolderInfo:
    name: str  # the server's name, decoded from modified UTF-7; the key used in URLs
    delimiter: str | None  # hierarchy separator, None for a flat namespace
    special_use: str | None  # "\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive", "\\All",
    # "\\Flagged", or None; INBOX is told apart by its name
    selectable: bool
    messages: int
    unseen: int

    @property
    def parts(self) -> list[str]:
        return self.name.split(self.delimiter) if self.delimiter else [self.name]

    @property
    def depth(self) -> int:
        return len(self.parts) - 1

    @property
    def leaf(self) -> str:
        return self.parts[-1]


@dataclass(frozen=True)
class MessageSummary:
    uid: int
    subject: str  # decoded
    sender: Address | None  # first From address
    recipients: tuple[Address, ...]  # To
    date: datetime | None  # Date header, aware; falls back to the internal date
    internal_date: datetime | None
    size: int  # RFC822.SIZE in bytes
    flags: frozenset[str]  # e.g. {"\\Seen", "\\Flagged", "\\Answered"}
    has_attachments: bool

    @property
    def seen(self) -> bool:
        return "\\Seen" in self.flags

    @property
    def flagged(self) -> bool:
        return "\\Flagged" in self.flags

    @property
    def answered(self) -> bool:
        return "\\Answered" in self.flags


@dataclass(frozen=True)
class FolderPage:
    folder: str
    uidvalidity: int
    total: int  # messages in the folder
    offset: int  # how many newer messages come before this page
    summaries: list[MessageSummary] = field(default_factory=list)  # newest first


@dataclass(frozen=True)
class FolderStatus:
    name: str
    uidvalidity: int
    uidnext: int  # every message now in the folder has a lower UID
    messages: int


# -- what the background sync reads (webmail.services.sync) ---------------------------------


@dataclass(frozen=True)
class SyncFeatures:
    """What the server offers for keeping a copy in step (RFC 7162)."""

    condstore: bool  # MODSEQ, HIGHESTMODSEQ and CHANGEDSINCE: only changed flags travel
    qresync: bool  # also VANISHED: only the UIDs expunged since a mod-sequence travel


@dataclass(frozen=True)
class FolderState:
    """A folder with the counters that tell whether anything changed since the last look."""

    name: str
    delimiter: str | None
    special_use: str | None
    selectable: bool
    uidvalidity: int  # 0 for a folder that cannot be selected
    uidnext: int
    highestmodseq: int  # 0 without CONDSTORE
    messages: int
    unseen: int


@dataclass(frozen=True)
class FolderSnapshot:
    """What EXAMINE said; sync state advances to these values, not to later ones."""

    name: str
    uidvalidity: int
    uidnext: int
    highestmodseq: int  # 0 without CONDSTORE
    exists: int


@dataclass(frozen=True)
class IndexEntry:
    """Everything the index keeps of one message."""

    summary: MessageSummary
    message_id: str  # without angle brackets; "" when missing
    in_reply_to: str
    references: tuple[str, ...]
    cc: tuple[Address, ...]
    text: str  # readable text from the start of the body (bounded), "" if none


@dataclass(frozen=True)
class MovedMessages:
    """What a move did: the UIDs that were there to move and, where the server said so
    (UIDPLUS COPYUID, RFC 4315), the UIDs they have in the target now."""

    uids: list[int]  # moved, ascending
    target_uidvalidity: int = 0  # 0: the server did not say
    new_uids: dict[int, int] = field(default_factory=dict)  # old UID -> UID in the target


@dataclass(frozen=True)
class FlagChanges:
    flags: dict[int, frozenset[str]]  # UID -> its flags now
    vanished: list[int]  # UIDs expunged (QRESYNC only; may name UIDs never seen)


class SyncSource(Protocol):
    """The reads that keep the local index in step with a store (IMAP implements them).
    Every method that takes `uidvalidity` raises FolderChanged when it differs."""

    def sync_begin(self) -> SyncFeatures:
        """Turns on what the server offers (ENABLE QRESYNC); call before anything else."""

    def folders_state(self) -> list[FolderState]:
        """Every folder with its counters, in one round trip where the server can."""

    def folder_examine(self, folder: str) -> FolderSnapshot: ...

    def message_uids_from(self, folder: str, *, uidvalidity: int, first: int = 1) -> list[int]:
        """The UIDs from `first` up, ascending."""

    def messages_index(
        self,
        folder: str,
        uids: list[int],
        *,
        uidvalidity: int,
        text_bytes: int,
        text_known: Callable[[list[IndexEntry]], Collection[int]] | None = None,
    ) -> list[IndexEntry]:
        """Index entries of those UIDs that still exist, with at most about `text_bytes`
        of body text each. `text_known` is shown the entries before any text is fetched
        and names the UIDs whose text the caller has already (their entries keep "")."""

    def message_changes(
        self, folder: str, *, uidvalidity: int, since: int, first: int, last: int | None
    ) -> FlagChanges:
        """Flags changed after mod-sequence `since` among UIDs first..last (None: no upper
        end), and with QRESYNC the UIDs expunged since then."""

    def message_flags(
        self, folder: str, uids: list[int], *, uidvalidity: int
    ) -> dict[int, frozenset[str]]:
        """The flags of those UIDs that still exist."""


@dataclass(frozen=True)
class RawMessage:
    uid: int
    uidvalidity: int
    flags: frozenset[str]
    data: bytes  # the message exactly as the server holds it; only its beginning if truncated
    size: int  # of the whole message in bytes: len(data), or if truncated the server's count
    truncated: bool = False  # data stops at message_raw's max_bytes; the message goes on


@dataclass(frozen=True)
class Quota:
    """How much of its storage limit a mailbox uses (RFC 9208), in bytes. Only made when
    the store has a storage limit; the message counts come along where it also limits
    those."""

    root: str  # the quota root's name, e.g. "User quota"; may be ""
    used_bytes: int
    limit_bytes: int  # > 0
    messages: int | None = None
    message_limit: int | None = None

    @property
    def fraction(self) -> float:
        """Used share of the limit; above 1.0 when the server lets a mailbox overrun."""
        return self.used_bytes / self.limit_bytes


@dataclass(frozen=True)
class MessageFacts:
    """What a retention preview and its audit log tell of one message (issue 7)."""

    summary: MessageSummary  # internal_date is what SEARCH BEFORE compares
    message_id: str  # "" when it has none


@dataclass(frozen=True)
class FolderSize:
    """A folder's messages and their total size (the sum of RFC822.SIZE)."""

    name: str
    uidvalidity: int
    messages: int
    octets: int
    largest: list[tuple[int, int]] = field(default_factory=list)  # (uid, size), largest first


class MailStore(Protocol):
    """Opened and closed by a context manager (see protocols.imap.imap_store)."""

    def folders(self) -> list[FolderInfo]:
        """Every folder with message and unseen counts, in server order."""

    def folder_page(self, folder: str, *, offset: int, limit: int) -> FolderPage:
        """`limit` summaries, newest first, skipping the `offset` newest."""

    def message_raw(
        self, folder: str, uid: int, *, uidvalidity: int, max_bytes: int | None = None
    ) -> RawMessage:
        """The whole message without setting \\Seen; with `max_bytes`, at most that many of
        its first bytes, `truncated` if there are more. Raises MessageNotFound when the UID
        is gone or the folder's UIDVALIDITY is not `uidvalidity`."""

    def flags_add(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        """Adds flags; returns the UIDs the folder still held. Aborts with FolderChanged if
        the UIDVALIDITY differs."""

    def flags_remove(
        self, folder: str, uids: list[int], flags: list[str], *, uidvalidity: int
    ) -> list[int]:
        """Removes flags; like flags_add."""

    def message_uids(self, folder: str, *, uidvalidity: int, below: int | None = None) -> list[int]:
        """The UIDs in the folder (only those lower than `below` when given), ascending."""

    def messages_move(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> list[int]:
        """Moves these UIDs to `target`; returns the UIDs that were there to move. Never
        touches other messages. Aborts with FolderChanged if the UIDVALIDITY differs."""

    def messages_move_mapped(
        self, folder: str, uids: list[int], target: str, *, uidvalidity: int
    ) -> MovedMessages:
        """messages_move, also telling the UIDs the messages got in the target."""

    def messages_expunge(self, folder: str, uids: list[int], *, uidvalidity: int) -> list[int]:
        """Removes exactly these UIDs for good; returns the UIDs that were there."""

    def message_append(
        self,
        folder: str,
        raw: bytes,
        *,
        flags: Sequence[str] = (),
        when: datetime | None = None,
    ) -> int | None:
        """Stores a message (a draft, a sent copy) with these flags and internal date;
        returns its UID where the store can tell (IMAP: UIDPLUS), else None."""

    def folder_status(self, folder: str) -> FolderStatus:
        """UIDVALIDITY, UIDNEXT and the message count, without opening the folder."""

    def folder_create(self, name: str, *, special_use: str | None = None) -> None:
        """Creates a folder, marked with `special_use` where the server can (RFC 6154)."""

    def folder_rename(self, name: str, new_name: str) -> None: ...

    def folder_delete(self, name: str, *, uidvalidity: int) -> None:
        """Deletes the folder and its mail, unless its UIDVALIDITY is not `uidvalidity`
        (then FolderChanged: it is not the folder the caller looked at)."""

    def folder_subscribe(self, name: str, *, subscribed: bool) -> None: ...

    def folder_subscriptions(self) -> frozenset[str]:
        """The names of the subscribed folders."""

    def special_folder(self, role: str) -> str | None:
        """The folder the server marks with this special use ("\\Trash", ...), or None."""

    def quota(self, folder: str = "INBOX") -> Quota | None:
        """The storage quota that applies to `folder` (the most used one, if several do),
        or None when the store cannot tell or sets no storage limit."""

    def retention_search(
        self, folder: str, *, before: date | None, larger_than: int | None
    ) -> tuple[int, list[int]]:
        """The folder's UIDVALIDITY and the UIDs, ascending, of the messages received
        (internal date) before `before` and/or larger than `larger_than` bytes, leaving
        out those already marked \\Deleted (another client's pending deletions)."""

    def messages_facts(
        self, folder: str, uids: list[int], *, uidvalidity: int
    ) -> list[MessageFacts]:
        """Date, sender, subject, size and Message-ID of those `uids` the folder holds."""

    def folder_size(self, folder: str, *, largest: int = 10) -> FolderSize:
        """The folder's message count, total size and its `largest` biggest messages."""
