"""Replies and forwards, pre-filled from real .eml fixtures (tests/fixtures/mail) and sent
through the test SMTP server where what the recipient gets matters."""

import re
from datetime import UTC

import pytest

from tests.conftest import FIXTURE_MAIL
from webmail.compose.draft import Answers, Identity, MessageRef
from webmail.compose.reply import (
    draft_forward,
    draft_forward_attached,
    draft_reply,
    draft_reply_all,
    subject_forward,
    subject_reply,
)
from webmail.protocols.store import Address

THREAD_START = (FIXTURE_MAIL / "07-thread-start.eml").read_bytes()  # Anna to Bob, Carla
THREAD_REPLY = (FIXTURE_MAIL / "08-thread-reply.eml").read_bytes()  # Bob to Anna, cc Carla
THREAD_REPLY_REPLY = (
    FIXTURE_MAIL / "09-thread-reply-reply.eml"
).read_bytes()  # Carla to Bob, cc Anna
ANNA = Identity(addr="anna.schmidt@example.org", name="Anna Schmidt")
BOB = Identity(addr="bob@example.net", name="Bob Meyer")
SOURCE = MessageRef(folder="INBOX", uidvalidity=1700000000, uid=42)


def mail(*headers: str, body: str = "Hallo.") -> bytes:
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode("utf-8")


# --- Subjects ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "original, reply",
    [
        ("Sommerfest", "Re: Sommerfest"),
        ("Re: Sommerfest", "Re: Sommerfest"),
        ("AW: Sommerfest", "Re: Sommerfest"),
        ("Aw: Sommerfest", "Re: Sommerfest"),
        ("RE: Sommerfest", "Re: Sommerfest"),
        ("Re[2]: Sommerfest", "Re: Sommerfest"),
        ("Re(3): Sommerfest", "Re: Sommerfest"),
        ("WG: Sommerfest", "Re: Sommerfest"),
        ("Fwd: Sommerfest", "Re: Sommerfest"),
        ("FW: Sommerfest", "Re: Sommerfest"),
        ("Sv: Sommerfest", "Re: Sommerfest"),
        ("Antw: Sommerfest", "Re: Sommerfest"),
        ("AW: Re: Sommerfest 2026", "Re: Sommerfest 2026"),
        ("Re:Re:  Sommerfest", "Re: Sommerfest"),
        ("re : Sommerfest", "Re: Sommerfest"),
        ("Rezept: Kuchen", "Re: Rezept: Kuchen"),
        ("Awesome: news", "Re: Awesome: news"),
        ("Sommerfest (Re: Termin)", "Re: Sommerfest (Re: Termin)"),
        ("", "Re:"),
        ("Hi\r\nBcc: evil@example.com", "Re: Hi Bcc: evil@example.com"),
    ],
)
def test_reply_subjects_get_exactly_one_prefix(original, reply):
    assert subject_reply(original) == reply


@pytest.mark.parametrize(
    "original, forward",
    [
        ("Sommerfest", "Fwd: Sommerfest"),
        ("Fwd: Fwd: Sommerfest", "Fwd: Sommerfest"),
        ("WG: AW: Sommerfest", "Fwd: Sommerfest"),
        ("Re: Sommerfest", "Fwd: Sommerfest"),
    ],
)
def test_forward_subjects_get_exactly_one_prefix(original, forward):
    assert subject_forward(original) == forward


# --- Recipients --------------------------------------------------------------------------


def test_a_reply_goes_to_the_sender_only():
    draft = draft_reply(THREAD_REPLY, identity=ANNA, source=SOURCE)
    assert draft.to == [Address("Bob Meyer", "bob@example.net")]
    assert draft.cc == [] and draft.bcc == []
    assert draft.identity == ANNA
    assert draft.subject == "Re: Sommerfest 2026"
    assert draft.answers == Answers("INBOX", 1700000000, 42, "reply")
    assert draft.answers.flag == "\\Answered"


