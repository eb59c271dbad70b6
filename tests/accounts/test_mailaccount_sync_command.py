"""`manage.py mailaccount sync ACCOUNT` runs the sync at once and says what it did."""

import secrets
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.personas import account_for
from webmail.models import IndexedMessage
from webmail.services.locks import job_lock


@pytest.fixture
def account(alice, dovecot, mail_user, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"
    mail_user.append_many("INBOX", [f"Subject: {n}\r\n\r\nText {n}\r\n".encode() for n in range(3)])
    return account_for(alice, dovecot, mail_user)


def sync(key: str) -> str:
    out = StringIO()
    call_command("mailaccount", "sync", key, stdout=out)
    return out.getvalue()


def test_it_syncs_by_id_and_prints_what_it_did(account):
    output = sync(str(account.pk))
    assert f"Synced {account.email} (account {account.pk}) in " in output
    assert "folders:  6 (6 new, 0 renamed, 0 deleted, 0 rebuilt)" in output
    assert "messages: 3 new, 0 changed, 0 vanished" in output
    assert IndexedMessage.objects.filter(folder__account=account).count() == 3


def test_it_finds_the_account_by_email_address(account):
    sync(str(account.pk))
    assert "messages: 0 new, 0 changed, 0 vanished" in sync(account.email.upper())


def test_it_names_accounts_it_cannot_find(db):
    with pytest.raises(CommandError, match="No mail account 'nobody@example.org'"):
        sync("nobody@example.org")
    with pytest.raises(CommandError, match="No mail account '999'"):
        sync("999")


def test_it_says_when_a_sync_runs_already(account):
    with job_lock(f"account-sync:{account.pk}", timeout=60):
        with pytest.raises(CommandError, match="running already"):
            sync(str(account.pk))


def test_a_failed_sync_is_an_error_with_the_reason(account):
    account.set_incoming_password("wrong")
    account.save()
    with pytest.raises(CommandError, match="Sync failed: The mail server refused the login"):
        sync(str(account.pk))
