"""The admin's site-wide screens: the mail-server lists of the site settings (entries are
checked as they are typed; what is saved is the policy of the next connection), and the
issue 7 logs, which admins read and never edit."""

import pytest

from webmail.models import SiteSettings
from webmail.services.mail_hosts import mail_host_policy
from webmail.services.pop3_policy import site_settings

pytestmark = pytest.mark.django_db

URL = "/admin/webmail/sitesettings/1/change/"


def form(**hosts) -> dict:
    site_settings()
    return {"pop3_keep": "keep_days", "pop3_keep_days": "14", "users_may_add_accounts": "on",
            **hosts}  # fmt: skip


def test_an_admin_allows_and_forbids_mail_servers(admin_client):
    response = admin_client.post(
        URL,
        form(
            mail_hosts_allowed="10.0.0.0/8\nmail.intranet.example  # our own\n*.lan.example",
            mail_hosts_forbidden="evil.example, 192.0.2.7",
        ),
    )

    assert response.status_code == 302
    policy = mail_host_policy()
    assert {"10.0.0.0/8", "mail.intranet.example", "*.lan.example"} <= set(policy.allowed)
    assert policy.forbidden == ("evil.example", "192.0.2.7")


def test_a_typo_in_a_host_list_is_refused_with_the_entry_named(admin_client):
    response = admin_client.post(URL, form(mail_hosts_allowed="10.0.0.0/8\nhttps://mail.example"))

    assert response.status_code == 200
    assert "Not a host name, address or network: https://mail.example" in response.content.decode()
    assert SiteSettings.objects.get(pk=1).mail_hosts_allowed == ""


def test_the_retention_log_and_the_moves_to_imap_are_readable_never_editable(admin_client, alice):
    from django.utils import timezone

    from accounts.crypto import secret_encrypt
    from tests.personas import account_offline
    from webmail.models import Pop3Migration, RetentionLogEntry

    account = account_offline(alice, "alice@example.org")
    RetentionLogEntry.objects.create(
        account=account, account_email=account.email, rule_text="In Trash, older than 30 days",
        folder="Trash", uidvalidity=1, uid=7, subject="Alter Newsletter", size=2048,
        action="delete", outcome="done", requested_at=timezone.now(),
    )  # fmt: skip
    Pop3Migration.objects.create(
        account=account, state="running", imap_host="imap.example.org", imap_port=993,
        imap_security="tls", imap_login="alice", started_at=timezone.now(),
        imap_password_encrypted=secret_encrypt("geheim-1234"),
    )  # fmt: skip

    log = admin_client.get("/admin/webmail/retentionlogentry/").content.decode()
    moves = admin_client.get("/admin/webmail/pop3migration/").content.decode()
    move = admin_client.get(f"/admin/webmail/pop3migration/{account.pk}/change/")

    assert "Alter Newsletter" in log and "2.0\xa0KB" in log
    assert admin_client.get("/admin/webmail/retentionlogentry/add/").status_code == 403
    assert "imap.example.org" in moves
    assert move.status_code == 200 and "geheim" not in move.content.decode()
