"""Attachments are downloads, never pages on our origin (issue 6, "Hardening"; design
security.md 3.6): HTML, SVG and every XML type go out as opaque bytes with
`Content-Disposition: attachment`, nosniff and a sandbox CSP, and a name's control and
bidi characters (U+202E and its kin) are gone both from the list on the message page and
from the download name."""

import html
import re
import unicodedata
from email.message import EmailMessage
from urllib.parse import unquote

import pytest

from tests.personas import account_for
from webmail.views.message import DOWNLOAD_CSP, download_type

pytestmark = pytest.mark.django_db

ACTIVE = {
    "page.html": ("text", "html", b"<script>alert(1)</script>"),
    "chart.svg": (
        "image",
        "svg+xml",
        b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    ),
    "data.xml": ("application", "xml", b"<?xml version='1.0'?><a/>"),
    "feed.xml": ("text", "xml", b"<?xml version='1.0'?><rss/>"),
    "page.xhtml": ("application", "xhtml+xml", b"<html xmlns='http://www.w3.org/1999/xhtml'/>"),
    "news.rss": ("application", "rss+xml", b"<rss/>"),
    "style.xsl": ("text", "xsl", b"<xsl:stylesheet/>"),
    "run.js": ("text", "javascript", b"alert(1)"),
}
SPOOFED = {
    # What the sender wrote -> what the reader must see (no override, no isolate, no control).
    "invoice\u202egnp.exe": "invoicegnp.exe",
    "report\u2066fdp.\u2069.exe": "reportfdp..exe",
    "photo\u200f\u200e\u202djpg.scr": "photojpg.scr",
    "bell\x07and\x1bescape.txt": "bellandescape.txt",
}
# Bidi controls, and every C0/C1 control character.
_UNSAFE = re.compile(r"[\u200e\u200f\u202a-\u202e\u2066-\u2069\x00-\x1f\x7f-\x9f]")


def _hostile_attachments() -> bytes:
    message = EmailMessage()
    message["From"] = "Mallory <mallory@example.net>"
    message["To"] = "alice@example.org"
    message["Subject"] = "Your documents"
    message.set_content("See the attachments.")
    for name, (major, minor, data) in ACTIVE.items():
        message.add_attachment(data, maintype=major, subtype=minor, filename=name)
    for name in SPOOFED:
        message.add_attachment(b"MZ", maintype="application", subtype="octet-stream", filename=name)
    return bytes(message)


@pytest.fixture
def attachments(alice, alice_client, dovecot, mail_user) -> dict[str, str]:
    """The hostile message's attachment list as the message page shows it: name -> URL."""
    uid = mail_user.append("INBOX", _hostile_attachments())
    account = account_for(alice, dovecot, mail_user)
    page = alice_client.get(
        f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/", {"folder": "INBOX"}
    )
    assert page.status_code == 200
    return {
        html.unescape(name): html.unescape(href)
        for href, name in re.findall(
            r'<a class="attachment-name" href="([^"]+)" download>([^<]*)</a>',
            page.content.decode(),
        )
    }


def _assert_inert_download(response) -> None:
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == DOWNLOAD_CSP == "default-src 'none'; sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("name", sorted(ACTIVE))
def test_an_active_type_is_downloaded_as_opaque_bytes(attachments, alice_client, name):
    response = alice_client.get(attachments[name])
    _assert_inert_download(response)
    assert response["Content-Type"] == "application/octet-stream"
    assert response.content.rstrip(b"\n") == ACTIVE[name][2]
    assert f'filename="{name}"' in response["Content-Disposition"]


def test_the_list_shows_names_without_bidi_or_control_characters(attachments):
    shown = set(attachments) - set(ACTIVE)
    assert shown == set(SPOOFED.values())
    for name in attachments:
        assert not _UNSAFE.search(name), ascii(name)


@pytest.mark.parametrize("sent, safe", sorted(SPOOFED.items()))
def test_the_download_name_is_the_neutralised_one(attachments, alice_client, sent, safe):
    response = alice_client.get(attachments[safe])
    _assert_inert_download(response)
    disposition = response["Content-Disposition"]
    assert f'filename="{safe}"' in disposition
    encoded = unquote(disposition.split("filename*=UTF-8''", 1)[1])
    assert encoded == safe
    assert not _UNSAFE.search(unicodedata.normalize("NFC", encoded))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/html", "TEXT/HTML", "application/xhtml+xml", "image/svg+xml", "text/xml",
        "application/xml", "application/atom+xml", "application/mathml+xml",
        "application/xml-dtd", "text/xsl", "application/javascript", "text/ecmascript",
        "application/x-javascript", "multipart/x-mixed-replace", "application/pdf", "", "html",
        "text/",
    ],
)  # fmt: skip
def test_every_type_a_browser_could_render_or_run_becomes_opaque(content_type):
    assert download_type(content_type) == "application/octet-stream"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "image/png", "application/zip", "audio/mpeg", "text/csv"]
)
def test_other_types_keep_their_own(content_type):
    assert download_type(content_type) == content_type
