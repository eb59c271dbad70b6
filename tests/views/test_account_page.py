"""The account page (issue 5): a POP3 account's policy, server storage, cleanup preview
and deletion log through the Django test client, against the real Dovecot POP3. Nothing
is deleted by looking; what the user confirms is deleted by the queued task (run here by
the real task code, from the message it was queued as)."""

import html
import re
from datetime import timedelta

import pytest
from django.template.defaultfilters import filesizeformat
from django.utils import translation

from tests.dovecot import new_mail_user
from tests.personas import account_for, pop3_account_for
from tests.pop3_helpers import message, server_subjects
from tests.views import test_message_fast_open
from webmail import clock
from webmail.models import (
    Pop3Keep,
    Pop3Policy,
    Pop3Uidl,
    RetentionSettings,
    ServerDeletion,
    StoredMessage,
)
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_policy_set
from webmail.tasks import pop3_cleanup_task

pytestmark = pytest.mark.django_db

# What the code under test queued on the in-memory broker, as (name, args).
tasks_queued = test_message_fast_open.tasks_queued


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def fetched(alice, dovecot, mail_user, *mails, **policy):
    """alice's POP3 account with `mails` (subjects, or raw messages) fetched from the
    server, under the given policy (14 days by default)."""
    for mail in mails:
        mail_user.append("INBOX", mail if isinstance(mail, bytes) else message(mail))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, **{"keep": Pop3Keep.KEEP_DAYS, **policy})
    assert pop3_fetch(account=account).complete
    return account


def stored_days_ago(account, subject: str, days: int) -> None:
    stored = StoredMessage.objects.get(account=account, indexed__subject=subject)
    StoredMessage.objects.filter(pk=stored.pk).update(stored_at=clock.now() - timedelta(days=days))


def text(response) -> str:
    """The page's visible text, tags removed and white space folded."""
    body = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(body).split())


def flashes(response) -> list[str]:
    found = re.findall(r'<li class="flash-\w+">(.*?)</li>', response.content.decode(), re.S)
    return [html.unescape(item) for item in found]


def preview_subjects(response) -> list[str]:
    table = re.search(
        r'<table class="table cleanup-preview">(.*?)</table>', response.content.decode(), re.S
    )
    rows = re.findall(r"<tr>\s*<td>.*?</td>\s*<td>.*?</td>\s*<td>(.*?)</td>", table.group(1), re.S)
    return sorted(html.unescape(subject) for subject in rows)


def deletion_log(response) -> list[list[str]]:
    """The rows of the page's deletion log, each as its cells' text."""
    section = response.content.decode().split('id="account-deletions"')[1]
    body = re.search(r"<tbody>(.*?)</tbody>", section, re.S).group(1)
    return [
        [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in cells]
        for cells in (re.findall(r"<td>(.*?)</td>", row, re.S) for row in body.split("</tr>"))
        if cells
    ]


def policy_post(client, account, **changes):
    data = {"keep": "keep_days", "keep_days": "14", "delete_larger_than_mb": "", "quota_mb": ""}
    data.update(changes)
    return client.post(f"/settings/accounts/{account.pk}/policy/", data)


def test_it_shows_a_pop3_accounts_servers_storage_and_policy(
    alice, alice_client, dovecot, mail_user
):
    account = fetched(alice, dovecot, mail_user, "One", "Two", keep_days=14)

    response = alice_client.get(f"/settings/accounts/{account.pk}/")

    page = text(response)
    assert account.email in page
    assert f"{dovecot.host}:{dovecot.pop3_port}" in page
    assert "The server holds 2 messages" in page
    assert "The next cleanup frees nothing: the policy keeps every server copy for now." in page
    assert "No cleanup has run yet." in page
    assert re.search(
        r'<input type="radio" name="keep" value="keep_days"[^>]*checked', response.content.decode()
    )
    assert 'name="keep_days" value="14"' in response.content.decode()
    assert "no message IDs (UIDL)" not in page  # Dovecot gives UIDLs
    assert f'href="/settings/accounts/{account.pk}/identities/"' in response.content.decode()
    assert f'action="/settings/accounts/{account.pk}/check/"' in response.content.decode()


def test_the_accounts_list_links_to_the_account_page(alice, alice_client, dovecot, mail_user):
    account = pop3_account_for(alice, dovecot, mail_user)

    listing = alice_client.get("/settings/accounts/").content.decode()

    assert f'href="/settings/accounts/{account.pk}/"' in listing


