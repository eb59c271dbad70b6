"""webmail.services.compose against the real Dovecot and a real SMTP server (aiosmtpd):
what the SMTP server received, what the folders hold afterwards, and what the writer is
told when something fails."""

import email
import os
import time
from datetime import timedelta
from email import policy

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Contact
from tests.personas import account_with_smtp
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_nothing_listening_fixture,
    smtp_server_fixture,
)
from webmail.compose.addresses import InvalidAddresses
from webmail.protocols.store import Address
from webmail.services import compose
from webmail.services.compose import (
    AttachmentsTooLarge,
    DraftNotSaved,
    DraftRef,
    SendFailed,
    attachment_remove,
    attachments_add,
    compose_area_open,
    compose_areas_clean,
    compose_start,
    draft_make,
    draft_save,
    message_send,
)
from webmail.services.identities import identity_save

pytestmark = pytest.mark.django_db

ORIGINAL = (
    "From: Bernd Schmidt <bernd@example.net>\r\n"
    "To: User <{me}>, Carla <carla@example.net>\r\n"
    "Cc: Dora <dora@example.net>\r\n"
    "Subject: AW: Re: Sommerfest\r\n"
    "Message-ID: <sommerfest-3@example.net>\r\n"
    "References: <sommerfest-1@example.net> <sommerfest-2@example.net>\r\n"
    "Date: Mon, 02 Mar 2026 09:00:00 +0100\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Kommt ihr am Samstag?\r\n"
)


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture
def account(alice, dovecot, mail_user, smtp_server):
    return account_with_smtp(alice, dovecot, mail_user, smtp_server)


@pytest.fixture
def area(alice):
    return compose_area_open(alice)


def folder_messages(
    mail_user, folder: str
) -> list[tuple[int, frozenset[str], email.message.EmailMessage]]:
    """(uid, flags, parsed message) for everything in the folder, as another device sees it."""
    with mail_user.client() as client:
        client.select_folder(folder, readonly=True)
        found = client.fetch(client.search("ALL"), ["BODY.PEEK[]", "FLAGS"])
    return [
        (
            uid,
            frozenset(f.decode() for f in data[b"FLAGS"] if f != b"\\Recent"),
            email.message_from_bytes(data[b"BODY[]"], policy=policy.default),
        )
        for uid, data in sorted(found.items())
    ]


def write(account, area, **fields):
    values = dict(
        identity_id=account.identities.get().pk if account.identities.exists() else None,
        to=[Address("Bernd Schmidt", "bernd@example.net")],
        cc=[],
        bcc=[],
        subject="Grüße aus München",
        text="Hallo Bernd,\n\nbis Samstag!\n",
        html=None,
    )
    values.update(fields)
    if values["identity_id"] is None:
        compose.identities_for(account)
        values["identity_id"] = account.identities.get().pk
    return draft_make(account, area=area, **values)


def plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


def received_message(server) -> email.message.EmailMessage:
    return email.message_from_bytes(server.received[-1].data, policy=policy.default)


# -- sending ------------------------------------------------------------------------------


def test_it_sends_to_exactly_the_recipients_with_headers_a_recipient_can_read(
    account, area, smtp_server, mail_user, alice
):
    attachments_add(
        area, [SimpleUploadedFile("Übersicht März.pdf", b"%PDF-1.4 data", "application/pdf")]
    )
    draft = write(
        account,
        area,
        cc=[Address("Carla Müller", "carla@example.net")],
        bcc=[Address("", "dora@example.net")],
    )
    sent = message_send(account, draft, area=area)

    assert sent.recipients == 3 and sent.warnings == []
    [received] = smtp_server.received
    assert received.mail_from == account.email
    assert received.rcpt_tos == ["bernd@example.net", "carla@example.net", "dora@example.net"]
    assert b"dora@example.net" not in received.data  # Bcc is envelope only
    message = received_message(smtp_server)
    assert message["Subject"] == "Grüße aus München"
    assert message["To"].addresses[0].display_name == "Bernd Schmidt"
    assert message["Cc"].addresses[0].display_name == "Carla Müller"
    assert message["From"].addresses[0].addr_spec == account.email
    [part] = list(message.iter_attachments())
    assert part.get_filename() == "Übersicht März.pdf"
    assert part.get_content() == b"%PDF-1.4 data"
    assert plain(message) == "Hallo Bernd,\n\nbis Samstag!\n"

    [(_, flags, copy)] = folder_messages(mail_user, "Sent")
    assert flags == {"\\Seen"}
    assert copy["Message-ID"] == message["Message-ID"]
    assert not area.path.exists()  # the compose area went with the message
    assert set(Contact.objects.filter(user=alice).values_list("email", "source")) == {
        ("bernd@example.net", "sent"),
        ("carla@example.net", "sent"),
        ("dora@example.net", "sent"),
    }


