"""A reader organises mail in Chromium: deletes the message they are reading and finds it in
the Trash, and ticks a range of rows with click + shift-click to mark them read."""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_accessibility import _audit
from tests.browser.test_reading import _sign_in
from tests.personas import account_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _mail(subject: str) -> bytes:
    return (
        f"From: Erik <erik@example.org>\r\nTo: dora@example.org\r\nSubject: {subject}\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\nAbout {subject}.\r\n"
    ).encode()


def _subjects(user, folder: str) -> list[str]:
    with user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    return sorted(
        data[b"BODY[HEADER.FIELDS (SUBJECT)]"].decode().split(":", 1)[1].strip()
        for data in found.values()
    )


@pytest.fixture
def dora(page, live_server, dovecot, mail_user):
    """dora signed in, her account on a fresh mailbox; returns the mailbox."""
    user = User.objects.create_user("dora", password="dora-password-1")
    account_for(user, dovecot, mail_user)
    return mail_user


def test_a_reader_deletes_a_message_and_finds_it_in_the_trash(page, live_server, dora):
    dora.append_many("INBOX", [_mail("Lunch on Friday"), _mail("Quarterly report")])
    _sign_in(page, live_server, "dora", "dora-password-1")

    page.get_by_role("link", name=re.compile("Quarterly report")).click()
    expect(page.locator(".message-subject")).to_have_text("Quarterly report")
    page.locator(".message-form").get_by_role("button", name="Delete", exact=True).click()

    expect(page.locator(".flash")).to_have_text("1 message moved to Trash.")
    expect(page.locator(".message-subject")).to_have_text("Lunch on Friday")  # the next one
    page.locator(".pane-folders").get_by_role("link", name=re.compile(r"^\s*Trash")).click()
    expect(page.locator(".pane-list h1")).to_have_text("Trash")
    expect(page.locator(".messages")).to_contain_text("Quarterly report")
    assert _subjects(dora, "Trash") == ["Quarterly report"]
    assert _subjects(dora, "INBOX") == ["Lunch on Friday"]
    assert page.watch.foreign == [] and page.watch.dialogs == []


def test_a_reader_shift_clicks_a_range_and_marks_it_read(page, live_server, dora):
    uids = dora.append_many("INBOX", [_mail(f"Note {n}") for n in range(1, 6)])
    _sign_in(page, live_server, "dora", "dora-password-1")
    expect(page.locator(".pane-list h1")).to_have_text("Inbox")
    # select.js (deferred) has set the list up once its "Select all" button replaced the
    # link: a shift-click before that is a plain click (seen once in CI under load).
    expect(page.locator("button.select-all")).to_be_visible()

    # The list is newest first: Note 5 at the top. Tick Note 4, shift-click Note 2.
    page.get_by_label("Select “Note 4”").click()
    page.get_by_label("Select “Note 2”").click(modifiers=["Shift"])
    for n, ticked in [(5, False), (4, True), (3, True), (2, True), (1, False)]:
        box = page.get_by_label(f"Select “Note {n}”")
        (expect(box).to_be_checked if ticked else expect(box).not_to_be_checked)()
    page.screenshot(path=str(ARTIFACTS / "organise-range-selected.png"))
    page.locator("#list-actions").get_by_role("button", name="Mark as read").click()

    expect(page.locator(".flash")).to_have_text("3 messages marked as read.")
    read = {n: "\\Seen" in dora.flags("INBOX", uid) for n, uid in enumerate(uids, start=1)}
    assert read == {1: False, 2: True, 3: True, 4: True, 5: False}
    expect(page.locator(".message-row.unread")).to_have_count(2)


def test_select_all_ticks_every_row_in_place(page, live_server, dora):
    dora.append_many("INBOX", [_mail("A"), _mail("B")])
    _sign_in(page, live_server, "dora", "dora-password-1")
    page.get_by_role("button", name="Select all").click()
    expect(page.locator("input[name=uid]:checked")).to_have_count(2)
    page.get_by_role("button", name="Select none").click()
    expect(page.locator("input[name=uid]:checked")).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_folders_and_confirmation_pages_have_no_serious_accessibility_findings(
    page, live_server, dora, scheme
):
    page.emulate_media(color_scheme=scheme)
    dora.append("Trash", _mail("Old"))
    _sign_in(page, live_server, "dora", "dora-password-1")
    found = {}
    account_path = re.search(r"/mail/\d+/", page.url).group(0)
    pages = {"folders": "folders/", "empty trash": "folders/empty/?folder=Trash",
             "trash list": "?folder=Trash"}
    for name, path in pages.items():
        page.goto(f"{live_server.url}{account_path}{path}")
        found[name] = _audit(page)
    assert found == {name: [] for name in pages}
