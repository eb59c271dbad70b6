"""Celery tasks: thin wrappers that load by id and call a service (see services/sync.py).

A sync records its own errors on the account and never raises them, so nothing here
retries: the next beat round (or the back-off after failures) is the retry.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from accounts.models import MailAccount
from webmail.models import Pop3Migration
from webmail.services.compose import compose_areas_clean
from webmail.services.local_store import blob_store
from webmail.services.pop3_cleanup import pop3_accounts_to_clean, pop3_cleanup
from webmail.services.pop3_fetch import TEMP_FILE_AGE, pop3_accounts_due, pop3_fetch
from webmail.services.pop3_migration import pop3_migration_done_count, pop3_migration_run
from webmail.services.pop3_policy import cleanup_soon_after_fetch
from webmail.services.pop3_quota import pop3_storage_warn
from webmail.services.prerender import bodies_prerender
from webmail.services.reading import message_seen_store
from webmail.services.retention import retention_accounts_scheduled, retention_run
from webmail.services.sync import account_sync, account_sync_queue, accounts_due

MIGRATION_WAIT = 30  # seconds before a move to IMAP tries again while a fetch holds the account


@shared_task(name="webmail.tasks.account_sync_task", ignore_result=True)
def account_sync_task(account_id: int) -> None:
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return  # removed meanwhile: nothing to sync
    if account.protocol == MailAccount.Protocol.POP3:
        pop3_fetch_task(account.pk)  # POP3 mail is downloaded, not indexed from a server
        return
    report = account_sync(account, budget_seconds=settings.SYNC_BUDGET_SECONDS)
    if report.new and settings.PRERENDER_RECENT > 0:
        bodies_prerender_task.delay(account.pk)  # new mail is opened first: have it ready
    if report.started and not report.complete and not report.error:
        account_sync_queue([account])  # the budget ran out: go on in a fresh task


@shared_task(name="webmail.tasks.pop3_fetch_task", ignore_result=True)
def pop3_fetch_task(account_id: int) -> None:
    """Downloads a POP3 account's new mail; errors are recorded on the account, and the
    next round (or the back-off after failures) is the retry."""
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None or account.protocol != MailAccount.Protocol.POP3:
        return
    report = pop3_fetch(
        account=account,
        max_messages=settings.POP3_FETCH_MAX_MESSAGES or None,
        max_bytes=settings.POP3_FETCH_MAX_BYTES or None,
    )
    if report.new and settings.PRERENDER_RECENT > 0:
        bodies_prerender_task.delay(account.pk)  # from the local store: no connection
    if report.new and cleanup_soon_after_fetch(account=account):
        # "Delete after download" and the size limit act soon, in a later session
        # (mail-sync.md rule 1): this task ran its own, which has ended.
        pop3_cleanup_task.delay(account.pk)
    pop3_storage_warn(account=account)  # the listing just read says how full the server is


@shared_task(name="webmail.tasks.pop3_cleanup_task", ignore_result=True)
def pop3_cleanup_task(account_id: int, confirmed: list[int] | None = None) -> None:
    """Deletes the server copies the account's policy allows (`confirmed`: only these
    ledger ids, which the user confirmed in the preview). Outcomes and warnings are kept
    on the account's policy and in the audit log."""
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None or account.protocol != MailAccount.Protocol.POP3:
        return
    pop3_cleanup(account=account, confirmed=set(confirmed) if confirmed is not None else None)


@shared_task(name="webmail.tasks.pop3_cleanups_daily", ignore_result=True)
def pop3_cleanups_daily() -> None:
    """Beat, daily at POP3_CLEANUP_HOUR: the cleanup of every POP3 account, and the
    temporary files of downloads a crash cut short."""
    blob_store().temp_files_remove(older_than_seconds=TEMP_FILE_AGE)
    for account_id in pop3_accounts_to_clean():
        pop3_cleanup_task.delay(account_id)


@shared_task(name="webmail.tasks.retention_run_task", ignore_result=True)
def retention_run_task(account_id: int, confirmed_rule_ids: list[int] | None = None) -> None:
    """Runs an IMAP account's retention rules (`confirmed_rule_ids`: those the user
    confirmed after a preview, "free space now"). Outcomes are kept on the rules and in
    the retention log; the next daily round is the retry."""
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None or account.protocol != MailAccount.Protocol.IMAP:
        return
    retention_run(account=account, confirmed=confirmed_rule_ids)


@shared_task(name="webmail.tasks.retention_runs_daily", ignore_result=True)
def retention_runs_daily() -> None:
    """Beat, daily at RETENTION_HOUR: the rules of every IMAP account that has one on."""
    for account_id in retention_accounts_scheduled():
        retention_run_task.delay(account_id)


@shared_task(name="webmail.tasks.pop3_migration_task", ignore_result=True)
def pop3_migration_task(account_id: int) -> None:
    """Copies a batch of a POP3 account's stored mail to its new IMAP server and queues
    itself again while the move runs; a pause stops it, resume queues it anew. While
    another job holds the account (a POP3 fetch), it tries again a little later."""
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    before = pop3_migration_done_count(account=account)
    migration = pop3_migration_run(account=account)
    if migration.state == Pop3Migration.State.RUNNING:
        waited = pop3_migration_done_count(account=account) == before
        pop3_migration_task.apply_async([account_id], countdown=MIGRATION_WAIT if waited else 0)


@shared_task(name="webmail.tasks.bodies_prerender_task", ignore_result=True)
def bodies_prerender_task(account_id: int) -> None:
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    bodies_prerender(account=account, limit=settings.PRERENDER_RECENT)


@shared_task(name="webmail.tasks.message_seen_task", ignore_result=True)
def message_seen_task(account_id: int, folder: str, uidvalidity: int, uid: int) -> None:
    """The \\Seen of a message opened from the database (services.reading)."""
    account = MailAccount.objects.filter(pk=account_id).first()
    if account is None:
        return
    message_seen_store(account=account, folder=folder, uidvalidity=uidvalidity, uid=uid)


@shared_task(name="webmail.tasks.accounts_sync_due", ignore_result=True)
def accounts_sync_due() -> None:
    """Beat, every SYNC_INTERVAL_SECONDS: a sync of every account not in back-off."""
    for account_id in accounts_due() + pop3_accounts_due():
        account_sync_task.delay(account_id)


@shared_task(name="webmail.tasks.compose_areas_clean_task", ignore_result=True)
def compose_areas_clean_task() -> None:
    """Beat, hourly: attachments of messages abandoned in a closed tab (see compose)."""
    compose_areas_clean()
