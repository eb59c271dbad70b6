"""The admin's POP3 screens: the site's defaults for new accounts (one row, never added or
deleted), each account's policy, the audit log of server deletions (read-only for
everyone), and "Run the POP3 cleanup now" on the mail accounts, which queues the cleanup
that then deletes on the real Dovecot what the policy allows."""

import html
import re

import pytest
from django.utils import timezone

from tests.personas import account_offline, pop3_account_for
from tests.pop3_helpers import message, server_subjects
from webmail import tasks
from webmail.models import Pop3Keep, Pop3Policy, ServerDeletion, SiteSettings
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_policy_get, pop3_policy_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


@pytest.fixture
def queued(monkeypatch):
    """Cleanups queued with .delay(), instead of sent to a broker."""
    calls: list[int] = []
    monkeypatch.setattr(tasks.pop3_cleanup_task, "delay", calls.append)
    return calls


def pop3_offline(user, email: str):
    account = account_offline(user, email)
    account.protocol = account.Protocol.POP3
    account.save()
    return account


def deletion(account, subject: str, **fields) -> ServerDeletion:
    values = {
        "account": account,
        "account_email": account.email,
        "uidl": f"uidl-{subject}",
        "subject": subject,
        "size": 2048,
        "rule": ServerDeletion.Rule.KEEP_DAYS,
        "outcome": ServerDeletion.Outcome.DELETED,
        "requested_at": timezone.now(),
    }
    values.update(fields)
    return ServerDeletion.objects.create(**values)


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


# -- site settings --------------------------------------------------------------------------


def test_the_site_settings_open_as_their_one_row(admin_client):
    response = admin_client.get("/admin/webmail/sitesettings/")
    row = SiteSettings.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/webmail/sitesettings/{row.pk}/change/"
    text = page(admin_client.get(response["Location"]))
    assert "New POP3 accounts" in text
    assert "POP3: days to keep, default for new accounts" in text


def test_the_site_settings_are_never_added_or_deleted(admin_client):
    row = SiteSettings.objects.create(pk=1)
    assert admin_client.get("/admin/webmail/sitesettings/add/").status_code == 403
    assert admin_client.post(f"/admin/webmail/sitesettings/{row.pk}/delete/").status_code == 403
    assert SiteSettings.objects.count() == 1


def test_the_default_an_admin_sets_applies_to_new_pop3_accounts(admin_client, alice):
    before = pop3_offline(alice, "before@example.org")
    pop3_policy_get(account=before)  # made under the old default

    response = admin_client.post(
        "/admin/webmail/sitesettings/1/change/",
        {
            "pop3_keep": Pop3Keep.KEEP_DAYS,
            "pop3_keep_days": "30",
            "pop3_delete_larger_than_mb": "5",
        },
    )
    assert response.status_code == 302

    policy = pop3_policy_get(account=pop3_offline(alice, "new@example.org"))
    assert (policy.keep, policy.keep_days, policy.delete_larger_than_mb) == (
        Pop3Keep.KEEP_DAYS,
        30,
        5,
    )
    assert pop3_policy_get(account=before).keep_days == 14  # an account's own rule stays