def test_the_policy_form_saves(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "One", keep_days=14)

    response = policy_post(
        alice_client, account, keep="keep_forever", keep_days="30", delete_larger_than_mb="5",
        quota_mb="1024", warn_by_mail="on",
    )  # fmt: skip

    assert response.status_code == 302
    policy = Pop3Policy.objects.get(account=account)
    assert (policy.keep, policy.keep_days, policy.delete_larger_than_mb) == ("keep_forever", 30, 5)
    assert (policy.quota_mb, policy.warn_by_mail) == (1024, True)
    page = alice_client.get(response.url)
    assert flashes(page) == ["The settings for the copies on the server were saved."]
    assert "<meter" in page.content.decode()  # a limit is known now

    policy_post(alice_client, account, keep="keep_forever", quota_mb="")
    policy.refresh_from_db()
    assert (policy.quota_mb, policy.delete_larger_than_mb, policy.warn_by_mail) == (
        None,
        None,
        False,
    )


def test_the_policy_form_explains_its_mistakes(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "One", keep_days=14)

    response = policy_post(alice_client, account, keep_days="0", quota_mb="lots")

    page = text(response)
    assert "Keep server copies for at least 1 day." in page
    assert "Enter the size in MB as a whole number." in page
    assert Pop3Policy.objects.get(account=account).keep_days == 14
    missing = text(policy_post(alice_client, account, keep_days=""))
    assert "Enter how many days to keep server copies." in missing


def test_shortening_the_days_asks_first_with_the_count_it_will_delete(
    alice, alice_client, dovecot, mail_user
):
    big = message("Ten days old", b"x" * 300_000 + b"\r\n")
    account = fetched(alice, dovecot, mail_user, big, "Eight days old", "New", keep_days=14)
    stored_days_ago(account, "Ten days old", 10)
    stored_days_ago(account, "Eight days old", 8)

    asked = policy_post(alice_client, account, keep_days="7")

    assert asked.status_code == 200
    due = Pop3Uidl.objects.filter(account=account).exclude(stored__indexed__subject="New")
    size = filesizeformat(sum(due.values_list("size", flat=True))).replace("\xa0", " ")
    assert f"This will delete 2 messages ({size}) from the server at the next cleanup." in text(
        asked
    )
    assert Pop3Policy.objects.get(account=account).keep_days == 14  # not saved yet
    assert f'href="/settings/accounts/{account.pk}/"' in asked.content.decode()  # Cancel
    hidden = dict(
        re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', asked.content.decode())
    )
    assert (hidden["keep"], hidden["keep_days"], hidden["confirmed"]) == ("keep_days", "7", "1")

    confirmed = alice_client.post(f"/settings/accounts/{account.pk}/policy/", hidden)

    assert confirmed.status_code == 302
    assert Pop3Policy.objects.get(account=account).keep_days == 7
    assert server_subjects(mail_user) == ["Eight days old", "New", "Ten days old"]  # not yet


def test_switching_to_delete_after_download_asks_first(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "One", "Two", keep_days=14)

    asked = policy_post(alice_client, account, keep="delete_after_download")

    assert "This will delete 2 messages" in text(asked)
    assert Pop3Policy.objects.get(account=account).keep == "keep_days"


def test_a_change_that_deletes_nothing_more_is_saved_without_asking(
    alice, alice_client, dovecot, mail_user
):
    account = fetched(alice, dovecot, mail_user, "Old", keep_days=7)
    stored_days_ago(account, "Old", 10)  # the current rule deletes it already

    response = policy_post(alice_client, account, keep_days="5")

    assert response.status_code == 302
    assert Pop3Policy.objects.get(account=account).keep_days == 5


def test_the_preview_lists_what_the_cleanup_would_delete_and_deletes_nothing(
    alice, alice_client, dovecot, mail_user
):
    account = fetched(alice, dovecot, mail_user, "Old one", "Old two", "Recent", keep_days=14)
    stored_days_ago(account, "Old one", 20)
    stored_days_ago(account, "Old two", 15)

    response = alice_client.get(f"/settings/accounts/{account.pk}/cleanup/")

    assert preview_subjects(response) == ["Old one", "Old two"]
    page = text(response)
    assert "The policy lets Postfach delete 2 messages" in page
    assert "Sender" in page and "older than the days to keep" in page
    assert server_subjects(mail_user) == ["Old one", "Old two", "Recent"]
    assert not ServerDeletion.objects.filter(account=account).exists()
    old = Pop3Uidl.objects.filter(account=account, stored__indexed__subject__startswith="Old")
    ids = sorted(old.values_list("pk", flat=True))
    shown = re.search(r'name="ledger_ids" value="([^"]*)"', response.content.decode()).group(1)
    assert sorted(int(item) for item in shown.split()) == ids


