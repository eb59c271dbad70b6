"""Reading one message through the Django test client, against the seeded Dovecot: what
the reader sees on the page, and what each mail-content response tells the browser."""

import html
import re
from pathlib import Path

import pytest

from tests.personas import account_for
from webmail.views.message import BODY_CSP

pytestmark = pytest.mark.django_db

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"


@pytest.fixture
def open_seeded(alice_client, alice_account, seeded_mailbox):
    """GET one of the seeded INBOX messages' URLs: open_seeded("05-...eml", "part/3/")."""

    def get(fixture: str, suffix: str = "", **query):
        uid = seeded_mailbox.uids[fixture]
        uidvalidity = seeded_mailbox.uidvalidity["INBOX"]
        url = f"/mail/{alice_account.pk}/{uidvalidity}/{uid}/{suffix}"
        return alice_client.get(url, {"folder": "INBOX", **query})

    return get


def _text(response) -> str:
    return html.unescape(response.content.decode())


def _attachment_links(page: str) -> dict[str, str]:
    """Decoded file name -> download URL, as listed on the message page."""
    return {
        html.unescape(name): html.unescape(href)
        for href, name in re.findall(
            r'<a class="attachment-name" href="([^"]+)" download>([^<]*)</a>', page
        )
    }


def test_the_page_shows_decoded_headers(open_seeded):
    page = _text(open_seeded("06-rfc2047-subjects.eml"))
    assert '<h1 class="message-subject">Grüße aus München' in page


def test_the_page_shows_sender_recipient_and_date(open_seeded):
    response = open_seeded("05-attachments-umlaut.eml")
    assert response.status_code == 200
    page = _text(response)
    assert "Anhänge mit Umlauten" in page
    assert re.search(r'class="meta-from">[^<]*Anna Schmidt', page)
    assert re.search(r'class="meta-to">[^<]*Bob Meyer', page)
    assert re.search(r'class="meta-date">[^<]*2026', page)


def test_opening_a_message_marks_it_read_on_the_server(alice, alice_client, dovecot, mail_user):
    uid = mail_user.append("INBOX", (FIXTURE_MAIL / "01-plain-text.eml").read_bytes())
    assert "\\Seen" not in mail_user.flags("INBOX", uid)
    account = account_for(alice, dovecot, mail_user)
    response = alice_client.get(
        f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/", {"folder": "INBOX"}
    )
    assert response.status_code == 200
    assert "\\Seen" in mail_user.flags("INBOX", uid)


def test_the_body_is_a_sandboxed_frame(open_seeded):
    page = open_seeded("02-html-newsletter.eml").content.decode()
    frame = re.search(r"<iframe [^>]*>", page).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in frame
    assert "allow-scripts" not in frame and "allow-same-origin" not in frame


def test_the_body_document_carries_strict_headers(open_seeded):
    response = open_seeded("02-html-newsletter.eml", "body/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Security-Policy"] == BODY_CSP
    assert "script-src" not in BODY_CSP and "default-src 'none'" in BODY_CSP
    assert "img-src 'self' data:;" in BODY_CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert "This week at the Example Garden Club" in _text(response)


def test_remote_images_stay_blocked_until_the_reader_asks(open_seeded):
    page = _text(open_seeded("02-html-newsletter.eml"))
    assert "remote images were blocked" in page
    body = _text(open_seeded("02-html-newsletter.eml", "body/"))
    assert "images.example" not in body and "tracker.example" not in body

    shown = _text(open_seeded("02-html-newsletter.eml", images="1"))
    assert "were blocked" not in shown
    body = _text(open_seeded("02-html-newsletter.eml", "body/", images="1"))
    # Shown through our proxy, never loaded by the reader's browser from the sender.
    sources = re.findall(r'<img [^>]*src="([^"]+)"', body)
    assert sources and all(src.startswith("/mail/image-proxy/?url=") for src in sources)
    assert any("images.example%2Fbanner.png" in src for src in sources)


def test_links_open_in_a_new_tab_without_referrer(open_seeded):
    body = open_seeded("02-html-newsletter.eml", "body/").content.decode()
    links = re.findall(r"<a [^>]*>", body)
    assert links
    for link in links:
        assert 'target="_blank"' in link and 'rel="noopener noreferrer"' in link


def test_attachments_are_listed_with_decoded_names(open_seeded):
    attachments = _attachment_links(_text(open_seeded("05-attachments-umlaut.eml")))
    assert set(attachments) == {"Grüße.txt", "Ärger über Straße.pdf"}


