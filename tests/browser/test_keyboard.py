"""A reader works the list and a message with the keyboard alone, the keys webmail users
know: j/k to move, o to open, s to flag, # to delete, u back, Shift+I read, ? for help."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_organise import _mail, _subjects, dora  # noqa: F401 (fixture)
from tests.browser.test_reading import _sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _press(page, key: str) -> None:
    """A key, once the page's deferred scripts have run (shortcuts need keyboard.js)."""
    page.wait_for_load_state("load")
    page.keyboard.press(key)


def test_a_reader_moves_opens_flags_and_deletes_with_keys(page, live_server, dora):  # noqa: F811
    uids = dora.append_many("INBOX", [_mail("First"), _mail("Second"), _mail("Third")])
    _sign_in(page, live_server, "dora", "dora-password-1")
    expect(page.locator(".pane-list h1")).to_have_text("Inbox")

    _press(page, "j")  # newest first: Third
    expect(page.locator(".message-row a.row-link").nth(0)).to_be_focused()
    _press(page, "j")
    _press(page, "j")
    _press(page, "k")
    expect(page.locator(".message-row a.row-link").nth(1)).to_be_focused()
    _press(page, "o")
    expect(page.locator(".message-subject")).to_have_text("Second")

    _press(page, "s")
    expect(page.locator(".flash")).to_contain_text("flagged")
    assert "\\Flagged" in dora.flags("INBOX", uids[1])

    _press(page, "#")
    expect(page.locator(".flash")).to_have_text("1 message moved to Trash.")
    assert _subjects(dora, "Trash") == ["Second"]

    _press(page, "u")
    expect(page).to_have_url(re.compile(r"/mail/\d+/(\?.*)?$"))
    _press(page, "j")
    _press(page, "Shift+I")  # nothing ticked: acts on the row with the focus
    expect(page.locator(".flash")).to_have_text("1 message marked as read.")
    assert "\\Seen" in dora.flags("INBOX", uids[2])  # Third; First was read when # opened it


def test_question_mark_lists_the_shortcuts(page, live_server, dora):  # noqa: F811
    _sign_in(page, live_server, "dora", "dora-password-1")
    expect(page.locator(".pane-list h1")).to_have_text("Inbox")
    _press(page, "?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Reply to all")
    _press(page, "Escape")
    expect(dialog).to_be_hidden()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    expect(dialog).to_be_visible()


def test_keys_typed_into_a_field_stay_text(page, live_server, dora):  # noqa: F811
    dora.append("INBOX", _mail("Only"))
    _sign_in(page, live_server, "dora", "dora-password-1")
    field = page.get_by_label("Folder to move to").first
    field.focus()
    _press(page, "#")
    expect(page.locator(".flash")).to_have_count(0)
    assert _subjects(dora, "INBOX") == ["Only"]
