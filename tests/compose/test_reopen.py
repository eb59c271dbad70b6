"""draft_build and draft_from_message: a draft saved to the Drafts folder and opened again."""

import base64
import re

from tests.compose.raw_mail import NOW, header_block, header_names
from webmail.compose.build import draft_build
from webmail.compose.draft import Answers, Attachment, Draft, Identity
from webmail.compose.reopen import draft_from_message
from webmail.protocols.store import Address


def saved_draft(tmp_path) -> Draft:
    upload = tmp_path / "upload"
    upload.write_bytes(b"%PDF-1.4 Entwurf")
    return Draft(
        identity=Identity(
            addr="anna@example.org",
            name="Anna Müller",
            reply_to=[Address("Büro", "office@example.org")],
        ),
        to=[Address("Bob Meyer", "bob@example.net")],
        cc=[Address("Meyer, Carla", "carla@example.net")],
        bcc=[Address("Geheim", "secret@example.net")],
        subject="Grüße aus Köln",
        text="Hallo Bob,\n\nbis bald.\n",
        attachments=[Attachment("Ärger über Straße.pdf", "application/pdf", upload, 16)],
        in_reply_to="<b@example.net>",
        references=["<a@example.org>", "<b@example.net>"],
        answers=Answers("Archiv/2026 Ä", 1700000000, 42, "reply"),
    )


def test_a_saved_draft_opens_as_it_was_written(tmp_path):
    original = saved_draft(tmp_path)
    reopened_dir = tmp_path / "reopened"
    reopened_dir.mkdir()
    draft = draft_from_message(draft_build(original, now=NOW), attachment_dir=reopened_dir)
    assert draft.identity == original.identity
    assert (draft.to, draft.cc, draft.bcc) == (original.to, original.cc, original.bcc)
    assert draft.subject == "Grüße aus Köln"
    assert draft.text.replace("\r\n", "\n") == original.text
    assert draft.html is None
    assert (draft.in_reply_to, draft.references) == (original.in_reply_to, original.references)
    assert draft.answers == original.answers
    [attachment] = draft.attachments
    assert (attachment.filename, attachment.content_type) == (
        "Ärger über Straße.pdf",
        "application/pdf",
    )
    assert attachment.path.parent == reopened_dir
    assert attachment.path.read_bytes() == b"%PDF-1.4 Entwurf"
    assert attachment.size == 16


def test_the_drafts_copy_keeps_bcc_and_what_it_answers(tmp_path):
    data = draft_build(saved_draft(tmp_path), now=NOW)
    names = header_names(header_block(data))
    assert names.count("bcc") == 1 and names.count("x-postfach-draft-info") == 1
    assert re.search(rb"(?m)^Bcc: Geheim <secret@example.net>\r\n", data)


def test_a_plain_text_made_from_html_is_made_again_after_editing(tmp_path):
    made = Draft(identity=Identity("anna@example.org"), html="<p>Nur <b>HTML</b></p>")
    draft = draft_from_message(draft_build(made, now=NOW), attachment_dir=tmp_path)
    assert draft.text == ""
    assert draft.html.strip() == "<p>Nur <b>HTML</b></p>"
    written = Draft(identity=Identity("anna@example.org"), text="Eigener Text", html="<p>HTML</p>")
    draft = draft_from_message(draft_build(written, now=NOW), attachment_dir=tmp_path)
    assert draft.text.strip() == "Eigener Text"


def test_a_reopened_draft_sends_without_its_bcc_in_the_headers(tmp_path, deliver):
    draft = draft_from_message(draft_build(saved_draft(tmp_path), now=NOW), attachment_dir=tmp_path)
    received, message = deliver(draft)
    assert received.rcpt_tos == ["bob@example.net", "carla@example.net", "secret@example.net"]
    assert "bcc" not in header_names(header_block(received.data))
    assert "x-postfach-draft-info" not in header_names(header_block(received.data))
    assert message["Subject"] == "Grüße aus Köln"
    assert [a.get_filename() for a in message.iter_attachments()] == ["Ärger über Straße.pdf"]


def test_a_tampered_draft_is_checked_again(tmp_path, deliver):
    # The Drafts folder is on the server: anything with the password can put a message
    # there (CVE-2026-48849 restored a subject with a line break from a draft).
    raw = (
        b"From: Anna <anna@example.org>\r\n"
        b"To: Bob <bob@example.net>, not-an-address, =?utf-8?q?X=0D=0ABcc=3A_e?= <e@example.com>\r\n"
        b"Bcc: =?utf-8?q?Evil=0ABcc=3A?= <evil@example.com>, not-an-address\r\n"
        b"Subject: =?utf-8?q?Hi=0D=0ABcc:_evil@example.com?=\r\n"
        b"In-Reply-To: <a@example.org>\r\n Bcc: x@example.com\r\n"
        b"X-Postfach-Draft-Info: v=1; answers=reply; uidvalidity=-1; uid=2; folder=SU5CT1g=\r\n"
        b"\r\n"
        b"Text\r\n"
    )
    draft = draft_from_message(raw, attachment_dir=tmp_path)
    assert draft.subject == "Hi Bcc: evil@example.com"
    assert [a.addr for a in draft.to] == ["bob@example.net", "e@example.com"]
    assert draft.to[1].name == "X Bcc: e"
    assert draft.bcc == [Address("Evil Bcc:", "evil@example.com")]
    assert draft.in_reply_to == "<a@example.org>"
    assert draft.answers is None  # uidvalidity must be positive
    received, message = deliver(draft)
    assert "bcc" not in header_names(header_block(received.data))
    assert received.rcpt_tos == ["bob@example.net", "e@example.com", "evil@example.com"]


def test_draft_info_is_read_strictly(tmp_path):
    def reopened(*info_lines: str) -> Answers | None:
        head = "From: anna@example.org\r\n" + "".join(
            f"X-Postfach-Draft-Info: {i}\r\n" for i in info_lines
        )
        return draft_from_message((head + "\r\nText\r\n").encode(), attachment_dir=tmp_path).answers

    inbox = base64.urlsafe_b64encode(b"INBOX").decode()
    newline = base64.urlsafe_b64encode(b"INBOX\r\nX").decode()
    good = f"v=1; answers=forward; uidvalidity=7; uid=9; folder={inbox}"
    assert reopened(good) == Answers("INBOX", 7, 9, "forward")
    assert reopened(good, good) is None  # two of them: we never write two
    assert reopened(good.replace("v=1", "v=2")) is None
    assert reopened(good.replace("forward", "delete")) is None
    assert reopened(good.replace("uid=9", "uid=9x")) is None
    assert reopened(good.replace(inbox, newline)) is None
    assert reopened(good.replace(inbox, "!!!")) is None