def test_an_umlaut_attachment_downloads_with_its_name(open_seeded, alice_client):
    links = _attachment_links(_text(open_seeded("05-attachments-umlaut.eml")))
    response = alice_client.get(links["Ärger über Straße.pdf"])
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-1.4")
    # A PDF could run script in the browser's viewer: it is a download, never a page.
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%C3%84rger%20%C3%BCber%20Stra%C3%9Fe.pdf" in (
        response["Content-Disposition"]
    )
    assert response["X-Content-Type-Options"] == "nosniff"

    text = alice_client.get(links["Grüße.txt"])
    assert text.content.decode() == "Viele Grüße aus Köln!"
    assert text["Content-Type"].startswith("text/plain")


def test_an_html_attachment_is_served_as_opaque_bytes(open_seeded, alice_client):
    links = _attachment_links(_text(open_seeded("34-html-attachment.eml")))
    assert "page.html" in links
    response = alice_client.get(links["page.html"])
    assert response["Content-Type"] == "application/octet-stream"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"


def _crlf(data: bytes) -> bytes:
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_source_and_original_give_the_exact_bytes(open_seeded):
    expected = _crlf((FIXTURE_MAIL / "05-attachments-umlaut.eml").read_bytes())
    source = open_seeded("05-attachments-umlaut.eml", "source/")
    assert source["Content-Type"] == "text/plain; charset=utf-8"
    assert source.content == expected
    original = open_seeded("05-attachments-umlaut.eml", "original/")
    assert original["Content-Type"] == "message/rfc822"
    assert original["Content-Disposition"].startswith("attachment;")
    assert original.content == expected


def test_an_attached_message_opens_as_a_message(open_seeded, alice_client):
    page = open_seeded("10-attached-message.eml").content.decode()
    open_url = html.unescape(re.search(r'class="attachment-open" href="([^"]+)"', page).group(1))
    nested = _text(alice_client.get(open_url))
    assert '<h1 class="message-subject">Invoice 2026-001</h1>' in nested
    assert "Example Billing" in nested
    assert "invoice-2026-001.pdf" in _attachment_links(nested)
    body_url = html.unescape(re.search(r'<iframe [^>]*src="([^"]+)"', nested).group(1))
    assert "Please find invoice 2026-001 attached." in _text(alice_client.get(body_url))


def test_inline_images_load_by_token_without_a_session(open_seeded, client):
    body = open_seeded("04-inline-cid-image.eml", "body/").content.decode()
    src = html.unescape(re.search(r'<img [^>]*src="(/mail/inline/[^"]+)"', body).group(1))
    client.logout()  # the sandboxed frame sends no cookies: the token alone must do
    response = client.get(src)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    forged = src[:-3] + ("AAA" if not src.endswith("AAA/") else "BBB") + "/"
    assert client.get(forged.replace("//", "/")).status_code == 404


def test_a_stale_uidvalidity_is_not_found(alice_client, alice_account, seeded_mailbox):
    uid = seeded_mailbox.uids["01-plain-text.eml"]
    stale = seeded_mailbox.uidvalidity["INBOX"] + 1
    response = alice_client.get(f"/mail/{alice_account.pk}/{stale}/{uid}/", {"folder": "INBOX"})
    assert response.status_code == 404
    assert "Traceback" not in response.content.decode()


def test_a_missing_message_is_not_found(open_seeded, alice_client, alice_account, seeded_mailbox):
    uidvalidity = seeded_mailbox.uidvalidity["INBOX"]
    response = alice_client.get(
        f"/mail/{alice_account.pk}/{uidvalidity}/999999/", {"folder": "INBOX"}
    )
    assert response.status_code == 404
    assert "This message is no longer in this folder." in _text(response)


def test_a_malformed_address_gets_a_readable_not_found_page(alice_client, alice_account):
    response = alice_client.get(f"/mail/{alice_account.pk}/", {"folder": "INBOX\r\nX"})
    assert response.status_code == 404
    assert "<h1>Not found</h1>" in response.content.decode()
    assert "Back to your mail" in response.content.decode()


def test_every_seeded_message_renders(open_seeded, seeded_mailbox):
    """Hostile and malformed mail included: a page and a body, never a 500."""
    for fixture in seeded_mailbox.uids:
        assert open_seeded(fixture).status_code == 200, fixture
        assert open_seeded(fixture, "body/").status_code == 200, fixture
