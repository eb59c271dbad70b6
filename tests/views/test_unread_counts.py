"""GET /mail/counts/: unread counts for the page's poll, from the index alone."""

import secrets

import pytest

from tests.personas import account_for, account_offline
from webmail.models import IndexedFolder, IndexedMessage
from webmail.services.sync import account_sync


def _mail(subject: str) -> bytes:
    return (
        f"From: Anna <anna@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\nAbout {subject}.\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def redis_locks(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user):
    mail_user.append_many("INBOX", [_mail("one"), _mail("two"), _mail("three")])
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    return account


def test_it_answers_unread_counts_per_account_and_in_total(alice_client, alice, account):
    other = account_offline(alice, "second@example.org")
    IndexedFolder.objects.create(account=other, name="INBOX", unseen=2, messages=5)
    response = alice_client.get("/mail/counts/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    data = response.json()
    assert data["total_unread"] == 5
    first, second = data["accounts"]
    assert first["account_id"] == account.pk and first["email"] == account.email
    assert first["unread_inbox"] == 3
    assert first["folders"]["INBOX"] == 3 and first["folders"]["Trash"] == 0
    assert second == {
        "account_id": other.pk,
        "email": "second@example.org",
        "unread_inbox": 2,
        "folders": {"INBOX": 2},
    }


def test_it_answers_from_the_index_when_the_server_is_closed(alice_client, account):
    account.incoming_host = "127.0.0.1"
    account.incoming_port = 9  # discard: nothing listens here
    account.save()
    response = alice_client.get("/mail/counts/")
    assert response.status_code == 200
    assert response.json()["accounts"][0]["unread_inbox"] == 3


def test_bob_does_not_see_alices_counts(bob_client, account):
    response = bob_client.get("/mail/counts/")
    assert response.json() == {"accounts": [], "total_unread": 0}


def test_it_changes_nothing_and_wants_a_sign_in(client, account):
    assert client.get("/mail/counts/").status_code == 302
    assert client.post("/mail/counts/").status_code in (302, 405)


def test_the_folder_page_marks_its_badges_for_the_poll(alice_client, account):
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert 'data-live-counts="/mail/counts/"' in html
    assert 'data-unread-folder="INBOX"' in html
    assert "js/live.js" in html


def test_the_message_page_keeps_its_subject_as_the_title_base(alice_client, account):
    row = IndexedMessage.objects.filter(folder__account=account).order_by("uid").first()
    html = alice_client.get(
        f"/mail/{account.pk}/{row.folder.uidvalidity}/{row.uid}/?folder=INBOX"
    ).content.decode()
    assert 'data-title-base="one – Postfach"' in html
