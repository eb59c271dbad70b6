"""A folder whose UIDVALIDITY keeps changing (a server restoring or rebuilding it again
and again) is shown to the reader where sync errors show: the sidebar of the mail pages
and the accounts page. Against Dovecot (doveadm changes the UIDVALIDITY); locks in the
real Redis."""

import pytest

from tests.personas import account_for
from tests.services.test_sync_rules import uidvalidity_raise
from webmail.services import sync
from webmail.services.sync import account_sync

pytestmark = pytest.mark.usefixtures("redis_locks")

WARNING = "The mail server keeps resetting the folder “INBOX”"


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


def test_it_warns_on_the_mail_and_accounts_pages_when_uidvalidity_keeps_changing(
    alice_client, account, mail_user, dovecot
):
    mail_user.append("INBOX", b"From: a@example.org\r\nSubject: hello\r\n\r\nhi\r\n")
    assert account_sync(account).complete
    assert WARNING not in alice_client.get(f"/mail/{account.pk}/").content.decode()

    for _ in range(sync.UIDVALIDITY_ALERT + 1):
        uidvalidity_raise(dovecot, mail_user, "INBOX", 1)
        assert account_sync(account).complete

    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert f'<p class="sync-error">{WARNING} (4 times in a day)' in html
    assert WARNING in alice_client.get("/settings/accounts/").content.decode()
