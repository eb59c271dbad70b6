"""Deleting the server copies a POP3 account's rule allows: `pop3_cleanup`.

mail-sync.md's rules 1, 2, 4, 5 and 8, in order, for one account:

1. Take the account's job lock, the one fetch and sync take: the cleanup never runs in
   the session that downloaded a message (rule 1), nor beside it (rule 8).
2. Clock guards: a clock before the newest stored message, before the last cleanup, or
   more than CLOCK_JUMP after it deletes nothing this time and says so (the warning is
   kept on the account's policy; the next run goes on from the new reading).
3. Plan from the database (pop3_policy.pop3_cleanup_plan): the rows the rule allows,
   oldest first; with `confirmed`, only those the user saw in the preview and confirmed.
4. One POP3 session: the listing first settles what an earlier run left open (rows
   "delete requested" or "unknown": present again means the server kept them, back to
   stored; absent means gone). Then each candidate is verified again: its UIDL occurs
   exactly once in this listing, its LIST size is the one recorded at download, its blob
   is on disk with the right size and SHA-256 (re-read now). Failing any: left alone.
5. At most CLEANUP_MAX_PER_SESSION, and on the schedule at most a quarter of the rows
   ever stored (CLEANUP_MIN_CAP at least), so a wrong rule or clock cannot empty a
   mailbox in one go. A confirmed cleanup lifts the quarter and takes more sessions.
6. Mark the chosen rows "delete requested" and write their audit rows, commit; only
   then DELE. POP3 deletes at QUIT only (rule 5): QUIT +OK marks them deleted; a lost
   answer marks them unknown (settled by step 4 next time); an error before QUIT means
   the server deleted nothing, and they go back to stored.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.crypto import CredentialError
from accounts.models import MailAccount
from webmail import clock
from webmail.blobs import BlobProblem
from webmail.models import Pop3Mailbox, Pop3Policy, Pop3Uidl, ServerDeletion, StoredMessage
from webmail.protocols import errors
from webmail.protocols.pop3 import MailboxBusy, Pop3Entry, Pop3Session

from .errors import error_message
from .local_store import blob_store
from .locks import LockLost, job_lock
from .pop3_fetch import HEADER_KEY_PREFIX
from .pop3_policy import PlannedDeletion, pop3_cleanup_plan, pop3_policy_get
from .stores import incoming_settings
from .sync import LOCK_SECONDS

log = logging.getLogger(__name__)

CLEANUP_MAX_PER_SESSION = 500
CLEANUP_MIN_CAP = 20
CLEANUP_MAX_SESSIONS = 20  # a confirmed bulk cleanup: 10,000 messages in one go at most
CLOCK_TOLERANCE = timedelta(minutes=10)
CLOCK_JUMP = timedelta(days=3)
LOCAL_COPY_PROBLEMS = {
    BlobProblem.MISSING: "local copy missing",
    BlobProblem.SIZE: "local copy has the wrong size",
    BlobProblem.DIGEST: "local copy damaged",
}
State = Pop3Uidl.State
Outcome = ServerDeletion.Outcome

# Named points between the steps where tests inject a crash: "delete_requested" (rows
# marked and committed, no DELE sent), "after_dele" (DELE sent, no QUIT), "after_quit"
# (the server deleted, the rows not marked yet).
crash_hook: Callable[[str], None] | None = None


def _crash_point(name: str) -> None:
    if crash_hook is not None:
        crash_hook(name)


@dataclass
class CleanupReport:
    account_id: int
    started: bool = True  # False: another job of the account was running; nothing done
    dry_run: bool = False
    planned: int = 0  # server copies the rule allows to delete now
    planned_octets: int = 0
    deleted: int = 0  # confirmed deleted by QUIT +OK
    octets_freed: int = 0
    unknown: int = 0  # DELE sent, QUIT's answer lost: settled at the next cleanup
    left: int = 0  # allowed and verified, left for a later run by the caps
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (UIDL, reason)
    settled_gone: int = 0  # open rows of an earlier run found deleted
    settled_kept: int = 0  # open rows of an earlier run found still on the server
    vanished: int = 0  # allowed, but another client had deleted them already
    refused: str = ""  # a clock guard's warning: nothing was deleted
    busy: bool = False
    error: str = ""
    error_code: str = ""
    seconds: float = 0.0

    @property
    def already_running(self) -> bool:
        return not self.started

    @property
    def ok(self) -> bool:
        return self.started and not self.refused and not self.error


def pop3_cleanup(
    *, account: MailAccount, confirmed: set[int] | None = None, dry_run: bool = False
) -> CleanupReport:
    """Deletes from the POP3 server the copies the account's rule allows and whose local
    copy verifies; see the module's docstring. `confirmed`: the ledger ids (Pop3Uidl
    pks) the user confirmed in the preview; only those are deleted, without the quarter
    cap. `dry_run`: plan only, connect to nothing, change nothing."""
    if account.protocol != MailAccount.Protocol.POP3:
        raise ValueError("pop3_cleanup is for POP3 accounts")
    report = CleanupReport(account_id=account.pk, dry_run=dry_run)
    started = time.monotonic()
    with job_lock(f"account-sync:{account.pk}", timeout=LOCK_SECONDS) as lock:
        if lock is None:
            report.started = False
            return report
        try:
            _Cleanup(account, lock, report, confirmed).run(dry_run=dry_run)
        except LockLost:
            log.warning("account %s: cleanup lock expired; stopped", account.pk)
        except MailboxBusy:
            report.busy = True
            report.error_code = MailboxBusy.code
            report.error = _(
                "Another mail program is using this mailbox right now. "
                "Postfach will clean up later."
            )
        except (errors.MailServerError, CredentialError) as exc:
            report.error = error_message(exc)
            report.error_code = getattr(exc, "code", "credentials")
            log.info("account %s: cleanup failed: %s", account.pk, report.error_code)
        finally:
            report.seconds = time.monotonic() - started
    if report.error and not dry_run:
        Pop3Policy.objects.filter(account=account).update(cleanup_warning=report.error)
    log.info(
        "account %s: cleanup%s: %d planned, %d deleted (%d bytes), %d unknown, %d left, "
        "%d skipped%s",
        account.pk,
        " (dry run)" if dry_run else "",
        report.planned,
        report.deleted,
        report.octets_freed,
        report.unknown,
        report.left,
        len(report.skipped),
        f", refused: {report.refused}" if report.refused else "",
    )
    return report


def pop3_accounts_to_clean() -> list[int]:
    """The ids of every POP3 account with sync enabled, for the daily cleanup round: each
    run also keeps the clock guard's reading current, so accounts that keep everything run
    too. A disabled user's accounts are left alone, like their fetches."""
    return list(
        MailAccount.objects.filter(
            protocol=MailAccount.Protocol.POP3, sync_enabled=True, user__is_active=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def clock_problem(
    *,
    account: MailAccount,
    now: datetime,
    last_cleanup_at: datetime | None,
    jump_allowed: bool = False,
) -> str:
    """Why the clock cannot be trusted for a cleanup now, or "" when it can.
    `jump_allowed`: a long time since the last cleanup is no reason."""
    newest = StoredMessage.objects.filter(account=account).aggregate(Max("stored_at"))[
        "stored_at__max"
    ]
    if newest is not None and now < newest - CLOCK_TOLERANCE:
        return _(
            "The clock is behind the time the newest message was stored. Nothing was "
            "deleted from the server; the cleanup tries again next time."
        )
    if last_cleanup_at is not None:
        if now < last_cleanup_at - CLOCK_TOLERANCE:
            return _(
                "The clock went back since the last cleanup. Nothing was deleted from the "
                "server; the cleanup tries again next time."
            )
        if now - last_cleanup_at > CLOCK_JUMP and not jump_allowed:
            return _(
                "More than %(days)d days passed since the last cleanup, more than a clock "
                "should jump. To be safe, nothing was deleted from the server this time; "
                "the next cleanup goes ahead."
            ) % {"days": CLOCK_JUMP.days}
    return ""


class _Cleanup:
    def __init__(self, account, lock, report: CleanupReport, confirmed: set[int] | None):
        self.account = account
        self.lock = lock
        self.report = report
        self.confirmed = confirmed
        self.store = blob_store()

    def run(self, *, dry_run: bool) -> None:
        report = self.report
        now = clock.now()
        policy = pop3_policy_get(account=self.account)
        plan = pop3_cleanup_plan(account=self.account, now=now, policy=policy)
        items = plan.items
        if self.confirmed is not None:
            items = [item for item in items if item.ledger_id in self.confirmed]
        report.planned = len(items)
        report.planned_octets = sum(item.size for item in items)
        if dry_run:
            return
        # A confirmed run deletes what the reader saw listed, dates and all: a long
        # pause of the daily round since the last cleanup is no reason to refuse it.
        problem = clock_problem(
            account=self.account,
            now=now,
            last_cleanup_at=policy.last_cleanup_at,
            jump_allowed=self.confirmed is not None,
        )
        Pop3Policy.objects.filter(pk=policy.pk).update(last_cleanup_at=now, cleanup_warning=problem)
        if problem:
            report.refused = problem
            log.warning("account %s: cleanup refused by a clock guard", self.account.pk)
            return
        sessions = CLEANUP_MAX_SESSIONS if self.confirmed is not None else 1
        for _round in range(sessions):
            items = self._session(items)
            if not items:
                break
        report.left = len(items)

    def _open_rows(self):
        return Pop3Uidl.objects.filter(
            account=self.account, state__in=[State.DELETE_REQUESTED, State.UNKNOWN]
        )

    def _cap(self) -> int:
        if self.confirmed is not None:
            return CLEANUP_MAX_PER_SESSION
        ever = Pop3Uidl.objects.filter(account=self.account).count()
        return min(CLEANUP_MAX_PER_SESSION, max(CLEANUP_MIN_CAP, ever // 4))

    def _session(self, items: list[PlannedDeletion]) -> list[PlannedDeletion]:
        """One POP3 session of steps 4 to 6; returns the items it left for later."""
        open_rows = list(self._open_rows())
        if not items and not open_rows:
            return []
        with Pop3Session(incoming_settings(self.account)) as session:
            listing = session.listing()
            sizes = {item.size for item in items} | {row.size for row in open_rows}
            keyed = self._keys(session, listing, sizes)
            if self._settle(open_rows, keyed) and self.confirmed is None:
                # Rows found still on the server are stored again: plan them anew.
                items = pop3_cleanup_plan(account=self.account).items
            chosen, later = self._verified(session, items, keyed)
            if not chosen:
                session.quit()
                self._mailbox_record(listing, deleted=set())
                return later
            audit = self._mark_requested(chosen)
            _crash_point("delete_requested")
            sent: list[tuple[PlannedDeletion, Pop3Entry]] = []
            try:
                for item, entry in chosen:
                    try:
                        session.dele(entry.number)
                    except errors.MessageNotFound:
                        self._back_to_stored([item], audit, reason="gone")
                        continue
                    sent.append((item, entry))
                    self.lock.refresh()
            except BaseException:
                # No QUIT was sent: the server deletes nothing (RFC 1939, UPDATE state).
                self._back_to_stored([item for item, _entry in chosen], audit)
                raise
            _crash_point("after_dele")
            confirmed = session.quit()
        _crash_point("after_quit")
        self._finish(sent, audit, confirmed)
        if confirmed:
            self._mailbox_record(listing, deleted={entry.number for _item, entry in sent})
        return later

    def _keys(self, session: Pop3Session, listing: list[Pop3Entry], sizes: set[int]) -> Counter:
        """(key, LIST size) -> how often this listing has it. Keeps beside it the entry
        of each (key, size) in `self.entries` and how often each key is listed whatever
        its size in `self.keys_listed`. Without UIDL, the key is the digest of the
        headers, read (TOP n 0) only for messages of a size some row has."""
        self.entries: dict[tuple[str, int], Pop3Entry] = {}
        counts: Counter = Counter()
        for entry in listing:
            if session.uidl_supported:
                key = entry.uidl
            elif entry.size in sizes:
                digest = hashlib.sha256(session.top_headers(entry.number)).hexdigest()
                key = HEADER_KEY_PREFIX + digest
            else:
                key = None
            if key is None:
                continue
            counts[(key, entry.size)] += 1
            self.entries[(key, entry.size)] = entry
        self.keys_listed = Counter(key for key, _size in counts.elements())
        return counts

    def _settle(self, open_rows: list[Pop3Uidl], keyed: Counter) -> int:
        """Rows an earlier run left open: on the server still, the server kept them
        (the session ended before QUIT, or QUIT failed); absent, they are gone. Returns
        how many are stored again."""
        for row in open_rows:
            audit = ServerDeletion.objects.filter(
                ledger=row, outcome__in=[Outcome.REQUESTED, Outcome.UNKNOWN]
            )
            with transaction.atomic():
                if keyed[(row.uidl, row.size)]:
                    Pop3Uidl.objects.filter(pk=row.pk).update(state=State.STORED)
                    audit.update(outcome=Outcome.NOT_DELETED)
                    self.report.settled_kept += 1
                else:
                    Pop3Uidl.objects.filter(pk=row.pk).update(
                        state=State.DELETED, deleted_at=clock.now()
                    )
                    audit.update(outcome=Outcome.DELETED)
                    self.report.settled_gone += 1
        return self.report.settled_kept

    def _verified(
        self, session: Pop3Session, items: list[PlannedDeletion], keyed: Counter
    ) -> tuple[list[tuple[PlannedDeletion, Pop3Entry]], list[PlannedDeletion]]:
        """Rule 4, for each item: (those to delete now with their entries, those the caps
        leave for later). Items that fail a check are reported and left alone; those no
        longer on the server are marked gone (another client deleted them)."""
        cap = self._cap()
        chosen: list[tuple[PlannedDeletion, Pop3Entry]] = []
        later: list[PlannedDeletion] = []
        gone: list[int] = []
        for item in items:
            if len(chosen) >= cap:
                later.append(item)
                continue
            if self.keys_listed[item.uidl] == 0:
                gone.append(item.ledger_id)
                continue
            reason = self._problem(session, item, keyed)
            if reason:
                self.report.skipped.append((item.uidl, reason))
                continue
            chosen.append((item, self.entries[(item.uidl, item.size)]))
        # Not listed: gone from the server without us. A listing that leaves messages
        # out (Gmail lists about 250) makes this wrong only in the safe direction: the
        # row is never deleted by us, the message stays on the server.
        Pop3Uidl.objects.filter(pk__in=gone, state=State.STORED).update(
            state=State.DELETED, deleted_at=clock.now()
        )
        self.report.vanished += len(gone)
        return chosen, later

    def _problem(self, session: Pop3Session, item: PlannedDeletion, keyed: Counter) -> str:
        if self.keys_listed[item.uidl] > 1:
            return "listed twice"
        if keyed[(item.uidl, item.size)] != 1:
            # Listed under another size: the server gave the UIDL to another message.
            return "size differs"
        # Re-read from disk now (rule 4): a blob that went missing or bad since the
        # download keeps its server copy.
        problem = self.store.problem(item.digest, item.stored_size)
        if problem is not None:
            log.error(
                "account %s: local copy of %s is %s; server copy kept",
                self.account.pk,
                item.uidl,
                problem,
            )
            return LOCAL_COPY_PROBLEMS[problem]
        # The server's header section must be the stored one's, byte for byte: a server
        # that gave a deleted message's UIDL to a new message of the same size would
        # otherwise lose that new message, which was never downloaded.
        entry = self.entries[(item.uidl, item.size)]
        headers = session.top_headers(entry.number)
        with self.store.open(item.digest) as file:
            if file.read(len(headers)) != headers:
                return "headers differ"
        return ""

    def _mark_requested(
        self, chosen: list[tuple[PlannedDeletion, Pop3Entry]]
    ) -> dict[int, ServerDeletion]:
        now = clock.now()
        with transaction.atomic():
            Pop3Uidl.objects.filter(pk__in=[item.ledger_id for item, _e in chosen]).update(
                state=State.DELETE_REQUESTED
            )
            rows = ServerDeletion.objects.bulk_create(
                [
                    ServerDeletion(
                        account=self.account,
                        account_email=self.account.email,
                        uidl=item.uidl,
                        message_id=item.message_id[:255],
                        subject=item.subject,
                        size=item.size,
                        rule=item.rule,
                        confirmed_by_user=self.confirmed is not None,
                        requested_at=now,
                        ledger_id=item.ledger_id,
                    )
                    for item, _entry in chosen
                ]
            )
        return {row.ledger_id: row for row in rows}

    def _back_to_stored(
        self, items: list[PlannedDeletion], audit: dict[int, ServerDeletion], reason: str = ""
    ) -> None:
        ids = [item.ledger_id for item in items]
        with transaction.atomic():
            Pop3Uidl.objects.filter(pk__in=ids, state=State.DELETE_REQUESTED).update(
                state=State.STORED
            )
            ServerDeletion.objects.filter(pk__in=[audit[i].pk for i in ids]).update(
                outcome=Outcome.NOT_DELETED
            )
        if reason:
            self.report.skipped.extend((item.uidl, reason) for item in items)

    def _finish(
        self,
        sent: list[tuple[PlannedDeletion, Pop3Entry]],
        audit: dict[int, ServerDeletion],
        confirmed: bool,
    ) -> None:
        ids = [item.ledger_id for item, _entry in sent]
        audit_ids = [audit[i].pk for i in ids]
        with transaction.atomic():
            if confirmed:
                Pop3Uidl.objects.filter(pk__in=ids).update(
                    state=State.DELETED, deleted_at=clock.now()
                )
                ServerDeletion.objects.filter(pk__in=audit_ids).update(outcome=Outcome.DELETED)
            else:
                Pop3Uidl.objects.filter(pk__in=ids).update(state=State.UNKNOWN)
                ServerDeletion.objects.filter(pk__in=audit_ids).update(outcome=Outcome.UNKNOWN)
        if confirmed:
            self.report.deleted += len(sent)
            self.report.octets_freed += sum(item.size for item, _entry in sent)
        else:
            self.report.unknown += len(sent)

    def _mailbox_record(self, listing: list[Pop3Entry], *, deleted: set[int]) -> None:
        kept = [entry for entry in listing if entry.number not in deleted]
        Pop3Mailbox.objects.filter(account=self.account).update(
            messages=len(kept), octets=sum(entry.size for entry in kept)
        )