def test_the_default_identity_sends_and_signs(account, area, smtp_server):
    identity_save(
        account, name="Alice Example", email="alice@example.org", reply_to="team@example.org",
        signature="Alice\nExample GmbH", is_default=True,
    )  # fmt: skip
    started = compose_start(account, area=area)
    assert started.draft.identity.addr == "alice@example.org"
    assert started.draft.text == "\n\n-- \nAlice\nExample GmbH\n"
    draft = write(account, area, identity_id=started.identity_id, text=started.draft.text)
    message_send(account, draft)
    message = received_message(smtp_server)
    assert str(message["From"]) == "Alice Example <alice@example.org>"
    assert str(message["Reply-To"]) == "team@example.org"
    assert smtp_server.received[-1].mail_from == "alice@example.org"


def test_html_is_sanitized_and_gets_a_plain_text_alternative(account, area, smtp_server):
    draft = write(
        account, area,
        html='<p>Hallo <b>Bernd</b></p><img src="https://tracker.example/x.png">'
             '<script>alert(1)</script><a href="javascript:alert(2)">klick</a>',
    )  # fmt: skip
    message_send(account, draft)
    message = received_message(smtp_server)
    html = message.get_body(("html",)).get_content()
    assert "<b>Bernd</b>" in html
    assert "script" not in html and "tracker.example" not in html and "javascript" not in html
    assert plain(message).strip().startswith("Hallo Bernd")


def test_no_recipients_sends_nothing(account, area, smtp_server):
    with pytest.raises(compose.NoRecipients):
        message_send(account, write(account, area, to=[]))
    assert smtp_server.received == []


def test_an_invalid_address_in_a_draft_stops_the_build(account, area, smtp_server):
    draft = write(
        account, area, to=[Address("Evil\r\nBcc: x@evil.example", "bernd@example.net\r\nX: y")]
    )
    with pytest.raises(InvalidAddresses):
        message_send(account, draft)
    assert smtp_server.received == []


# -- replies and forwards -----------------------------------------------------------------


@pytest.fixture
def original(mail_user, account):
    uid = mail_user.append("INBOX", ORIGINAL.format(me=account.email).encode())
    return uid


def test_a_reply_threads_quotes_and_marks_the_original_answered(
    account, area, smtp_server, mail_user, original
):
    validity = mail_user.uidvalidity("INBOX")
    started = compose_start(
        account, kind="reply", folder="INBOX", uidvalidity=validity, uid=original, area=area
    )
    draft = started.draft
    assert draft.subject == "Re: Sommerfest"
    assert [a.addr for a in draft.to] == ["bernd@example.net"]
    assert "> Kommt ihr am Samstag?" in draft.text
    assert mail_user.flags("INBOX", original) == frozenset()  # reading set nothing

    message_send(account, draft)
    message = received_message(smtp_server)
    assert message["Subject"] == "Re: Sommerfest"
    assert message["In-Reply-To"] == "<sommerfest-3@example.net>"
    assert message["References"].split() == [
        "<sommerfest-1@example.net>", "<sommerfest-2@example.net>", "<sommerfest-3@example.net>"
    ]  # fmt: skip
    assert "\\Answered" in mail_user.flags("INBOX", original)


def test_reply_all_leaves_out_the_users_own_addresses(account, area, mail_user, original):
    identity_save(account, name="", email="alias@example.org", signature="")
    validity = mail_user.uidvalidity("INBOX")
    started = compose_start(
        account, kind="reply_all", folder="INBOX", uidvalidity=validity, uid=original, area=area
    )
    everyone = [a.addr for a in started.draft.to + started.draft.cc]
    assert everyone == ["bernd@example.net", "carla@example.net", "dora@example.net"]
    assert account.email not in everyone


