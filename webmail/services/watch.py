"""New mail within seconds: the watcher process holds IMAP IDLE on the INBOX of recently
active accounts and queues their sync when the server reports a change.

IDLE is a wake-up signal only (mail-sync.md): the sync itself is the normal incremental
one, run by a Celery worker; the page learns of the result from the index (live.js polls
/mail/counts/). The process (`manage.py mailwatch`) runs `accounts_watch`:

1. Every RECONCILE_SECONDS the supervisor (one thread, the only one that touches the
   database) reads the wanted set: IMAP accounts of users seen in the last
   WATCH_ACTIVE_MINUTES, with sync enabled, not waiting out a sync back-off, the most
   recently active first, at most WATCH_MAX_CONNECTIONS. It stops the watchers of
   accounts that left the set or whose server settings changed, and starts one thread per
   new account while fewer than the cap are alive (stopping ones count: the cap bounds
   connections, not intentions).
2. A watcher thread only talks IMAP: it connects, EXAMINEs INBOX, and waits for changes
   in IDLE (NOOP polls without it), telling the supervisor through a queue what it saw.
   On a failure it reconnects after 1, 2, 4 ... seconds, at most BACKOFF_CAP_SECONDS; a
   connection that waited once without error resets the count.
3. A change (or an INBOX that is ahead of the index when a watcher connects) marks the
   account pending. A pending account is queued for sync unless a sync of it is running:
   a sync that began before the change might have looked already, and the second one would
   find the lock taken and do nothing, so the queueing waits until the running one ends.
4. On stop (SIGTERM/SIGINT) every watcher leaves IDLE, logs out, and is joined.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections

from accounts.crypto import CredentialError
from accounts.models import MailAccount, User
from webmail import clock
from webmail.models import IndexedFolder
from webmail.protocols.errors import MailServerError, ServerSettings
from webmail.protocols.idle import folder_watch
from webmail.protocols.store import FolderSnapshot

from .stores import incoming_settings
from .sync import LOCK_SECONDS, USER_ERRORS, account_sync_queue, sync_due

log = logging.getLogger(__name__)

SEEN_EVERY = timedelta(minutes=1)  # how stale last_seen_at may get before it is stamped
RECONCILE_SECONDS = 5.0  # how often the wanted set is read again
TICK_SECONDS = 0.5  # how often the supervisor hands pending changes to the sync queue
WAIT_SECONDS = 2.0  # a watcher's longest wait before it looks at its stop flag again
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
DELAYS_KEPT = 100
JOIN_SECONDS = 10.0  # at shutdown, how long all watchers together may take to log out
WATCHED_FOLDER = "INBOX"

SyncQueue = Callable[[list[MailAccount]], None]


# -- who is active ---------------------------------------------------------------------------


def user_seen_record(*, user: User) -> None:
    """Notes that the user is using the webmail now. Writes at most once a minute per
    user: the stamp loaded with the user tells whether it is due, so most requests cost
    nothing."""
    now = clock.now()
    if user.last_seen_at is not None and now - user.last_seen_at < SEEN_EVERY:
        return
    User.objects.filter(pk=user.pk).update(last_seen_at=now)
    user.last_seen_at = now


def accounts_active(*, minutes: int, limit: int) -> list[MailAccount]:
    """The accounts worth an IDLE connection: IMAP with sync enabled, of active users
    seen in the last `minutes`, not waiting out a sync back-off; the most recently active
    users first, at most `limit` (0 or less: none)."""
    if limit <= 0:
        return []
    since = clock.now() - timedelta(minutes=minutes)
    candidates = (
        MailAccount.objects.filter(
            protocol=MailAccount.Protocol.IMAP,
            sync_enabled=True,
            user__last_seen_at__gte=since,
            user__is_active=True,
        )
        .select_related("user")
        .order_by("-user__last_seen_at", "pk")
    )
    active = []
    for account in candidates.iterator(chunk_size=500):
        if sync_due(account):
            active.append(account)
            if len(active) >= limit:
                break
    return active


def index_behind(*, account: MailAccount, snapshot: FolderSnapshot) -> bool:
    """Whether the index of the watched folder lags what the server's EXAMINE said: mail
    may have come between the last sync and the start of IDLE."""
    row = (
        IndexedFolder.objects.filter(account=account, name__iexact=snapshot.name)
        .only("uidvalidity", "uidnext", "highestmodseq", "fully_indexed")
        .first()
    )
    if row is None or not row.fully_indexed or row.uidvalidity != snapshot.uidvalidity:
        return True
    return row.uidnext < snapshot.uidnext or row.highestmodseq < snapshot.highestmodseq


# -- one account -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    account_id: int
    kind: str  # "connected" or "changed"
    snapshot: FolderSnapshot | None = None


def backoff_delay(failures: int, *, first: float, cap: float) -> float:
    """Seconds before reconnecting after `failures` failures in a row: first, 2 x first,
    4 x first ... at most `cap`."""
    return min(cap, first * 2 ** min(max(failures - 1, 0), 30))


class AccountWatcher(threading.Thread):
    """One account's IDLE connection, in a thread of its own. Talks to the server only;
    what it sees goes to the supervisor's queue."""

    def __init__(
        self,
        account_id: int,
        server: ServerSettings,
        fingerprint: tuple,
        events: queue.SimpleQueue[_Event],
        *,
        backoff_first: float,
        backoff_cap: float,
    ) -> None:
        super().__init__(name=f"mailwatch-{account_id}", daemon=True)
        self.account_id = account_id
        self.fingerprint = fingerprint
        self._server = server
        self._events = events
        self._backoff_first = backoff_first
        self._backoff_cap = backoff_cap
        self._stop_flag = threading.Event()
        self.failures = 0  # in a row
        self.delays: list[float] = []  # the back-offs waited, the first DELAYS_KEPT
        self.connected = False

    def stop(self) -> None:
        self._stop_flag.set()

    @property
    def stopping(self) -> bool:
        return self._stop_flag.is_set()

    def run(self) -> None:
        while not self._stop_flag.is_set():
            try:
                self._watch()
            except Exception as exc:  # never let one account end the process
                self.connected = False
                self.failures += 1
                self._failure_log(exc)
                delay = backoff_delay(
                    self.failures, first=self._backoff_first, cap=self._backoff_cap
                )
                if len(self.delays) < DELAYS_KEPT:  # a server down for days: bounded
                    self.delays.append(delay)
                self._stop_flag.wait(delay)
        self.connected = False

    def _watch(self) -> None:
        with folder_watch(self._server, WATCHED_FOLDER) as watch:
            self.connected = True
            self._events.put(_Event(self.account_id, "connected", watch.snapshot))
            while not self._stop_flag.is_set():
                changed = watch.changes_wait(WAIT_SECONDS)
                self.failures = 0  # a whole wait without error: the connection works
                if changed:
                    self._events.put(_Event(self.account_id, "changed"))

    def _failure_log(self, exc: Exception) -> None:
        # Error classes carry host and port only, never a password or server text.
        code = getattr(exc, "code", type(exc).__name__)
        if isinstance(exc, USER_ERRORS):
            log.info(
                "account %s: watch failed (%s), attempt %d", self.account_id, code, self.failures
            )
        elif isinstance(exc, MailServerError):
            log.warning(
                "account %s: watch failed: %s %s, attempt %d",
                self.account_id,
                code,
                exc,
                self.failures,
            )
        else:
            log.exception("account %s: watch failed", self.account_id)