def test_a_reply_goes_to_reply_to_when_there_is_one():
    raw = mail(
        "From: Newsletter <noreply@shop.example>",
        "Reply-To: Support <help@shop.example>, Sales <sales@shop.example>",
        "To: anna.schmidt@example.org",
        "Subject: Angebot",
    )
    assert draft_reply(raw, identity=ANNA).to == [
        Address("Support", "help@shop.example"),
        Address("Sales", "sales@shop.example"),
    ]


def test_a_reply_to_my_own_message_goes_to_its_recipients():
    draft = draft_reply(THREAD_START, identity=ANNA)
    assert draft.to == [
        Address("Bob Meyer", "bob@example.net"),
        Address("Carla Rossi", "carla@example.net"),
    ]


def test_reply_all_adds_to_and_cc_without_my_own_addresses():
    draft = draft_reply_all(
        THREAD_REPLY_REPLY,
        identity=Identity("anna@example.org"),
        own_addresses=["Anna.Schmidt@EXAMPLE.org"],
    )
    assert draft.to == [
        Address("Carla Rossi", "carla@example.net"),
        Address("Bob Meyer", "bob@example.net"),
    ]
    assert draft.cc == []


def test_reply_all_puts_the_original_to_in_to_and_keeps_cc_in_cc():
    draft = draft_reply_all(THREAD_REPLY, identity=Identity("dora@example.org"))
    assert draft.to == [
        Address("Bob Meyer", "bob@example.net"),
        Address("Anna Schmidt", "anna.schmidt@example.org"),
    ]
    assert draft.cc == [Address("Carla Rossi", "carla@example.net")]


def test_reply_all_to_my_own_message_goes_to_its_recipients():
    draft = draft_reply_all(THREAD_REPLY, identity=BOB)
    assert draft.to == [Address("Anna Schmidt", "anna.schmidt@example.org")]
    assert draft.cc == [Address("Carla Rossi", "carla@example.net")]


def test_reply_all_lists_everyone_once():
    raw = mail(
        "From: Bob <bob@example.net>",
        "Reply-To: bob@example.net",
        "To: Anna <anna.schmidt@example.org>, BOB@example.net, Carla <carla@example.net>",
        "Cc: carla@EXAMPLE.net, Dora <dora@example.org>, Anna <ANNA.SCHMIDT@example.org>",
        "Subject: Alle",
    )
    draft = draft_reply_all(raw, identity=ANNA)
    assert [a.addr for a in draft.to] == ["bob@example.net", "carla@example.net"]
    assert [a.addr for a in draft.cc] == ["dora@example.org"]


def test_unreadable_or_invalid_received_addresses_are_left_out():
    raw = mail(
        "From: ceo@bank.example)<mallory@attacker.example>",
        "To: anna.schmidt@example.org, not-an-address, Carla <carla@example.net>",
        "Subject: Dringend",
    )
    assert draft_reply(raw, identity=ANNA).to == []
    assert draft_reply_all(raw, identity=ANNA).to == [Address("Carla", "carla@example.net")]


def test_a_received_subject_cannot_inject_a_header_into_the_reply(deliver):
    # Roundcube #8404: the subject of a reply came from the received header unchecked.
    raw = mail(
        "From: Mallory <mallory@example.com>",
        "To: anna.schmidt@example.org",
        "Subject: =?utf-8?q?Hi=0D=0ABcc:_evil@example.com?=",
        "Message-ID: <m1@example.com>",
    )
    draft = draft_reply(raw, identity=ANNA)
    received, message = deliver(draft)
    assert received.rcpt_tos == ["mallory@example.com"]
    assert "Bcc" not in message
    assert message["Subject"] == "Re: Hi Bcc: evil@example.com"


# --- Threading ---------------------------------------------------------------------------


