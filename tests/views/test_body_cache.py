"""The body document from the database: once the worker pre-rendered a message (or a
reader opened it), its body is served with no mail server at all, the same document
with the same headers; a new sanitizer version never serves an old rendering."""

import html
from pathlib import Path

import pytest

from tests.personas import account_for
from webmail import sanitize
from webmail.models import RenderedBody
from webmail.services.prerender import bodies_prerender
from webmail.services.sync import account_sync
from webmail.views.message import BODY_CSP

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("redis_locks")]

FIXTURE_MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
NEWSLETTER = (FIXTURE_MAIL / "02-html-newsletter.eml").read_bytes()
NEWSLETTER_TEXT = "This week at the Example Garden Club"


@pytest.fixture
def newsletter(alice, dovecot, mail_user):
    """alice's account with the newsletter in its INBOX, synced: (account, body URL)."""
    uid = mail_user.append("INBOX", NEWSLETTER)
    account = account_for(alice, dovecot, mail_user)
    assert account_sync(account).complete
    return account, f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/body/"


def _server_dies(account) -> None:
    account.incoming_port = 9  # discard: nothing listens here
    account.save(update_fields=["incoming_port"])


def _body(client, url, **query):
    response = client.get(url, {"folder": "INBOX", **query})
    assert response.status_code == 200
    return response


def test_it_serves_a_prerendered_body_with_the_server_down(alice_client, newsletter):
    account, url = newsletter
    bodies_prerender(account=account, limit=10)
    _server_dies(account)

    response = _body(alice_client, url)

    assert NEWSLETTER_TEXT in html.unescape(response.content.decode())
    assert response["Content-Security-Policy"] == BODY_CSP
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_a_stored_body_has_the_same_document_and_headers_as_a_fresh_one(
    alice_client, newsletter
):
    account, url = newsletter
    fresh = _body(alice_client, url)  # renders, and stores what it rendered
    assert RenderedBody.objects.filter(account=account).count() == 1
    _server_dies(account)

    stored = _body(alice_client, url)

    assert stored.content == fresh.content
    assert dict(stored.items()) == dict(fresh.items())


def test_remote_images_shown_are_stored_apart_from_the_blocked_ones(alice_client, newsletter):
    account, url = newsletter
    blocked = _body(alice_client, url).content.decode()
    shown = _body(alice_client, url, images="1").content.decode()
    _server_dies(account)

    assert _body(alice_client, url).content.decode() == blocked
    assert _body(alice_client, url, images="1").content.decode() == shown
    assert "/mail/image-proxy/" in shown and "/mail/image-proxy/" not in blocked


def test_a_rendering_of_an_older_sanitizer_is_never_served(
    alice_client, newsletter, monkeypatch
):
    account, url = newsletter
    bodies_prerender(account=account, limit=10)
    RenderedBody.objects.filter(account=account).update(html="<p>rendered by the old one</p>")
    monkeypatch.setattr(sanitize, "SANITIZER_VERSION", sanitize.SANITIZER_VERSION + 1)

    page = html.unescape(_body(alice_client, url).content.decode())

    assert NEWSLETTER_TEXT in page and "old one" not in page
    versions = RenderedBody.objects.filter(account=account).values_list(
        "sanitizer_version", flat=True
    )
    assert list(versions) == [sanitize.SANITIZER_VERSION]


def test_bob_gets_no_body_of_alices_from_the_store(bob_client, newsletter):
    account, url = newsletter
    bodies_prerender(account=account, limit=10)

    assert bob_client.get(url, {"folder": "INBOX"}).status_code == 404


def test_a_body_not_stored_yet_says_the_server_is_unreachable(
    alice_client, newsletter, mail_user
):
    account, _url = newsletter
    bodies_prerender(account=account, limit=10)
    uid = mail_user.append("INBOX", NEWSLETTER)
    assert account_sync(account).complete
    _server_dies(account)

    other = f"/mail/{account.pk}/{mail_user.uidvalidity('INBOX')}/{uid}/body/"
    response = alice_client.get(other, {"folder": "INBOX"})

    assert response.status_code == 502
