"""How full a POP3 server mailbox is (the last fetch's STAT against the limit the user
entered) and the warning mail: one per level passed (80%, then 95%), in the user's
language, to the user's own address and never to the full mailbox, forgotten again once
the mailbox is under 80%. The mails land in Django's test outbox, and once in a real SMTP
server on loopback."""

import email
from email import policy as email_policy

import pytest
from django.utils import timezone

from tests.personas import pop3_account_for
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_nothing_listening_fixture,
    smtp_server_fixture,
)
from webmail import tasks
from webmail.models import Pop3Keep, Pop3Mailbox
from webmail.services.pop3_policy import MEGABYTE, pop3_policy_get, pop3_policy_set
from webmail.services.pop3_quota import pop3_quota, pop3_quota_level, pop3_storage_warn

pytestmark = pytest.mark.django_db

ALMOST_FULL = "The server mailbox of {} is almost full"
FULL = "The server mailbox of {} is full"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.PRERENDER_RECENT = 0  # no other task to queue after a fetch


@pytest.fixture
def account(alice, dovecot, mail_user):
    """alice's POP3 account with a 1 MB limit entered and mail warnings asked for."""
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, quota_mb=1, warn_by_mail=True)
    return account


def octets(percent: int) -> int:
    return -(-MEGABYTE * percent // 100)  # rounded up: exactly `percent` or a hair above


def server_holds(account, percent: int) -> None:
    """As if the last fetch had found the server mailbox `percent` full of its 1 MB."""
    Pop3Mailbox.objects.update_or_create(
        account=account,
        defaults={"messages": 3, "octets": octets(percent), "fetched_at": timezone.now()},
    )


def test_it_reads_the_last_fetchs_listing_against_the_limit_entered(account):
    assert pop3_quota(account=account) is None  # never fetched: nothing known
    server_holds(account, 85)
    quota = pop3_quota(account=account)
    assert (quota.used_bytes, quota.limit_bytes, quota.messages) == (octets(85), MEGABYTE, 3)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, quota_mb=0)
    assert pop3_quota(account=account) is None  # no limit entered, no percentage


@pytest.mark.parametrize(
    ("percent", "level"), [(0, 0), (79, 0), (80, 80), (94, 80), (95, 95), (130, 95)]
)
def test_it_warns_at_eighty_and_ninety_five_percent(account, percent, level):
    server_holds(account, percent)
    assert pop3_quota_level(pop3_quota(account=account)) == level


def test_a_fetch_that_finds_the_mailbox_almost_full_mails_the_user_once(
    account, mail_user, mailoutbox
):
    mail_user.fill(870, messages=2)  # of 1024 KiB: 84%

    tasks.pop3_fetch_task(account.pk)

    assert [m.to for m in mailoutbox] == [["alice@example.org"]]
    warning = mailoutbox[0]
    assert warning.subject == ALMOST_FULL.format(account.email)
    assert "holds 870.0\xa0KB of its 1.0\xa0MB (84%)" in warning.body
    assert "Once it is full, new mail to it may bounce back to its senders." in warning.body
    assert "open Mail accounts and choose the account" in warning.body
    assert pop3_policy_get(account=account).warned_level == 80

    tasks.pop3_fetch_task(account.pk)  # still 84%: said already
    assert len(mailoutbox) == 1


def test_it_mails_again_at_ninety_five_percent_and_after_falling_under_eighty(account, mailoutbox):
    server_holds(account, 85)
    assert pop3_storage_warn(account=account) == 80
    server_holds(account, 96)
    assert pop3_storage_warn(account=account) == 95
    assert pop3_storage_warn(account=account) is None
    server_holds(account, 85)  # back under 95 but not under 80: nothing new to say
    assert pop3_storage_warn(account=account) is None
    assert [m.subject for m in mailoutbox] == [
        ALMOST_FULL.format(account.email),
        FULL.format(account.email),
    ]
    assert "New mail to it may now bounce back to its senders." in mailoutbox[1].body

    server_holds(account, 40)  # cleaned up
    assert pop3_storage_warn(account=account) is None
    assert pop3_policy_get(account=account).warned_level == 0
    server_holds(account, 81)
    assert pop3_storage_warn(account=account) == 80
    assert len(mailoutbox) == 3


def test_a_mailbox_past_both_levels_at_once_gets_one_mail(account, mailoutbox):
    server_holds(account, 99)
    pop3_storage_warn(account=account)
    assert [m.subject for m in mailoutbox] == [FULL.format(account.email)]


def test_the_mail_speaks_the_users_language(account, alice, mailoutbox):
    alice.language = "de"
    alice.save()
    server_holds(account, 96)
    pop3_storage_warn(account=account)
    assert mailoutbox[0].subject == f"Das Server-Postfach von {account.email} ist voll"
    assert "(96 %)" in mailoutbox[0].body
    assert "Neue E-Mails an dieses Postfach können jetzt an ihre Absender" in mailoutbox[0].body


def test_no_mail_unless_the_user_asked_for_it(account, mailoutbox):
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, warn_by_mail=False)
    server_holds(account, 96)
    assert pop3_storage_warn(account=account) is None
    assert mailoutbox == []
    # Nothing was mailed, so nothing is remembered: asking later brings the warning.
    assert pop3_policy_get(account=account).warned_level == 0
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, warn_by_mail=True)
    assert pop3_storage_warn(account=account) == 95
    assert len(mailoutbox) == 1


def test_no_mail_without_an_address_of_the_users_own(account, alice, mailoutbox):
    server_holds(account, 96)
    alice.email = ""
    alice.save()
    assert pop3_storage_warn(account=account) is None
    # Never to the full mailbox itself: the warning would bounce with the rest.
    alice.email = account.email.upper()
    alice.save()
    assert pop3_storage_warn(account=account) is None
    assert mailoutbox == []
    assert pop3_policy_get(account=account).warned_level == 0


def test_a_mail_that_cannot_be_sent_is_tried_again_after_the_next_fetch(
    account, settings, smtp_nothing_listening, smtp_server, caplog
):
    server_holds(account, 85)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = smtp_nothing_listening.host
    settings.EMAIL_PORT = smtp_nothing_listening.port
    settings.EMAIL_TIMEOUT = 5
    assert pop3_storage_warn(account=account) is None
    assert pop3_policy_get(account=account).warned_level == 0
    assert f"storage warning for account {account.pk} not sent" in caplog.text

    # The real SMTP server on loopback gets it the next time.
    settings.EMAIL_PORT = smtp_server.port
    settings.DEFAULT_FROM_EMAIL = "postfach@example.org"
    assert pop3_storage_warn(account=account) == 80
    [received] = smtp_server.received
    assert (received.mail_from, received.rcpt_tos) == (
        "postfach@example.org",
        ["alice@example.org"],
    )
    sent = email.message_from_bytes(received.data, policy=email_policy.default)
    assert sent["Subject"] == ALMOST_FULL.format(account.email)
    assert "(85%) as of the last download (" in sent.get_content()