def test_a_forward_keeps_attachments_and_marks_the_original_forwarded(
    account, area, smtp_server, mail_user
):
    from tests.conftest import FIXTURE_MAIL

    uid = mail_user.append("INBOX", (FIXTURE_MAIL / "05-attachments-umlaut.eml").read_bytes())
    validity = mail_user.uidvalidity("INBOX")
    started = compose_start(
        account, kind="forward", folder="INBOX", uidvalidity=validity, uid=uid, area=area
    )
    assert started.draft.subject.startswith("Fwd: ")
    assert started.draft.attachments  # written into the compose area
    assert all(a.path.parent == area.path for a in started.draft.attachments)
    draft = started.draft
    draft.to = [Address("", "carla@example.net")]
    message_send(account, draft)
    assert "$Forwarded" in mail_user.flags("INBOX", uid)
    names = [p.get_filename() for p in received_message(smtp_server).iter_attachments()]
    assert names == [a.filename for a in draft.attachments]


def test_forward_as_attachment_attaches_the_original_message(
    account, area, smtp_server, mail_user, original
):
    validity = mail_user.uidvalidity("INBOX")
    started = compose_start(
        account,
        kind="forward_attached",
        folder="INBOX",
        uidvalidity=validity,
        uid=original,
        area=area,
    )
    draft = started.draft
    draft.to = [Address("", "carla@example.net")]
    message_send(account, draft)
    [part] = list(received_message(smtp_server).iter_attachments())
    assert part.get_content_type() == "message/rfc822"
    assert part.get_content()["Message-ID"] == "<sommerfest-3@example.net>"
    assert "$Forwarded" in mail_user.flags("INBOX", original)


def test_an_original_gone_meanwhile_is_no_error_after_sending(
    account, area, smtp_server, mail_user, original
):
    validity = mail_user.uidvalidity("INBOX")
    draft = compose_start(
        account, kind="reply", folder="INBOX", uidvalidity=validity, uid=original, area=area
    ).draft
    with mail_user.client() as client:
        client.select_folder("INBOX")
        client.delete_messages([original])
        client.expunge()
    sent = message_send(account, draft)
    assert sent.warnings == [] and len(smtp_server.received) == 1


# -- drafts -------------------------------------------------------------------------------


def test_saving_again_replaces_the_draft(account, area, mail_user):
    first = draft_save(account, write(account, area, text="erste Fassung"))
    second = draft_save(account, write(account, area, text="zweite Fassung"), replaces=first)
    assert second != first
    [(uid, flags, saved)] = folder_messages(mail_user, "Drafts")
    assert uid == second.uid
    assert flags == {"\\Seen", "\\Draft"}
    assert plain(saved).strip() == "zweite Fassung"


def test_a_draft_opens_again_with_everything_and_saving_replaces_it(
    account, area, mail_user, alice
):
    attachments_add(area, [SimpleUploadedFile("plan.txt", b"Plan B", "text/plain")])
    ref = draft_save(
        account,
        write(account, area, bcc=[Address("Dora", "dora@example.net")], subject="Plan für Samstag"),
    )
    reopened_area = compose_area_open(alice)
    validity = mail_user.uidvalidity("Drafts")
    started = compose_start(
        account,
        kind="draft",
        folder="Drafts",
        uidvalidity=validity,
        uid=ref.uid,
        area=reopened_area,
    )
    assert started.replaces == ref
    draft = started.draft
    assert draft.subject == "Plan für Samstag"
    assert [a.addr for a in draft.bcc] == ["dora@example.net"]
    assert [(a.filename, a.path.read_bytes()) for a in draft.attachments] == [
        ("plan.txt", b"Plan B")
    ]
    assert [s.attachment.filename for s in reopened_area.attachments()] == ["plan.txt"]
    again = draft_save(account, draft, replaces=started.replaces)
    assert [uid for uid, _, _ in folder_messages(mail_user, "Drafts")] == [again.uid]


def test_sending_a_saved_draft_removes_it(account, area, mail_user, smtp_server):
    ref = draft_save(account, write(account, area))
    message_send(account, write(account, area), replaces=ref)
    assert folder_messages(mail_user, "Drafts") == []
    assert len(folder_messages(mail_user, "Sent")) == 1


def test_drafts_and_sent_are_made_when_the_server_has_none(alice, dovecot, smtp_server, area):
    from tests.dovecot import new_mail_user

    bare = new_mail_user(
        dovecot,
        settings={
            "namespace/inbox/mailbox/Drafts/auto": "no",
            "namespace/inbox/mailbox/Sent/auto": "no",
        },
    )
    account = account_with_smtp(alice, dovecot, bare, smtp_server)
    ref = draft_save(account, write(account, area))
    message_send(account, write(account, area), replaces=ref)
    assert folder_messages(bare, "Drafts") == []
    assert len(folder_messages(bare, "Sent")) == 1


