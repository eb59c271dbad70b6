"""GET /mail/search/: the page around mail_search (tests/services/test_search.py holds the
searching itself)."""

import re
import secrets

import pytest
from django.test import Client

from tests.personas import account_for
from webmail.services.sync import account_sync


def _subjects(html: str) -> list[str]:
    return re.findall(r'<span class="row-subject">(.*?)</span>', html, re.S)


@pytest.fixture(autouse=True)
def redis_locks(settings):
    """Sync locks in the real Redis under keys of this run only: the file lock's names
    (by account id) would collide with another test run's."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


@pytest.fixture
def account(alice, dovecot, mail_user):
    mail_user.append(
        "INBOX",
        "From: Jürgen <j@beispiel.de>\r\nSubject: Grüße\r\nDate: Mon, 02 Mar 2026 09:00:00 +0100\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nSchöne Grüße aus der Straße.\r\n".encode(),
    )
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    return account


def test_it_lists_matches_linking_to_the_message(alice_client, account):
    response = alice_client.get(
        f"/mail/search/?q=GRUSSE&scope=folder&account={account.pk}&folder=INBOX"
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert _subjects(html) == ["Grüße"]
    assert re.search(rf'href="/mail/{account.pk}/\d+/1/\?folder=INBOX&amp;page=1"', html)
    assert "1 message found" in html
    assert f"INBOX in {account.email}" in html


def test_an_empty_query_shows_a_hint(alice_client, account):
    html = alice_client.get(f"/mail/search/?q=&account={account.pk}").content.decode()
    assert "Type words to look for" in html and _subjects(html) == []


def test_scope_all_without_an_account_searches_everything(alice_client, account):
    html = alice_client.get("/mail/search/?q=Strasse&scope=all").content.decode()
    assert _subjects(html) == ["Grüße"]


def test_bob_gets_a_404_for_alices_account_and_nothing_from_all(bob_client, account):
    assert bob_client.get(f"/mail/search/?q=Grüße&account={account.pk}").status_code == 404
    assert _subjects(bob_client.get("/mail/search/?q=Grüße&scope=all").content.decode()) == []


def test_the_server_notice(alice_client, alice, account):
    account.indexed_folders.filter(name="INBOX").update(fully_indexed=False)
    html = alice_client.get(
        f"/mail/search/?q=Straße&scope=folder&account={account.pk}"
    ).content.decode()
    assert "results for them come from the server" in html and _subjects(html) == ["Grüße"]


@pytest.mark.parametrize("q", ['"', "*", "NEAR(a b)", "a -b", "x:y", "'; DROP TABLE x; --", "%00"])
def test_odd_queries_never_fail(alice_client, account, q):
    response = alice_client.get("/mail/search/", {"q": q, "scope": "all", "from": "nonsense"})
    assert response.status_code == 200


def test_it_is_get_only_and_needs_sign_in(alice_client, db):
    assert alice_client.post("/mail/search/", {"q": "x"}).status_code == 405
    assert Client().get("/mail/search/?q=x").status_code == 302


def test_the_folder_page_has_the_search_box(alice_client, account):
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert 'data-key="/"' in html and 'action="/mail/search/"' in html