# -- the supervisor --------------------------------------------------------------------------


def _fingerprint(account: MailAccount) -> tuple:
    """What, when changed, needs a new connection."""
    return (
        account.incoming_host,
        account.incoming_port,
        account.incoming_security,
        account.incoming_login,
        account.incoming_password_encrypted,
    )


class WatchSupervisor:
    """Keeps one AccountWatcher per active account, within the cap, and turns what they
    see into queued syncs. `run(stop)` until the event is set; `step()` is one turn."""

    def __init__(
        self,
        *,
        max_connections: int,
        active_minutes: int,
        sync_queue: SyncQueue = account_sync_queue,
        backoff_first: float = BACKOFF_FIRST_SECONDS,
        backoff_cap: float = BACKOFF_CAP_SECONDS,
        reconcile_seconds: float = RECONCILE_SECONDS,
    ) -> None:
        self.max_connections = max_connections
        self.active_minutes = active_minutes
        self.sync_queue = sync_queue
        self.backoff_first = backoff_first
        self.backoff_cap = backoff_cap
        self.reconcile_seconds = reconcile_seconds
        self.watchers: dict[int, AccountWatcher] = {}  # account id -> its current watcher
        self._retiring: list[AccountWatcher] = []  # told to stop, maybe still logging out
        self._events: queue.SimpleQueue[_Event] = queue.SimpleQueue()
        self._pending: set[int] = set()  # changed, sync not queued yet
        self._unreadable: dict[int, tuple] = {}  # id -> fingerprint whose password failed
        self._next_reconcile = 0.0

    def run(self, stop: threading.Event) -> None:
        log.info(
            "watching the INBOX of accounts active in the last %d minutes, at most %d",
            self.active_minutes,
            self.max_connections,
        )
        try:
            while not stop.is_set():
                # As Django does around each request: a long-lived process must not keep
                # a connection the database closed or one older than CONN_MAX_AGE.
                close_old_connections()
                try:
                    self.step()
                except Exception:  # the database went away, say: log, and go on
                    log.exception("watch supervisor: step failed")
                stop.wait(TICK_SECONDS)
        finally:
            self.shutdown()

    def step(self) -> None:
        now = time.monotonic()
        if now >= self._next_reconcile:
            self._next_reconcile = now + self.reconcile_seconds
            self.reconcile()
        self._events_take()
        self._pending_queue()

    def alive(self) -> list[AccountWatcher]:
        """Watchers with a thread still running: each may hold a connection."""
        self._retiring = [w for w in self._retiring if w.is_alive()]
        return [w for w in [*self.watchers.values(), *self._retiring] if w.is_alive()]

    def reconcile(self) -> None:
        wanted = {
            account.pk: account
            for account in accounts_active(minutes=self.active_minutes, limit=self.max_connections)
        }
        for account_id, watcher in list(self.watchers.items()):
            account = wanted.get(account_id)
            if (
                account is None
                or _fingerprint(account) != watcher.fingerprint
                or not watcher.is_alive()
            ):
                self._retire(account_id)
        room = self.max_connections - len(self.alive())
        for account_id, account in wanted.items():
            if room <= 0:
                break
            if account_id in self.watchers:
                continue
            if self._watcher_start(account):
                room -= 1
        self._pending &= set(self.watchers)

    def _retire(self, account_id: int) -> None:
        watcher = self.watchers.pop(account_id)
        watcher.stop()
        self._retiring.append(watcher)
        log.info("account %s: no longer watched", account_id)

    def _watcher_start(self, account: MailAccount) -> bool:
        fingerprint = _fingerprint(account)
        if self._unreadable.get(account.pk) == fingerprint:
            return False  # said once; a new password changes the fingerprint
        try:
            server = incoming_settings(account)
        except CredentialError:
            self._unreadable[account.pk] = fingerprint
            log.info("account %s: not watched, its stored password cannot be read", account.pk)
            return False
        self._unreadable.pop(account.pk, None)
        watcher = AccountWatcher(
            account.pk,
            server,
            fingerprint,
            self._events,
            backoff_first=self.backoff_first,
            backoff_cap=self.backoff_cap,
        )
        self.watchers[account.pk] = watcher
        watcher.start()
        log.info("account %s: watching INBOX", account.pk)
        return True

    def _events_take(self) -> None:
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                return
            if event.account_id not in self.watchers:
                continue  # from a watcher already retired
            if event.kind == "changed":
                self._pending.add(event.account_id)
            elif event.kind == "connected" and event.snapshot is not None:
                account = MailAccount.objects.filter(pk=event.account_id).first()
                if account is not None and index_behind(account=account, snapshot=event.snapshot):
                    self._pending.add(event.account_id)

    def _pending_queue(self) -> None:
        if not self._pending:
            return
        stale = clock.now() - timedelta(seconds=LOCK_SECONDS)
        ready = []
        for account in MailAccount.objects.filter(pk__in=self._pending):
            running = account.sync_started_at is not None and account.sync_started_at > stale
            if not running:  # a sync that started before the change may have missed it
                ready.append(account)
        self._pending -= {account.pk for account in ready}
        self._pending &= set(self.watchers)  # removed accounts are not waited for
        if ready:
            log.info("accounts %s: INBOX changed, sync queued", [a.pk for a in ready])
            self.sync_queue(ready)

    def shutdown(self) -> None:
        """Stops every watcher and waits (up to JOIN_SECONDS in all) for each to log out."""
        for account_id in list(self.watchers):
            self._retire(account_id)
        deadline = time.monotonic() + JOIN_SECONDS
        for watcher in self._retiring:
            watcher.join(max(0.0, deadline - time.monotonic()))
        left = [w.name for w in self._retiring if w.is_alive()]
        if left:
            log.warning("watchers still logging out at exit: %s", ", ".join(left))
        self._retiring = []


def accounts_watch(
    *,
    stop: threading.Event,
    max_connections: int | None = None,
    active_minutes: int | None = None,
    sync_queue: SyncQueue = account_sync_queue,
) -> None:
    """The watcher process's work until `stop` is set (see the module's docstring)."""
    WatchSupervisor(
        max_connections=(
            settings.WATCH_MAX_CONNECTIONS if max_connections is None else max_connections
        ),
        active_minutes=settings.WATCH_ACTIVE_MINUTES if active_minutes is None else active_minutes,
        sync_queue=sync_queue,
    ).run(stop)
