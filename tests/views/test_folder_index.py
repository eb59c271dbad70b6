"""The mail pages read the local index once the sync filled it, and the reader's own
actions show in it at once (write-through). Against Dovecot; locks in the real Redis."""

import re
import secrets

import pytest
from django.test import Client
from kombu import Connection

from tests.personas import account_for
from webmail.celery import app as celery_app
from webmail.models import IndexedFolder, IndexedMessage
from webmail.services.sync import account_sync


def _mail(subject: str) -> bytes:
    return (
        f"From: Anna <anna@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\nAbout {subject}.\r\n"
    ).encode()


def _subjects(html: str) -> list[str]:
    return re.findall(r'<span class="row-subject">(.*?)</span>', html, re.S)


@pytest.fixture(autouse=True)
def redis_locks(settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user):
    return account_for(alice, dovecot, mail_user)


@pytest.fixture
def inbox(mail_user, account) -> list[int]:
    uids = mail_user.append_many("INBOX", [_mail("one"), _mail("two"), _mail("three")])
    assert account_sync(account).complete
    return uids


def _server_gone(account):
    """Points the account at a host that cannot exist: any page that still renders did
    not talk to the mail server."""
    account.incoming_host = "imap.example.invalid"
    account.save()


def _row(account, uid, folder="INBOX"):
    return IndexedMessage.objects.get(folder__account=account, folder__name=folder, uid=uid)


