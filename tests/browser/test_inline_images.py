"""An image the message carries itself (cid:) shows inside the sandboxed frame, which has an
opaque origin and sends no session cookie: the signed token in its URL must be enough."""

import re
import time

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.test_reading import _sign_in
from tests.personas import account_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_cid_image_shows_inside_the_sandboxed_body(page, live_server, dovecot, seeded_mailbox):
    user = User.objects.create_user("erin", password="erin-password-1")
    account_for(user, dovecot, seeded_mailbox)
    _sign_in(page, live_server, "erin", "erin-password-1")
    page.get_by_role("link", name=re.compile("Our new logo")).first.click()

    logo = page.frame_locator("iframe.message-body").get_by_alt_text("Logo")
    expect(logo).to_be_visible()
    expect(logo).to_have_attribute("src", re.compile(r"^/mail/inline/"))
    # naturalWidth is 0 for an image the browser could not load or decode. Poll until the
    # load has ended either way (a busy machine may still be fetching it) rather than wait
    # on a load event: in one CI run under load that wait never ended and hung the suite.
    deadline = time.monotonic() + 30
    while not logo.evaluate("img => img.complete") and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    width = logo.evaluate("img => img.complete ? img.naturalWidth : -1")
    assert width == 8
    assert page.watch.foreign == []
