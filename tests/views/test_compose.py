"""The compose form through the Django test client, against the real Dovecot and a real SMTP
server: what the writer sees after each button, what the servers got, and what a forged
or foreign request gets."""

import email
import html
import json
import re
from email import policy

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Contact
from tests.personas import account_for, account_with_smtp
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_nothing_listening_fixture,
    smtp_server_fixture,
)

pytestmark = pytest.mark.django_db

ORIGINAL = (
    "From: Bernd Schmidt <bernd@example.net>\r\n"
    "To: {me}\r\n"
    "Subject: Sommerfest\r\n"
    "Message-ID: <sommerfest-1@example.net>\r\n"
    "Date: Mon, 02 Mar 2026 09:00:00 +0100\r\n"
    "\r\n"
    "Kommt ihr am Samstag?\r\n"
)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture
def account(alice, dovecot, mail_user, smtp_server):
    return account_with_smtp(alice, dovecot, mail_user, smtp_server)


def text(response) -> str:
    return html.unescape(response.content.decode())


def flashes(response) -> list[str]:
    found = re.findall(r'<li class="flash-\w+">(.*?)</li>', response.content.decode(), re.S)
    return [html.unescape(item) for item in found]


def problems(response) -> str:
    found = re.search(
        r'<div class="notice notice-error" role="alert">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def form_fields(page: str) -> dict[str, str]:
    """What the browser would post from the form as shown, without pressing a button."""
    fields = {}
    for name, value in re.findall(r'<input type="hidden" name="(\w+)"(?: value="([^"]*)")?', page):
        if name != "csrfmiddlewaretoken":
            fields[name] = html.unescape(value)
    for name in ("to", "cc", "bcc", "subject"):
        found = re.search(rf'<input type="text" name="{name}"(?: value="([^"]*)")?', page)
        fields[name] = html.unescape(found.group(1) or "") if found else ""
    body = re.search(r'<textarea name="body"[^>]*>\n?(.*?)</textarea>', page, re.S)
    fields["body"] = html.unescape(body.group(1))
    fields["identity"] = re.search(r'<option value="(\d+)" selected>', page).group(1)
    fields["mode"] = "text"
    fields["html"] = ""
    return fields


@pytest.fixture
def new_form(alice_client, account):
    """The fields of a new message's form, as GET shows them."""
    return form_fields(alice_client.get(f"/mail/{account.pk}/compose/").content.decode())


def received(server) -> email.message.EmailMessage:
    return email.message_from_bytes(server.received[-1].data, policy=policy.default)


def folder_messages(mail_user, folder):
    with mail_user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[]"])
    return [email.message_from_bytes(d[b"BODY[]"], policy=policy.default) for d in found.values()]


# -- the form -----------------------------------------------------------------------------


def test_the_form_has_real_labels_and_no_inline_script_or_style(alice_client, account):
    response = alice_client.get(f"/mail/{account.pk}/compose/", {"folder": "INBOX"})
    assert response.status_code == 200
    page = response.content.decode()
    assert '<form method="post" enctype="multipart/form-data" action="/mail/' in page
    for field, label in [
        ("identity", "From"),
        ("to", "To"),
        ("cc", "Cc"),
        ("bcc", "Bcc"),
        ("subject", "Subject"),
        ("body", "Message"),
        ("attachments", "Add files"),
    ]:
        assert re.search(rf'<label for="id_{field}"[^>]*>{label}</label>', page), field
    assert re.search(r'<input type="file" id="id_attachments" name="attachments" multiple', page)
    assert f'<option value="{account.identities.get().pk}" selected>' in page
    for button in ("Send", "Save draft", "Attach"):
        assert f">{button}</button>" in page
    # The CSP forbids inline script; data for the scripts comes as JSON, never run.
    assert re.findall(r"<script(?![^>]*\b(src=|type=\"application/json\"))", page) == []
    assert " style=" not in page and "<style" not in page
    assert '<script src="/static/js/compose.js" defer></script>' in page
    assert response["Content-Security-Policy"].startswith("default-src 'self'; script-src 'self';")


def test_enter_in_a_field_saves_rather_than_sends(alice_client, account):
    page = alice_client.get(f"/mail/{account.pk}/compose/").content.decode()
    first = re.search(r'<button type="submit" name="(\w+)" value="(\w+)"', page)
    assert first.groups() == ("action", "save")


def test_it_sends_and_goes_back_to_the_folder_saying_so(
    alice_client, account, new_form, smtp_server, mail_user
):
    new_form.update(
        to="Bernd Schmidt <bernd@example.net>", subject="Grüße", body="Hallo!", back="Projekte"
    )
    response = alice_client.post(f"/mail/{account.pk}/compose/", {**new_form, "action": "send"})
    assert response.status_code == 302
    assert response["Location"] == f"/mail/{account.pk}/?folder=Projekte"
    page = alice_client.get(f"/mail/{account.pk}/")
    assert flashes(page) == ["Message sent."]
    assert smtp_server.received[-1].rcpt_tos == ["bernd@example.net"]
    assert received(smtp_server)["Subject"] == "Grüße"
    assert [m["Subject"] for m in folder_messages(mail_user, "Sent")] == ["Grüße"]


def test_invalid_addresses_are_named_and_everything_typed_is_kept(
    alice_client, account, new_form, smtp_server
):
    new_form.update(
        to="bernd@, Carla <carla@example.net>",
        cc="dora@localhost",
        subject="Plan",
        body="Zeile 1\nZeile 2",
    )
    response = alice_client.post(f"/mail/{account.pk}/compose/", {**new_form, "action": "send"})
    assert response.status_code == 200
    page = text(response)
    assert "“bernd@” is not a valid address." in page
    assert "“dora@localhost” is not a valid address." in page
    kept = form_fields(response.content.decode())
    assert kept["to"] == "bernd@, Carla <carla@example.net>"
    assert kept["subject"] == "Plan" and kept["body"] == "Zeile 1\nZeile 2"
    assert kept["compose"] == new_form["compose"]
    assert smtp_server.received == []


def test_no_recipient_is_said_plainly(alice_client, account, new_form, smtp_server):
    response = alice_client.post(
        f"/mail/{account.pk}/compose/", {**new_form, "subject": "x", "action": "send"}
    )
    assert "Add at least one recipient in To, Cc or Bcc." in problems(response)
    assert smtp_server.received == []


# -- header injection ----------------------------------------------------------------------


def test_line_breaks_in_names_and_addresses_are_refused(
    alice_client, account, new_form, smtp_server
):
    new_form.update(to="Bob\r\nBcc: evil@attacker.example <bob@example.net>", body="x")
    response = alice_client.post(f"/mail/{account.pk}/compose/", {**new_form, "action": "send"})
    assert "is not a valid address" in text(response)
    assert smtp_server.received == []


def _multipart(
    fields: dict[str, str], file_header: str, content: bytes, boundary="postfach-test-boundary"
) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    out += f"--{boundary}\r\n{file_header}\r\nContent-Type: text/plain\r\n\r\n".encode()
    return out + content + f"\r\n--{boundary}--\r\n".encode()


def test_line_breaks_in_the_subject_and_file_names_inject_no_header(
    alice_client, account, new_form, smtp_server
):
    new_form.update(
        to="bob@example.net",
        subject="Hallo\r\nBcc: evil@attacker.example\r\nX-Injected: 1",
        body="x",
        action="send",
    )
    # A file name with encoded line breaks (RFC 2231), as a hostile client could send it.
    header = (
        'Content-Disposition: form-data; name="attachments"; '
        "filename*=UTF-8''notes%0D%0ABcc%3A%20evil%40attacker.example%0D%0A%0D%0A.txt"
    )
    body = _multipart(new_form, header, b"file content")
    response = alice_client.generic(
        "POST", f"/mail/{account.pk}/compose/", body,
        content_type="multipart/form-data; boundary=postfach-test-boundary",
    )  # fmt: skip
    assert response.status_code == 302
    [got] = smtp_server.received
    assert got.rcpt_tos == ["bob@example.net"]
    head = got.data.split(b"\r\n\r\n", 1)[0]
    assert not re.search(rb"^(Bcc|X-Injected):", head, re.M | re.I)
    message = received(smtp_server)
    assert message["Subject"] == "Hallo Bcc: evil@attacker.example X-Injected: 1"
    [part] = list(message.iter_attachments())
    assert "\r" not in part.get_filename() and "\n" not in part.get_filename()
    assert part.get_content() == "file content"
    assert all(not re.search(rb"^Bcc:", p.as_bytes(), re.M | re.I) for p in message.walk())


# -- attachments ---------------------------------------------------------------------------


def test_several_files_are_attached_at_once_and_can_be_removed(alice_client, account, new_form):
    files = [
        SimpleUploadedFile("eins.txt", b"1", "text/plain"),
        SimpleUploadedFile("zwei.txt", b"22", "text/plain"),
    ]
    response = alice_client.post(
        f"/mail/{account.pk}/compose/", {**new_form, "attachments": files, "action": "upload"}
    )
    page = text(response)
    names = re.findall(r'<span class="attachment-name">(.*?)</span>', page)
    assert names == ["eins.txt", "zwei.txt"]
    remove = re.findall(
        r'<button type="submit" name="remove" value="(\w+)"[^>]*aria-label="Remove eins.txt"', page
    )
    response = alice_client.post(f"/mail/{account.pk}/compose/", {**new_form, "remove": remove[0]})
    assert re.findall(r'<span class="attachment-name">(.*?)</span>', text(response)) == ["zwei.txt"]


def test_files_chosen_and_then_sent_go_with_the_message(
    alice_client, account, new_form, smtp_server
):
    new_form.update(to="bob@example.net", subject="Bericht", body="anbei")
    upload = SimpleUploadedFile("Bericht März.txt", "Grüße".encode(), "text/plain")
    response = alice_client.post(
        f"/mail/{account.pk}/compose/", {**new_form, "attachments": [upload], "action": "send"}
    )
    assert response.status_code == 302
    [part] = list(received(smtp_server).iter_attachments())
    assert part.get_filename() == "Bericht März.txt"
    assert part.get_payload(decode=True) == "Grüße".encode()


def test_an_upload_over_the_limit_is_refused_naming_the_limit(
    alice_client, account, new_form, settings, smtp_server
):
    settings.MAIL_MAX_ATTACHMENT_BYTES = 1000
    big = SimpleUploadedFile("gross.bin", b"x" * 1500, "application/octet-stream")
    new_form.update(to="bob@example.net", body="x")
    response = alice_client.post(
        f"/mail/{account.pk}/compose/", {**new_form, "attachments": [big], "action": "send"}
    )
    assert response.status_code == 200
    assert problems(response).strip() == (
        "The attachments of one message may add up to at most 1000\xa0bytes, so “gross.bin” "
        "was not attached."
    )
    assert "Attachments may add up to 1000\xa0bytes per message." in text(response)
    assert smtp_server.received == []  # not sent without the file the writer meant to send
    assert re.findall(r'<span class="attachment-name">', text(response)) == []


def test_the_limit_counts_what_is_attached_already(alice_client, account, new_form, settings):
    settings.MAIL_MAX_ATTACHMENT_BYTES = 1000
    url = f"/mail/{account.pk}/compose/"
    alice_client.post(
        url, {**new_form, "attachments": [SimpleUploadedFile("a", b"a" * 700)], "action": "upload"}
    )
    response = alice_client.post(
        url, {**new_form, "attachments": [SimpleUploadedFile("b", b"b" * 700)], "action": "upload"}
    )
    assert "so “b” was not attached" in problems(response)
    assert re.findall(r'<span class="attachment-name">(.*?)</span>', text(response)) == ["a"]


# -- drafts --------------------------------------------------------------------------------


def test_save_draft_stays_on_the_form_with_the_draft_named(
    alice_client, account, new_form, mail_user
):
    url = f"/mail/{account.pk}/compose/"
    new_form.update(to="bob@example.net", subject="Entwurf", body="eins")
    response = alice_client.post(url, {**new_form, "action": "save"})
    assert response.status_code == 200
    assert flashes(response) == ["Draft saved."]
    saved = form_fields(response.content.decode())
    assert saved["draft_uid"] and saved["draft_uidvalidity"]
    assert saved["subject"] == "Entwurf" and saved["body"] == "eins"
    saved["body"] = "zwei"
    response = alice_client.post(url, {**saved, "action": "save"})
    drafts = folder_messages(mail_user, "Drafts")
    assert [d.get_body(("plain",)).get_content().strip() for d in drafts] == ["zwei"]


def test_autosave_answers_json_and_replaces_the_previous_draft(
    alice_client, account, new_form, mail_user
):
    url = f"/mail/{account.pk}/compose/save/"
    new_form.update(to="bob@example.net, car", subject="Halb fertig", body="Ich schreibe noch")
    first = alice_client.post(url, new_form)
    assert first.status_code == 200
    answer = json.loads(first.content)
    assert set(answer) == {"draft_uid", "draft_uidvalidity", "saved_at", "message"}
    assert answer["message"].startswith("Draft saved at ")
    new_form.update(
        draft_uid=answer["draft_uid"], draft_uidvalidity=answer["draft_uidvalidity"], body="fertig"
    )
    second = json.loads(alice_client.post(url, new_form).content)
    assert second["draft_uid"] > answer["draft_uid"]
    [draft] = folder_messages(mail_user, "Drafts")
    assert str(draft["To"]) == "bob@example.net"  # "car" is still being typed
    assert draft.get_body(("plain",)).get_content().strip() == "fertig"


def test_autosave_is_post_only_and_names_a_server_that_is_down(
    alice_client, account, new_form, smtp_nothing_listening
):
    url = f"/mail/{account.pk}/compose/save/"
    assert alice_client.get(url).status_code == 405
    account.incoming_port = smtp_nothing_listening.port
    account.save()
    response = alice_client.post(url, new_form)
    assert response.status_code == 502
    assert json.loads(response.content)["error"].startswith("The draft could not be saved.")


def test_a_failed_send_keeps_the_form_and_names_the_saved_draft(
    alice, alice_client, dovecot, mail_user, smtp_nothing_listening
):
    from tests.smtp_server import SmtpServer

    down = SmtpServer(port=smtp_nothing_listening.port, security="none", login="", password="")
    account = account_with_smtp(alice, dovecot, mail_user, down)
    fields = form_fields(alice_client.get(f"/mail/{account.pk}/compose/").content.decode())
    fields.update(to="bob@example.net", subject="Wichtig", body="Bitte lesen")
    response = alice_client.post(f"/mail/{account.pk}/compose/", {**fields, "action": "send"})
    assert response.status_code == 200
    assert "The message was not sent." in problems(response)
    assert "The message is saved in Drafts." in problems(response)
    kept = form_fields(response.content.decode())
    assert kept["subject"] == "Wichtig" and kept["body"] == "Bitte lesen" and kept["draft_uid"]
    assert [m["Subject"] for m in folder_messages(mail_user, "Drafts")] == ["Wichtig"]


# -- replies, and the links that start them --------------------------------------------------


@pytest.fixture
def original(mail_user, account):
    return mail_user.append("INBOX", ORIGINAL.format(me=account.email).encode())


def test_the_message_page_links_reply_and_forward(alice_client, account, mail_user, original):
    validity = mail_user.uidvalidity("INBOX")
    page = text(alice_client.get(f"/mail/{account.pk}/{validity}/{original}/", {"folder": "INBOX"}))
    base = f"/mail/{account.pk}/compose/?kind="
    query = f"&folder=INBOX&uidvalidity={validity}&uid={original}"
    assert f'<a href="{base}reply{query}" class="compose-action" data-key="r">Reply</a>' in page
    assert (
        f'<a href="{base}reply_all{query}" class="compose-action" data-key="a">Reply all</a>'
        in page
    )
    assert f'<a href="{base}forward{query}" class="compose-action" data-key="f">Forward</a>' in page
    assert f'href="{base}forward_attached{query}"' in page
    assert f'href="/mail/{account.pk}/compose/?folder=INBOX" data-key="c">Compose</a>' in page
    assert "Continue editing" not in page


def test_opening_a_message_adds_its_sender_to_the_address_book(
    alice, alice_client, account, mail_user, original
):
    validity = mail_user.uidvalidity("INBOX")
    alice_client.get(f"/mail/{account.pk}/{validity}/{original}/", {"folder": "INBOX"})
    contact = Contact.objects.get(user=alice)
    assert (contact.email, contact.name, contact.source) == (
        "bernd@example.net",
        "Bernd Schmidt",
        "read",
    )


def test_a_reply_form_is_filled_in_and_get_changes_nothing(
    alice_client, account, mail_user, original, smtp_server
):
    validity = mail_user.uidvalidity("INBOX")
    response = alice_client.get(
        f"/mail/{account.pk}/compose/",
        {"kind": "reply", "folder": "INBOX", "uidvalidity": validity, "uid": original},
    )
    fields = form_fields(response.content.decode())
    assert fields["subject"] == "Re: Sommerfest"
    assert fields["to"] == "Bernd Schmidt <bernd@example.net>"
    assert "> Kommt ihr am Samstag?" in fields["body"]
    assert fields["in_reply_to"] == "<sommerfest-1@example.net>"
    assert (fields["answers_kind"], fields["answers_uid"]) == ("reply", str(original))
    assert "<h1>Reply</h1>" in text(response)
    # GET read the original without marking it, saved nothing, sent nothing.
    assert mail_user.flags("INBOX", original) == frozenset()
    assert folder_messages(mail_user, "Drafts") == [] and smtp_server.received == []

    response = alice_client.post(f"/mail/{account.pk}/compose/", {**fields, "action": "send"})
    assert response.status_code == 302
    assert received(smtp_server)["In-Reply-To"] == "<sommerfest-1@example.net>"
    assert "\\Answered" in mail_user.flags("INBOX", original)


def test_a_draft_opens_from_the_drafts_folder(alice_client, account, new_form, mail_user):
    new_form.update(to="bob@example.net", subject="Weiter schreiben", body="Anfang")
    saved = form_fields(
        alice_client.post(
            f"/mail/{account.pk}/compose/", {**new_form, "action": "save"}
        ).content.decode()
    )
    validity, uid = saved["draft_uidvalidity"], saved["draft_uid"]
    page = text(alice_client.get(f"/mail/{account.pk}/{validity}/{uid}/", {"folder": "Drafts"}))
    link = f"/mail/{account.pk}/compose/?kind=draft&folder=Drafts&uidvalidity={validity}&uid={uid}"
    assert f'<a href="{link}" class="compose-action">Continue editing</a>' in page
    assert 'data-key="r">Reply</a>' not in page
    reopened = form_fields(alice_client.get(link).content.decode())
    assert (reopened["subject"], reopened["body"].strip(), reopened["draft_uid"]) == (
        "Weiter schreiben",
        "Anfang",
        uid,
    )


@pytest.mark.parametrize(
    "query",
    [
        {"kind": "print"},
        {"kind": "reply", "uidvalidity": "x", "uid": "1"},
        {"kind": "reply", "uidvalidity": "1", "uid": "0"},
    ],
)
def test_a_bad_start_is_not_found(alice_client, account, query):
    assert alice_client.get(f"/mail/{account.pk}/compose/", query).status_code == 404


def test_a_stale_original_is_not_found(alice_client, account, mail_user, original):
    response = alice_client.get(
        f"/mail/{account.pk}/compose/",
        {
            "kind": "reply",
            "folder": "INBOX",
            "uidvalidity": mail_user.uidvalidity("INBOX") + 1,
            "uid": original,
        },
    )
    assert response.status_code == 404


# -- who may, and how ------------------------------------------------------------------------


def test_bob_cannot_use_alices_account(bob, account, new_form, smtp_server):
    bob_client = Client()
    bob_client.force_login(bob)
    for url in (f"/mail/{account.pk}/compose/", f"/mail/{account.pk}/compose/save/"):
        assert (
            bob_client.post(url, {**new_form, "to": "x@example.net", "action": "send"}).status_code
            == 404
        )
    assert bob_client.get(f"/mail/{account.pk}/compose/").status_code == 404
    assert smtp_server.received == []


def test_signed_out_people_are_sent_to_sign_in(client, account):
    response = client.get(f"/mail/{account.pk}/compose/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_posts_without_the_csrf_token_are_refused(alice, account, new_form, smtp_server):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    for url in (f"/mail/{account.pk}/compose/", f"/mail/{account.pk}/compose/save/"):
        response = strict.post(url, {**new_form, "to": "x@example.net", "action": "send"})
        assert response.status_code == 403
    assert smtp_server.received == []


def test_a_forged_hidden_field_is_a_bad_request(alice_client, account, new_form):
    url = f"/mail/{account.pk}/compose/"
    assert (
        alice_client.post(url, {**new_form, "compose": "../../etc", "action": "save"}).status_code
        == 400
    )
    assert (
        alice_client.post(url, {**new_form, "draft_uid": "-1", "action": "save"}).status_code == 400
    )
    assert alice_client.post(url, {**new_form, "action": "delete_everything"}).status_code == 400


def test_another_accounts_identity_is_refused(
    alice, alice_client, account, new_form, dovecot, mail_user
):
    other = account_for(alice, dovecot, mail_user)
    from webmail.services.identities import identities_for

    foreign = identities_for(other)[0]
    response = alice_client.post(
        f"/mail/{account.pk}/compose/",
        {**new_form, "identity": foreign.pk, "to": "x@example.net", "action": "send"},
    )
    assert response.status_code == 200
    assert "Select a valid choice." in text(response)
