"""Two-step sign-in in Chromium, light and dark: the QR code is drawn under our CSP (an SVG
in a data: address); a user turns it on with the app's code, sees the backup codes, signs
out and in again through the code step; axe-core finds nothing serious on those pages."""

import json

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.accounts.test_two_factor import _code
from tests.browser.test_accessibility import _audit
from tests.browser.test_reading import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_turning_it_on_and_signing_in_with_a_code(page, live_server, scheme):
    name, password = f"axe-two-step-{scheme}", "axe-password-1"
    user = User.objects.create_user(name, password=password)
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, name, password)
    findings = {}

    page.goto(f"{live_server.url}/settings/")
    page.get_by_role("link", name="Two-step sign-in").click()
    findings["off"] = _audit(page)
    page.get_by_role("button", name="Turn on two-step sign-in").click()
    qr_code = page.get_by_role("img", name="QR code with the key for your authenticator app")
    expect(qr_code).to_be_visible()
    assert qr_code.evaluate("img => img.complete && img.naturalWidth") > 100
    findings["setup"] = _audit(page)

    page.get_by_label("Code").fill(_code(user.totpdevice_set.get()))
    page.get_by_role("button", name="Turn on", exact=True).click()
    expect(page.get_by_role("heading", name="Your backup codes")).to_be_visible()
    expect(page.locator(".backup-codes li")).to_have_count(10)
    findings["backup codes"] = _audit(page)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_text("You have 10 unused backup codes.")).to_be_visible()
    findings["on"] = _audit(page)

    page.get_by_role("button", name="Sign out").click()
    _sign_in(page, live_server, name, password)
    expect(page.get_by_text("Enter the 6-digit code from your app.")).to_be_visible()
    findings["code step"] = _audit(page)
    # The code of the next 30-second step: the one that turned it on is spent.
    page.get_by_label("Code").fill(_code(user.totpdevice_set.get(), steps_ahead=1))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/settings/accounts/add/")

    found = {page_name: result for page_name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)
