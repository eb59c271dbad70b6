"""A reader lists a folder by conversation, opens one and follows it into Sent, in
Chromium; the two pages pass the axe audit in light and dark mode."""

import json
import re
import secrets

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_accessibility import _audit
from tests.browser.test_reading import _sign_in
from tests.dovecot import new_mail_user
from tests.personas import account_for
from tests.views.test_conversations import ANNA, ME, _mail
from webmail.services.sync import account_sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def reader(dovecot, settings):
    """A user whose INBOX holds a conversation with a reply in Sent, and one other mail."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"
    name = f"threads-{secrets.token_hex(3)}"
    user = User.objects.create_user(name, password="threads-password-1")
    mail_user = new_mail_user(dovecot, "browserthreads")
    mail_user.append_many(
        "INBOX",
        [
            _mail("Sommerfest", ANNA, 2, "root@x"),
            _mail("Rechnung", ANNA, 3, "invoice@x"),
            _mail("AW: Re: Sommerfest", ANNA, 5, "answer@x", irt="mine@x", refs="root@x mine@x"),
        ],
    )
    mail_user.append_many(
        "Sent", [(_mail("Re: Sommerfest", ME, 4, "mine@x", irt="root@x", refs="root@x"),
                  ["\\Seen"], None)]
    )  # fmt: skip
    account = account_for(user, dovecot, mail_user)
    assert account_sync(account).complete
    return name, account


def test_a_reader_opens_a_conversation_and_follows_it_into_sent(page, live_server, reader):
    name, account = reader
    _sign_in(page, live_server, name, "threads-password-1")
    page.goto(f"{live_server.url}/mail/{account.pk}/")
    page.get_by_role("link", name="Conversations").click()
    rows = page.locator(".conversations .message-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("3 messages, 2 unread")
    page.screenshot(path=str(ARTIFACTS / "conversation-list.png"))

    rows.first.get_by_role("link").click()
    expect(page.locator("h1.message-subject")).to_have_text("AW: Re: Sommerfest")
    conversation = page.get_by_role("region", name="Conversation (3 messages)")
    expect(conversation.locator(".conversation-subject")).to_have_text(
        ["Sommerfest", "Re: Sommerfest", "AW: Re: Sommerfest"]
    )
    expect(conversation.locator("[aria-current=true]")).to_contain_text("AW: Re: Sommerfest")
    page.screenshot(path=str(ARTIFACTS / "conversation.png"))

    conversation.get_by_role("link", name=re.compile("Re: Sommerfest.*Sent")).click()
    expect(page.locator("h1.message-subject")).to_have_text("Re: Sommerfest")
    expect(page.locator(".folder-sent a")).to_have_attribute("aria-current", "page")
    expect(page.locator(".conversation [aria-current=true]")).to_contain_text("Re: Sommerfest")
    assert page.watch.foreign == [] and page.watch.dialogs == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_conversation_pages_have_no_serious_accessibility_findings(
    page, live_server, reader, scheme
):
    name, account = reader
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, name, "threads-password-1")
    findings = {}
    page.goto(f"{live_server.url}/mail/{account.pk}/?view=threads")
    expect(page.locator(".conversations .message-row")).to_have_count(2)
    findings["conversation list"] = _audit(page)
    page.locator(".conversations .row-link").first.click()
    expect(page.locator(".conversation-item")).to_have_count(3)
    findings["message with its conversation"] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)
