"""How full a POP3 account's server mailbox is, cheaply enough for every page, and the
warning mail when it passes 80% and 95% of the limit the user or an admin entered.

POP3 cannot ask the server for a quota: the bytes come from the last fetch's STAT
(Pop3Mailbox.octets) and the limit from Pop3Policy.quota_mb. `pop3_quota` reads both in
one query and makes no plan and no connection (pop3_storage_status, for the account page,
also works out what the next cleanup frees, which is too much for every page).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.defaultfilters import filesizeformat
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from accounts.models import MailAccount
from webmail.models import Pop3Mailbox, Pop3Policy
from webmail.protocols.store import Quota

from .pop3_policy import MEGABYTE, pop3_policy_get
from .pop3_storage import ALARM_AT, WARN_AT

log = logging.getLogger(__name__)


def pop3_quota(*, account: MailAccount) -> Quota | None:
    """The server mailbox's usage against the limit entered for it, as of the last fetch;
    None before the first fetch or without a limit. One query, no connection."""
    row = (
        Pop3Mailbox.objects.filter(
            account=account,
            fetched_at__isnull=False,
            account__pop3_policy__quota_mb__gt=0,
        )
        .values_list("octets", "messages", "account__pop3_policy__quota_mb")
        .first()
    )
    if row is None:
        return None
    octets, messages, quota_mb = row
    return Quota(root="", used_bytes=octets, limit_bytes=quota_mb * MEGABYTE, messages=messages)


def pop3_quota_level(quota: Quota | None) -> int:
    """0, WARN_AT or ALARM_AT: the highest threshold passed. The percent is rounded down,
    as the sidebar shows it, so a mail never warns of more than the bar says."""
    if quota is None:
        return 0
    percent = quota.used_bytes * 100 // quota.limit_bytes
    if percent >= ALARM_AT:
        return ALARM_AT
    if percent >= WARN_AT:
        return WARN_AT
    return 0


def pop3_storage_warn(*, account: MailAccount) -> int | None:
    """After a fetch: mails the user once for each warning level the server mailbox
    passes (80%, then 95%) and forgets the warnings once it is under 80% again.
    Returns the level mailed, or None when no mail went out.

    1. No mail unless the policy says warn_by_mail and the user has an address of their
       own: never the POP3 mailbox itself, whose mail may bounce when it is full.
    2. The level is claimed first (compare-and-set on warned_level), so two tasks after
       two fetches send one mail; a send that fails gives the claim back for next time.
    """
    policy = pop3_policy_get(account=account)
    quota = pop3_quota(account=account)
    level = pop3_quota_level(quota)
    if level == 0:
        if policy.warned_level:
            Pop3Policy.objects.filter(pk=policy.pk).update(warned_level=0)
        return None
    if level <= policy.warned_level or not policy.warn_by_mail:
        return None
    recipient = account.user.email.strip()
    if not recipient or recipient.lower() == account.email.strip().lower():
        return None
    claimed = Pop3Policy.objects.filter(pk=policy.pk, warned_level=policy.warned_level).update(
        warned_level=level
    )
    if not claimed:
        return None  # another task mailed this level meanwhile
    try:
        _warning_send(account=account, quota=quota, level=level, recipient=recipient)
    except OSError:  # smtplib's errors included: the next fetch tries again
        Pop3Policy.objects.filter(pk=policy.pk, warned_level=level).update(
            warned_level=policy.warned_level
        )
        log.exception("storage warning for account %s not sent", account.pk)
        return None
    log.info("storage warning (%s%%) for account %s sent", level, account.pk)
    return level


def _warning_send(*, account: MailAccount, quota: Quota, level: int, recipient: str) -> None:
    fetched_at = (
        Pop3Mailbox.objects.filter(account=account).values_list("fetched_at", flat=True).first()
    )
    language = account.user.language or settings.LANGUAGE_CODE
    with translation.override(language), timezone.override(account.user.time_zone or None):
        words = {
            "email": account.email,
            "used": filesizeformat(quota.used_bytes),
            "limit": filesizeformat(quota.limit_bytes),
            "percent": quota.used_bytes * 100 // quota.limit_bytes,
            "when": formats.date_format(timezone.localtime(fetched_at), "DATETIME_FORMAT"),
        }
        if level >= ALARM_AT:
            subject = _("The server mailbox of %(email)s is full") % words
            danger = _("New mail to it may now bounce back to its senders.")
        else:
            subject = _("The server mailbox of %(email)s is almost full") % words
            danger = _("Once it is full, new mail to it may bounce back to its senders.")
        body = "\n\n".join(
            [
                _(
                    "The server mailbox of %(email)s holds %(used)s of its %(limit)s "
                    "(%(percent)s%%) as of the last download (%(when)s)."
                )
                % words,
                danger,
                _(
                    "Postfach keeps a copy of every message it downloaded, so the server "
                    "copies can go. In Postfach, open Mail accounts and choose the account: "
                    "clean up now, or keep server copies for fewer days."
                ),
                _("You get this mail because you asked to be warned by mail."),
            ]
        )
    send_mail(subject, body + "\n", settings.DEFAULT_FROM_EMAIL, [recipient], fail_silently=False)
