"""Keeping the local index in step with an IMAP account: `account_sync`.

The rules are mail-sync.md's; in order, for one account:

1. Take the account's lock (one sync per account across all workers); if another holds
   it, return at once ("already running").
2. One LIST-STATUS: every folder with UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and counts.
   Folder rows are created, deleted, or renamed (same UIDVALIDITY under a new name).
   A fully indexed folder whose counters did not move is not even opened.
3. Per folder, INBOX first, after EXAMINE (read-only; nothing becomes \\Seen):
   - UIDVALIDITY changed: drop its index and rebuild it.
   - Not fully indexed yet (first sync, or resumed after a crash or time budget): the
     UIDs the server holds minus those indexed are fetched newest first, in batches,
     each batch committed with its progress, so a reader sees the newest mail at once
     and a crash loses at most one batch. HIGHESTMODSEQ stays at the value from before
     the first batch, so every flag change during the backfill is fetched afterwards.
   - Fully indexed, with CONDSTORE: new UIDs (from UIDNEXT up) newest first, then
     `CHANGEDSINCE` for flags and (QRESYNC) `VANISHED` for expunges, in windows of
     UIDs; without QRESYNC a UID SEARCH diff finds expunges. Without CONDSTORE: the
     UID SEARCH diff, and the flags of the most recent messages.
   - UIDNEXT and HIGHESTMODSEQ advance to the EXAMINE snapshot only in the transaction
     after everything below them is applied (rule 7).
4. Errors of the server or the login are recorded on the account (sync_error,
   sync_failures for back-off) and never raised; a success clears them.

Memory stays bounded: batches of messages, UID lists as ints only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import F

from accounts.crypto import CredentialError
from accounts.models import MailAccount
from webmail import clock
from webmail.models import IndexedFolder, IndexedMessage
from webmail.protocols import errors
from webmail.protocols.store import FolderSnapshot, FolderState, SyncFeatures, SyncSource

from .errors import error_message
from .index import (
    folder_counts_refresh,
    index_entries_store,
    index_flags_set,
    index_folders_reconcile,
    index_uids_delete,
)
from .locks import LockLost, job_lock
from .stores import store_open

log = logging.getLogger(__name__)

BATCH = 500  # messages per header FETCH and per transaction
TEXT_BYTES = 2048  # of each message's text, for its preview and search
CHANGES_WINDOW = 5000  # indexed UIDs per CHANGEDSINCE FETCH
RECENT_FLAGS = 1000  # newest messages whose flags are read again without CONDSTORE
LOCK_SECONDS = 300  # a crashed worker blocks its account this long; refreshed per batch
BACKOFF_CAP = timedelta(hours=6)
SPECIAL_ORDER = ["\\Sent", "\\Drafts", "\\Archive", "\\Junk", "\\Trash"]
# The mistakes a user can put right (logged at info); everything else is the server's
# or ours (logged as a warning).
USER_ERRORS = (
    errors.AuthenticationFailed, errors.HostNotFound, errors.TlsFailed, CredentialError
)

# Named points between the steps of a sync where tests inject a crash (mail-sync.md,
# "Fault injection"): called with the point's name, e.g. "batch" after each batch.
crash_hook: Callable[[str], None] | None = None


@dataclass
class SyncReport:
    account_id: int
    started: bool = True  # False: another sync of the account was running; nothing done
    complete: bool = False  # False after an error or when the time budget ran out
    folders: int = 0  # folders on the server
    folders_created: int = 0  # new in the index (on the first sync: all of them)
    folders_deleted: int = 0  # gone from the server
    folders_renamed: int = 0  # renamed elsewhere, their index kept
    folders_rebuilt: int = 0  # UIDVALIDITY changed, index dropped and refetched
    new: int = 0  # messages fetched into the index
    changed: int = 0  # indexed messages whose flags changed
    vanished: int = 0  # indexed messages removed
    error: str = ""  # for the reader, in their language
    error_code: str = ""  # for logs and tests
    seconds: float = 0.0

    @property
    def already_running(self) -> bool:
        return not self.started


class _OutOfTime(Exception):
    pass


def _crash_point(name: str) -> None:
    if crash_hook is not None:
        crash_hook(name)


# -- the account ---------------------------------------------------------------------------


def account_sync(
    account: MailAccount, *, batch: int = BATCH, budget_seconds: float | None = None
) -> SyncReport:
    """Brings the account's index in step with its IMAP server; see the module's
    docstring. With `budget_seconds`, stops after the batch that ran over (the report is
    not `complete`; the next sync goes on from there). Every run fetches at least one
    batch, so a tiny budget still makes progress."""
    report = SyncReport(account_id=account.pk)
    if account.protocol != MailAccount.Protocol.IMAP:
        report.complete = True  # POP3 mail is fetched by its own job, not indexed here
        return report
    started = time.monotonic()
    deadline = started + budget_seconds if budget_seconds is not None else None
    with job_lock(f"account-sync:{account.pk}", timeout=LOCK_SECONDS) as lock:
        if lock is None:
            report.started = False
            return report
        MailAccount.objects.filter(pk=account.pk).update(sync_started_at=clock.now())
        run = _Run(account, lock, report, batch=batch, deadline=deadline)
        try:
            run.account()
        except (_OutOfTime, LockLost) as exc:
            if isinstance(exc, LockLost):
                log.warning("account %s: sync lock expired mid-sync; stopped", account.pk)
            _success_record(account)
        except (errors.MailServerError, CredentialError) as exc:
            _failure_record(account, exc, report)
        except Exception as exc:
            _failure_record(account, exc, report)
            raise
        else:
            report.complete = True
            _success_record(account)
        finally:
            MailAccount.objects.filter(pk=account.pk).update(sync_started_at=None)
            report.seconds = time.monotonic() - started
    log.info(
        "account %s: sync %s in %.2f s: %d folders, %d new, %d changed, %d vanished",
        account.pk,
        "done" if report.complete else "stopped",
        report.seconds,
        report.folders,
        report.new,
        report.changed,
        report.vanished,
    )
    return report


def _success_record(account: MailAccount) -> None:
    MailAccount.objects.filter(pk=account.pk).update(
        last_synced_at=clock.now(), sync_error="", sync_error_at=None, sync_failures=0
    )


def _failure_record(account: MailAccount, exc: Exception, report: SyncReport) -> None:
    report.error = error_message(exc)
    report.error_code = (
        "credentials" if isinstance(exc, CredentialError) else getattr(exc, "code", "internal")
    )
    if isinstance(exc, USER_ERRORS):
        log.info("account %s: sync failed: %s", account.pk, report.error_code)
    elif isinstance(exc, errors.MailServerError):
        log.warning("account %s: sync failed: %s %s", account.pk, report.error_code, exc)
    else:
        log.exception("account %s: sync failed", account.pk)
    MailAccount.objects.filter(pk=account.pk).update(
        sync_error=report.error,
        sync_error_at=clock.now(),
        sync_failures=F("sync_failures") + 1,
    )


# -- scheduling ----------------------------------------------------------------------------


def sync_backoff(failures: int) -> timedelta:
    """How long the scheduler leaves an account alone after `failures` failed syncs in a
    row: 2, 4, 8 ... minutes, at most BACKOFF_CAP."""
    if failures <= 0:
        return timedelta(0)
    return min(timedelta(minutes=2 ** min(failures, 20)), BACKOFF_CAP)


def sync_due(account: MailAccount) -> bool:
    """Whether the scheduler may sync the account now (not waiting out a back-off)."""
    if account.sync_failures <= 0 or account.sync_error_at is None:
        return True
    return clock.now() >= account.sync_error_at + sync_backoff(account.sync_failures)


def accounts_due() -> list[int]:
    """The ids of the IMAP accounts the scheduler should sync now."""
    candidates = MailAccount.objects.filter(protocol=MailAccount.Protocol.IMAP).only(
        "id", "protocol", "sync_failures", "sync_error_at"
    )
    return [account.pk for account in candidates.order_by("pk") if sync_due(account)]


def account_sync_queue(accounts) -> None:
    """Queues a background sync of each IMAP account once the current transaction
    commits (by task name: services never import tasks)."""
    from webmail.celery import app

    def send(account_id: int) -> None:
        try:
            app.send_task("webmail.tasks.account_sync_task", args=[account_id])
        except Exception:  # a broker that is down must not break the page that asked
            log.exception("account %s: sync not queued", account_id)

    for account in accounts:
        if account.protocol == MailAccount.Protocol.IMAP:
            transaction.on_commit(lambda account_id=account.pk: send(account_id))


# -- one run -------------------------------------------------------------------------------


def _sync_order(pair: tuple[IndexedFolder, FolderState]) -> tuple:
    row, _state = pair
    if row.name.upper() == "INBOX":
        return (0, 0, "")
    if row.special_use in SPECIAL_ORDER:
        return (1, SPECIAL_ORDER.index(row.special_use), row.name)
    return (2, 0, row.name.casefold())


class _Run:
    def __init__(self, account, lock, report: SyncReport, *, batch: int, deadline) -> None:
        self.account_row = account
        self.lock = lock
        self.report = report
        self.batch = max(1, min(batch, 1000))
        self.deadline = deadline
        self.worked = False  # a batch of messages was fetched in this run
        self.source: SyncSource
        self.features: SyncFeatures

    def account(self) -> None:
        with store_open(self.account_row) as store:
            self.source = store  # ImapStore implements SyncSource as well as MailStore
            self.features = self.source.sync_begin()
            pairs, counts = index_folders_reconcile(self.account_row, self.source.folders_state())
            self.report.folders = len(pairs)
            self.report.folders_created += counts["created"]
            self.report.folders_deleted += counts["deleted"]
            self.report.folders_renamed += counts["renamed"]
            for row, state in sorted(pairs, key=_sync_order):
                self._time_check()
                try:
                    self.folder(row, state)
                except (errors.FolderNotFound, errors.FolderChanged):
                    # Deleted or replaced since LIST: the next sync sees what it is now.
                    log.info("account %s: a folder changed under the sync", self.account_row.pk)

    # -- bookkeeping --

    def _time_check(self) -> None:
        # Every run gets at least one batch done, so even a tiny budget makes progress.
        if self.deadline is not None and self.worked and time.monotonic() > self.deadline:
            raise _OutOfTime()

    def _batch_done(self) -> None:
        self.worked = True
        self.lock.refresh()
        _crash_point("batch")
        self._time_check()

    def _fetch(self, row: IndexedFolder, uids_newest_first: list[int]) -> None:
        """Fetches and stores these UIDs in batches, one transaction per batch."""
        for start in range(0, len(uids_newest_first), self.batch):
            chunk = uids_newest_first[start : start + self.batch]
            entries = self.source.messages_index(
                row.name, chunk, uidvalidity=row.uidvalidity, text_bytes=TEXT_BYTES
            )
            with transaction.atomic():
                index_entries_store(row, entries)
                row.indexed_count += len(entries)
                row.save(update_fields=["indexed_count"])
            self.report.new += len(entries)
            self._batch_done()

    def _indexed_uids(self, row: IndexedFolder, first: int = 1) -> set[int]:
        rows = IndexedMessage.objects.filter(folder=row, uid__gte=first)
        return set(rows.values_list("uid", flat=True))

    def _finish(self, row: IndexedFolder, snapshot: FolderSnapshot, **advance) -> None:
        """Records what this folder's sync applied, in one transaction (rule 7)."""
        with transaction.atomic():
            fields = ["synced_at", *advance]
            for name, value in advance.items():
                setattr(row, name, value)
            row.synced_at = clock.now()
            row.save(update_fields=fields)
            folder_counts_refresh(row)

    # -- one folder --

    def folder(self, row: IndexedFolder, state: FolderState) -> None:
        if not state.selectable or not state.uidvalidity:
            return  # holds only folders, or STATUS failed: nothing to do this time
        if self._unchanged(row, state):
            return
        snapshot = self.source.folder_examine(row.name)
        if snapshot.uidvalidity != row.uidvalidity:
            if row.uidvalidity:
                self._rebuild(row)
            row.uidvalidity = snapshot.uidvalidity
            row.highestmodseq = snapshot.highestmodseq
            row.save(update_fields=["uidvalidity", "highestmodseq"])
        if not row.fully_indexed:
            self._backfill(row, snapshot)
        elif self.features.condstore and snapshot.highestmodseq:
            self._incremental_modseq(row, snapshot)
        else:
            self._incremental_plain(row, snapshot)

    def _unchanged(self, row: IndexedFolder, state: FolderState) -> bool:
        """Nothing to fetch: LIST-STATUS shows the counters this index is at. Only
        HIGHESTMODSEQ reveals flag changes, so without CONDSTORE nothing is skipped."""
        return (
            row.fully_indexed
            and self.features.condstore
            and state.highestmodseq > 0
            and (state.uidvalidity, state.uidnext, state.highestmodseq, state.messages)
            == (row.uidvalidity, row.uidnext, row.highestmodseq, row.messages)
        )

    def _rebuild(self, row: IndexedFolder) -> None:
        """UIDVALIDITY changed: every indexed UID may name another message now."""
        log.info("account %s: UIDVALIDITY of a folder changed; rebuilding", self.account_row.pk)
        with transaction.atomic():
            IndexedMessage.objects.filter(folder=row).delete()
            row.uidnext = row.highestmodseq = row.indexed_count = 0
            row.fully_indexed = False
            row.synced_at = None
            row.save(
                update_fields=[
                    "uidnext", "highestmodseq", "indexed_count", "fully_indexed", "synced_at"
                ]
            )
        self.report.folders_rebuilt += 1

    def _backfill(self, row: IndexedFolder, snapshot: FolderSnapshot) -> None:
        """Everything the server holds and the index lacks, newest first. Resumable: what
        an earlier, interrupted run stored is not fetched again."""
        server = self.source.message_uids_from(row.name, uidvalidity=row.uidvalidity)
        indexed = self._indexed_uids(row)
        present = set(server)
        gone = indexed - present
        if gone:
            with transaction.atomic():
                self.report.vanished += index_uids_delete(row, gone)
        missing = [uid for uid in reversed(server) if uid not in indexed]
        row.total_count = len(server)
        row.indexed_count = len(server) - len(missing)
        row.save(update_fields=["total_count", "indexed_count"])
        del indexed, present, gone
        self._fetch(row, missing)
        uidnext = max(snapshot.uidnext, server[-1] + 1 if server else 1)
        self._finish(row, snapshot, fully_indexed=True, uidnext=uidnext)

    def _new_mail(self, row: IndexedFolder, snapshot: FolderSnapshot) -> int:
        """Fetches the UIDs from the folder's UIDNEXT up (newest first) that are not
        indexed yet; returns the UIDNEXT that is then true."""
        first = max(row.uidnext, 1)
        if snapshot.uidnext and snapshot.uidnext <= first:
            return first
        arrived = self.source.message_uids_from(row.name, uidvalidity=row.uidvalidity, first=first)
        known = self._indexed_uids(row, first)
        self._fetch(row, [uid for uid in reversed(arrived) if uid not in known])
        return max(snapshot.uidnext, arrived[-1] + 1 if arrived else first)

    def _incremental_modseq(self, row: IndexedFolder, snapshot: FolderSnapshot) -> None:
        uidnext = self._new_mail(row, snapshot)
        with transaction.atomic():
            row.uidnext = uidnext
            row.save(update_fields=["uidnext"])
        if snapshot.highestmodseq != row.highestmodseq:
            for first, last in self._windows(row):
                changes = self.source.message_changes(
                    row.name,
                    uidvalidity=row.uidvalidity,
                    since=row.highestmodseq,
                    first=first,
                    last=last,
                )
                with transaction.atomic():
                    self.report.changed += index_flags_set(row, changes.flags)
                    self.report.vanished += index_uids_delete(row, changes.vanished)
                self.lock.refresh()
                self._time_check()
            if not self.features.qresync:
                self._expunged_diff(row)
        self._finish(row, snapshot, highestmodseq=snapshot.highestmodseq)

    def _windows(self, row: IndexedFolder) -> list[tuple[int, int | None]]:
        """UID ranges covering 1..* with at most CHANGES_WINDOW indexed UIDs in each, so
        a folder where everything changed answers in bounded pieces."""
        uids = IndexedMessage.objects.filter(folder=row).order_by("uid")
        starts = list(uids.values_list("uid", flat=True)[CHANGES_WINDOW::CHANGES_WINDOW])
        windows: list[tuple[int, int | None]] = []
        first = 1
        for start in starts:
            windows.append((first, start - 1))
            first = start
        windows.append((first, None))
        return windows

    def _expunged_diff(self, row: IndexedFolder) -> list[int]:
        """Without QRESYNC, expunges show only as UIDs missing from a UID SEARCH. The local
        list is read before the server's: a message indexed meanwhile is never taken for
        one that is gone."""
        indexed = self._indexed_uids(row)
        server = self.source.message_uids_from(row.name, uidvalidity=row.uidvalidity)
        gone = indexed - set(server)
        if gone:
            with transaction.atomic():
                self.report.vanished += index_uids_delete(row, gone)
        return server

    def _incremental_plain(self, row: IndexedFolder, snapshot: FolderSnapshot) -> None:
        server = self._expunged_diff(row)
        indexed = self._indexed_uids(row)
        self._fetch(row, [uid for uid in reversed(server) if uid not in indexed])
        recent = [uid for uid in server[-RECENT_FLAGS:] if uid in indexed]
        if recent:
            flags = self.source.message_flags(row.name, recent, uidvalidity=row.uidvalidity)
            with transaction.atomic():
                self.report.changed += index_flags_set(row, flags)
        uidnext = max(snapshot.uidnext, server[-1] + 1 if server else 1)
        self._finish(row, snapshot, uidnext=uidnext)


REFRESH_BUDGET_SECONDS = 5


def account_refresh(*, account: MailAccount) -> SyncReport:
    """The reader's "Refresh": a sync at once, within their request, for a few seconds at
    most; whatever is left (a first sync of a large mailbox) goes on in the background."""
    report = account_sync(account, budget_seconds=REFRESH_BUDGET_SECONDS)
    if report.started and not report.complete and not report.error:
        account_sync_queue([account])
    return report
