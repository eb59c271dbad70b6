import re

import pytest

from accounts.models import MailAccount
from tests.personas import account_for

pytestmark = pytest.mark.django_db


def _subjects(html: str) -> list[str]:
    return re.findall(r'<span class="row-subject">(.*?)</span>', html, re.S)


def test_it_sends_strangers_to_the_sign_in_page(client):
    response = client.get("/mail/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/mail/"


def test_it_asks_a_new_user_to_add_an_account_first(alice_client):
    response = alice_client.get("/mail/")
    assert response["Location"] == "/settings/accounts/add/"


def test_it_opens_the_first_account_inbox(alice_client, alice_account):
    response = alice_client.get("/mail/")
    assert response["Location"] == f"/mail/{alice_account.pk}/"


def test_it_lists_the_inbox_newest_first(alice_client, alice_account, seeded_mailbox):
    response = alice_client.get(f"/mail/{alice_account.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    subjects = _subjects(html)
    assert len(subjects) == min(50, len(seeded_mailbox.uids))
    # The thread's three messages were appended in order; the newest must come first.
    assert html.index(">AW: Re: Sommerfest 2026<") < html.index(">Sommerfest 2026<")


def test_it_shows_unread_counts_in_the_sidebar(alice_client, alice_account, seeded_mailbox):
    html = alice_client.get(f"/mail/{alice_account.pk}/").content.decode()
    assert re.search(r'class="unread-count"[^>]*>\d+</span>', html)


def test_it_opens_another_folder(alice_client, alice_account):
    response = alice_client.get(f"/mail/{alice_account.pk}/", {"folder": "Newsletters"})
    assert response.status_code == 200
    assert "<h1>Newsletters</h1>" in response.content.decode()


def test_it_pages_fifty_messages_at_a_time(alice_client, alice, dovecot, mail_user):
    for n in range(1, 121):
        dovecot.append(
            mail_user.name,
            "INBOX",
            f"From: a@example.org\r\nSubject: Number {n}\r\n\r\nbody {n}\r\n".encode(),
        )
    account = account_for(alice, dovecot, mail_user)
    first = alice_client.get(f"/mail/{account.pk}/").content.decode()
    third = alice_client.get(f"/mail/{account.pk}/", {"page": 3}).content.decode()
    assert _subjects(first)[:2] == ["Number 120", "Number 119"]
    assert len(_subjects(first)) == 50
    assert _subjects(third) == [f"Number {n}" for n in range(20, 0, -1)]
    assert "Page 3 of 3" in third
    beyond = alice_client.get(f"/mail/{account.pk}/", {"page": 9}).content.decode()
    assert _subjects(beyond) == _subjects(third)


def test_it_shows_bob_nothing_of_alices_account(bob_client, alice_account, seeded_mailbox):
    uid = next(iter(seeded_mailbox.uids.values()))
    base = f"/mail/{alice_account.pk}/"
    for url in [
        base,
        f"{base}1/{uid}/",
        f"{base}1/{uid}/body/",
        f"{base}1/{uid}/part/1/",
        f"{base}1/{uid}/source/",
        f"{base}1/{uid}/original/",
    ]:
        assert bob_client.get(url).status_code == 404, url
    assert bob_client.post(f"/settings/accounts/{alice_account.pk}/delete/").status_code == 404
    assert MailAccount.objects.filter(pk=alice_account.pk).exists()


def test_it_explains_a_dead_server_instead_of_failing(alice_client, alice, dovecot, mail_user):
    import socket

    account = account_for(alice, dovecot, mail_user)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        account.incoming_port = s.getsockname()[1]
    account.save()
    response = alice_client.get(f"/mail/{account.pk}/")
    assert response.status_code == 502
    html = response.content.decode()
    assert "refused the connection" in html
    assert "Traceback" not in html


def test_it_explains_a_password_that_no_longer_works(alice_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    account.set_incoming_password("not-the-password")
    account.save()
    response = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 502
    html = response.content.decode()
    assert "refused the login name or password" in html
    assert "not-the-password" not in html


def test_it_says_a_folder_does_not_exist(alice_client, alice_account):
    response = alice_client.get(f"/mail/{alice_account.pk}/", {"folder": "No such folder"})
    assert response.status_code == 404
    assert "This folder does not exist" in response.content.decode()
