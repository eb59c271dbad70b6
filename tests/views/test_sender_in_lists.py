"""A sender whose name pretends to be an address is listed by its real address: a list
row has no room for the message page's warning (security note rule 7, Mailsploit)."""

import re

import pytest

from tests.personas import account_for

pytestmark = pytest.mark.django_db

SPOOF = (
    b'From: "security@paypal.com" <attacker@evil.example>\r\nTo: r@example.org\r\n'
    b"Subject: Verify your account\r\nMessage-ID: <s1@evil.example>\r\n\r\nClick.\r\n"
)
FULL_WIDTH = (
    b"From: =?utf-8?b?c2VydmljZe+8oGJhbmsuZXhhbXBsZQ==?= <x@evil.example>\r\n"
    b"To: r@example.org\r\nSubject: Bank\r\nMessage-ID: <s2@evil.example>\r\n\r\nHi.\r\n"
)  # the name is "service＠bank.example", a full-width at
HONEST = (
    b"From: Anna Schmidt <anna@example.org>\r\nTo: r@example.org\r\n"
    b"Subject: Hallo\r\nMessage-ID: <h1@example.org>\r\n\r\nHallo.\r\n"
)


def _senders(html: str) -> list[str]:
    return re.findall(r'<span class="row-from"[^>]*>(.*?)</span>', html, re.S)


def test_the_list_shows_the_real_address_of_a_name_that_pretends_to_be_one(
    alice, alice_client, dovecot, mail_user
):
    for raw in (SPOOF, FULL_WIDTH, HONEST):
        mail_user.append("INBOX", raw)
    account = account_for(alice, dovecot, mail_user)

    html = alice_client.get(f"/mail/{account.pk}/").content.decode()

    assert sorted(_senders(html)) == ["Anna Schmidt", "attacker@evil.example", "x@evil.example"]
    assert "security@paypal.com" not in html