def test_an_indexed_folder_is_listed_without_the_mail_server(alice_client, account, inbox):
    _server_gone(account)
    response = alice_client.get(f"/mail/{account.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert _subjects(html) == ["three", "two", "one"]
    assert response.context["mailbox"].from_index
    assert re.search(r'class="unread-count"[^>]*>3</span>', html)
    assert "3 messages" in html
    # The sidebar lists every folder from the index, special folders by their role.
    assert [e.label for e in response.context["mailbox"].folders][:6] == [
        "Inbox", "Drafts", "Sent", "Archive", "Junk", "Trash"
    ]


def test_a_folder_not_fully_indexed_is_read_from_the_server(alice_client, account, inbox, mail_user):
    IndexedFolder.objects.filter(account=account, name="INBOX").update(fully_indexed=False)
    response = alice_client.get(f"/mail/{account.pk}/")
    assert not response.context["mailbox"].from_index
    assert _subjects(response.content.decode()) == ["three", "two", "one"]


def test_the_index_pages_fifty_at_a_time_newest_first(alice_client, account, mail_user):
    mail_user.append_many("INBOX", [_mail(f"Number {n}") for n in range(1, 121)])
    account_sync(account)
    _server_gone(account)
    first = _subjects(alice_client.get(f"/mail/{account.pk}/").content.decode())
    third = alice_client.get(f"/mail/{account.pk}/", {"page": 3})
    assert first[0] == "Number 120" and len(first) == 50
    assert _subjects(third.content.decode())[-1] == "Number 1"
    assert "Page 3 of 3" in third.content.decode()
    beyond = alice_client.get(f"/mail/{account.pk}/", {"page": 9})
    assert beyond.context["mailbox"].page_number == 3


def test_marking_read_shows_in_the_index_at_once(alice_client, account, inbox, mail_user):
    response = alice_client.post(
        f"/mail/{account.pk}/messages/",
        {"action": "read", "folder": "INBOX", "uidvalidity": mail_user.uidvalidity("INBOX"),
         "uid": inbox[:2], "page": 1},
        follow=True,
    )
    assert response.context["mailbox"].from_index
    assert _row(account, inbox[0]).seen and _row(account, inbox[1]).seen
    assert not _row(account, inbox[2]).seen
    assert re.search(r'class="unread-count"[^>]*>1</span>', response.content.decode())
    assert IndexedFolder.objects.get(account=account, name="INBOX").unseen == 1


def test_a_move_leaves_the_list_at_once_and_shows_in_the_targets_index_at_once(
    alice_client, account, inbox, mail_user
):
    response = alice_client.post(
        f"/mail/{account.pk}/messages/",
        {"action": "archive", "folder": "INBOX", "uidvalidity": mail_user.uidvalidity("INBOX"),
         "uid": [inbox[0]], "page": 1},
        follow=True,
    )
    assert response.context["mailbox"].from_index
    assert _subjects(response.content.decode()) == ["three", "two"]
    archive = alice_client.get(f"/mail/{account.pk}/", {"folder": "Archive"})
    assert archive.context["mailbox"].from_index  # under the new UIDs COPYUID told
    assert _subjects(archive.content.decode()) == ["one"]
    account_sync(account)
    archive = alice_client.get(f"/mail/{account.pk}/", {"folder": "Archive"})
    assert archive.context["mailbox"].from_index
    assert _subjects(archive.content.decode()) == ["one"]


def test_opening_a_message_marks_it_read_in_the_index(alice_client, account, inbox, mail_user):
    uidvalidity = mail_user.uidvalidity("INBOX")
    alice_client.get(f"/mail/{account.pk}/{uidvalidity}/{inbox[1]}/", {"folder": "INBOX"})
    assert _row(account, inbox[1]).seen
    assert IndexedFolder.objects.get(account=account, name="INBOX").unseen == 2


def test_folders_made_renamed_and_deleted_here_show_in_the_index_at_once(
    alice_client, account, inbox
):
    alice_client.post(f"/mail/{account.pk}/folders/create/", {"name": "Clubs", "parent": ""})
    names = set(IndexedFolder.objects.filter(account=account).values_list("name", flat=True))
    assert "Clubs" in names
    alice_client.post(f"/mail/{account.pk}/folders/rename/", {"folder": "Clubs", "name": "Vereine"})
    names = set(IndexedFolder.objects.filter(account=account).values_list("name", flat=True))
    assert "Vereine" in names and "Clubs" not in names
    page = alice_client.get(f"/mail/{account.pk}/", {"folder": "Vereine"})
    assert page.status_code == 200


def test_a_saved_draft_shows_in_drafts_at_once(alice, alice_client, account, inbox):
    from webmail.protocols.store import Address
    from webmail.services.compose import compose_area_open, draft_make, draft_save
    from webmail.services.identities import identities_for

    [identity] = identities_for(account)
    draft = draft_make(
        account, identity_id=identity.pk, to=[Address("Bernd", "bernd@example.net")], cc=[],
        bcc=[], subject="Entwurf", text="Hallo", html=None, area=compose_area_open(alice),
    )
    draft_save(account, draft)
    page = alice_client.get(f"/mail/{account.pk}/", {"folder": "Drafts"})
    assert not page.context["mailbox"].from_index  # its UID is the next sync's to learn
    assert _subjects(page.content.decode()) == ["Entwurf"]


# -- Refresh, progress, errors --------------------------------------------------------------


def test_refresh_syncs_and_returns_to_the_folder(alice_client, account, inbox, mail_user):
    mail_user.append("INBOX", _mail("four"))
    response = alice_client.post(f"/mail/{account.pk}/sync/", {"folder": "INBOX"})
    assert response.status_code == 302
    assert response["Location"] == f"/mail/{account.pk}/?folder=INBOX"
    page = alice_client.get(response["Location"]).content.decode()
    assert "1 new message." in page
    assert _subjects(page)[0] == "four"


def test_refresh_is_a_csrf_checked_post_for_the_owner_only(alice, bob_client, account, inbox):
    assert bob_client.post(f"/mail/{account.pk}/sync/").status_code == 404
    owner = Client(enforce_csrf_checks=True)
    owner.force_login(alice)
    assert owner.get(f"/mail/{account.pk}/sync/").status_code == 405
    assert owner.post(f"/mail/{account.pk}/sync/").status_code == 403


def test_the_folder_page_has_a_refresh_button(alice_client, account, inbox):
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert f'<form method="post" action="/mail/{account.pk}/sync/" class="list-refresh">' in html


def test_the_first_syncs_progress_shows_in_the_sidebar_and_on_the_accounts_page(
    alice_client, account, mail_user
):
    mail_user.append_many("INBOX", [_mail(f"n{n}") for n in range(30)])
    account_sync(account, batch=10, budget_seconds=0)
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert "Getting your mail ready: 10 of 30" in html
    assert re.search(r'<progress class="sync-progress" max="30" value="10"', html)
    accounts_page = alice_client.get("/settings/accounts/").content.decode()
    assert "Getting your mail ready: 10 of 30" in accounts_page
    account_sync(account)
    assert "Getting your mail ready" not in alice_client.get(f"/mail/{account.pk}/").content.decode()


def test_a_failing_sync_is_shown_to_the_reader_until_one_succeeds(alice_client, account, inbox, mail_user):
    account.set_incoming_password("wrong")
    account.save()
    account_sync(account)
    html = alice_client.get("/settings/accounts/").content.decode()
    assert "Your mail could not be brought up to date" in html
    assert "refused the login name or password" in html
    account.set_incoming_password(mail_user.password)
    account.save()
    account_sync(account)
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert "could not be brought up to date" not in html


def test_admins_see_failing_syncs_in_the_account_list(admin_client, account, inbox):
    account.sync_failures, account.sync_error = 3, "The mail server did not answer in time."
    account.save()
    html = admin_client.get("/admin/accounts/mailaccount/").content.decode()
    assert "The mail server did not answer in time. (3 in a row)" in html
    failing = admin_client.get("/admin/accounts/mailaccount/", {"sync": "failing"})
    assert account.email in failing.content.decode()


# -- sign-in -------------------------------------------------------------------------------


def test_signing_in_queues_a_sync_of_the_users_accounts(
    client, alice, account, django_capture_on_commit_callbacks
):
    with Connection("memory://") as connection:
        connection.SimpleQueue("celery").clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})
    with celery_app.connection_for_write() as connection:
        queue = connection.SimpleQueue("celery")
        message = queue.get(block=True, timeout=2)
        assert message.headers["task"] == "webmail.tasks.account_sync_task"
        assert message.decode()[0] == [account.pk]
        message.ack()
        queue.close()
