"""Moving a POP3 account to IMAP (issue 7): every locally stored message goes up to the
IMAP server the user names, with APPEND, and then the account becomes an IMAP account.

1. `pop3_migration_start` checks the IMAP login, finds or creates the target folders
   (INBOX to INBOX, Sent/Drafts/Trash/Archive to the server's folder of that special
   use, other folders by name, created where missing), and stores one
   Pop3MigrationItem per message that has an index row here. Messages deleted here for
   good (no index row) are not copied. Starting again resumes: items are never made
   twice, and messages the server refused before are tried again.
2. `pop3_migration_run`, under the account's job lock (no POP3 fetch meanwhile), per
   pending item: looks in the target folder for the message first (same Message-ID and
   RFC822.SIZE; without a Message-ID, same size and same SHA-256 of the bytes), else
   APPENDs it with its internal date and \\Seen/\\Flagged/\\Answered; then commits the
   item's new state. A crash between APPEND and commit leaves the item pending, and the
   rerun finds the copy on the server instead of uploading it again. A message the
   server refuses is marked failed with the reason and stays here.
3. When nothing is pending: the account switches to IMAP with the migration's server
   and login (its SMTP settings kept), its local index is dropped so the next sync
   shows the IMAP server's folders, and the local copies (StoredMessage rows and blobs)
   stay on this server's disk.
"""

from __future__ import annotations

import email.policy
import hashlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils.translation import gettext as _

from accounts.crypto import secret_decrypt, secret_encrypt
from accounts.models import MailAccount
from webmail import clock
from webmail.models import (
    IndexedFolder,
    Pop3Migration,
    Pop3MigrationItem,
    Pop3Uidl,
    StoredMessage,
)
from webmail.protocols.errors import (
    ActionRefused,
    FolderNotFound,
    MailServerError,
    ServerSettings,
)
from webmail.protocols.imap import ImapStore, imap_store

from .accounts import blobs_unreferenced_remove
from .errors import error_message
from .local_store import blob_store
from .locks import LockLost, job_lock
from .mail_hosts import mail_host_policy
from .sync import LOCK_SECONDS, account_sync_queue

log = logging.getLogger(__name__)

BUDGET = 200  # messages per pop3_migration_run; the task queues itself again for more
HEADER_BYTES = 64 * 1024  # read for a refused message's subject
MAX_DIGEST_CANDIDATES = 20  # same-size messages fetched to compare bytes, at most
LOCAL_DELIMITER = "/"
ROLES = ("\\Sent", "\\Drafts", "\\Trash", "\\Archive")
_LINE_ENDS = re.compile(rb"\r\n|\r(?!\n)|\n")  # what imaplib's APPEND makes CRLF

# Tests set this to stop the run at a named point, as a crash would ("appended": the
# server holds the message, the item is not committed yet).
crash_hook: Callable[[str], None] | None = None


def _crash_point(name: str) -> None:
    if crash_hook is not None:
        crash_hook(name)


class MigrationNotPossible(Exception):
    """The account cannot be moved (not POP3, or moved already); the text is for the user."""


def _server_settings(*, host: str, port: int, security: str, login: str, password: str):
    return ServerSettings(
        host=host,
        port=port,
        security=security,
        login=login,
        password=password,
        timeout=settings.MAIL_CONNECT_TIMEOUT,
        host_policy=mail_host_policy(),  # the host is the user's: the SSRF guard applies
    )


def _migration_settings(migration: Pop3Migration) -> ServerSettings:
    return _server_settings(
        host=migration.imap_host,
        port=migration.imap_port,
        security=migration.imap_security,
        login=migration.imap_login,
        password=secret_decrypt(migration.imap_password_encrypted),
    )


def pop3_migration_start(
    *, account: MailAccount, host: str, port: int, security: str, login: str, password: str
) -> Pop3Migration:
    """Checks the IMAP login (MailServerError when it fails: wrong password, dead
    server), prepares the target folders and stores the migration, state running, with
    its items. Resumes a paused or stopped migration without making items twice."""
    if account.protocol != MailAccount.Protocol.POP3:
        raise MigrationNotPossible(_("Only a POP3 account can be moved to IMAP."))
    server = _server_settings(
        host=host, port=port, security=security, login=login, password=password
    )
    with imap_store(server) as store:
        targets = _targets_prepare(store, account)
    with transaction.atomic():
        values = {
            "state": Pop3Migration.State.RUNNING,
            "imap_host": host,
            "imap_port": port,
            "imap_security": security,
            "imap_login": login,
            "imap_password_encrypted": secret_encrypt(password),
            "error": "",
            "finished_at": None,
        }
        migration, _created = Pop3Migration.objects.update_or_create(
            account=account,
            defaults=values,
            create_defaults={**values, "started_at": clock.now()},
        )
        # Refused before (a full mailbox, say): worth another try with this start.
        migration.items.filter(state=Pop3MigrationItem.State.FAILED).update(
            state=Pop3MigrationItem.State.PENDING, reason=""
        )
        _items_add(migration, targets)
        _counters_refresh(migration)
    log.info("account %s: move to IMAP started, %d messages", account.pk, migration.total)
    return migration


