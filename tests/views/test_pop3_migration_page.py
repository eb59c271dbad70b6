"""The "Move to IMAP" page of a POP3 account (issue 7) through the Django test client,
against the real Dovecot: the prefilled form, the login checked before anything starts,
the queued task, progress with pause and resume, and the summary with what the server
refused. bob never sees alice's move."""

import pytest

from accounts.models import MailAccount
from tests.dovecot import new_mail_user
from tests.personas import account_offline, pop3_account_for
from tests.pop3_helpers import message
from tests.views import test_message_fast_open
from webmail.models import Pop3Migration, StoredMessage
from webmail.services.local_store import blob_store
from webmail.services.pop3_fetch import pop3_fetch
from webmail.tasks import pop3_migration_task

pytestmark = pytest.mark.django_db

tasks_queued = test_message_fast_open.tasks_queued


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def pop3_account(alice, dovecot, *mails) -> MailAccount:
    source = new_mail_user(dovecot, "pop")
    source.append_many("INBOX", list(mails))
    account = pop3_account_for(alice, dovecot, source)
    assert pop3_fetch(account=account).new == len(mails)
    return account


def url(account) -> str:
    return f"/settings/accounts/{account.pk}/move-to-imap/"


def form_data(dovecot, target, **changes) -> dict:
    return {
        "host": dovecot.host,
        "port": dovecot.imap_port,
        "security": "none",
        "login": target.name,
        "password": target.password,
        **changes,
    }


def test_it_offers_the_move_on_a_pop3_accounts_page_prefilled_for_a_known_provider(
    alice, alice_client
):
    account = account_offline(alice, "someone@gmx.de")
    account.protocol = MailAccount.Protocol.POP3
    account.save()

    page = alice_client.get(f"/settings/accounts/{account.pk}/").content.decode()
    assert url(account) in page
    form = alice_client.get(url(account)).content.decode()
    assert 'value="imap.gmx.net"' in form
    assert 'value="993"' in form


def test_bob_cannot_see_or_start_alices_move(alice, bob_client):
    account = account_offline(alice, "someone@gmx.de")
    account.protocol = MailAccount.Protocol.POP3
    account.save()
    assert bob_client.get(url(account)).status_code == 404
    assert bob_client.post(url(account), {"host": "x"}).status_code == 404
    assert bob_client.post(url(account) + "pause/").status_code == 404
    assert bob_client.post(url(account) + "remove-local/").status_code == 404


def test_an_imap_account_has_no_move(alice, alice_client):
    account = account_offline(alice, "someone@gmx.de")
    assert alice_client.get(url(account)).status_code == 404


def test_a_wrong_password_is_said_plainly_and_nothing_starts(alice, alice_client, dovecot):
    account = pop3_account(alice, dovecot, message("Eins"))
    target = new_mail_user(dovecot, "imap")
    response = alice_client.post(url(account), form_data(dovecot, target, password="falsch"))
    assert response.status_code == 200
    assert "password" in response.content.decode().lower()
    assert not Pop3Migration.objects.exists()


def test_it_starts_shows_progress_pauses_resumes_and_ends_with_the_summary(
    alice, alice_client, dovecot, django_capture_on_commit_callbacks, tasks_queued
):
    big = message("Groß", (b"z" * 76 + b"\r\n") * 3000)
    account = pop3_account(alice, dovecot, message("Eins"), message("Zwei"), big)
    target = new_mail_user(dovecot, "imap", quota="100K")

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url(account), form_data(dovecot, target))
    assert response.status_code == 302
    assert tasks_queued() == [("webmail.tasks.pop3_migration_task", [account.pk])]
    running = alice_client.get(url(account))
    assert running["Refresh"] == "5"
    assert "0 of 3 messages done" in running.content.decode()

    alice_client.post(url(account) + "pause/")
    assert Pop3Migration.objects.get().state == "paused"
    pop3_migration_task(account.pk)  # a task already queued does nothing while paused
    assert Pop3Migration.objects.get().copied == 0
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(url(account) + "resume/")
    assert tasks_queued() == [("webmail.tasks.pop3_migration_task", [account.pk])]

    pop3_migration_task(account.pk)

    done = alice_client.get(url(account))
    text = done.content.decode()
    assert "Refresh" not in done
    assert "3 of 3 messages done" in text
    assert "2 copied, 0 already on the server, 1 not copied." in text
    assert "Groß" in text
    assert "The mailbox on the IMAP server is full (quota reached)." in text
    account.refresh_from_db()
    assert account.protocol == "imap"
    assert url(account) in alice_client.get(f"/settings/accounts/{account.pk}/").content.decode()


def test_after_the_move_the_local_copies_on_the_server_can_be_removed_the_refused_stay(
    alice, alice_client, dovecot, django_capture_on_commit_callbacks
):
    big = message("Groß", (b"z" * 76 + b"\r\n") * 3000)
    account = pop3_account(alice, dovecot, message("Eins"), big)
    target = new_mail_user(dovecot, "imap", quota="100K")
    alice_client.post(url(account), form_data(dovecot, target))
    pop3_migration_task(account.pk)
    page = alice_client.get(url(account)).content.decode()
    assert "Remove the local copy of 1 message now on the IMAP server" in page
    store = blob_store()
    copied = StoredMessage.objects.exclude(size=len(big)).get(account=account)
    refused = StoredMessage.objects.get(account=account, size=len(big))

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(url(account) + "remove-local/", follow=True)

    assert "The local copy of 1 message was removed." in response.content.decode()
    assert list(StoredMessage.objects.filter(account=account)) == [refused]
    with store.open(refused.digest) as file:
        assert file.read() == big
    with pytest.raises(FileNotFoundError):
        store.open(copied.digest)
    page = alice_client.get(url(account)).content.decode()
    assert "Remove the local" not in page
    assert "Groß" in page  # the refused one is still listed
