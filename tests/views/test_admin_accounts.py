"""The admin's mail-account screens (issue 6, "Admin"): passwords an admin can replace but
never read, each account's sync state and storage here and on its server, actions that
queue Celery tasks and say so (sync now, turn the background sync off and on), filters,
deleting an account with its local mail; and what the site settings change for users
(whether they add accounts themselves, the sync interval, the attachment limit)."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import AuditEvent, MailAccount
from tests.admin_forms import admin_messages, form_data, page, page_text
from tests.personas import account_for, account_offline, pop3_account_for
from tests.pop3_helpers import message
from webmail.celery import app as celery_app
from webmail.models import IndexedFolder, Pop3Keep, Pop3Uidl, SiteSettings, StoredMessage
from webmail.services.local_store import blob_store
from webmail.services.pop3_cleanup import pop3_accounts_to_clean
from webmail.services.pop3_fetch import pop3_accounts_due, pop3_fetch
from webmail.services.pop3_policy import pop3_policy_set, site_settings
from webmail.services.sync import account_sync, accounts_due
from webmail.services.watch import accounts_active

pytestmark = pytest.mark.django_db

ACCOUNTS = "/admin/accounts/mailaccount/"


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # blobs of this test only


@pytest.fixture
def queued(monkeypatch):
    """Task names and arguments sent to the broker (account_sync_queue sends by name)."""
    sent: list[tuple[str, list]] = []
    monkeypatch.setattr(celery_app, "send_task", lambda name, args: sent.append((name, args)))
    return sent


def admin_actions() -> list[str]:
    rows = AuditEvent.objects.filter(kind=AuditEvent.Kind.ADMIN_ACTION).order_by("id")
    return [row.detail for row in rows]


def listed(client, **query) -> list[str]:
    """The addresses the accounts list shows, with these filters."""
    text = page(client.get(ACCOUNTS, query))
    return sorted(
        account.email for account in MailAccount.objects.all() if f">{account.email}<" in text
    )


def site_settings_set(**values) -> None:
    row = site_settings()
    for name, value in values.items():
        setattr(row, name, value)
    row.save()


# -- passwords -------------------------------------------------------------------------------


@pytest.fixture
def alices(alice):
    account = account_offline(alice, "alice@example.org")
    account.smtp_host = "smtp.example.invalid"
    account.smtp_same_credentials = False
    account.smtp_login = "smtp-alice"
    account.set_smtp_password("Smtp-Geheim-9")
    account.save()
    return account


def test_passwords_are_never_shown_listed_or_searchable(admin_client, alice, alices):
    secrets = [
        "not-used-1",  # account_offline's password
        "Smtp-Geheim-9",
        alices.incoming_password_encrypted,
        alices.smtp_password_encrypted,
    ]
    pages = [
        page(admin_client.get(ACCOUNTS)),
        page(admin_client.get(f"{ACCOUNTS}{alices.pk}/change/")),
        page(admin_client.get(f"/admin/accounts/user/{alice.pk}/change/")),  # the inline
    ]
    for text in pages:
        assert not [secret for secret in secrets if secret in text]
    assert listed(admin_client) == ["alice@example.org"]
    assert listed(admin_client, q="not-used-1") == []
    assert listed(admin_client, q=alices.incoming_password_encrypted[:20]) == []


def test_a_new_password_typed_replaces_the_stored_one(admin_client, alices):
    url = f"{ACCOUNTS}{alices.pk}/change/"
    data = form_data(admin_client.get(url))
    assert data["new_incoming_password"] == "" and data["new_smtp_password"] == ""

    refused = dict(data, incoming_port="not a port", new_incoming_password="Tipp-Fehler-4")
    text = page(admin_client.post(url, refused))
    assert "Enter a whole number." in text and "Tipp-Fehler-4" not in text
    alices.refresh_from_db()
    assert alices.incoming_password() == "not-used-1"

    response = admin_client.post(url, dict(data, new_incoming_password="Neu-Geheim-3"))
    assert response.status_code == 302
    alices.refresh_from_db()
    assert alices.incoming_password() == "Neu-Geheim-3"
    assert alices.smtp_credentials() == ("smtp-alice", "Smtp-Geheim-9")  # left as it was

    admin_client.post(url, dict(data, new_smtp_password="Smtp-Neu-5"))
    alices.refresh_from_db()
    assert alices.smtp_credentials() == ("smtp-alice", "Smtp-Neu-5")
    assert alices.incoming_password() == "Neu-Geheim-3"
    assert admin_actions() == [
        "mail account: Changed “alice@example.org (IMAP)” — Changed New password.",
        "mail account: Changed “alice@example.org (IMAP)” — Changed New SMTP password.",
    ]


def test_an_admin_adds_an_account_with_its_password_and_its_sync_starts(
    admin_client, alice, queued, django_capture_on_commit_callbacks
):
    data = form_data(admin_client.get(f"{ACCOUNTS}add/"))
    data.update(
        user=str(alice.pk),
        email="neu@example.org",
        protocol="imap",
        incoming_host="imap.example.invalid",
        incoming_port="993",
        incoming_login="neu@example.org",
    )
    text = page(admin_client.post(f"{ACCOUNTS}add/", data))
    assert "A new account needs its password." in text
    assert not MailAccount.objects.filter(email="neu@example.org").exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            f"{ACCOUNTS}add/", dict(data, new_incoming_password="Anfang-1")
        )

    assert response.status_code == 302
    account = MailAccount.objects.get(email="neu@example.org")
    assert account.user == alice and account.incoming_password() == "Anfang-1"
    assert queued == [("webmail.tasks.account_sync_task", [account.pk])]
    assert admin_actions() == ["mail account: Added “neu@example.org (IMAP)”."]


# -- what an account's page shows ------------------------------------------------------------


def test_a_pop3_account_shows_what_it_stores_here_and_on_the_server(
    admin_client, alice, dovecot, mail_user
):
    first, second = message("Erste"), message("Zweite")
    mail_user.append("INBOX", first)
    mail_user.append("INBOX", second)
    account = pop3_account_for(alice, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, keep_days=30, quota_mb=1)
    assert pop3_fetch(account=account).new == 2
    size = f"{len(first) + len(second)}\xa0bytes"

    for url in (f"{ACCOUNTS}{account.pk}/change/", f"/admin/accounts/user/{alice.pk}/change/"):
        text = page_text(admin_client.get(url))
        assert f"Stored here: 2 messages, {size}" in text
        assert f"On the server: 2 messages, {size}; {size} of 1.0\xa0MB (0%)" in text
        assert "Server copies: Keep on the server for 30 days" in text
        assert "Sync progress: complete" in text


def test_an_imap_account_shows_its_index_its_progress_and_its_quota(
    admin_client, alice, alice_client, dovecot, mail_user
):
    mail_user.append("INBOX", message("Hallo"))
    account = account_for(alice, dovecot, mail_user)
    url = f"{ACCOUNTS}{account.pk}/change/"
    text = page_text(admin_client.get(url))
    assert "Sync progress: not synced yet" in text
    assert "On the server: no quota read lately" in text

    assert account_sync(account).complete
    alice_client.get(f"/mail/{account.pk}/")  # the mail page reads the quota

    text = page_text(admin_client.get(url))
    assert "Stored here: 1 message in the index" in text
    assert "Sync progress: complete" in text
    assert "On the server: 1.0\xa0KB of 100.0\xa0MB (0%)" in text  # quota counts KiB
    assert "Server copies: –" in text

    IndexedFolder.objects.filter(account=account, name="INBOX").update(
        synced_at=None, indexed_count=1200, total_count=5000
    )
    assert "Sync progress: 1,200 of 5,000 messages indexed" in page_text(admin_client.get(url))


# -- actions ---------------------------------------------------------------------------------


def test_sync_now_queues_a_sync_of_each_selected_account(
    admin_client, alice, queued, django_capture_on_commit_callbacks
):
    imap = account_offline(alice, "imap@example.org")
    pop3 = account_offline(alice, "pop3@example.org")
    MailAccount.objects.filter(pk=pop3.pk).update(protocol=MailAccount.Protocol.POP3)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            ACCOUNTS, {"action": "sync_now", "_selected_action": [imap.pk, pop3.pk]}, follow=True
        )

    assert admin_messages(response) == [
        "A sync of 2 accounts was queued (POP3: a fetch of new mail)."
    ]
    assert sorted(queued) == [
        ("webmail.tasks.account_sync_task", [imap.pk]),
        ("webmail.tasks.account_sync_task", [pop3.pk]),
    ]
    assert admin_actions() == [
        "sync now: imap@example.org (IMAP, imap.example.invalid)",
        "sync now: pop3@example.org (POP3, imap.example.invalid)",
    ]


def test_an_account_whose_sync_is_off_is_left_alone_by_every_scheduler(
    admin_client, alice, queued, django_capture_on_commit_callbacks
):
    imap = account_offline(alice, "imap@example.org")
    pop3 = account_offline(alice, "pop3@example.org")
    MailAccount.objects.filter(pk=pop3.pk).update(protocol=MailAccount.Protocol.POP3)
    alice.last_seen_at = timezone.now()
    alice.save()

    def scheduled() -> dict[str, list[int]]:
        return {
            "sync": accounts_due(),
            "fetch": pop3_accounts_due(),
            "cleanup": pop3_accounts_to_clean(),
            "idle": [account.pk for account in accounts_active(minutes=30, limit=10)],
        }

    everything = {"sync": [imap.pk], "fetch": [pop3.pk], "cleanup": [pop3.pk], "idle": [imap.pk]}
    assert scheduled() == everything

    response = admin_client.post(
        ACCOUNTS, {"action": "sync_disable", "_selected_action": [imap.pk, pop3.pk]}, follow=True
    )
    assert admin_messages(response) == ["The background sync of 2 accounts was turned off."]
    assert scheduled() == {"sync": [], "fetch": [], "cleanup": [], "idle": []}
    assert listed(admin_client, sync_enabled__exact="0") == ["imap@example.org", "pop3@example.org"]

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            ACCOUNTS, {"action": "sync_enable", "_selected_action": [imap.pk]}, follow=True
        )
    assert admin_messages(response) == [
        "The background sync of 1 account was turned on, and a sync queued."
    ]
    assert queued == [("webmail.tasks.account_sync_task", [imap.pk])]
    assert scheduled() == {"sync": [imap.pk], "fetch": [], "cleanup": [], "idle": [imap.pk]}
    assert admin_actions() == [
        "sync disabled: imap@example.org (IMAP, imap.example.invalid)",
        "sync disabled: pop3@example.org (POP3, imap.example.invalid)",
        "sync enabled: imap@example.org (IMAP, imap.example.invalid)",
    ]


def test_cleanup_now_is_audited(admin_client, alice, monkeypatch):
    from webmail import tasks

    monkeypatch.setattr(tasks.pop3_cleanup_task, "delay", lambda account_id: None)
    pop3 = account_offline(alice, "pop3@example.org")
    MailAccount.objects.filter(pk=pop3.pk).update(protocol=MailAccount.Protocol.POP3)
    admin_client.post(ACCOUNTS, {"action": "pop3_cleanup_now", "_selected_action": [pop3.pk]})
    assert admin_actions() == ["POP3 cleanup now: pop3@example.org (POP3, imap.example.invalid)"]


# -- filters ---------------------------------------------------------------------------------


def test_the_list_filters_by_error_protocol_last_sync_and_sync_enabled(admin_client, alice):
    now = timezone.now()
    fresh = account_offline(alice, "fresh@example.org")
    stale = account_offline(alice, "stale@example.org")
    never = account_offline(alice, "never@example.org")
    failing = account_offline(alice, "failing@example.org")
    MailAccount.objects.filter(pk=fresh.pk).update(last_synced_at=now - timedelta(hours=1))
    MailAccount.objects.filter(pk=stale.pk).update(
        last_synced_at=now - timedelta(days=3), protocol=MailAccount.Protocol.POP3
    )
    MailAccount.objects.filter(pk=failing.pk).update(
        last_synced_at=now - timedelta(hours=2),
        sync_error="The server refused the password.",
        sync_error_at=now,
        sync_failures=3,
        sync_enabled=False,
    )

    assert listed(admin_client, sync="failing") == ["failing@example.org"]
    assert "The server refused the password. (3 in a row)" in page(
        admin_client.get(ACCOUNTS, {"sync": "failing"})
    )
    assert listed(admin_client, sync="ok") == [
        "fresh@example.org", "never@example.org", "stale@example.org",
    ]  # fmt: skip
    assert listed(admin_client, protocol__exact="pop3") == ["stale@example.org"]
    assert listed(admin_client, synced="day") == ["failing@example.org", "fresh@example.org"]
    assert listed(admin_client, synced="stale") == ["never@example.org", "stale@example.org"]
    assert listed(admin_client, synced="never") == [never.email]
    assert listed(admin_client, sync_enabled__exact="0") == ["failing@example.org"]


# -- deleting one account ---------------------------------------------------------------------


def test_deleting_a_pop3_account_says_what_goes_and_takes_its_local_mail(
    admin_client, alice, dovecot, mail_user, django_capture_on_commit_callbacks
):
    raw = message("Einzige Kopie")
    mail_user.append("INBOX", raw)
    account = pop3_account_for(alice, dovecot, mail_user)
    assert pop3_fetch(account=account).new == 1
    digest = StoredMessage.objects.get(account=account).digest
    url = f"{ACCOUNTS}{account.pk}/delete/"

    text = page_text(admin_client.get(url))
    assert f"1 message stored here ({len(raw)}\xa0bytes): for POP3 accounts possibly" in text
    assert "Mail accounts: 1" in text

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not MailAccount.objects.filter(pk=account.pk).exists()
    assert not Pop3Uidl.objects.filter(account=account.pk).exists()
    assert not StoredMessage.objects.filter(account=account.pk).exists()
    assert not blob_store().exists(digest)
    assert AuditEvent.objects.filter(
        kind=AuditEvent.Kind.ACCOUNT_REMOVED,
        user=alice,
        detail=f"{account.email} (POP3, 127.0.0.1)",
    ).exists()


# -- site settings ----------------------------------------------------------------------------


def test_when_users_may_not_add_accounts_only_admins_do(admin_client, alice_client):
    site_settings()  # the row, as the admin's list makes it
    data = form_data(admin_client.get("/admin/webmail/sitesettings/1/change/"))
    del data["users_may_add_accounts"]
    assert admin_client.post("/admin/webmail/sitesettings/1/change/", data).status_code == 302
    assert SiteSettings.objects.get().users_may_add_accounts is False

    accounts_page = page(alice_client.get("/settings/accounts/"))
    assert "/settings/accounts/add/" not in accounts_page
    assert "Ask your administrator to add a mail account." in accounts_page
    response = alice_client.get("/settings/accounts/add/", follow=True)
    assert response.redirect_chain == [("/settings/accounts/", 302)]
    assert "Only your administrator can add mail accounts here." in page(response)
    assert alice_client.get("/mail/", follow=True).redirect_chain[-1] == (
        "/settings/accounts/",
        302,
    )
    alice_client.post(
        "/settings/accounts/add/",
        {"email": "alice@example.org", "protocol": "imap", "host": "imap.example.invalid"},
    )
    assert not MailAccount.objects.exists()

    assert "Add a mail account" in page(admin_client.get("/settings/accounts/"))  # staff
    assert admin_client.get("/settings/accounts/add/").status_code == 200
    assert (
        "users may add mail accounts themselves"
        in page(admin_client.get("/admin/webmail/sitesettings/1/change/")).lower()
    )


def test_the_sites_sync_interval_leaves_recently_synced_accounts_alone(alice, settings):
    settings.SYNC_INTERVAL_SECONDS = 300
    now = timezone.now()
    recent = account_offline(alice, "recent@example.org")
    older = account_offline(alice, "older@example.org")
    MailAccount.objects.filter(pk=recent.pk).update(last_synced_at=now - timedelta(minutes=30))
    MailAccount.objects.filter(pk=older.pk).update(last_synced_at=now - timedelta(minutes=58))
    assert accounts_due() == [recent.pk, older.pk]  # the beat's own interval

    site_settings_set(sync_interval_minutes=60)
    # 58 minutes: within half a beat (2.5 minutes) of the hour, due at this beat, not the next.
    assert accounts_due() == [older.pk]
    MailAccount.objects.filter(pk=older.pk).update(last_synced_at=now - timedelta(minutes=50))
    assert accounts_due() == []


def test_the_sites_attachment_limit_replaces_the_servers(
    alice_client, alice, dovecot, mail_user, settings
):
    settings.MAIL_MAX_ATTACHMENT_BYTES = 1000
    site_settings_set(max_attachment_mb=1)
    account = account_for(alice, dovecot, mail_user)
    url = f"/mail/{account.pk}/compose/"
    data = form_data(alice_client.get(url))
    data["action"] = "upload"

    medium = SimpleUploadedFile("mittel.bin", b"m" * 5000, "application/octet-stream")
    text = page(alice_client.post(url, {**data, "attachments": [medium]}))
    assert "Attachments may add up to 1.0\xa0MB per message." in text
    assert '<span class="attachment-name">mittel.bin</span>' in text

    large = SimpleUploadedFile("gross.bin", b"g" * (1024 * 1024), "application/octet-stream")
    text = page(alice_client.post(url, {**data, "attachments": [large]}))
    assert "may add up to at most 1.0\xa0MB, so “gross.bin” was not attached." in text
