"""Writing mail in Chromium: a message with an attachment sent and found in Sent, a reply to
a received message, formatting in the HTML editor, address suggestions, the autosave, and
the axe audit of the compose page in light and dark mode."""

import email
import json
import re
import shutil
from email import policy
from email.header import decode_header, make_header
from pathlib import Path

import pytest
from playwright.sync_api import expect

from accounts.models import User
from tests.browser.conftest import ARTIFACTS
from tests.browser.test_accessibility import _audit
from tests.browser.test_organise import _subjects
from tests.browser.test_reading import _sign_in
from tests.personas import account_with_smtp
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_server_fixture,
)
from webmail.protocols.store import Address
from webmail.services.contacts import contacts_collect
from webmail.services.identities import identity_save

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DOCS = Path(__file__).resolve().parents[2] / "docs"
ORIGINAL = (
    "From: Bernd Schmidt <bernd@example.net>\r\n"
    "To: Erika <erika@example.org>\r\n"
    "Subject: Sommerfest am Samstag\r\n"
    "Message-ID: <sommerfest@example.net>\r\n"
    "Date: Mon, 02 Mar 2026 09:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Hallo Erika,\r\n\r\nkommst du am Samstag zum Sommerfest?\r\n\r\nBernd\r\n"
)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture
def erika(page, live_server, dovecot, mail_user, smtp_server):
    """erika signed in, her account on a fresh mailbox sending through the test SMTP
    server; returns her User."""
    user = User.objects.create_user("erika", password="erika-password-1")
    account_with_smtp(user, dovecot, mail_user, smtp_server)
    return user


def _received(server) -> email.message.EmailMessage:
    return email.message_from_bytes(server.received[-1].data, policy=policy.default)


def _ready(page) -> None:
    page.wait_for_load_state("load")  # the deferred scripts have run


def test_a_writer_sends_a_message_with_an_attachment_and_finds_it_in_sent(
    page, live_server, erika, mail_user, smtp_server, tmp_path
):
    contacts_collect(erika, [Address("Bernd Schmidt", "bernd@example.net")], source="sent")
    # A fixed name and address, so the screenshot in docs/ is the same on every run.
    identity_save(
        erika.mail_accounts.get(), name="Erika Mustermann", email="erika@example.org",
        is_default=True,
    )  # fmt: skip
    report = tmp_path / "Übersicht März.txt"
    report.write_text("Zahlen für März\n", encoding="utf-8")
    _sign_in(page, live_server, "erika", "erika-password-1")
    page.get_by_role("link", name="Compose").click()
    expect(page.get_by_role("heading", name="New message")).to_be_visible()
    _ready(page)

    # The address book suggests as the writer types, for the entry being typed.
    page.get_by_label("To", exact=True).press_sequentially("anna@example.org, ber", delay=20)
    option = page.get_by_role("option", name="Bernd Schmidt <bernd@example.net>")
    expect(option).to_be_visible()
    page.get_by_label("To", exact=True).press("ArrowDown")
    page.get_by_label("To", exact=True).press("Enter")
    expect(page.get_by_label("To", exact=True)).to_have_value(
        "anna@example.org, Bernd Schmidt <bernd@example.net>, "
    )
    page.get_by_label("Subject").fill("Grüße aus Berlin")
    page.get_by_role("textbox", name="Message", exact=True).fill(
        "Hallo Bernd,\n\nanbei die Übersicht.\n\nErika"
    )
    page.get_by_label("Add files").set_input_files(str(report))
    page.get_by_role("button", name="Attach").click()
    expect(page.locator(".attachment-name")).to_have_text(["Übersicht März.txt"])
    expect(page.get_by_label("Subject")).to_have_value("Grüße aus Berlin")
    # Tall enough for the whole form (a full-page screenshot measured the page differently
    # from run to run).
    page.set_viewport_size({"width": 1400, "height": 1080})
    page.screenshot(path=str(ARTIFACTS / "compose.png"))
    DOCS.mkdir(exist_ok=True)
    shutil.copyfile(ARTIFACTS / "compose.png", DOCS / "compose.png")

    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Message sent.")
    page.locator(".pane-folders").get_by_role("link", name=re.compile(r"^\s*Sent")).click()
    expect(page.locator(".messages")).to_contain_text("Grüße aus Berlin")
    sent = [str(make_header(decode_header(s))) for s in _subjects(mail_user, "Sent")]
    assert sent == ["Grüße aus Berlin"]

    [got] = smtp_server.received
    assert got.rcpt_tos == ["anna@example.org", "bernd@example.net"]
    message = _received(smtp_server)
    assert message["Subject"] == "Grüße aus Berlin"
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "Übersicht März.txt"
    assert part.get_payload(decode=True) == "Zahlen für März\n".encode()
    assert page.watch.foreign == [] and page.watch.dialogs == []


def test_a_reader_replies_above_the_quote(page, live_server, erika, mail_user, smtp_server):
    uid = mail_user.append("INBOX", ORIGINAL.encode())
    _sign_in(page, live_server, "erika", "erika-password-1")
    page.get_by_role("link", name=re.compile("Sommerfest am Samstag")).click()
    expect(page.locator(".message-subject")).to_have_text("Sommerfest am Samstag")
    page.get_by_role("link", name="Reply", exact=True).click()

    expect(page.get_by_role("heading", name="Reply")).to_be_visible()
    expect(page.get_by_label("Subject")).to_have_value("Re: Sommerfest am Samstag")
    expect(page.get_by_label("To", exact=True)).to_have_value("Bernd Schmidt <bernd@example.net>")
    body = page.get_by_role("textbox", name="Message", exact=True)
    quoted = body.input_value()
    assert "Bernd Schmidt wrote:" in quoted
    assert "> kommst du am Samstag zum Sommerfest?" in quoted
    body.press("Control+Home")
    body.press_sequentially("Ja, ich komme gern!", delay=5)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Message sent.")

    message = _received(smtp_server)
    assert message["Subject"] == "Re: Sommerfest am Samstag"
    assert message["In-Reply-To"] == "<sommerfest@example.net>"
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Ja, ich komme gern!")
    assert "> kommst du am Samstag zum Sommerfest?" in text
    assert "\\Answered" in mail_user.flags("INBOX", uid)


