"""New mail shows in an open page without a reload: the sidebar badge and the tab title
follow the index as the sync fills it (static/js/live.js polling GET /mail/counts/)."""

import re
import secrets

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.test_reading import _sign_in
from tests.personas import account_for
from webmail.services.sync import account_sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _mail(subject: str) -> bytes:
    return (
        f"From: Erik <erik@example.org>\r\nTo: dora@example.org\r\nSubject: {subject}\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@example.org>\r\n\r\nAbout {subject}.\r\n"
    ).encode()


@pytest.fixture(autouse=True)
def fast_poll(settings):
    settings.LIVE_POLL_SECONDS = 1
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"


def test_new_mail_changes_the_badge_and_the_title_without_a_reload(
    page, live_server, dovecot, mail_user
):
    user = User.objects.create_user("dora", password="dora-password-1")
    account = account_for(user, dovecot, mail_user)
    mail_user.append("INBOX", _mail("Lunch on Friday"))
    assert account_sync(account).complete
    _sign_in(page, live_server, "dora", "dora-password-1")
    badge = page.locator('.pane-folders [data-unread-folder="INBOX"]')
    expect(badge).to_have_text("1")
    page.evaluate("window.__not_reloaded = true")

    mail_user.append("INBOX", _mail("Quarterly report"))
    assert account_sync(account).complete

    expect(badge).to_have_text("2", timeout=20_000)
    expect(page).to_have_title(re.compile(r"^\(2\) Inbox – "), timeout=20_000)
    expect(page.locator(".all-inboxes [data-unread-total]")).to_have_text("2")
    assert page.evaluate("window.__not_reloaded") is True
    assert page.watch.foreign == []
