"""No text a user types (or a received message carries into a reply) can become a header
field of its own (design/security.md 3.9, tracker row 23: "aiosmtpd test server receives
exactly the intended envelope/headers").

Each test checks twice: by parsing what the server received, and by reading its raw
header blocks line by line, since a different parser might split lines differently.
"""

import re
from email.message import EmailMessage

import pytest

from tests.compose.raw_mail import NOW, header_block, header_names, part_header_blocks
from webmail.compose.addresses import InvalidAddresses
from webmail.compose.build import UnsafeMessage, draft_build, message_build
from webmail.compose.draft import Attachment, Draft, Identity
from webmail.protocols.store import Address

BOB = Address("Bob", "bob@example.net")
TOP_FIELDS = {
    "date",
    "from",
    "reply-to",
    "to",
    "cc",
    "subject",
    "message-id",
    "in-reply-to",
    "references",
    "mime-version",
    "user-agent",
    "content-type",
    "content-transfer-encoding",
}
PART_FIELDS = {"content-type", "content-transfer-encoding", "content-disposition"}
# Everything str.splitlines() breaks at, which the stdlib's header folding relies on.
LINE_BREAKERS = [
    "\r\n",
    "\n",
    "\r",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1d",
    "\x1e",
    "\x85",
    "\u2028",
    "\u2029",
    "\x00",
]


def assert_only_our_fields(data: bytes) -> None:
    blocks = part_header_blocks(data)
    assert set(header_names(blocks[0])) <= TOP_FIELDS
    for block in blocks[1:]:
        names = header_names(block)
        assert set(names) <= PART_FIELDS
        assert len(names) == len(set(names))  # e.g. no second Content-Type
    assert not re.search(rb"(?im)^(bcc|x-evil)\s*:", data)


@pytest.mark.parametrize("breaker", LINE_BREAKERS)
def test_a_subject_cannot_add_a_bcc(deliver, breaker):
    subject = f"Hi{breaker}Bcc: evil@example.com"
    received, message = deliver(
        Draft(identity=Identity("anna@example.org"), to=[BOB], subject=subject)
    )
    assert received.rcpt_tos == ["bob@example.net"]
    assert "Bcc" not in message
    assert message["Subject"] == "Hi Bcc: evil@example.com"
    assert_only_our_fields(received.data)


@pytest.mark.parametrize("breaker", LINE_BREAKERS)
def test_names_cannot_add_headers(deliver, breaker):
    evil = f"A{breaker}X-Evil: 1"
    draft = Draft(
        identity=Identity(
            "anna@example.org", name=evil, reply_to=[Address(evil, "office@example.org")]
        ),
        to=[Address(evil, "bob@example.net")],
        cc=[Address(f"Carla{breaker}Bcc: evil@example.com", "carla@example.net")],
    )
    received, message = deliver(draft)
    assert "X-Evil" not in message
    assert "Bcc" not in message
    assert message["From"].addresses[0].display_name == "A X-Evil: 1"
    assert message["To"].addresses[0].display_name == "A X-Evil: 1"
    assert message["Reply-To"].addresses[0].display_name == "A X-Evil: 1"
    assert received.rcpt_tos == ["bob@example.net", "carla@example.net"]
    assert_only_our_fields(received.data)


@pytest.mark.parametrize("breaker", LINE_BREAKERS)
def test_an_attachment_name_cannot_add_a_content_type(deliver, tmp_path, breaker):
    upload = tmp_path / "upload"
    upload.write_bytes(b"%PDF-1.4 harmless")
    name = f"a{breaker}Content-Type: text/html"
    draft = Draft(
        identity=Identity("anna@example.org"),
        to=[BOB],
        attachments=[Attachment(name, "application/pdf", upload, 17)],
    )
    received, message = deliver(draft)
    [attachment] = message.iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_all("Content-Type") and len(attachment.get_all("Content-Type")) == 1
    assert not re.search(r"[\r\n]", attachment.get_filename())
    assert attachment.get_content() == b"%PDF-1.4 harmless"
    assert not re.search(rb"(?im)^content-type:\s*text/html", received.data)
    assert_only_our_fields(received.data)


def test_a_content_type_cannot_carry_parameters_or_lines(deliver, tmp_path):
    upload = tmp_path / "upload"
    upload.write_bytes(b"<script>alert(1)</script>")
    draft = Draft(
        identity=Identity("anna@example.org"),
        to=[BOB],
        attachments=[Attachment("x.bin", "text/plain\r\nX-Evil: 1", upload, 25)],
    )
    received, message = deliver(draft)
    [attachment] = message.iter_attachments()
    assert attachment.get_content_type() == "application/octet-stream"
    assert_only_our_fields(received.data)


@pytest.mark.parametrize(
    "addr",
    [
        "bob@example.net\r\nBcc: evil@example.com",
        "bob@example.net\nX-Evil: 1",
        "bob@example.net\x00",
        "bob@exa\u2028mple.net",
    ],
)
def test_an_address_with_a_line_break_is_refused_never_repaired(smtp_server, addr):
    for draft in (
        Draft(identity=Identity("anna@example.org"), to=[Address("", addr)]),
        Draft(identity=Identity(addr), to=[BOB]),
        Draft(identity=Identity("anna@example.org", reply_to=[Address("", addr)]), to=[BOB]),
    ):
        with pytest.raises(InvalidAddresses) as caught:
            message_build(draft, now=NOW)
        assert caught.value.entries == [addr]
    assert smtp_server.received == []


def test_threading_ids_that_are_not_message_ids_are_dropped(deliver):
    draft = Draft(
        identity=Identity("anna@example.org"),
        to=[BOB],
        in_reply_to="<a@example.org>\r\nBcc: evil@example.com",
        references=["<a@example.org>", "<b@example.org> X-Evil: 1", "no-brackets@example.org"],
    )
    received, message = deliver(draft)
    assert "In-Reply-To" not in message
    assert message["References"] == "<a@example.org>"
    assert_only_our_fields(received.data)


def test_a_saved_draft_keeps_bcc_but_no_injected_field(tmp_path):
    draft = Draft(
        identity=Identity("anna@example.org", name="A\r\nX-Evil: 1"),
        to=[BOB],
        bcc=[Address("Geheim\nX-Evil: 2", "secret@example.net")],
        subject="Entwurf\r\nBcc: evil@example.com",
    )
    data = draft_build(draft, now=NOW)
    names = header_names(header_block(data))
    assert names.count("bcc") == 1
    assert "x-evil" not in names
    assert re.search(rb"(?m)^Bcc: \"Geheim X-Evil: 2\" <secret@example.net>\r\n", data)
    assert b"evil@example.com" in data  # inside the subject, not as a field of its own
    assert re.search(rb"(?m)^Subject: Entwurf Bcc: evil@example.com\r\n", data)


def test_it_refuses_to_build_if_serialising_ever_lets_a_line_through(monkeypatch):
    # Stands in for a stdlib serialiser bug such as CVE-2024-6923: whatever the cause,
    # a field we did not set must stop the build.
    real = EmailMessage.as_bytes

    def leaky(self, *args, **kwargs):
        return real(self, *args, **kwargs).replace(
            b"Subject: Hi", b"Subject: Hi\r\nBcc: evil@example.com", 1
        )

    monkeypatch.setattr(EmailMessage, "as_bytes", leaky)
    with pytest.raises(UnsafeMessage):
        message_build(Draft(identity=Identity("anna@example.org"), to=[BOB], subject="Hi"), now=NOW)
