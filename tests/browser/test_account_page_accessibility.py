"""axe-core audits of the account page (issue 5) in light and dark mode: a POP3 account
whose server is 95% full, with a cleanup warning, a deletion in its log, the cleanup
preview and the confirmation a policy change asks for; and an IMAP account's page."""

import json
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_accessibility import _audit
from tests.browser.test_reading import _sign_in
from tests.dovecot import new_mail_user
from tests.personas import account_for, pop3_account_for
from tests.pop3_helpers import message
from webmail import clock
from webmail.models import Pop3Keep, Pop3Policy, StoredMessage
from webmail.services.pop3_cleanup import pop3_cleanup
from webmail.services.pop3_fetch import pop3_fetch
from webmail.services.pop3_policy import pop3_policy_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _pop3_account(user, dovecot):
    mail_user = new_mail_user(dovecot, "axepop")
    for subject, size in [("Gone already", 10_000), ("Old enough", 500_000), ("Recent", 500_000)]:
        mail_user.append("INBOX", message(subject, b"x" * size + b"\r\n"))
    account = pop3_account_for(user, dovecot, mail_user)
    pop3_policy_set(account=account, keep=Pop3Keep.KEEP_DAYS, keep_days=14, quota_mb=1)
    assert pop3_fetch(account=account).complete
    for subject in ("Gone already", "Old enough"):
        StoredMessage.objects.filter(account=account, indexed__subject=subject).update(
            stored_at=clock.now() - timedelta(days=20)
        )
    first = StoredMessage.objects.get(account=account, indexed__subject="Gone already")
    assert pop3_cleanup(account=account, confirmed={first.uidls.get().pk}).deleted == 1
    assert pop3_fetch(account=account).complete  # the storage figures after the cleanup
    Pop3Policy.objects.filter(account=account).update(
        cleanup_warning="The clock went back since the last cleanup."
    )
    return account


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_account_page_has_no_serious_accessibility_findings(
    page, live_server, dovecot, scheme, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    user = User.objects.create_user(f"axe-account-{scheme}", password="axe-password-1")
    pop3 = _pop3_account(user, dovecot)
    imap = account_for(user, dovecot, new_mail_user(dovecot, "axeimap"))
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, f"axe-account-{scheme}", "axe-password-1")
    findings = {}

    page.goto(f"{live_server.url}/settings/accounts/{pop3.pk}/")
    expect(page.get_by_role("meter")).to_have_accessible_name("95% of the server's 1.0 MB used")
    expect(page.locator(".pop3-storage-alarm")).to_be_visible()
    expect(page.get_by_text("The clock went back since the last cleanup.")).to_be_visible()
    expect(page.locator(".account-page tbody tr")).to_have_count(1)
    findings["POP3 account"] = _audit(page)
    if scheme == "light":
        # For a look; docs/pop3-account.png in the README was taken from one such run
        # (its names are random, so a run does not overwrite it).
        page.set_viewport_size({"width": 1280, "height": 1400})
        page.screenshot(path=str(ARTIFACTS / "pop3-account.png"))
    page.get_by_label("Delete from the server after download").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This will delete 2 messages")).to_be_visible()
    findings["policy confirmation"] = _audit(page)
    page.goto(f"{live_server.url}/settings/accounts/{pop3.pk}/cleanup/")
    expect(page.locator(".cleanup-preview tbody tr")).to_have_count(1)
    findings["cleanup preview"] = _audit(page)
    page.goto(f"{live_server.url}/settings/accounts/{imap.pk}/")
    findings["IMAP account"] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)
