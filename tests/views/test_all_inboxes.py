"""GET /mail/all/: the INBOX of every account of the user as one list, from the index."""

import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

from tests.personas import account_for, account_offline
from webmail.models import IndexedFolder, IndexedMessage
from webmail.services.sync import account_sync


def _subjects(html: str) -> list[str]:
    return re.findall(r'<span class="row-subject">(.*?)</span>', html, re.S)


def _mail(subject: str, day: int) -> bytes:
    return (
        f"From: Anna <anna@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Date: Mon, {day:02d} Mar 2026 09:00:00 +0000\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\nAbout {subject}.\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def redis_locks(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user):
    mail_user.append_many("INBOX", [_mail("first", 2), _mail("third", 4)])
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    return account


@pytest.fixture
def second(alice):
    """alice's second account, indexed but never reachable: the page must not need it."""
    second = account_offline(alice, "second@example.org")
    inbox = IndexedFolder.objects.create(
        account=second, name="INBOX", uidvalidity=7, unseen=1, messages=1, fully_indexed=True
    )
    IndexedMessage.objects.create(
        folder=inbox, uid=1, subject="second", date=datetime(2026, 3, 3, 9, tzinfo=UTC)
    )
    return second


def test_it_lists_every_inbox_newest_first_marked_with_its_account(alice_client, account, second):
    response = alice_client.get("/mail/all/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _subjects(html) == ["third", "second", "first"]
    assert re.findall(r'<span class="row-place row-account">(.*?)</span>', html) == [
        account.email,
        "second@example.org",
        account.email,
    ]
    assert f"/mail/{second.pk}/7/1/?folder=INBOX" in html
    # Unread: 2 + 1 in total, per account in the sidebar.
    assert re.search(r"data-unread-total>3</span>", html)
    assert re.search(rf'data-unread-account="{second.pk}">1</span>', html)


def test_only_the_inbox_is_listed(alice_client, account, second):
    trash = IndexedFolder.objects.create(account=second, name="Trash", fully_indexed=True)
    IndexedMessage.objects.create(folder=trash, uid=1, subject="deleted")
    assert "deleted" not in _subjects(alice_client.get("/mail/all/").content.decode())


def test_it_pages_fifty_at_a_time(alice_client, second):
    inbox = second.indexed_folders.get()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    IndexedMessage.objects.bulk_create(
        IndexedMessage(folder=inbox, uid=n, subject=f"n{n}", date=start + timedelta(hours=n))
        for n in range(2, 62)
    )
    first = alice_client.get("/mail/all/").content.decode()
    assert len(_subjects(first)) == 50 and _subjects(first)[0] == "second"
    assert "Page 1 of 2" in first
    last = alice_client.get("/mail/all/?page=2").content.decode()
    assert _subjects(last)[-1] == "n2" and len(_subjects(last)) == 11


def test_bob_sees_none_of_alices_mail(bob_client, account, second):
    html = bob_client.get("/mail/all/").content.decode()
    assert _subjects(html) == []
    assert "second@example.org" not in html


def test_the_folder_sidebar_links_to_all_inboxes_with_the_total(alice_client, account, second):
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert re.search(r'href="/mail/all/"[^>]*>.*?data-unread-total>3</span>', html, re.S)
