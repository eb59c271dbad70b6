"""axe-core audits of the pages a reader uses, in light and dark mode: no critical or
serious finding. axe comes from the npm registry (`make test` installs it into .cache/npm).

The mail body frame is the sender's content, not ours, and runs no script: it is left out.
"""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.test_reading import _sign_in
from tests.dovecot import new_mail_user
from tests.personas import account_for
from webmail.protocols.store import Address
from webmail.services.contacts import contacts_collect
from webmail.services.sync import account_sync

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parents[2] / ".cache" / "npm" / "node_modules" / "axe-core"
AUDIT = """async () => {
  const result = await axe.run(
    { exclude: [["iframe.message-body"]] },
    { resultTypes: ["violations"], iframes: false }
  );
  return result.violations
    .filter(v => v.impact === "critical" || v.impact === "serious")
    .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ")) }));
}"""


def _audit(page) -> list[dict]:
    source = AXE / "axe.min.js"
    if not source.exists():
        pytest.fail(f"{source} is missing: `make test` installs axe-core from the npm registry")
    # Evaluated through the DevTools protocol: our pages' CSP forbids inline script, and
    # the audit must see them under that same CSP.
    page.evaluate(source.read_text())
    return page.evaluate(AUDIT)


def _pages(live_server, account, seeded_mailbox) -> dict[str, str]:
    uid = seeded_mailbox.uids["05-attachments-umlaut.eml"]
    message = f"/mail/{account.pk}/{seeded_mailbox.uidvalidity['INBOX']}/{uid}/?folder=INBOX"
    return {
        "message list": f"/mail/{account.pk}/",
        "message": message,
        "mail accounts": "/settings/accounts/",
        "add account": "/settings/accounts/add/",
        "settings": "/settings/",
        "change password": "/accounts/password_change/",
        "identities": f"/settings/accounts/{account.pk}/identities/",
        "add identity": f"/settings/accounts/{account.pk}/identities/add/",
        "address book": "/settings/contacts/?q=c0",
        "add contact": "/settings/contacts/add/",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_reader_pages_have_no_serious_accessibility_findings(
    page, live_server, dovecot, seeded_mailbox, scheme
):
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{live_server.url}/accounts/login/")
    findings = {"sign-in": _audit(page)}
    page.goto(f"{live_server.url}/accounts/password_reset/")
    findings["forgot password"] = _audit(page)
    user = User.objects.create_user(f"axe-{scheme}", password="axe-password-1")
    account = account_for(user, dovecot, seeded_mailbox)
    # Enough contacts for the address book to have pages.
    contacts_collect(user, [Address("", f"c{n:03}@example.org") for n in range(60)], source="read")
    _sign_in(page, live_server, f"axe-{scheme}", "axe-password-1")
    for name, path in _pages(live_server, account, seeded_mailbox).items():
        page.goto(f"{live_server.url}{path}")
        findings[name] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)


def test_the_audit_finds_what_it_should(page, live_server):
    """The audit is live: a page with an unlabelled field and an image without alt fails."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.evaluate(
        "document.body.insertAdjacentHTML('beforeend', '<input type=text><img src=x.png>')"
    )
    ids = {finding["id"] for finding in _audit(page)}
    assert {"label", "image-alt"} <= ids


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_quota_warnings_have_no_serious_accessibility_findings(
    page, live_server, dovecot, scheme
):
    """The sidebar's usage bar with the 80% warning and the 95% notice, and the accounts
    page listing both (the colours of the notices are the ones at risk)."""
    user = User.objects.create_user(f"axe-quota-{scheme}", password="axe-password-1")
    accounts = {}
    for level, kib in [("warning", 85), ("critical", 97)]:
        mail_user = new_mail_user(dovecot, "axequota", quota="100K")
        mail_user.fill(kib)
        accounts[level] = (account_for(user, dovecot, mail_user), kib)
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, f"axe-quota-{scheme}", "axe-password-1")
    findings = {}
    for level, (account, kib) in accounts.items():
        page.goto(f"{live_server.url}/mail/{account.pk}/")
        expect(page.locator(f".pane-folders .quota-{level} .quota-notice")).to_be_visible()
        expect(page.get_by_role("meter")).to_have_accessible_name(
            re.compile(rf"^{kib}\.0\sKB of 100\.0\sKB used \({kib}%\)$")
        )
        findings[f"message list, quota {level}"] = _audit(page)
    page.goto(f"{live_server.url}/settings/accounts/")
    expect(page.locator(".quota-notice")).to_have_count(2)
    findings["mail accounts with quotas"] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_search_page_has_no_serious_accessibility_findings(
    page, live_server, dovecot, scheme, settings
):
    """The search box in the list header, the search page with results and the server
    notice, and with the hint an empty query gets."""
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-axe-search-{scheme}:"
    user = User.objects.create_user(f"axe-search-{scheme}", password="axe-password-1")
    mail_user = new_mail_user(dovecot, "axesearch")
    mail_user.append_many(
        "INBOX",
        [
            "From: Jürgen Weiß <j@beispiel.de>\r\nSubject: Grüße aus der Straße\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nViele Grüße!\r\n".encode(),
            b"From: Anna <anna@example.org>\r\nSubject: Rechnung\r\n\r\nAnbei.\r\n",
        ],
    )
    account = account_for(user, dovecot, mail_user)
    assert account_sync(account).complete
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, f"axe-search-{scheme}", "axe-password-1")
    findings = {}
    page.goto(f"{live_server.url}/mail/{account.pk}/")
    page.keyboard.press("/")
    expect(page.locator("#list-search-text")).to_be_focused()
    page.keyboard.type("GRÜSSE")
    page.keyboard.press("Enter")
    expect(page.locator(".search-results .row-subject")).to_have_text(["Grüße aus der Straße"])
    findings["search results"] = _audit(page)
    account.indexed_folders.filter(name="INBOX").update(fully_indexed=False)
    page.goto(f"{live_server.url}/mail/search/?q=Rechnung&scope=folder&account={account.pk}&unread=1")
    expect(page.get_by_text("results for them come from the server")).to_be_visible()
    findings["search with server results"] = _audit(page)
    page.goto(f"{live_server.url}/mail/search/?q=&scope=all")
    findings["search hint"] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)