def test_the_preview_says_when_there_is_nothing_to_clean_up(
    alice, alice_client, dovecot, mail_user
):
    account = fetched(alice, dovecot, mail_user, "Recent", keep_days=14)

    page = text(alice_client.get(f"/settings/accounts/{account.pk}/cleanup/"))

    assert "Nothing to clean up: the policy keeps every server copy for now." in page


def test_confirming_queues_the_cleanup_which_deletes_what_was_shown(
    alice, alice_client, dovecot, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    account = fetched(alice, dovecot, mail_user, "Old", "Recent", keep_days=14)
    stored_days_ago(account, "Old", 20)
    preview = alice_client.get(f"/settings/accounts/{account.pk}/cleanup/")
    shown = re.search(r'name="ledger_ids" value="([^"]*)"', preview.content.decode()).group(1)
    stored_days_ago(account, "Recent", 20)  # due now, but the user did not see it

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/settings/accounts/{account.pk}/cleanup/start/", {"ledger_ids": shown}, follow=True
        )

    assert flashes(response) == [
        "The cleanup was started: Postfach deletes 1 message from the server in the background."
    ]
    queued = tasks_queued()
    assert queued == [("webmail.tasks.pop3_cleanup_task", [account.pk, [int(shown)]])]
    assert server_subjects(mail_user) == ["Old", "Recent"]  # queued, not run
    [(_name, args)] = queued
    pop3_cleanup_task(*args)
    assert server_subjects(mail_user) == ["Recent"]

    log = alice_client.get(f"/settings/accounts/{account.pk}/")
    page = text(log)
    assert "1 entry in the log." in page
    [(_when, subject, _size, rule, outcome)] = deletion_log(log)
    assert (subject, rule, outcome) == (
        "Old", "older than the days to keep confirmed by you", "deleted from the server"
    )  # fmt: skip
    assert "Last cleanup:" in page


def test_the_cleanup_preview_and_its_start_are_no_get_and_post_only(
    alice, alice_client, dovecot, mail_user, tasks_queued
):
    account = fetched(alice, dovecot, mail_user, "Old", keep_days=1)
    stored_days_ago(account, "Old", 2)
    assert alice_client.get(f"/settings/accounts/{account.pk}/cleanup/start/").status_code == 405
    assert alice_client.get(f"/settings/accounts/{account.pk}/check/").status_code == 405
    assert alice_client.get(f"/settings/accounts/{account.pk}/policy/").status_code == 405
    assert alice_client.post(f"/settings/accounts/{account.pk}/cleanup/").status_code == 405
    bad = alice_client.post(f"/settings/accounts/{account.pk}/cleanup/start/", {"ledger_ids": "x"})
    assert bad.status_code == 400
    assert tasks_queued() == []
    assert server_subjects(mail_user) == ["Old"]


