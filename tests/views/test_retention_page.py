"""The retention page of an IMAP account (issue 7) through the Django test client, against
the real Dovecot: rules in plain words, the suggested ones, the preview that deletes
nothing, "free space now" queued and run by the real task, the quota warning, and bob
kept out."""

import re
from datetime import timedelta

import pytest

from tests.dovecot import new_mail_user
from tests.personas import account_for
from tests.services.test_organise import subjects
from tests.views import test_account_page, test_message_fast_open
from webmail import clock
from webmail.models import RetentionRule
from webmail.tasks import retention_run_task

pytestmark = pytest.mark.django_db

tasks_queued = test_message_fast_open.tasks_queued
text, flashes = test_account_page.text, test_account_page.flashes


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


@pytest.fixture
def account(alice, dovecot, mail_user):
    mail_user.append_many(
        "Trash",
        [
            (_mail("Old"), (), clock.now() - timedelta(days=40)),
            (_mail("New"), (), clock.now() - timedelta(days=2)),
        ],
    )
    return account_for(alice, dovecot, mail_user)


def test_the_account_page_links_the_rules(alice_client, account):
    page = text(alice_client.get(f"/settings/accounts/{account.pk}/"))
    assert "Keep the mailbox from filling" in page


def test_it_offers_the_defaults_and_saves_them_on_request(alice_client, account):
    page = text(alice_client.get(f"/settings/accounts/{account.pk}/retention/"))
    assert "In Trash, delete messages older than 30 days" in page
    assert "In Junk, delete messages older than 14 days" in page
    assert not RetentionRule.objects.exists()

    alice_client.post(f"/settings/accounts/{account.pk}/retention/defaults/")

    assert list(RetentionRule.objects.values_list("folder", "older_than_days", "enabled")) == [
        ("Trash", 30, True),
        ("Junk", 14, True),
    ]
    page = text(alice_client.get(f"/settings/accounts/{account.pk}/retention/"))
    assert "Suggested rules" not in page and "Runs after its preview." in page


def test_it_adds_changes_and_removes_a_rule(alice_client, account):
    url = f"/settings/accounts/{account.pk}/retention/"
    bad = alice_client.post(url + "add/", {"folder": "Trash", "action": "delete"})
    assert bad.status_code == 400 and "Give an age, a size, or both." in text(bad)

    alice_client.post(
        url + "add/",
        {"folder": "News", "older_than_days": "90", "action": "move", "target_folder": "Archive"},
    )
    rule = RetentionRule.objects.get()
    assert "In News, move messages older than 90 days to Archive" in text(alice_client.get(url))
    assert not rule.enabled

    prefix = f"rule{rule.pk}-"
    alice_client.post(
        f"{url}{rule.pk}/",
        {prefix + "folder": "News", prefix + "older_than_days": "60", prefix + "action": "delete",
         prefix + "enabled": "on"},
    )  # fmt: skip
    rule.refresh_from_db()
    assert (rule.older_than_days, rule.action, rule.target_folder, rule.enabled) == (
        60, "delete", "", True,
    )  # fmt: skip

    alice_client.post(f"{url}{rule.pk}/delete/")
    assert not RetentionRule.objects.exists()


def test_the_preview_deletes_nothing_and_free_space_now_runs_what_was_confirmed(
    alice_client, account, mail_user, tasks_queued, django_capture_on_commit_callbacks
):
    rule = RetentionRule.objects.create(
        account=account, folder="Trash", older_than_days=30, action="delete"
    )
    preview = alice_client.get(f"/settings/accounts/{account.pk}/retention/preview/")
    page = text(preview)
    assert "1 message (" in page and "Old" in page and "New" not in page
    assert "They are deleted for good, not moved to the Trash." in page
    assert subjects(mail_user, "Trash") == ["New", "Old"]
    ids = re.search(r'name="rule_ids" value="([^"]*)"', preview.content.decode()).group(1)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(
            f"/settings/accounts/{account.pk}/retention/start/", {"rule_ids": ids}, follow=True
        )

    assert flashes(response) == [
        "The rules are running: Postfach frees the space in the background."
    ]
    [(name, args)] = tasks_queued()
    assert (name, args) == ("webmail.tasks.retention_run_task", [account.pk, [rule.pk]])
    retention_run_task(*args)
    assert subjects(mail_user, "Trash") == ["New"]
    log = text(alice_client.get(f"/settings/accounts/{account.pk}/retention/"))
    assert "In Trash, delete messages older than 30 days done" in log


def test_the_quota_warning_names_the_largest(alice, alice_client, dovecot):
    user = new_mail_user(dovecot, quota="100K")
    account = account_for(alice, dovecot, user)
    user.fill(95)

    page = text(alice_client.get(f"/settings/accounts/{account.pk}/retention/"))

    assert "The mailbox is fuller than 90%." in page
    assert "Even after the rules the mailbox stays above 90%." in page
    assert "INBOX:" in page and "Filler 1 (INBOX," in page


def test_bob_cannot_see_alices_rules(bob_client, account):
    assert bob_client.get(f"/settings/accounts/{account.pk}/retention/").status_code == 404
    assert (
        bob_client.post(f"/settings/accounts/{account.pk}/retention/defaults/").status_code == 404
    )


def test_the_page_speaks_german(alice, alice_client, dovecot):
    user = new_mail_user(dovecot, quota="100K")
    account = account_for(alice, dovecot, user)
    user.fill(95)
    RetentionRule.objects.create(
        account=account, folder="Trash", older_than_days=30, action="delete"
    )

    page = text(
        alice_client.get(f"/settings/accounts/{account.pk}/retention/", HTTP_ACCEPT_LANGUAGE="de")
    )

    assert "Das Postfach ist zu mehr als 90 % voll." in page
    assert "Auch nach den Regeln bleibt das Postfach über 90 %." in page
    assert "Im Ordner Trash: Nachrichten älter als 30 Tage löschen" in page
    assert "belegt (95 %)" in page