def test_a_reply_threads_under_the_original(deliver):
    draft = draft_reply(THREAD_REPLY_REPLY, identity=BOB)
    assert draft.in_reply_to == "<fixture-09-thread-reply-reply@postfach.example>"
    assert draft.references == [
        "<fixture-07-thread-start@postfach.example>",
        "<fixture-08-thread-reply@postfach.example>",
        "<fixture-09-thread-reply-reply@postfach.example>",
    ]
    received, message = deliver(draft)
    assert message["In-Reply-To"] == "<fixture-09-thread-reply-reply@postfach.example>"
    assert message["References"].split() == draft.references


def test_without_references_the_in_reply_to_starts_them():
    draft = draft_reply(THREAD_REPLY, identity=ANNA)
    assert draft.references == [
        "<fixture-07-thread-start@postfach.example>",
        "<fixture-08-thread-reply@postfach.example>",
    ]
    raw = mail(
        "From: bob@example.net",
        "Message-ID: <two@example.net>",
        "In-Reply-To: <one@example.org>",
        "Subject: x",
    )
    assert draft_reply(raw, identity=ANNA).references == ["<one@example.org>", "<two@example.net>"]


def test_long_references_keep_the_first_and_the_newest():
    references = " ".join(f"<m{n}@example.org>" for n in range(40))
    raw = mail(
        "From: bob@example.net",
        "Message-ID: <m40@example.org>",
        f"References: {references}",
        "Subject: lang",
    )
    draft = draft_reply(raw, identity=ANNA)
    assert len(draft.references) == 20
    assert draft.references[0] == "<m0@example.org>"
    assert draft.references[-2:] == ["<m39@example.org>", "<m40@example.org>"]
    assert draft.references[1] == "<m22@example.org>"  # 41 ids: the first and the last 19


def test_hostile_threading_fields_give_only_message_ids():
    raw = mail(
        "From: bob@example.net",
        "Message-ID: <ok@example.net> and some text",
        "References: junk <a@example.org> =?utf-8?q?=0D=0ABcc:_x?= <b@example.org>",
        "Subject: x",
    )
    draft = draft_reply(raw, identity=ANNA)
    assert draft.in_reply_to == "<ok@example.net>"
    assert draft.references == ["<a@example.org>", "<b@example.org>", "<ok@example.net>"]


# --- Quoting -----------------------------------------------------------------------------


def test_the_reply_quotes_the_original_below_an_attribution_line():
    draft = draft_reply(THREAD_REPLY, identity=ANNA)
    assert draft.text == (
        "\n\n"
        "On Jan. 13, 2026, 9:56 a.m., Bob Meyer wrote:\n"
        "> Der 27. Juni passt mir gut. Ich bringe den Grill mit.\n"
        ">\n"
        "> Bob\n"
        ">\n"
        "> Anna Schmidt wrote:\n"
        ">> wollen wir das Sommerfest am 27. Juni im Garten feiern?\n"
        ">> Ich kümmere mich um die Getränke."
    )
    assert draft.html is None  # the original has no HTML


def test_the_attribution_date_can_be_in_the_readers_time_zone():
    draft = draft_reply(THREAD_REPLY, identity=ANNA, time_zone=UTC)
    assert "On Jan. 13, 2026, 8:56 a.m., Bob Meyer wrote:\n" in draft.text


def test_the_signature_stands_above_the_quote():
    draft = draft_reply(THREAD_START, identity=ANNA, signature="Anna Schmidt\nBüro Köln\n")
    assert draft.text.startswith(
        "\n\n-- \nAnna Schmidt\nBüro Köln\n\nOn Jan. 12, 2026, 9:49 a.m., Anna Schmidt wrote:\n"
        "> Hallo zusammen,\n"
    )


