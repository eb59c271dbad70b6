"""Downloading a POP3 account's new mail into the local store: `pop3_fetch`.

The rules are mail-sync.md's; in order, for one account:

1. Take the account's job lock, the one IMAP sync takes (rule 8); if another job holds
   it, return at once. A server that refuses the login because another client holds
   the mailbox ([IN-USE], [LOGIN-DELAY]) is "busy, try later", not a failure.
2. One listing: message numbers, LIST sizes and UIDLs. A message is known when the
   ledger (Pop3Uidl) has its UIDL with the same size; a known UIDL with another size is
   a new message (the server reused the UIDL). A UIDL listed twice in one listing is
   never acted on. A server without UIDL: the key is the SHA-256 of the message's
   headers (TOP n 0), and the account is marked download-and-delete only.
3. Per new message, oldest first, within the caps: RETR streams into the blob store
   (temporary file, fsync, rename, directory fsync), bounded by the LIST size and a
   margin; then ONE transaction stores the StoredMessage with its index row in the
   local INBOX and the ledger row (rule 3). A crash before that commit leaves at most
   a blob no row points at (the rerun finds the same bytes and uses it), a crash after
   it leaves the message fetched; unique constraints on both rows make a rerun add
   nothing twice. Bytes the account stores already get a ledger row pointing at them.
4. Never DELE (rule 1): deleting is the cleanup's job, in a later session. QUIT at the
   end.

Errors of the server or the login are recorded on the account (as a sync's are) and
never raised; so is a disk here that refuses the bytes (full, read-only), logged as our
fault. What was committed before them stays fetched.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models.functions import Now
from django.utils.translation import gettext as _

from accounts.crypto import CredentialError
from accounts.models import MailAccount
from webmail import clock
from webmail.models import Pop3Mailbox, Pop3Uidl
from webmail.protocols import errors
from webmail.protocols.pop3 import MailboxBusy, Pop3Entry, Pop3Session

from .local_store import (
    blob_store,
    local_folders_ensure,
    stored_entry_read,
    stored_message_add,
)
from .locks import LockLost, job_lock
from .stores import incoming_settings
from .sync import (
    LOCK_SECONDS,
    accounts_scheduled,
    sync_failure_record,
    sync_success_record,
)

log = logging.getLogger(__name__)

SQL_CHUNK = 500
HEADER_KEY_PREFIX = "sha256:"  # ledger keys of servers without UIDL
# RETR may bring more than LIST announced (some servers count line ends as one byte),
# but not without bound: a server that sends on and on must not fill the disk.
OVERRUN_FACTOR = 2
OVERRUN_MARGIN = 64 * 1024
TEMP_FILE_AGE = 3600  # seconds: a temporary blob file older than this was left by a crash

# Named points between the steps where tests inject a crash (mail-sync.md, "Fault
# injection"): "blob_stored" (durable, not committed), "message_committed", "before_quit".
crash_hook: Callable[[str], None] | None = None


def _crash_point(name: str) -> None:
    if crash_hook is not None:
        crash_hook(name)


class StorageFailed(Exception):
    """This server's disk refused a message (full, read-only, failing): neither the mail
    server's fault nor the reader's. Nothing of the message is kept; it stays on the
    server for the next fetch."""

    code = "storage_failed"


class _StorageGuard:
    """The blob as RETR's output. A failed write leaves as StorageFailed: as an OSError
    the protocol code would take it for a broken connection and blame the server."""

    def __init__(self, blob) -> None:
        self._blob = blob

    def write(self, data: bytes) -> int:
        try:
            return self._blob.write(data)
        except OSError as exc:
            raise StorageFailed(f"write: {exc.strerror or type(exc).__name__}") from exc


@dataclass
class FetchReport:
    account_id: int
    started: bool = True  # False: another job of the account was running; nothing done
    busy: bool = False  # the server said another client holds the mailbox: try later
    complete: bool = False  # False after an error, or when a cap left messages behind
    listed: int = 0  # messages on the server
    new: int = 0  # messages stored here for the first time
    linked: int = 0  # bytes stored already (a UIDL that came back): ledger row only
    duplicates: int = 0  # messages whose UIDL the listing gave more than once: left alone
    left: int = 0  # new messages left for the next fetch by the caps
    octets: int = 0  # bytes downloaded
    uidl_supported: bool = True
    error: str = ""  # for the reader, in their language
    error_code: str = ""  # for logs and tests
    seconds: float = 0.0

    @property
    def already_running(self) -> bool:
        return not self.started


def pop3_fetch(
    *, account: MailAccount, max_messages: int | None = None, max_bytes: int | None = None
) -> FetchReport:
    """Downloads the account's new mail into its local INBOX; see the module's docstring.
    `max_messages` and `max_bytes` (LIST sizes) bound one session; the first new message
    is always fetched, so a message larger than `max_bytes` does not block the rest."""
    report = FetchReport(account_id=account.pk)
    if account.protocol != MailAccount.Protocol.POP3:
        raise ValueError("pop3_fetch is for POP3 accounts")
    started = time.monotonic()
    with job_lock(f"account-sync:{account.pk}", timeout=LOCK_SECONDS) as lock:
        if lock is None:
            report.started = False
            return report
        MailAccount.objects.filter(pk=account.pk).update(sync_started_at=clock.now())
        try:
            _Fetch(account, lock, report, max_messages, max_bytes).run()
        except LockLost:
            log.warning("account %s: fetch lock expired mid-fetch; stopped", account.pk)
            report.complete = False
        except MailboxBusy:
            report.busy = True
            report.error_code = MailboxBusy.code
            report.error = _(
                "Another mail program is fetching this mailbox right now. "
                "Postfach will try again later."
            )
        except (errors.MailServerError, CredentialError) as exc:
            sync_failure_record(account, exc, report)
        except StorageFailed as exc:
            sync_failure_record(account, exc, report)  # logged with its traceback
            report.error = _(
                "New mail could not be stored: the disk of this Postfach server is full "
                "or cannot be written. The mail stays on the mail server; Postfach tries "
                "again later."
            )
            MailAccount.objects.filter(pk=account.pk).update(sync_error=report.error)
        except Exception as exc:
            sync_failure_record(account, exc, report)
            raise
        else:
            sync_success_record(account)
        finally:
            MailAccount.objects.filter(pk=account.pk).update(sync_started_at=None)
            report.seconds = time.monotonic() - started
    log.info(
        "account %s: fetch %s in %.2f s: %d listed, %d new, %d linked, %d left, %d bytes",
        account.pk,
        "done" if report.complete else "stopped",
        report.seconds,
        report.listed,
        report.new,
        report.linked,
        report.left,
        report.octets,
    )
    return report


def pop3_accounts_due() -> list[int]:
    """The ids of the POP3 accounts the scheduler should fetch now (accounts_scheduled)."""
    return accounts_scheduled(MailAccount.Protocol.POP3)


class _Fetch:
    def __init__(self, account, lock, report, max_messages, max_bytes) -> None:
        self.account = account
        self.lock = lock
        self.report = report
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.store = blob_store()

    def run(self) -> None:
        report = self.report
        inbox = local_folders_ensure(account=self.account)
        self.store.temp_files_remove(older_than_seconds=TEMP_FILE_AGE)
        with Pop3Session(incoming_settings(self.account)) as session:
            listing = session.listing()
            report.listed = len(listing)
            report.uidl_supported = session.uidl_supported
            keyed = self._keys(session, listing)
            self._mailbox_record(listing)
            wanted = self._new(keyed)
            taken_bytes = 0
            for position, (entry, key) in enumerate(wanted):
                over_count = self.max_messages is not None and position >= self.max_messages
                over_bytes = (
                    self.max_bytes is not None
                    and position > 0
                    and taken_bytes + entry.size > self.max_bytes
                )
                if over_count or over_bytes:
                    report.left = len(wanted) - position
                    break
                taken_bytes += entry.size
                self._one(session, inbox, entry, key)
                self.lock.refresh()
            _crash_point("before_quit")
            session.quit()  # no DELE was sent: nothing is deleted
        report.complete = report.left == 0

    def _keys(self, session: Pop3Session, listing: list[Pop3Entry]) -> list[tuple[Pop3Entry, str]]:
        """Each message with its ledger key; those without one (a UIDL missing from a
        server that has UIDL) and those whose key is listed twice are left out."""
        if session.uidl_supported:
            keyed = [(entry, entry.uidl) for entry in listing if entry.uidl]
        else:
            keyed = [
                (
                    entry,
                    HEADER_KEY_PREFIX
                    + hashlib.sha256(session.top_headers(entry.number)).hexdigest(),
                )
                for entry in listing
            ]
        counts = Counter(key for _entry, key in keyed)
        self.report.duplicates = sum(1 for _entry, key in keyed if counts[key] > 1)
        return [(entry, key) for entry, key in keyed if counts[key] == 1]

    def _new(self, keyed: list[tuple[Pop3Entry, str]]) -> list[tuple[Pop3Entry, str]]:
        """Those the ledger does not hold with the same size, oldest first. A key whose
        row says the message is gone from the server is new again: the server gave the
        UIDL to another message (or a short listing hid ours; then its bytes are stored
        already and only the row comes back)."""
        known: set[tuple[str, int]] = set()
        keys = [key for _entry, key in keyed]
        for start in range(0, len(keys), SQL_CHUNK):
            rows = Pop3Uidl.objects.filter(
                account=self.account, uidl__in=keys[start : start + SQL_CHUNK]
            ).exclude(state=Pop3Uidl.State.DELETED)
            known.update(rows.values_list("uidl", "size"))
        return sorted(
            ((entry, key) for entry, key in keyed if (key, entry.size) not in known),
            key=lambda pair: pair[0].number,
        )

    def _mailbox_record(self, listing: list[Pop3Entry]) -> None:
        Pop3Mailbox.objects.update_or_create(
            account=self.account,
            defaults={
                "uidl_supported": self.report.uidl_supported,
                "messages": len(listing),
                "octets": sum(entry.size for entry in listing),
                "fetched_at": clock.now(),
            },
        )

    def _one(self, session: Pop3Session, inbox, entry: Pop3Entry, key: str) -> None:
        limit = entry.size * OVERRUN_FACTOR + OVERRUN_MARGIN
        try:
            with self.store.writer() as blob:
                session.retr_to(entry.number, _StorageGuard(blob), max_bytes=limit)
        except errors.MessageNotFound:
            # Deleted by another client since the listing: nothing to fetch.
            return
        except OSError as exc:  # retr_to raises none: creating, fsyncing, renaming the blob
            raise StorageFailed(f"{exc.strerror or type(exc).__name__}") from exc
        _crash_point("blob_stored")
        entry_read = stored_entry_read(digest=blob.digest, size=blob.size)
        with transaction.atomic():
            stored, added = stored_message_add(
                account=self.account,
                folder=inbox,
                digest=blob.digest,
                size=blob.size,
                entry=entry_read,
            )
            row, created = Pop3Uidl.objects.get_or_create(
                account=self.account,
                uidl=key,
                size=entry.size,
                defaults={"stored": stored, "first_seen_at": Now()},
            )
            if not created and row.state == Pop3Uidl.State.DELETED:
                Pop3Uidl.objects.filter(pk=row.pk).update(
                    stored=stored,
                    state=Pop3Uidl.State.STORED,
                    first_seen_at=Now(),
                    deleted_at=None,
                )
        _crash_point("message_committed")
        self.report.octets += blob.size
        if added:
            self.report.new += 1
        else:
            self.report.linked += 1
