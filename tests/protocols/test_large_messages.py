"""A message larger than MAIL_MAX_PARSE_BYTES, from the real Dovecot to what the reader
sees: the page fetches only its beginning (an IMAP partial FETCH) and says so, while the
original download stays exact and whole.

The limit is lowered for each test, so a message of a few kilobytes stands in for one of
500 MB. (These cross the views too, but the cap itself is the partial FETCH in imap.py.)
"""

import base64
import html
import random
import re

import pytest
from django.core.cache import cache
from django.template.defaultfilters import filesizeformat

from tests.personas import account_for

pytestmark = pytest.mark.django_db

LIMIT = 4096
ATTACHMENT = random.Random(2026).randbytes(30_000)


def holiday_mail() -> bytes:
    encoded = base64.encodebytes(ATTACHMENT).decode().replace("\n", "\r\n")
    return (
        "From: Anna Schmidt <anna.schmidt@example.org>\r\n"
        "To: Bob Meyer <bob@example.net>\r\n"
        "Subject: Photos from the trip\r\n"
        "Date: Tue, 03 Mar 2026 10:00:00 +0100\r\n"
        "Message-ID: <holiday-photos@example.org>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="photos"\r\n'
        "\r\n"
        "--photos\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "\r\n"
        "Dear Bob, the photos from our trip are attached.\r\n"
        "--photos\r\n"
        "Content-Type: application/zip\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="photos.zip"\r\n'
        "\r\n" + encoded + "--photos--\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def _no_cached_bodies():
    """Bodies are cached by account, folder, UIDVALIDITY and UID, which a fresh database
    and mailbox can repeat."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def holiday(alice, alice_client, dovecot, mail_user, settings):
    """GET the URLs of the holiday mail in alice's INBOX: holiday("original/")."""
    settings.MAIL_MAX_PARSE_BYTES = LIMIT
    raw = holiday_mail()
    assert len(raw) > 5 * LIMIT
    uid = mail_user.append("INBOX", raw)
    account = account_for(alice, dovecot, mail_user)
    base = f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/"

    def get(suffix: str = ""):
        return alice_client.get(base + suffix, {"folder": "INBOX"})

    get.base, get.raw, get.uid, get.mail_user = base, raw, uid, mail_user
    return get


def test_the_page_shows_headers_and_the_start_of_the_text_with_a_note(holiday):
    response = holiday()

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert '<h1 class="message-subject">Photos from the trip' in page
    assert "Anna Schmidt" in page
    note = f"This message is too large to show in full ({filesizeformat(len(holiday.raw))})"
    assert note in page
    assert "photos.zip" not in page  # cut short, and not fetchable from the beginning
    body = holiday("body/")
    assert body.status_code == 200
    assert "Dear Bob, the photos from our trip are attached." in body.content.decode()
    assert "\\Seen" in holiday.mail_user.flags("INBOX", holiday.uid)


def test_the_note_links_to_the_original(holiday):
    page = holiday().content.decode()

    note = re.search(r'<p class="notice notice-truncated">(.*?)</p>', page, re.S).group(1)
    assert f'<a href="{holiday.base}original/?folder=INBOX">' in note


@pytest.mark.parametrize("suffix", ["original/", "source/"])
def test_the_original_is_exact_and_whole(holiday, suffix):
    response = holiday(suffix)

    assert response.status_code == 200
    assert response.content == holiday.raw


def test_a_part_of_a_message_over_the_limit_is_not_served(holiday):
    assert holiday("part/2/").status_code == 404


def test_a_message_within_the_limit_is_shown_whole(holiday, settings):
    settings.MAIL_MAX_PARSE_BYTES = len(holiday.raw)

    page = holiday().content.decode()

    assert "too large" not in page
    assert "download>photos.zip</a>" in page
    part = holiday("part/2/")
    assert part.status_code == 200
    assert part.content == ATTACHMENT