def test_imap_down_when_saving_is_a_clear_error(account, area, smtp_nothing_listening):
    account.incoming_port = smtp_nothing_listening.port  # nothing listens there
    account.save()
    with pytest.raises(DraftNotSaved) as failed:
        draft_save(account, write(account, area))
    assert str(failed.value).startswith("The draft could not be saved.")
    assert "refused the connection" in str(failed.value)


# -- when sending fails: nothing typed is lost ---------------------------------------------


def _draft_in_drafts(mail_user):
    [(_, _, saved)] = folder_messages(mail_user, "Drafts")
    return saved


def test_smtp_down_keeps_everything_in_drafts(
    alice, dovecot, mail_user, area, smtp_nothing_listening
):
    account = account_with_smtp(
        alice, dovecot, mail_user, smtp_nothing_listening_server(smtp_nothing_listening)
    )
    attachments_add(area, [SimpleUploadedFile("liste.csv", b"a;b\r\n", "text/csv")])
    with pytest.raises(SendFailed) as failed:
        message_send(account, write(account, area, subject="Nicht verloren"), area=area)
    assert "could not be reached" in str(failed.value)
    assert "saved in Drafts" in str(failed.value)
    assert failed.value.saved and failed.value.draft is not None
    saved = _draft_in_drafts(mail_user)
    assert saved["Subject"] == "Nicht verloren"
    assert str(saved["To"]) == "Bernd Schmidt <bernd@example.net>"
    assert plain(saved) == "Hallo Bernd,\n\nbis Samstag!\n"
    assert [p.get_filename() for p in saved.iter_attachments()] == ["liste.csv"]
    assert area.path.exists()  # the attachments stay for the next try
    assert folder_messages(mail_user, "Sent") == []


def smtp_nothing_listening_server(settings):
    """An SmtpServer-like record for a port where nothing listens."""
    from tests.smtp_server import SmtpServer

    return SmtpServer(port=settings.port, security="none", login="", password="")


def test_a_refused_login_keeps_the_draft_and_says_so(
    alice, dovecot, mail_user, area, make_smtp_server
):
    server = make_smtp_server(login="alice-smtp", password="right-password-1")
    account = account_with_smtp(alice, dovecot, mail_user, server, smtp_password="wrong-password")
    with pytest.raises(SendFailed) as failed:
        message_send(account, write(account, area))
    assert "refused the login name or password" in str(failed.value)
    assert server.received == [] and server.logins == [("alice-smtp", False)]
    assert _draft_in_drafts(mail_user)["Subject"] == "Grüße aus München"


def test_a_refused_recipient_is_named_and_nobody_gets_the_message(
    account, area, mail_user, smtp_server
):
    draft = write(
        account, area,
        to=[Address("", "bernd@example.net"), Address("", "reject-me@example.net")],
    )  # fmt: skip
    ref = draft_save(account, draft)
    with pytest.raises(SendFailed) as failed:
        message_send(account, draft, replaces=ref)
    assert "reject-me@example.net" in str(failed.value)
    assert smtp_server.received == []
    [(uid, _, saved)] = folder_messages(mail_user, "Drafts")  # one draft: the old one replaced
    assert uid == failed.value.draft.uid != ref.uid
    assert "reject-me@example.net" in str(saved["To"])


def test_a_refused_message_says_what_the_server_said(
    alice, dovecot, mail_user, area, make_smtp_server
):
    server = make_smtp_server(size_limit=2000)
    account = account_with_smtp(alice, dovecot, mail_user, server)
    attachments_add(
        area, [SimpleUploadedFile("big.bin", os.urandom(4000), "application/octet-stream")]
    )
    with pytest.raises(SendFailed) as failed:
        message_send(account, write(account, area))
    assert "too large" in str(failed.value)
    assert [p.get_filename() for p in _draft_in_drafts(mail_user).iter_attachments()] == ["big.bin"]


def test_an_account_without_smtp_server_keeps_the_draft(alice, dovecot, mail_user, area):
    from tests.personas import account_for

    account = account_for(alice, dovecot, mail_user)
    with pytest.raises(SendFailed) as failed:
        message_send(account, write(account, area))
    assert "no outgoing (SMTP) server" in str(failed.value)
    assert _draft_in_drafts(mail_user)["Subject"] == "Grüße aus München"