def test_an_html_original_is_quoted_sanitized_in_a_cite_blockquote():
    raw = (FIXTURE_MAIL / "20-xss-script-onerror.eml").read_bytes()
    draft = draft_reply(raw, identity=BOB, signature="Bob")
    assert draft.html.startswith('<p><br></p><div class="signature">-- <br>Bob</div><p>On ')
    assert '<blockquote type="cite">' in draft.html
    assert "This message tries to run script in many ways." in draft.html
    lowered = draft.html.lower()
    for forbidden in ("<script", "onerror", "onload", "javascript:", "<iframe", "expression("):
        assert forbidden not in lowered
    assert "> This message tries to run script in many ways." in draft.text


def test_an_html_reply_sends_both_versions(deliver):
    raw = (FIXTURE_MAIL / "03-multipart-alternative.eml").read_bytes()
    draft = draft_reply(raw, identity=BOB)
    received, message = deliver(draft)
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "> Your order 2026-0042 has shipped." in plain
    assert '<blockquote type="cite">' in html and "Track your parcel" in html


# --- Forwarding --------------------------------------------------------------------------


def test_an_inline_forward_shows_the_original_headers_and_text():
    draft = draft_forward(THREAD_REPLY, identity=ANNA, source=SOURCE)
    assert draft.subject == "Fwd: Sommerfest 2026"
    assert draft.to == [] and draft.in_reply_to is None
    assert draft.answers == Answers("INBOX", 1700000000, 42, "forward")
    assert draft.answers.flag == "$Forwarded"
    assert draft.text == (
        "\n\n"
        "-------- Forwarded message --------\n"
        "Subject: Re: Sommerfest 2026\n"
        "Date: Jan. 13, 2026, 9:56 a.m.\n"
        "From: Bob Meyer <bob@example.net>\n"
        "To: Anna Schmidt <anna.schmidt@example.org>\n"
        "Cc: Carla Rossi <carla@example.net>\n"
        "\n"
        "Der 27. Juni passt mir gut. Ich bringe den Grill mit.\n"
        "\n"
        "Bob\n"
        "\n"
        "Anna Schmidt wrote:\n"
        "> wollen wir das Sommerfest am 27. Juni im Garten feiern?\n"
        "> Ich kümmere mich um die Getränke."
    )


def test_an_inline_forward_carries_the_attachments(deliver, tmp_path):
    raw = (FIXTURE_MAIL / "05-attachments-umlaut.eml").read_bytes()
    draft = draft_forward(raw, identity=ANNA, attachment_dir=tmp_path)
    draft.to = [Address("Dora", "dora@example.org")]
    assert [a.filename for a in draft.attachments] == ["Grüße.txt", "Ärger über Straße.pdf"]
    assert all(
        a.path.parent == tmp_path and a.path.name.startswith("part-") for a in draft.attachments
    )
    received, message = deliver(draft)
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names == ["Grüße.txt", "Ärger über Straße.pdf"]
    pdf = list(message.iter_attachments())[1]
    assert pdf.get_content().startswith(b"%PDF-1.4")
    assert "Anbei die Grüße" in message.get_body(("plain",)).get_content()


def test_a_forward_as_attachment_sends_the_original_bytes(deliver, tmp_path):
    draft = draft_forward_attached(
        THREAD_REPLY, identity=ANNA, attachment_dir=tmp_path, source=SOURCE
    )
    draft.to = [Address("Dora", "dora@example.org")]
    assert draft.subject == "Fwd: Sommerfest 2026"
    assert draft.answers.kind == "forward"
    [attachment] = draft.attachments
    assert (attachment.filename, attachment.content_type) == (
        "Sommerfest 2026.eml",
        "message/rfc822",
    )
    received, message = deliver(draft)
    [attached] = message.iter_attachments()
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_filename() == "Sommerfest 2026.eml"
    assert attached["Content-Transfer-Encoding"] == "8bit"
    inner = attached.get_content()
    assert inner["Message-ID"] == "<fixture-08-thread-reply@postfach.example>"
    assert "Ich bringe den Grill mit." in inner.get_content()
    assert re.sub(rb"\r?\n", b"\r\n", THREAD_REPLY) in received.data