def _items_add(migration: Pop3Migration, targets: dict[str, str]) -> int:
    """An item for every stored message of the account with an index row that has none
    yet: all of them at the start, mail fetched meanwhile at the end."""
    stored = (
        StoredMessage.objects.filter(account_id=migration.account_id, indexed__isnull=False)
        .exclude(pk__in=migration.items.values("stored_id"))
        .select_related("indexed__folder")
    )
    known = migration.items.count()
    Pop3MigrationItem.objects.bulk_create(
        [
            Pop3MigrationItem(
                migration=migration,
                stored=message,
                local_folder=message.indexed.folder.name,
                target_folder=targets[message.indexed.folder.name],
            )
            for message in stored.iterator(chunk_size=2000)
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    _counters_refresh(migration)
    return migration.total - known


def _targets_prepare(store: ImapStore, account: MailAccount) -> dict[str, str]:
    """Local folder name -> the server's folder for it, created where missing."""
    folders = IndexedFolder.objects.filter(account=account).order_by("name")
    existing = store.folders()
    delimiter = next((f.delimiter for f in existing if f.delimiter), LOCAL_DELIMITER)
    names = {f.name for f in existing}
    targets = {}
    for folder in folders:
        if folder.name == "INBOX":
            targets[folder.name] = "INBOX"
            continue
        if folder.special_use in ROLES:
            found = store.special_folder(folder.special_use)
            if found is not None:
                targets[folder.name] = found
                continue
        target = folder.name.replace(LOCAL_DELIMITER, delimiter)
        if target not in names:
            role = folder.special_use if folder.special_use in ROLES else None
            _folder_create(store, target, special_use=role)
            names.add(target)
        targets[folder.name] = target
    return targets


def _folder_create(store: ImapStore, name: str, *, special_use: str | None = None) -> None:
    try:
        store.folder_create(name, special_use=special_use)
    except ActionRefused as exc:
        if exc.reason != "ALREADYEXISTS":
            raise


def _counters_refresh(migration: Pop3Migration) -> None:
    counts = dict.fromkeys(Pop3MigrationItem.State.values, 0)
    for state in migration.items.values_list("state", flat=True).iterator():
        counts[state] += 1
    Pop3Migration.objects.filter(pk=migration.pk).update(
        total=sum(counts.values()),
        copied=counts[Pop3MigrationItem.State.COPIED],
        already_there=counts[Pop3MigrationItem.State.ALREADY_THERE],
        failed=counts[Pop3MigrationItem.State.FAILED],
    )
    migration.refresh_from_db()


def pop3_migration_pause(*, account: MailAccount) -> bool:
    """Running -> paused; the run stops before its next message. False when not running."""
    return bool(
        Pop3Migration.objects.filter(account=account, state=Pop3Migration.State.RUNNING).update(
            state=Pop3Migration.State.PAUSED
        )
    )


def pop3_migration_resume(*, account: MailAccount) -> bool:
    """Paused or stopped by an error -> running (the caller queues the task). False when
    there is nothing to resume."""
    return bool(
        Pop3Migration.objects.filter(
            account=account, state__in=[Pop3Migration.State.PAUSED, Pop3Migration.State.FAILED]
        ).update(state=Pop3Migration.State.RUNNING, error="")
    )


def pop3_migration_done_count(*, account: MailAccount) -> int:
    """Messages the move has dealt with so far (copied, found there, refused)."""
    found = Pop3Migration.objects.filter(account=account).first()
    return found.copied + found.already_there + found.failed if found else 0


@dataclass(frozen=True)
class FailedMessage:
    folder: str
    subject: str
    size: int
    reason: str


def pop3_migration_failed(*, migration: Pop3Migration, limit: int) -> list[FailedMessage]:
    """The messages the server refused, oldest first: subject from the stored bytes'
    headers (after the switch the local index is gone, the bytes stay)."""
    items = migration.items.filter(state=Pop3MigrationItem.State.FAILED).select_related("stored")
    blobs = blob_store()
    found = []
    for item in items.order_by("pk")[:limit]:
        try:
            with blobs.open(item.stored.digest) as file:
                head = file.read(HEADER_BYTES)
        except OSError:
            head = b""
        headers = BytesHeaderParser(policy=email.policy.default).parsebytes(head)
        try:
            subject = str(headers.get("Subject", ""))
        except (ValueError, TypeError):  # a header the parser cannot decode
            subject = ""
        found.append(FailedMessage(item.local_folder, subject, item.stored.size, item.reason))
    return found


def pop3_migration_local_copies_remove(*, account: MailAccount) -> int:
    """After a finished move: removes the copies kept here of the messages that are on the
    IMAP server now (copied or found there): their StoredMessage rows, POP3 ledger rows and
    blobs. Messages the server refused stay. Returns how many went."""
    done = Pop3Migration.objects.filter(account=account, state=Pop3Migration.State.DONE)
    if not done.exists():
        raise MigrationNotPossible(_("The local copies stay until the move to IMAP is done."))
    on_server = Pop3MigrationItem.objects.filter(
        migration__account=account,
        state__in=[Pop3MigrationItem.State.COPIED, Pop3MigrationItem.State.ALREADY_THERE],
    ).values("stored_id")
    with transaction.atomic():
        rows = StoredMessage.objects.filter(account=account, pk__in=on_server)
        digests = set(rows.values_list("digest", flat=True))
        # A ledger row protects its stored message; the POP3 server is not ours any more.
        Pop3Uidl.objects.filter(account=account, stored__in=rows).delete()
        removed = len(digests)
        rows.delete()
        transaction.on_commit(lambda: blobs_unreferenced_remove(digests=digests))
    log.info("account %s: %d local copies removed after the move to IMAP", account.pk, removed)
    return removed


def pop3_migration_queue(*, account: MailAccount) -> None:
    """Queues the copying task once the current transaction commits (by name: services
    never import tasks)."""
    from webmail.celery import app

    def send() -> None:
        try:
            app.send_task("webmail.tasks.pop3_migration_task", args=[account.pk])
        except Exception:  # a broker that is down must not break the page that asked
            log.exception("account %s: move to IMAP not queued", account.pk)

    transaction.on_commit(send)


def pop3_migration_run(
    *,
    account: MailAccount,
    budget: int = BUDGET,
    progress: Callable[[Pop3Migration], None] | None = None,
) -> Pop3Migration:
    """Copies up to `budget` pending messages (see the module's docstring); finishes the
    move when none are left. Returns the migration as it stands. Does nothing while
    another job holds the account's lock or the migration is not running."""
    migration = Pop3Migration.objects.get(account=account)
    with job_lock(f"account-sync:{account.pk}", timeout=LOCK_SECONDS) as lock:
        if lock is None or migration.state != Pop3Migration.State.RUNNING:
            return migration
        try:
            with imap_store(_migration_settings(migration)) as store:
                targets = _targets_prepare(store, account)
                copy = _Copy(migration, store, lock, progress, targets)
                # Then mail fetched since the start (no fetch runs while we hold the
                # lock, so nothing comes between the last of these and the switch).
                while copy.run(budget) and not _pending(migration).exists():
                    if not _items_add(migration, targets):
                        break
        except LockLost:
            log.warning("account %s: move to IMAP lost its lock; stopped", account.pk)
        except MailServerError as exc:
            log.info("account %s: move to IMAP stopped: %s", account.pk, type(exc).__name__)
            Pop3Migration.objects.filter(pk=migration.pk).update(
                state=Pop3Migration.State.FAILED, error=error_message(exc)
            )
        migration.refresh_from_db()
        if migration.state == Pop3Migration.State.RUNNING and not _pending(migration).exists():
            _finish(migration)
            migration.refresh_from_db()
    return migration


def _pending(migration: Pop3Migration):
    return migration.items.filter(state=Pop3MigrationItem.State.PENDING)


class _Copy:
    def __init__(self, migration, store: ImapStore, lock, progress, targets) -> None:
        self.migration = migration
        self.targets = targets
        self.done = 0
        self.store = store
        self.lock = lock
        self.progress = progress
        self.blobs = blob_store()

    def run(self, budget: int) -> bool:
        """Copies pending items while the budget lasts; False once paused or spent."""
        items = _pending(self.migration).select_related("stored__indexed__folder").order_by("pk")
        for item in items[: budget - self.done]:
            still_running = Pop3Migration.objects.filter(
                pk=self.migration.pk, state=Pop3Migration.State.RUNNING
            ).exists()
            if not still_running:
                return False  # paused: stop between messages
            self.lock.refresh()
            self._item(item)
            self.done += 1
            if self.progress is not None:
                self.migration.refresh_from_db()
                self.progress(self.migration)
        return self.done < budget

    def _item(self, item: Pop3MigrationItem) -> None:
        indexed = item.stored.indexed
        if indexed is None:  # deleted here for good since the start: not copied
            with transaction.atomic():
                item.delete()
                Pop3Migration.objects.filter(pk=self.migration.pk).update(total=F("total") - 1)
            return
        # Where the message is now: the user may have moved it here since the start.
        item.local_folder = indexed.folder.name
        item.target_folder = self.targets.get(item.local_folder, item.target_folder)
        with self.blobs.open(item.stored.digest) as file:
            # The bytes as they reach the server: imaplib sends CRLF line ends, and sizes
            # and digests must be compared on what the server holds.
            raw = _LINE_ENDS.sub(b"\r\n", file.read())
        state, uidvalidity, uid, reason = Pop3MigrationItem.State.PENDING, None, None, ""
        uidvalidity, found = self._find(item.target_folder, raw, indexed.message_id)
        if found is not None:
            state, uid = Pop3MigrationItem.State.ALREADY_THERE, found
        else:
            flags = [
                flag
                for flag, on in (
                    ("\\Seen", indexed.seen),
                    ("\\Flagged", indexed.flagged),
                    ("\\Answered", indexed.answered),
                )
                if on
            ]
            try:
                uid = self._append(item.target_folder, raw, flags, indexed.internal_date)
                state = Pop3MigrationItem.State.COPIED
            except ActionRefused as exc:
                state, uid, reason = Pop3MigrationItem.State.FAILED, None, _refusal_reason(exc)
            _crash_point("appended")
        counter = {
            Pop3MigrationItem.State.COPIED: "copied",
            Pop3MigrationItem.State.ALREADY_THERE: "already_there",
            Pop3MigrationItem.State.FAILED: "failed",
        }[state]
        with transaction.atomic():
            item.state, item.reason = state, reason
            item.target_uidvalidity = uidvalidity if uid is not None else None
            item.target_uid = uid
            item.save(
                update_fields=[
                    *("state", "reason", "local_folder", "target_folder"),
                    *("target_uidvalidity", "target_uid"),
                ]
            )
            Pop3Migration.objects.filter(pk=self.migration.pk).update(**{counter: F(counter) + 1})

    def _find(self, folder: str, raw: bytes, message_id: str) -> tuple[int | None, int | None]:
        """The UIDVALIDITY of `folder` and the UID of the message already there, or None."""
        try:
            uidvalidity, uids = self.store.message_candidates(
                folder, size=len(raw), message_id=message_id
            )
        except FolderNotFound:
            return None, None
        if message_id:
            return uidvalidity, (uids[0] if uids else None)
        digest = hashlib.sha256(raw).digest()
        for uid in uids[:MAX_DIGEST_CANDIDATES]:
            there = self.store.message_raw(folder, uid, uidvalidity=uidvalidity)
            if hashlib.sha256(there.data).digest() == digest:
                return uidvalidity, uid
        return uidvalidity, None

    def _append(self, folder: str, raw: bytes, flags: list[str], when) -> int | None:
        try:
            return self.store.message_append(folder, raw, flags=flags, when=when)
        except FolderNotFound:  # deleted on the server since the start
            _folder_create(self.store, folder)
            return self.store.message_append(folder, raw, flags=flags, when=when)


def _refusal_reason(exc: ActionRefused) -> str:
    if exc.reason in ("TOOBIG", "LIMIT"):
        return _("The IMAP server does not accept a message this large.")
    if exc.reason == "OVERQUOTA":
        return _("The mailbox on the IMAP server is full (quota reached).")
    if exc.reason:
        return _("The IMAP server refused the message (%(code)s).") % {"code": exc.reason}
    return _("The IMAP server refused the message.")


def _finish(migration: Pop3Migration) -> None:
    """Done: the account becomes an IMAP account; the local copies stay (see above)."""
    with transaction.atomic():
        account = MailAccount.objects.select_for_update().get(pk=migration.account_id)
        claimed = Pop3Migration.objects.filter(
            pk=migration.pk, state=Pop3Migration.State.RUNNING
        ).update(state=Pop3Migration.State.DONE, finished_at=clock.now())
        if not claimed:
            return
        if account.smtp_same_credentials:
            # SMTP went with the POP3 login: it keeps that login, not the IMAP one.
            login, password = account.smtp_credentials()
            account.smtp_same_credentials = False
            account.smtp_login = login
            account.set_smtp_password(password)
        account.protocol = MailAccount.Protocol.IMAP
        account.incoming_host = migration.imap_host
        account.incoming_port = migration.imap_port
        account.incoming_security = migration.imap_security
        account.incoming_login = migration.imap_login
        account.set_incoming_password(secret_decrypt(migration.imap_password_encrypted))
        account.sync_error = ""
        account.sync_failures = 0
        account.save()
        # The local folders' index goes; the next sync indexes the IMAP server's folders.
        # StoredMessage rows and blobs stay (their index link becomes empty).
        IndexedFolder.objects.filter(account=account).delete()
        account_sync_queue([account])
    log.info("account %s: moved to IMAP", migration.account_id)
