"""What a POP3 account keeps on its server, and what its next cleanup would delete.

`pop3_policy_get` and `pop3_policy_set` read and change an account's rule (new accounts
start from the admin's default in SiteSettings); `pop3_cleanup_plan` answers, from the
database alone, which server copies the rule lets the cleanup delete now. The cleanup
(webmail.services.pop3_cleanup) re-verifies each of them against the server and the disk
before any DELE; the preview on the account page and `mailaccount cleanup --dry-run` show
the plan as it is.

The age of a message is counted from `stored_at`, the database time of the commit that
made it durable here (mail-sync.md rule 2), never from its Date: header or from when the
server first listed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction

from accounts.models import MailAccount
from webmail import clock
from webmail.models import (
    Pop3Keep,
    Pop3Mailbox,
    Pop3Policy,
    Pop3Uidl,
    ServerDeletion,
    SiteSettings,
)

from .local_store import stored_entry_read

MEGABYTE = 1024 * 1024
Rule = ServerDeletion.Rule


def site_settings() -> SiteSettings:
    settings, _created = SiteSettings.objects.get_or_create(pk=1)
    return settings


def pop3_policy_get(*, account: MailAccount) -> Pop3Policy:
    """The account's policy; made from the site's defaults the first time it is asked."""
    try:
        return Pop3Policy.objects.get(account=account)
    except Pop3Policy.DoesNotExist:
        pass
    defaults = site_settings()
    policy, _created = Pop3Policy.objects.get_or_create(
        account=account,
        defaults={
            "keep": defaults.pop3_keep,
            "keep_days": defaults.pop3_keep_days,
            "delete_larger_than_mb": defaults.pop3_delete_larger_than_mb,
        },
    )
    return policy


def pop3_policy_set(
    *,
    account: MailAccount,
    keep: str,
    keep_days: int | None = None,
    delete_larger_than_mb: int | None = None,
    quota_mb: int | None = None,
    warn_by_mail: bool | None = None,
) -> Pop3Policy:
    """Changes the account's rule. `keep_days` is needed (at least 1) with KEEP_DAYS;
    None leaves a field as it is, except `delete_larger_than_mb`, which None (or 0)
    switches off. Raises ValueError on a rule that does not exist."""
    if keep not in Pop3Keep.values:
        raise ValueError(f"unknown POP3 policy {keep!r}")
    if keep == Pop3Keep.KEEP_DAYS and keep_days is not None and keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    with transaction.atomic():
        policy = pop3_policy_get(account=account)
        policy.keep = keep
        if keep_days is not None:
            policy.keep_days = keep_days
        policy.delete_larger_than_mb = delete_larger_than_mb or None
        if quota_mb is not None:
            policy.quota_mb = quota_mb or None
        if warn_by_mail is not None:
            policy.warn_by_mail = warn_by_mail
        policy.save()
    return policy


def cleanup_soon_after_fetch(*, account: MailAccount) -> bool:
    """Whether new mail of this account may be deleted from the server at once (in the
    session after the fetch) rather than at the daily cleanup."""
    policy = pop3_policy_get(account=account)
    return policy.keep == Pop3Keep.DELETE_AFTER_DOWNLOAD or bool(policy.delete_larger_than_mb)


@dataclass(frozen=True)
class PlannedDeletion:
    """A server copy the rule lets the cleanup delete, with what the preview shows."""

    ledger_id: int
    uidl: str
    size: int  # LIST size on the server, as recorded at download
    digest: str
    stored_size: int
    stored_at: datetime
    rule: str  # a ServerDeletion.Rule
    subject: str
    sender: str
    date: datetime | None
    message_id: str


@dataclass
class CleanupPlan:
    policy: Pop3Policy
    items: list[PlannedDeletion]
    uidl_supported: bool = True

    @property
    def octets(self) -> int:
        return sum(item.size for item in self.items)


def _rule_for(policy: Pop3Policy, row: Pop3Uidl, now: datetime) -> str | None:
    """Which rule lets the cleanup delete this server copy now, if any. The size limit
    applies whatever the keep rule, as the user asked for it on top."""
    stored = row.stored
    if policy.delete_larger_than_mb and row.size > policy.delete_larger_than_mb * MEGABYTE:
        return Rule.LARGER_THAN
    if policy.keep == Pop3Keep.DELETE_AFTER_DOWNLOAD:
        return Rule.AFTER_DOWNLOAD
    if policy.keep == Pop3Keep.KEEP_DAYS:
        if stored.stored_at <= now - timedelta(days=policy.keep_days):
            return Rule.KEEP_DAYS
        return None
    if policy.keep == Pop3Keep.KEEP_UNTIL_DELETED:
        return Rule.DELETED_HERE if stored.user_deleted_at is not None else None
    return None  # keep forever


def pop3_cleanup_plan(
    *, account: MailAccount, now: datetime | None = None, policy: Pop3Policy | None = None
) -> CleanupPlan:
    """The server copies the account's rule (or `policy`, to show what a change would
    do) lets the cleanup delete at `now`: stored here, still on the server as far as
    this server knows, oldest first. Read from the database only; the cleanup checks
    each against the server and the disk again before deleting it."""
    now = now or clock.now()
    policy = policy or pop3_policy_get(account=account)
    mailbox = Pop3Mailbox.objects.filter(account=account).first()
    rows = (
        Pop3Uidl.objects.filter(account=account, state=Pop3Uidl.State.STORED)
        .select_related("stored", "stored__indexed")
        .order_by("stored__stored_at", "pk")
    )
    items = []
    for row in rows.iterator(chunk_size=500):
        rule = _rule_for(policy, row, now)
        if rule is None:
            continue
        items.append(_planned(row, rule))
    return CleanupPlan(
        policy=policy,
        items=items,
        uidl_supported=mailbox.uidl_supported if mailbox else True,
    )


def _planned(row: Pop3Uidl, rule: str) -> PlannedDeletion:
    stored = row.stored
    indexed = stored.indexed
    if indexed is not None:
        subject, sender, date, message_id = (
            indexed.subject,
            indexed.from_name or indexed.from_addr,
            indexed.date,
            indexed.message_id,
        )
    else:
        # Deleted here for good: the index row is gone, the bytes are not.
        try:
            entry = stored_entry_read(digest=stored.digest, size=stored.size)
        except OSError:
            subject, sender, date, message_id = "", "", None, ""
        else:
            address = entry.summary.sender
            subject, sender, date, message_id = (
                entry.summary.subject,
                (address.name or address.addr) if address else "",
                entry.summary.date,
                entry.message_id,
            )
    return PlannedDeletion(
        ledger_id=row.pk,
        uidl=row.uidl,
        size=row.size,
        digest=stored.digest,
        stored_size=stored.size,
        stored_at=stored.stored_at,
        rule=rule,
        subject=subject,
        sender=sender,
        date=date,
        message_id=message_id,
    )
