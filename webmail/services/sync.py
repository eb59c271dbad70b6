"""Keeping the local index in step with an IMAP account: `account_sync`.

The rules are mail-sync.md's; in order, for one account:

1. Take the account's lock (one sync per account across all workers); if another holds
   it, return at once ("already running").
2. One LIST-STATUS: every folder with UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and counts.
   Folder rows are created, deleted, or renamed (same UIDVALIDITY under a new name).
   A fully indexed folder whose counters did not move is not even opened.
3. Per folder, INBOX first, after EXAMINE (read-only; nothing becomes \\Seen):
   - UIDVALIDITY changed: a new generation; its index is dropped (leaving tombstones)
     and rebuilt. A folder that changes more than UIDVALIDITY_ALERT times a day makes
     the sync status warn the reader.
   - Not fully indexed yet (first sync, or resumed after a crash or time budget): the
     UIDs the server holds minus those indexed are fetched newest first, in batches,
     each batch committed with its progress, so a reader sees the newest mail at once
     and a crash loses at most one batch. HIGHESTMODSEQ stays at the value from before
     the first batch, so every flag change during the backfill is fetched afterwards.
   - Fully indexed, with CONDSTORE: new UIDs (from UIDNEXT up) newest first, then
     `CHANGEDSINCE` for flags and (QRESYNC) `VANISHED` for expunges, in windows of
     UIDs; without QRESYNC a UID SEARCH diff finds expunges. Without CONDSTORE: the
     UID SEARCH diff, the flags of the most recent messages, and every
     SYNC_FULL_FLAGS_HOURS the flags of the whole folder, in windows of UIDs, resumed
     where a time budget stopped it.
   - Deletes are two-phase: a message leaving the index leaves a tombstone (see
     VanishedMessage). A message fetched anywhere in the account that matches one
     (or a row of another folder: a copy, or a move from a folder not synced yet in
     this cycle) takes its body text from there instead of fetching it (a move by
     another client costs a header fetch only); tombstones older than the start of the
     last complete sync are purged at the end of the next one.
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

from django.conf import settings
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
    index_folder_clear,
    index_folders_reconcile,
    index_texts_known,
    index_tombstones_purge,
    index_uids_delete,
)
from .locks import LockLost, job_lock
from .stores import store_open

log = logging.getLogger(__name__)

BATCH = 500  # messages per header FETCH and per transaction
TEXT_BYTES = 2048  # of each message's text, for its preview and search
CHANGES_WINDOW = 5000  # indexed UIDs per CHANGEDSINCE FETCH
RECENT_FLAGS = 1000  # newest messages whose flags are read again without CONDSTORE
UIDVALIDITY_ALERT = 3  # UIDVALIDITY changes of one folder in a day before the reader is warned
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
    carried: int = 0  # fetched without their body text: a tombstone or another row had it
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
        began = clock.now()
        MailAccount.objects.filter(pk=account.pk).update(sync_started_at=began)
        run = _Run(account, lock, report, batch=batch, deadline=deadline)
        try:
            run.account()
            # Every folder was looked at since `began`: a tombstone older than that had a
            # whole cycle to be re-linked (deletes are two-phase, mail-sync.md).
            index_tombstones_purge(account, before=began)
        except (_OutOfTime, LockLost) as exc:
            if isinstance(exc, LockLost):
                log.warning("account %s: sync lock expired mid-sync; stopped", account.pk)
            sync_success_record(account)
        except (errors.MailServerError, CredentialError) as exc:
            sync_failure_record(account, exc, report)
        except Exception as exc:
            sync_failure_record(account, exc, report)
            raise
        else:
            report.complete = True
            sync_success_record(account)
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


def sync_success_record(account: MailAccount) -> None:
    MailAccount.objects.filter(pk=account.pk).update(
        last_synced_at=clock.now(), sync_error="", sync_error_at=None, sync_failures=0
    )


def sync_failure_record(account: MailAccount, exc: Exception, report: SyncReport) -> None:
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


def sync_interval() -> timedelta | None:
    """How long the scheduler leaves an account alone after a successful sync: the site's
    `sync_interval_minutes` (admin, SiteSettings), or None when that is empty. The beat
    still runs every SYNC_INTERVAL_SECONDS, so the interval takes effect at the first beat
    after it passed: a site interval shorter than SYNC_INTERVAL_SECONDS changes nothing."""
    from .pop3_policy import site_settings  # pop3_policy imports local_store, which imports us

    minutes = site_settings().sync_interval_minutes
    return timedelta(minutes=minutes) if minutes else None


def accounts_scheduled(protocol: str) -> list[int]:
    """The ids of the accounts of `protocol` the scheduler should sync (IMAP) or fetch
    (POP3) now: sync enabled, user active, not waiting out a back-off, and not synced
    within the site's interval. Half a beat of slack, so an interval of ten minutes with
    a beat every five syncs every ten minutes, not every fifteen."""
    candidates = MailAccount.objects.filter(
        protocol=protocol, sync_enabled=True, user__is_active=True
    ).only("id", "protocol", "sync_failures", "sync_error_at")
    interval = sync_interval()
    if interval is not None:
        slack = timedelta(seconds=settings.SYNC_INTERVAL_SECONDS / 2)
        candidates = candidates.exclude(last_synced_at__gt=clock.now() - interval + slack)
    return [account.pk for account in candidates.order_by("pk") if sync_due(account)]


def accounts_due() -> list[int]:
    """The ids of the IMAP accounts the scheduler should sync now (accounts_scheduled)."""
    return accounts_scheduled(MailAccount.Protocol.IMAP)


def account_sync_queue(accounts) -> None:
    """Queues a background sync of each account once the current transaction commits
    (by task name: services never import tasks). The task fetches a POP3 account's
    mail (pop3_fetch) and syncs an IMAP account's index."""
    from webmail.celery import app

    def send(account_id: int) -> None:
        try:
            app.send_task("webmail.tasks.account_sync_task", args=[account_id])
        except Exception:  # a broker that is down must not break the page that asked
            log.exception("account %s: sync not queued", account_id)

    for account in accounts:
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
        """Fetches and stores these UIDs in batches, one transaction per batch. Messages
        the index knows already (moved or copied here by another client, or back after a
        UIDVALIDITY change) take their text from a tombstone or the other row: no body
        fetch."""
        for start in range(0, len(uids_newest_first), self.batch):
            chunk = uids_newest_first[start : start + self.batch]
            carried = {}

            def text_known(entries, carried=carried):
                carried.update(index_texts_known(self.account_row, entries))
                return carried.keys()

            entries = self.source.messages_index(
                row.name,
                chunk,
                uidvalidity=row.uidvalidity,
                text_bytes=TEXT_BYTES,
                text_known=text_known,
            )
            with transaction.atomic():
                index_entries_store(row, entries, carried)
                row.indexed_count += len(entries)
                row.save(update_fields=["indexed_count"])
            self.report.new += len(entries)
            self.report.carried += len(carried)
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
        """UIDVALIDITY changed: every indexed UID may name another message now. The rows
        become tombstones of the old generation, so the rebuild (a new generation) takes
        their text over instead of fetching every body again."""
        now = clock.now()
        since = row.uidvalidity_changes_since
        if since is None or now - since > timedelta(days=1):
            row.uidvalidity_changes, row.uidvalidity_changes_since = 0, now
        row.uidvalidity_changes += 1
        log_at = logging.WARNING if row.uidvalidity_changes > UIDVALIDITY_ALERT else logging.INFO
        log.log(
            log_at,
            "account %s: UIDVALIDITY of a folder changed (%d times today); rebuilding",
            self.account_row.pk,
            row.uidvalidity_changes,
        )
        with transaction.atomic():
            index_folder_clear(row)
            row.generation += 1
            row.uidnext = row.highestmodseq = row.indexed_count = row.flags_scan_from = 0
            row.fully_indexed = False
            row.synced_at = row.flags_scanned_at = None
            row.save(
                update_fields=[
                    "uidnext", "highestmodseq", "indexed_count", "fully_indexed", "synced_at",
                    "generation", "uidvalidity_changes", "uidvalidity_changes_since",
                    "flags_scanned_at", "flags_scan_from",
                ]
            )  # fmt: skip
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
        # A first sync read every message's flags: the next full flag scan is a period away.
        self._finish(
            row, snapshot, fully_indexed=True, uidnext=uidnext, flags_scanned_at=clock.now()
        )

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

    def _windows(self, row: IndexedFolder, start: int = 1) -> list[tuple[int, int | None]]:
        """UID ranges covering start..* with at most CHANGES_WINDOW indexed UIDs in each,
        so a folder where everything changed answers in bounded pieces."""
        uids = IndexedMessage.objects.filter(folder=row, uid__gte=start).order_by("uid")
        starts = list(uids.values_list("uid", flat=True)[CHANGES_WINDOW::CHANGES_WINDOW])
        windows: list[tuple[int, int | None]] = []
        first = start
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
        del indexed, recent
        if self._full_flag_scan_due(row):
            self._full_flag_scan(row)
        uidnext = max(snapshot.uidnext, server[-1] + 1 if server else 1)
        self._finish(row, snapshot, uidnext=uidnext)

    def _full_flag_scan_due(self, row: IndexedFolder) -> bool:
        if row.flags_scan_from or row.flags_scanned_at is None:
            return True  # a scan to resume, or never done
        period = timedelta(hours=settings.SYNC_FULL_FLAGS_HOURS)
        return clock.now() - row.flags_scanned_at >= period

    def _full_flag_scan(self, row: IndexedFolder) -> None:
        """Reads the flags of every indexed message, oldest first, CHANGES_WINDOW indexed
        UIDs per FETCH; each window is applied with the UID the scan goes on from, so a
        time budget (or a crash) costs at most one window."""
        for first, last in self._windows(row, start=max(row.flags_scan_from, 1)):
            uids = IndexedMessage.objects.filter(folder=row, uid__gte=first)
            if last is not None:
                uids = uids.filter(uid__lte=last)
            wanted = list(uids.values_list("uid", flat=True))
            with transaction.atomic():
                if wanted:
                    flags = self.source.message_flags(
                        row.name, wanted, uidvalidity=row.uidvalidity
                    )
                    self.report.changed += index_flags_set(row, flags)
                if last is None:
                    row.flags_scan_from, row.flags_scanned_at = 0, clock.now()
                else:
                    row.flags_scan_from = last + 1
                row.save(update_fields=["flags_scan_from", "flags_scanned_at"])
            self._batch_done()


REFRESH_BUDGET_SECONDS = 5


def account_refresh(*, account: MailAccount) -> SyncReport:
    """The reader's "Refresh": a sync at once, within their request, for a few seconds at
    most; whatever is left (a first sync of a large mailbox) goes on in the background."""
    report = account_sync(account, budget_seconds=REFRESH_BUDGET_SECONDS)
    if report.started and not report.complete and not report.error:
        account_sync_queue([account])
    return report
