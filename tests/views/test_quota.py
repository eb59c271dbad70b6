"""The storage quota in the sidebar of the mail pages and on the accounts page, read from
the test Dovecot's quota plugin (users made with quota="100K" and filled to a share of
it), cached for five minutes per account, and never a reason for a page to fail."""

import re

import pytest
from django.core.cache import cache
from django.utils import translation

from tests.dovecot import new_mail_user
from tests.personas import account_for, pop3_account_for
from webmail.models import Pop3Keep
from webmail.protocols.errors import TimedOut
from webmail.protocols.imap import ImapStore
from webmail.selectors import QUOTA_CACHE_SECONDS
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_policy_set

pytestmark = pytest.mark.django_db

ALMOST_FULL = "Your mailbox is almost full."
FULL = "Your mailbox is full: new mail may be bounced back to its senders."


def _quota_account(alice, dovecot, *, kib: int, quota: str = "100K", settings=None):
    user = new_mail_user(dovecot, "quota", quota=quota, settings=settings)
    if kib:
        user.fill(kib)
    return account_for(alice, dovecot, user)


def _meter(html: str) -> dict[str, str]:
    match = re.search(r"<meter ([^>]*)>", html)
    assert match, "no quota bar on the page"
    return dict(re.findall(r'([a-z-]+)="([^"]*)"', match.group(1)))


def _sidebar(html: str) -> str:
    start = html.index('<nav class="pane-folders"')
    return html[start : html.index("</nav>", start)]


def test_it_shows_how_full_the_mailbox_is(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=30)
    html = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    sidebar = _sidebar(html)
    assert "30.0\xa0KB of 100.0\xa0KB used (30%)" in sidebar
    meter = _meter(sidebar)
    assert meter["value"] == str(30 * 1024)
    assert meter["max"] == str(100 * 1024)
    assert (meter["low"], meter["high"]) == (str(80 * 1024), str(95 * 1024))
    # Its accessible name is the visible sentence.
    label = re.search(rf'id="{meter["aria-labelledby"]}">([^<]*)<', sidebar).group(1)
    assert label == "30.0\xa0KB of 100.0\xa0KB used (30%)"
    assert ALMOST_FULL not in html and FULL not in html


def test_it_warns_at_eighty_percent(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=85)
    html = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "85.0\xa0KB of 100.0\xa0KB used (85%)" in html
    assert _meter(html)["value"] == str(85 * 1024)
    assert 'class="quota quota-warning"' in html
    assert ALMOST_FULL in _sidebar(html)
    assert FULL not in html


def test_it_says_new_mail_may_bounce_at_ninety_five_percent(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=97)
    html = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "97.0\xa0KB of 100.0\xa0KB used (97%)" in html
    assert 'class="quota quota-critical"' in html
    assert FULL in _sidebar(html)
    assert ALMOST_FULL not in html


def test_the_message_page_shows_it_too(alice_client, alice, dovecot):
    user = new_mail_user(dovecot, "quota", quota="100K")
    user.fill(85, messages=1)
    account = account_for(alice, dovecot, user)
    url = f"/mail/{account.pk}/{user.uidvalidity('INBOX')}/1/?folder=INBOX"
    html = alice_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Filler 1" in html
    assert "85.0\xa0KB of 100.0\xa0KB used (85%)" in html
    assert ALMOST_FULL in html


def test_it_shows_no_bar_without_a_storage_limit(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=5, quota="0")
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert "<h1>Inbox</h1>" in html
    assert "<meter" not in html and 'class="quota' not in html


def test_it_shows_no_bar_when_the_server_offers_no_quota(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=97, settings={"mail_plugins": "quota"})
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert "<h1>Inbox</h1>" in html
    assert "<meter" not in html and FULL not in html