def test_people_who_are_not_staff_get_no_site_settings(alice_client):
    response = alice_client.get("/admin/webmail/sitesettings/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert not SiteSettings.objects.exists()


# -- policies -------------------------------------------------------------------------------


def test_the_policies_list_each_accounts_rule_and_filters_by_it(admin_client, alice):
    kept = pop3_offline(alice, "kept@example.org")
    pop3_policy_set(account=kept, keep=Pop3Keep.KEEP_FOREVER, quota_mb=1024)
    gone = pop3_offline(alice, "gone@example.org")
    pop3_policy_set(account=gone, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    Pop3Policy.objects.filter(account=gone).update(
        cleanup_warning="The clock went back since the last cleanup."
    )

    text = page(admin_client.get("/admin/webmail/pop3policy/"))
    assert "kept@example.org" in text and "gone@example.org" in text
    assert "Keep on the server forever" in text and "1024" in text
    assert "The clock went back since the last cleanup." in text
    forever = page(admin_client.get("/admin/webmail/pop3policy/", {"keep": "keep_forever"}))
    assert "kept@example.org" in forever and "gone@example.org" not in forever


def test_a_policy_keeps_copies_at_least_one_day(admin_client, alice):
    account = pop3_offline(alice, "kept@example.org")
    pop3_policy_get(account=account)
    url = f"/admin/webmail/pop3policy/{account.pk}/change/"
    text = page(admin_client.post(url, {"keep": Pop3Keep.KEEP_DAYS, "keep_days": "0"}))
    assert "Keep server copies for at least one day." in text
    assert pop3_policy_get(account=account).keep_days == 14

    response = admin_client.post(url, {"keep": Pop3Keep.KEEP_DAYS, "keep_days": "3"})
    assert response.status_code == 302
    assert pop3_policy_get(account=account).keep_days == 3


def test_a_policy_shows_the_storage_warning_last_mailed(admin_client, alice):
    account = pop3_offline(alice, "kept@example.org")
    pop3_policy_get(account=account)
    Pop3Policy.objects.filter(account=account).update(warned_level=95)
    text = page(admin_client.get(f"/admin/webmail/pop3policy/{account.pk}/change/"))
    assert "Storage warning mailed at" in text
    assert re.search(r'<div class="readonly">95%</div>', text)


# -- the deletion log -------------------------------------------------------------------------


def test_the_deletion_log_lists_filters_and_searches(admin_client, alice):
    account = pop3_offline(alice, "kept@example.org")
    deletion(account, "Rechnung März", message_id="<rechnung@example.org>")
    deletion(account, "Newsletter", outcome=ServerDeletion.Outcome.UNKNOWN)

    text = page(admin_client.get("/admin/webmail/serverdeletion/"))
    assert "Rechnung März" in text and "Newsletter" in text
    assert "2.0\xa0KB" in text and "older than the days to keep" in text
    unknown = page(admin_client.get("/admin/webmail/serverdeletion/", {"outcome": "unknown"}))
    assert "Newsletter" in unknown and "Rechnung März" not in unknown
    found = page(admin_client.get("/admin/webmail/serverdeletion/", {"q": "rechnung@example"}))
    assert "Rechnung März" in found and "Newsletter" not in found


def test_nobody_changes_the_deletion_log(admin_client, alice):
    row = deletion(pop3_offline(alice, "kept@example.org"), "Rechnung März")
    url = f"/admin/webmail/serverdeletion/{row.pk}/change/"

    text = page(admin_client.get(url))
    assert "Rechnung März" in text
    assert 'name="_save"' not in text  # shown, not editable
    assert admin_client.post(url, {"subject": "Rewritten"}).status_code == 403
    assert admin_client.post(f"/admin/webmail/serverdeletion/{row.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/webmail/serverdeletion/add/").status_code == 403
    listing = page(admin_client.get("/admin/webmail/serverdeletion/"))
    assert "delete_selected" not in listing
    row.refresh_from_db()
    assert row.subject == "Rechnung März"


# -- "Run the POP3 cleanup now" ---------------------------------------------------------------


def test_run_cleanup_now_queues_the_cleanup_that_deletes_what_the_policy_allows(
    admin_client, alice, dovecot, mail_user, queued, django_capture_on_commit_callbacks
):
    mail_user.append("INBOX", message("Hallo aus Köln"))
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.DELETE_AFTER_DOWNLOAD)
    assert pop3_fetch(account=account).new == 1
    imap = account_offline(alice, "imap@example.org")

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/accounts/mailaccount/",
            {"action": "pop3_cleanup_now", "_selected_action": [account.pk, imap.pk]},
            follow=True,
        )
    assert "A cleanup of 1 POP3 account was queued" in page(response)
    assert queued == [account.pk]
    assert server_subjects(mail_user) == ["Hallo aus Köln"]  # queued, not yet run

    tasks.pop3_cleanup_task(account.pk)
    assert server_subjects(mail_user) == []
    log = page(admin_client.get("/admin/webmail/serverdeletion/"))
    assert "Hallo aus Köln" in log and "deleted from the server" in log


def test_run_cleanup_now_says_when_no_pop3_account_was_chosen(admin_client, alice, queued):
    imap = account_offline(alice, "imap@example.org")
    response = admin_client.post(
        "/admin/accounts/mailaccount/",
        {"action": "pop3_cleanup_now", "_selected_action": [imap.pk]},
        follow=True,
    )
    assert "None of the selected accounts is a POP3 account." in page(response)
    assert queued == []
