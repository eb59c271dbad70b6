"""message_build: what a recipient gets, after the real SMTP server received it."""

import os
import re

import pytest

from tests.compose.raw_mail import NOW, header_block, header_names
from webmail.compose.addresses import InvalidAddresses
from webmail.compose.build import MAX_REFERENCES, message_build
from webmail.compose.draft import Attachment, Draft, Identity
from webmail.protocols.store import Address

BOB = Address("Bob Meyer", "bob@example.net")


def lines(text: str) -> list[str]:
    """A decoded body's lines, whichever line ends it came with."""
    return text.replace("\r\n", "\n").rstrip("\n").split("\n")


def test_a_german_subject_is_encoded_in_the_bytes_and_reads_back(deliver, anna):
    received, message = deliver(Draft(identity=anna, to=[BOB], subject="Grüße aus Köln"))
    head = header_block(received.data)
    assert re.search(rb"(?m)^Subject: =\?utf-8\?[bq]\?", head)
    assert "Grüße".encode() not in head
    assert message["Subject"] == "Grüße aus Köln"


def test_the_whole_message_is_7bit_with_short_lines(deliver, anna):
    text = "Grüße aus Köln!\n" + "Ein sehr langer Absatz ohne Umbruch. " * 150 + "\nEnde"
    received, message = deliver(Draft(identity=anna, to=[BOB], subject="Lang", text=text))
    assert received.data.isascii()
    assert max(len(line) for line in received.data.split(b"\r\n")) <= 998
    assert lines(message.get_content()) == text.split("\n")


def test_a_sender_name_with_umlauts_reads_back(deliver, anna):
    received, message = deliver(Draft(identity=anna, to=[BOB], subject="Hallo"))
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Anna Müller", "anna@example.org")
    assert b"Anna =?utf-8?q?M=C3=BCller?= <anna@example.org>" in header_block(received.data)
    assert received.mail_from == "anna@example.org"


def test_bcc_is_in_the_envelope_but_not_in_the_headers(deliver, anna):
    draft = Draft(
        identity=anna,
        to=[BOB],
        cc=[Address("Carla", "carla@example.net")],
        bcc=[Address("Geheim", "secret@example.net")],
        subject="Einladung",
    )
    received, message = deliver(draft)
    assert received.rcpt_tos == ["bob@example.net", "carla@example.net", "secret@example.net"]
    assert b"secret@example.net" not in received.data
    assert "bcc" not in header_names(header_block(received.data))
    assert [a.addr_spec for a in message["To"].addresses] == ["bob@example.net"]
    assert [a.addr_spec for a in message["Cc"].addresses] == ["carla@example.net"]


def test_only_blind_copies_say_undisclosed_recipients(deliver, anna):
    draft = Draft(identity=anna, bcc=[BOB], subject="Still")
    received, message = deliver(draft)
    assert received.rcpt_tos == ["bob@example.net"]
    assert b"To: undisclosed-recipients:;\r\n" in header_block(received.data)


def test_message_id_date_and_the_fixed_fields_are_there(deliver, anna):
    received, message = deliver(Draft(identity=anna, to=[BOB], subject="x"))
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", message["Message-ID"])
    assert message["Date"].datetime == NOW
    assert b"Date: Tue, 03 Mar 2026 10:15:00 +0100\r\n" in received.data
    assert message["MIME-Version"] == "1.0"
    assert message["User-Agent"] == "Postfach"
    assert header_names(header_block(received.data)) == [
        "date",
        "from",
        "to",
        "subject",
        "message-id",
        "mime-version",
        "user-agent",
        "content-type",
        "content-transfer-encoding",
    ]


def test_message_ids_are_unique_and_can_use_another_domain(anna):
    draft = Draft(identity=anna, to=[BOB])
    ids = {
        re.search(rb"Message-ID: (<[^>]+>)", message_build(draft, now=NOW)).group(1)
        for _ in range(20)
    }
    assert len(ids) == 20
    data = message_build(draft, now=NOW, message_id_domain="mail.example.com")
    assert re.search(rb"Message-ID: <[0-9a-f]{32}@mail\.example\.com>\r\n", data)


def test_a_naive_now_is_refused(anna):
    with pytest.raises(ValueError):
        message_build(Draft(identity=anna, to=[BOB]), now=NOW.replace(tzinfo=None))


def test_reply_to_and_threading_fields(deliver, anna):
    anna.reply_to = [Address("Büro", "office@example.org")]
    long_ids = [f"<{'x' * 90}.{n}@lists.example.org>" for n in range(3)]
    draft = Draft(
        identity=anna,
        to=[BOB],
        subject="Re: Plan",
        in_reply_to=long_ids[-1],
        references=long_ids,
    )
    received, message = deliver(draft)
    assert [a.addr_spec for a in message["Reply-To"].addresses] == ["office@example.org"]
    assert message["In-Reply-To"] == long_ids[-1]
    assert message["References"].split() == long_ids
    head = header_block(received.data)
    # Message ids are written as they are, never as RFC 2047 words, one per line.
    assert b"=?" not in head.split(b"In-Reply-To:")[1].split(b"MIME-Version:")[0]
    for message_id in long_ids:
        assert message_id.encode() in head