def test_a_writer_formats_with_the_html_editor(page, live_server, erika, smtp_server):
    _sign_in(page, live_server, "erika", "erika-password-1")
    page.get_by_role("link", name="Compose").click()
    _ready(page)
    page.get_by_label("To", exact=True).fill("bernd@example.net")
    page.get_by_label("Subject").fill("Formatiert")
    page.get_by_role("textbox", name="Message", exact=True).fill("Erste Zeile")
    page.get_by_label("Formatted (HTML)").check()
    editor = page.get_by_role("textbox", name="Message")
    expect(editor).to_have_text("Erste Zeile")
    assert editor.get_attribute("contenteditable") == "true"
    toolbar = page.get_by_role("toolbar", name="Formatting")
    for name in ("Bold", "Italic", "Bulleted list", "Numbered list", "Link", "Quote"):
        expect(toolbar.get_by_role("button", name=name)).to_be_visible()
    editor.press("End")
    editor.press("Enter")
    toolbar.get_by_role("button", name="Bold").click()
    editor.press_sequentially("wichtig", delay=5)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.locator(".flash")).to_have_text("Message sent.")

    message = _received(smtp_server)
    html = message.get_body(("html",)).get_content()
    assert re.search(r"<b>wichtig</b>", html), html
    plain = message.get_body(("plain",)).get_content()
    assert "Erste Zeile" in plain and "wichtig" in plain and "<b>" not in plain


def test_the_draft_is_saved_while_the_writer_types(page, live_server, erika, mail_user):
    page.clock.install()
    _sign_in(page, live_server, "erika", "erika-password-1")
    page.get_by_role("link", name="Compose").click()
    _ready(page)
    page.get_by_label("Subject").fill("Noch nicht fertig")
    page.get_by_role("textbox", name="Message", exact=True).fill("Erster Gedanke")
    page.clock.run_for(31_000)
    expect(page.locator("#autosave-status")).to_contain_text("Draft saved at")
    first = page.locator("input[name=draft_uid]").input_value()
    assert first

    page.get_by_role("textbox", name="Message", exact=True).fill("Zweiter Gedanke")
    page.clock.run_for(31_000)
    expect(page.locator("input[name=draft_uid]")).not_to_have_value(first)
    assert _subjects(mail_user, "Drafts") == ["Noch nicht fertig"]  # replaced, not added
    with mail_user.client() as client:
        client.select_folder("Drafts", readonly=True)
        [data] = client.fetch(client.search("ALL"), ["BODY.PEEK[TEXT]"]).values()
    assert b"Zweiter Gedanke" in data[b"BODY[TEXT]"]


def test_the_signature_follows_the_identity_chosen(page, live_server, erika):
    account = erika.mail_accounts.get()
    identity_save(
        account, name="Erika", email=account.email, signature="Erika privat", is_default=True
    )
    identity_save(
        account,
        name="Erika Muster",
        email="erika@firma.example",
        signature="Erika Muster\nFirma GmbH",
    )
    _sign_in(page, live_server, "erika", "erika-password-1")
    page.get_by_role("link", name="Compose").click()
    _ready(page)
    body = page.get_by_role("textbox", name="Message", exact=True)
    expect(body).to_have_value("\n\n-- \nErika privat\n")
    page.get_by_label("From").select_option(label="Erika Muster <erika@firma.example>")
    expect(body).to_have_value("\n\n-- \nErika Muster\nFirma GmbH\n")


def test_c_opens_the_compose_form(page, live_server, erika):
    _sign_in(page, live_server, "erika", "erika-password-1")
    expect(page.locator(".pane-list h1")).to_have_text("Inbox")
    _ready(page)
    page.keyboard.press("c")
    expect(page.get_by_role("heading", name="New message")).to_be_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_compose_page_has_no_serious_accessibility_findings(
    page, live_server, erika, mail_user, scheme
):
    uid = mail_user.append("INBOX", ORIGINAL.encode())
    validity = mail_user.uidvalidity("INBOX")
    page.emulate_media(color_scheme=scheme)
    _sign_in(page, live_server, "erika", "erika-password-1")
    account = erika.mail_accounts.get()
    findings = {}
    page.goto(f"{live_server.url}/mail/{account.pk}/compose/")
    _ready(page)
    page.get_by_label("To", exact=True).fill("bernd@, x")  # a field error
    page.get_by_role("button", name="Save draft", exact=True).click()
    expect(page.locator(".compose-field .error")).to_be_visible()
    findings["compose with an error"] = _audit(page)
    page.goto(
        f"{live_server.url}/mail/{account.pk}/compose/"
        f"?kind=reply&folder=INBOX&uidvalidity={validity}&uid={uid}"
    )
    _ready(page)
    page.get_by_label("Formatted (HTML)").check()
    findings["reply in the HTML editor"] = _audit(page)
    found = {name: result for name, result in findings.items() if result}
    assert found == {}, json.dumps(found, indent=1)