def test_when_both_servers_are_down_the_form_keeps_it(
    alice, dovecot, mail_user, area, smtp_nothing_listening
):
    account = account_with_smtp(
        alice, dovecot, mail_user, smtp_nothing_listening_server(smtp_nothing_listening)
    )
    account.incoming_port = smtp_nothing_listening.port
    account.save()
    with pytest.raises(SendFailed) as failed:
        message_send(account, write(account, area))
    assert not failed.value.saved
    assert "could not be saved in Drafts either" in str(failed.value)
    assert "still in this form" in str(failed.value)


def test_sent_but_not_filed_is_said_and_never_an_error(
    alice, dovecot, mail_user, area, smtp_server, smtp_nothing_listening
):
    account = account_with_smtp(alice, dovecot, mail_user, smtp_server)
    account.incoming_port = smtp_nothing_listening.port  # IMAP is down, SMTP is up
    account.save()
    sent = message_send(account, write(account, area), replaces=DraftRef(1, 1))
    assert len(smtp_server.received) == 1
    assert sent.warnings[0].startswith(
        "The message was sent, but no copy could be put into the Sent folder."
    )
    assert "still in the Drafts folder" in sent.warnings[1]


# -- attachments and the compose area -----------------------------------------------------


def test_attachments_beyond_the_limit_are_refused_naming_the_limit(settings, area):
    settings.MAIL_MAX_ATTACHMENT_BYTES = 1000
    attachments_add(area, [SimpleUploadedFile("a.txt", b"a" * 600, "text/plain")])
    with pytest.raises(AttachmentsTooLarge) as refused:
        attachments_add(
            area,
            [
                SimpleUploadedFile("b.txt", b"b" * 300, "text/plain"),
                SimpleUploadedFile("c.txt", b"c" * 300, "text/plain"),
            ],
        )
    assert str(refused.value) == (
        "The attachments of one message may add up to at most 1000\xa0bytes, so “c.txt” was "
        "not attached."
    )
    assert [s.attachment.filename for s in area.attachments()] == ["a.txt", "b.txt"]


def test_attachments_can_be_removed_and_their_files_go(area):
    attachments_add(
        area,
        [SimpleUploadedFile("a.txt", b"a", "text/plain"), SimpleUploadedFile("b.txt", b"b", "")],
    )
    first, second = area.attachments()
    assert second.attachment.content_type == "text/plain"  # guessed from the name
    assert attachment_remove(area, first.id)
    assert not first.attachment.path.exists()
    assert [s.id for s in area.attachments()] == [second.id]
    assert not attachment_remove(area, "../../etc/passwd")


def test_file_names_from_the_browser_are_one_line_without_paths(area):
    attachments_add(area, [SimpleUploadedFile("x", b"data", "text/plain")])
    upload = SimpleUploadedFile("x", b"data", "text/plain")
    upload.name = "C:\\Users\\bob\\evil\r\nContent-Type: text-html.txt"
    attachments_add(area, [upload])
    assert area.attachments()[1].attachment.filename == "evil Content-Type: text-html.txt"


def test_compose_ids_are_ours_only(alice, bob):
    with pytest.raises(ValueError):
        compose_area_open(alice, "../../bob")
    area = compose_area_open(alice)
    assert compose_area_open(bob, area.id).path != area.path


def test_stale_compose_areas_are_cleaned_up(alice, bob, settings, tmp_path):
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "uploads"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    leftover = settings.FILE_UPLOAD_TEMP_DIR / "tmpabc.upload.txt"  # a request that died
    leftover.write_bytes(b"x")
    stale, fresh = compose_area_open(alice), compose_area_open(bob)
    for area in (stale, fresh):
        attachments_add(area, [SimpleUploadedFile("a.txt", b"a", "text/plain")])
    old = time.time() - timedelta(days=2).total_seconds()
    os.utime(stale.path, (old, old))
    os.utime(leftover, (old, old))
    report = compose_areas_clean()
    assert not leftover.exists()
    assert (report.removed, report.left) == (1, 0)
    assert not stale.path.exists() and fresh.path.exists()
    assert not stale.path.parent.exists()  # alice has no areas left


def test_beat_cleans_abandoned_compose_areas_every_hour(alice, settings):
    from webmail.tasks import compose_areas_clean_task

    schedule = {entry["task"]: entry["schedule"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["webmail.tasks.compose_areas_clean_task"] == 3600
    stale = compose_area_open(alice)
    attachments_add(stale, [SimpleUploadedFile("a.txt", b"a", "text/plain")])
    old = time.time() - timedelta(days=2).total_seconds()
    os.utime(stale.path, (old, old))
    compose_areas_clean_task()
    assert not stale.path.exists()
