"""A person signs in, adds their IMAP account and reads every message in Chromium."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _sign_in(page, live_server, username, password):
    page.goto(f"{live_server.url}/mail/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _add_account(page, dovecot, mailbox):
    mailbox = mailbox.user  # the seeded MailUser
    page.get_by_label("Email address").fill(f"{mailbox.name}@example.org")
    page.get_by_label("Password", exact=True).fill(mailbox.password)
    page.get_by_label("Incoming server").fill(dovecot.host)
    page.get_by_label("Port", exact=True).fill(str(dovecot.imap_port))
    page.get_by_label("Security", exact=True).select_option("none")
    page.get_by_label("Login name", exact=True).fill(mailbox.name)
    page.get_by_role("button", name="Check and add").click()


def _spied(page) -> list:
    return page.evaluate("window.__postfach_spy || []")


def test_a_reader_adds_an_account_and_reads_an_html_newsletter_safely(
    page, live_server, dovecot, seeded_mailbox
):
    User.objects.create_user("carol", password="carol-password-1")
    _sign_in(page, live_server, "carol", "carol-password-1")
    expect(page).to_have_url(re.compile(r"/settings/accounts/add/$"))
    _add_account(page, dovecot, seeded_mailbox)
    expect(page.locator(".pane-folders")).to_contain_text("Inbox")

    page.get_by_role("link", name=re.compile("Weekly digest")).first.click()
    body = page.frame_locator("iframe.message-body")
    expect(body.get_by_text("This week at the Example Garden Club")).to_be_visible()
    expect(page.locator(".notice-remote")).to_contain_text("remote images were blocked")

    frame = page.locator("iframe.message-body")
    sandbox = frame.get_attribute("sandbox")
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox
    page.screenshot(path=str(ARTIFACTS / "reading-html-newsletter.png"))

    assert page.watch.foreign == []  # the trackers in the newsletter were never asked
    assert page.watch.dialogs == [] and _spied(page) == []
