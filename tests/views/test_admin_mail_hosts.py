"""The site settings' mail-server lists in the admin: entries are checked as they are typed,
and what is saved is the policy of the next connection (webmail.services.mail_hosts)."""

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