def test_a_quota_that_cannot_be_read_leaves_the_page_whole(
    alice_client, alice, dovecot, monkeypatch, caplog
):
    account = _quota_account(alice, dovecot, kib=97)

    def times_out(self, folder="INBOX"):
        raise TimedOut("127.0.0.1:143")

    monkeypatch.setattr(ImapStore, "quota", times_out)
    response = alice_client.get(f"/mail/{account.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Filler 4" in html
    assert "<meter" not in html
    assert f"quota of account {account.pk} unreadable: timeout" in caplog.text


def test_it_asks_the_server_once_in_five_minutes(alice_client, alice, dovecot, monkeypatch):
    assert QUOTA_CACHE_SECONDS == 300
    user = new_mail_user(dovecot, "quota", quota="100K")
    user.fill(30)
    account = account_for(alice, dovecot, user)
    asked = []
    real = ImapStore.quota
    monkeypatch.setattr(
        ImapStore, "quota", lambda self, folder="INBOX": asked.append(folder) or real(self, folder)
    )
    first = alice_client.get(f"/mail/{account.pk}/").content.decode()
    user.fill(55)  # more mail arrives
    again = alice_client.get(f"/mail/{account.pk}/", {"folder": "Sent"}).content.decode()
    assert asked == ["INBOX"]
    assert "(30%)" in first and "(30%)" in again  # the cached figure, for now
    cache.clear()  # five minutes later
    later = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert asked == ["INBOX", "INBOX"]
    assert "(85%)" in later and ALMOST_FULL in later


def test_a_failure_is_remembered_too(alice_client, alice, dovecot, monkeypatch):
    account = _quota_account(alice, dovecot, kib=30)
    calls = []

    def times_out(self, folder="INBOX"):
        calls.append(folder)
        raise TimedOut("127.0.0.1:143")

    monkeypatch.setattr(ImapStore, "quota", times_out)
    for _ in range(3):
        assert alice_client.get(f"/mail/{account.pk}/").status_code == 200
    assert calls == ["INBOX"]


def test_the_accounts_page_shows_what_the_mail_pages_read(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=97)
    before = alice_client.get("/settings/accounts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert account.email in before
    assert "<meter" not in before  # this page opens no connection to find out
    alice_client.get(f"/mail/{account.pk}/")
    after = alice_client.get("/settings/accounts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "97.0\xa0KB of 100.0\xa0KB used (97%)" in after
    assert FULL in after


def test_a_german_reader_reads_it_in_german(alice_client, alice, dovecot):
    account = _quota_account(alice, dovecot, kib=97)
    with translation.override(translation.get_language()):  # later tests keep theirs
        response = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="de")
    html = response.content.decode()
    assert "97,0\xa0KB von 100,0\xa0KB belegt (97 %)" in html
    assert _meter(html)["value"] == str(97 * 1024)  # attributes stay plain numbers
    assert "Ihr Postfach ist voll: Neue Nachrichten gehen womöglich" in html


# -- POP3: the server mailbox against the limit the user entered ----------------------------

POP3_ALMOST_FULL = "The server mailbox is almost full."
POP3_FULL = "The server mailbox is full: new mail may bounce. Clean up now on the"


def _pop3_quota_account(alice, dovecot, mail_user, *, kib: int):
    """alice's POP3 account after a fetch of `kib` KiB, with a limit of 1 MB entered."""
    mail_user.fill(kib, messages=2)
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, quota_mb=1)
    assert pop3_fetch(account=account).new == 2
    return account


def test_a_pop3_account_near_its_limit_warns_in_the_sidebar(
    alice_client, alice, dovecot, mail_user, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    account = _pop3_quota_account(alice, dovecot, mail_user, kib=870)  # of 1024 KiB: 84%
    html = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    sidebar = _sidebar(html)
    assert "870.0\xa0KB of 1.0\xa0MB used (84%)" in sidebar
    assert _meter(sidebar)["value"] == str(870 * 1024)
    assert 'class="quota quota-warning"' in sidebar
    assert POP3_ALMOST_FULL in sidebar
    assert f'<a href="/settings/accounts/{account.pk}/">account page</a>' in sidebar
    assert ALMOST_FULL not in html  # the IMAP advice (empty the Trash) does not help here
    # The accounts page shows it too, from the database as well.
    listed = alice_client.get("/settings/accounts/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "(84%)" in listed and POP3_ALMOST_FULL in listed


def test_a_full_pop3_server_mailbox_says_new_mail_may_bounce(
    alice_client, alice, dovecot, mail_user, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    account = _pop3_quota_account(alice, dovecot, mail_user, kib=990)
    html = alice_client.get(f"/mail/{account.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'class="quota quota-critical"' in html
    assert POP3_FULL in _sidebar(html)
    assert POP3_ALMOST_FULL not in html and FULL not in html


def test_a_pop3_account_without_a_limit_shows_no_bar(
    alice_client, alice, dovecot, mail_user, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    account = _pop3_quota_account(alice, dovecot, mail_user, kib=990)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, quota_mb=0)
    html = alice_client.get(f"/mail/{account.pk}/").content.decode()
    assert "Filler 1" in html
    assert "<meter" not in html and 'class="quota' not in html