def test_check_now_queues_the_fetch(
    alice, alice_client, dovecot, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    account = fetched(alice, dovecot, mail_user, keep_days=14)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/settings/accounts/{account.pk}/check/", follow=True)

    assert flashes(response) == [
        "Postfach is checking the server for new mail. New messages appear in a moment."
    ]
    assert tasks_queued() == [("webmail.tasks.account_sync_task", [account.pk])]


def test_the_storage_block_warns_at_80_and_95_percent(alice, alice_client, dovecot, mail_user):
    account = fetched(
        alice, dovecot, mail_user, message("Big", b"x" * 880_000 + b"\r\n"), keep_days=14,
        quota_mb=1,
    )  # fmt: skip
    page = alice_client.get(f"/settings/accounts/{account.pk}/").content.decode()
    assert re.search(r'<meter[^>]* value="83"', page)
    assert "The server is filling up." in page and "pop3-storage-alarm" not in page

    mail_user.append("INBOX", message("Bigger", b"x" * 140_000 + b"\r\n"))
    assert pop3_fetch(account=account).new == 1
    page = alice_client.get(f"/settings/accounts/{account.pk}/").content.decode()
    assert re.search(r'<meter[^>]* value="97"', page)
    assert "The server is full or nearly so" in page


def test_a_server_without_uidl_is_named_on_the_page(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "One", keep_days=14)
    account.pop3_mailbox.__class__.objects.filter(account=account).update(uidl_supported=False)

    page = text(alice_client.get(f"/settings/accounts/{account.pk}/"))

    assert (
        "This server gives no message IDs (UIDL); Postfach recognises messages by their "
        "headers instead."
    ) in page


def test_an_imap_account_page_shows_its_servers_and_refresh_without_pop3_parts(
    alice, alice_client, dovecot, mail_user
):
    account = account_for(alice, dovecot, mail_user)

    response = alice_client.get(f"/settings/accounts/{account.pk}/")

    page = text(response)
    assert account.email in page and f"{dovecot.host}:{dovecot.imap_port}" in page
    assert f'action="/mail/{account.pk}/sync/"' in response.content.decode()
    assert "Server storage" not in page and "Copies on the server" not in page
    assert alice_client.get(f"/settings/accounts/{account.pk}/cleanup/").status_code == 404


def test_bob_never_sees_alices_account(alice, bob, client, dovecot, mail_user, tasks_queued):
    account = fetched(alice, dovecot, mail_user, "Old", keep_days=1)
    stored_days_ago(account, "Old", 2)
    ledger = Pop3Uidl.objects.get(account=account).pk
    client.force_login(bob)
    base = f"/settings/accounts/{account.pk}/"

    assert client.get(base).status_code == 404
    assert client.get(base + "cleanup/").status_code == 404
    assert client.post(base + "cleanup/start/", {"ledger_ids": str(ledger)}).status_code == 404
    assert client.post(base + "policy/", {"keep": "delete_after_download"}).status_code == 404
    assert client.post(base + "check/").status_code == 404
    assert tasks_queued() == []
    assert Pop3Policy.objects.get(account=account).keep == "keep_days"


def test_it_shows_the_last_cleanups_warning(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "Old", keep_days=14)
    stored_days_ago(account, "Old", 20)
    clock_back = clock.now() + timedelta(days=1)  # a last cleanup "tomorrow": the clock went back
    Pop3Policy.objects.filter(account=account).update(last_cleanup_at=clock_back)
    pop3_cleanup_task(account.pk)

    page = text(alice_client.get(f"/settings/accounts/{account.pk}/"))

    assert "The clock went back since the last cleanup. Nothing was deleted" in page
    assert "Last cleanup:" in page
    assert server_subjects(mail_user) == ["Old"]


def test_a_german_reader_sees_the_page_in_german(alice, alice_client, dovecot, mail_user):
    account = fetched(alice, dovecot, mail_user, "Eins", keep_days=14)
    alice.language = "de"
    alice.save()

    # The requests activate German in this thread; later tests must not inherit it.
    with translation.override(translation.get_language()):
        page = text(alice_client.get(f"/settings/accounts/{account.pk}/"))
        preview = text(alice_client.get(f"/settings/accounts/{account.pk}/cleanup/"))

    assert "Auf dem Server liegt 1 Nachricht" in page
    assert "Kopien auf dem Server" in page and "Jetzt aufräumen" in page
    assert "Nichts aufzuräumen: Die Regel behält vorerst jede Kopie auf dem Server." in preview


def test_an_imap_account_page_shows_the_usage_the_mail_pages_read_and_the_threshold(
    alice, alice_client, dovecot
):
    user = new_mail_user(dovecot, "quota", quota="100K")
    user.fill(92)
    account = account_for(alice, dovecot, user)
    before = text(alice_client.get(f"/settings/accounts/{account.pk}/"))
    assert "once a mail page has read it" in before  # no connection from this page

    alice_client.get(f"/mail/{account.pk}/")  # the mail page reads the quota
    page = text(alice_client.get(f"/settings/accounts/{account.pk}/"))

    assert "92.0 KB of 100.0 KB used (92%)" in page
    assert "The server mailbox is above 90% of its storage" in page
    RetentionSettings.objects.create(account=account, quota_threshold_percent=95)
    calmer = text(alice_client.get(f"/settings/accounts/{account.pk}/"))
    assert "92%" in calmer and "is above" not in calmer
