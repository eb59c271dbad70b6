"""Every seeded message, hostile ones included, opens in Chromium: no 500, no script, no
request to a foreign host, every kept link opening away from the app."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.test_reading import _sign_in, _spied
from tests.personas import account_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_every_seeded_message_opens_and_none_runs_script(page, live_server, dovecot, seeded_mailbox):
    user = User.objects.create_user("dave", password="dave-password-1")
    account = account_for(user, dovecot, seeded_mailbox)
    _sign_in(page, live_server, "dave", "dave-password-1")
    for name, uid in seeded_mailbox.uids.items():
        url = (
            f"{live_server.url}/mail/{account.pk}/{seeded_mailbox.uidvalidity['INBOX']}/{uid}/"
            "?folder=INBOX"
        )
        response = page.goto(url)
        assert response.status == 200, name
        frame = page.locator("iframe.message-body")
        if frame.count():
            body = page.frame_locator("iframe.message-body").locator("body")
            expect(body).to_be_attached()
            # Every link the body keeps points outside and opens away from the app.
            links = page.frame_locator("iframe.message-body").locator("a[href]")
            for href, rel, target in links.evaluate_all(
                "els => els.map(e => [e.getAttribute('href'), e.getAttribute('rel'),"
                " e.getAttribute('target')])"
            ):
                assert re.match(r"^(https?:|mailto:)", href), (name, href)
                assert "noopener" in rel and target == "_blank", (name, href)
        assert page.url == url, name
        assert page.watch.dialogs == [], name
        assert _spied(page) == [], name
        assert page.watch.foreign == [], name
