"""How full a POP3 account's server mailbox is, as far as Postfach can tell.

POP3 has no quota command: the count and size come from the last fetch's listing (STAT's
figures, kept in Pop3Mailbox), the limit from what the user or an admin typed in
(Pop3Policy.quota_mb). Usage past WARN_AT or ALARM_AT percent of the limit is a warning
on the account page, in the sidebar and, if the user asked for it, by mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.models import MailAccount
from webmail.models import Pop3Mailbox

from .pop3_policy import MEGABYTE, pop3_cleanup_plan, pop3_policy_get

WARN_AT = 80
ALARM_AT = 95


@dataclass(frozen=True)
class Pop3Storage:
    messages: int | None  # on the server at the last fetch; None: never fetched
    octets: int
    checked_at: datetime | None
    uidl_supported: bool
    quota_octets: int | None  # the limit the user or an admin entered; None: unknown
    next_cleanup_messages: int  # what the policy lets the next cleanup delete
    next_cleanup_octets: int

    @property
    def percent(self) -> int | None:
        if not self.quota_octets or self.messages is None:
            return None
        # Rounded down, as the sidebar and the warning mail do: 79.6% is not 80% yet.
        return min(100, self.octets * 100 // self.quota_octets)

    @property
    def level(self) -> int:
        """0, WARN_AT or ALARM_AT: the highest warning threshold the usage has passed."""
        percent = self.percent
        if percent is None:
            return 0
        if percent >= ALARM_AT:
            return ALARM_AT
        if percent >= WARN_AT:
            return WARN_AT
        return 0

    @property
    def percent_after_cleanup(self) -> int | None:
        if not self.quota_octets or self.messages is None:
            return None
        left = max(0, self.octets - self.next_cleanup_octets)
        return min(100, left * 100 // self.quota_octets)


def pop3_storage_status(*, account: MailAccount) -> Pop3Storage:
    """The account's server mailbox as the last fetch saw it, its limit and what the next
    cleanup would free. Reads the database only; opens no connection."""
    mailbox = Pop3Mailbox.objects.filter(account=account).first()
    policy = pop3_policy_get(account=account)
    plan = pop3_cleanup_plan(account=account, policy=policy)
    return Pop3Storage(
        messages=mailbox.messages if mailbox and mailbox.fetched_at else None,
        octets=mailbox.octets if mailbox else 0,
        checked_at=mailbox.fetched_at if mailbox else None,
        uidl_supported=mailbox.uidl_supported if mailbox else True,
        quota_octets=policy.quota_mb * MEGABYTE if policy.quota_mb else None,
        next_cleanup_messages=len(plan.items),
        next_cleanup_octets=plan.octets,
    )