def test_references_are_capped_to_the_first_and_the_newest(deliver, anna):
    ids = [f"<m{n}@example.org>" for n in range(50)]
    received, message = deliver(Draft(identity=anna, to=[BOB], references=ids))
    kept = message["References"].split()
    assert len(kept) == MAX_REFERENCES
    assert kept[0] == ids[0]
    assert kept[1:] == ids[-(MAX_REFERENCES - 1) :]


def test_an_html_message_gets_a_plain_text_alternative(deliver, anna):
    html = (
        "<p>Hallo Bob,</p><p>hier die Liste:</p><ul><li>eins</li><li>zwei</li></ul>"
        '<p>Mehr unter <a href="https://example.org/fest">der Seite</a>.</p>'
        "<blockquote><p>Zitat</p></blockquote>"
    )
    received, message = deliver(Draft(identity=anna, to=[BOB], subject="HTML", html=html))
    assert message.get_content_type() == "multipart/alternative"
    assert lines(message.get_body(("plain",)).get_content()) == [
        "Hallo Bob,",
        "",
        "hier die Liste:",
        "",
        "- eins",
        "- zwei",
        "",
        "Mehr unter der Seite <https://example.org/fest>.",
        "",
        "> Zitat",
    ]
    assert lines(message.get_body(("html",)).get_content()) == [html]


def test_a_given_plain_text_is_kept_beside_the_html(deliver, anna):
    draft = Draft(identity=anna, to=[BOB], text="Von Hand geschrieben", html="<p>Anders</p>")
    received, message = deliver(draft)
    assert message.get_body(("plain",)).get_content().strip() == "Von Hand geschrieben"


def test_attachments_arrive_with_their_names_and_exact_bytes(deliver, anna, tmp_path):
    pdf = tmp_path / "upload-1"
    pdf.write_bytes(b"%PDF-1.4 " + os.urandom(300_000))
    notes = tmp_path / "upload-2"
    notes.write_bytes("Grüße\n".encode())
    draft = Draft(
        identity=anna,
        to=[BOB],
        subject="Anhänge",
        text="Siehe Anhang.",
        attachments=[
            Attachment("Ärger über Straße.pdf", "application/pdf", pdf, pdf.stat().st_size),
            Attachment("notes.txt", "text/plain", notes, notes.stat().st_size),
        ],
    )
    received, message = deliver(draft)
    assert message.get_content_type() == "multipart/mixed"
    assert b"filename*=utf-8''%C3%84rger%20%C3%BCber%20Stra%C3%9Fe.pdf" in received.data
    first, second = message.iter_attachments()
    assert first.get_filename() == "Ärger über Straße.pdf"
    assert first.get_content_type() == "application/pdf"
    assert first.get_content() == pdf.read_bytes()
    assert second.get_filename() == "notes.txt"
    assert second.get_payload(decode=True) == notes.read_bytes()
    assert message.get_body(("plain",)).get_content().strip() == "Siehe Anhang."


@pytest.mark.parametrize(
    ("data", "charset"),
    [("Grüße aus Köln\n".encode(), "utf-8"), (b"plain ascii\n", "us-ascii"),
     ("Gr\u00fc\u00dfe\n".encode("latin-1"), None)],
)
def test_a_text_attachment_names_its_charset_when_it_is_known(
    deliver, anna, tmp_path, data, charset
):
    notes = tmp_path / "upload"
    notes.write_bytes(data)
    draft = Draft(
        identity=anna, to=[BOB], text="x",
        attachments=[Attachment("notes.txt", "text/plain", notes, len(data))],
    )
    received, message = deliver(draft)
    [attached] = message.iter_attachments()
    assert attached.get_param("charset") == charset
    assert attached.get_payload(decode=True) == data
    if charset:
        assert attached.get_content() == data.decode(charset)


def test_an_attached_message_goes_unencoded(deliver, anna, tmp_path):
    original = tmp_path / "upload"
    original.write_bytes(b"From: carla@example.net\nSubject: Kuchen\n\nSuper, dann backe ich.\n")
    draft = Draft(
        identity=anna,
        to=[BOB],
        attachments=[Attachment("Kuchen.eml", "message/rfc822", original, 60)],
    )
    received, message = deliver(draft)
    [attached] = message.iter_attachments()
    assert attached.get_content_type() == "message/rfc822"
    assert attached["Content-Transfer-Encoding"] == "7bit"
    assert attached.get_content()["Subject"] == "Kuchen"
    assert b"\r\nSubject: Kuchen\r\n\r\nSuper, dann backe ich.\r\n" in received.data


def test_international_domains_go_out_as_punycode(deliver, tmp_path):
    draft = Draft(
        identity=Identity(addr="joerg@example.org", name="Jörg"),
        to=[Address("Bücher", "info@bücher.example"), Address("", "post@straße.de")],
    )
    received, message = deliver(draft)
    assert received.rcpt_tos == ["info@xn--bcher-kva.example", "post@xn--strae-oqa.de"]
    assert [a.addr_spec for a in message["To"].addresses] == received.rcpt_tos


def test_an_invalid_address_stops_the_build_and_names_it(anna):
    draft = Draft(
        identity=anna,
        to=[BOB, Address("", "not-an-address")],
        cc=[Address("", "bob@example.net\r\nBcc: evil@example.com")],
    )
    with pytest.raises(InvalidAddresses) as caught:
        message_build(draft, now=NOW)
    assert caught.value.entries == ["not-an-address", "bob@example.net\r\nBcc: evil@example.com"]
