"""Messages as the reading page shows them, from the real fixture mail and from hostile
shapes built in memory."""

import random
import time
from pathlib import Path

import pytest

from webmail.mime import parse
from webmail.mime.model import ParsedMessage
from webmail.mime.parse import message_headers, message_parse, message_part
from webmail.protocols.store import Address

MAIL = Path(__file__).resolve().parent.parent / "fixtures" / "mail"
FIXTURES = sorted(MAIL.glob("*.eml"))


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


def mail(headers: str, body: str | bytes) -> bytes:
    head = headers.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n"
    return head + (body if isinstance(body, bytes) else body.replace("\n", "\r\n").encode())


def multipart(subtype: str, *parts: str, boundary: str = "b0") -> bytes:
    body = "".join(f"--{boundary}\n{p.strip()}\n" for p in parts) + f"--{boundary}--\n"
    return mail(
        f'Subject: {subtype}\nContent-Type: multipart/{subtype}; boundary="{boundary}"', body
    )


def nested_multiparts(levels: int) -> bytes:
    head = b"Subject: deep\r\n"
    for i in range(levels):
        head += b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i)
    head += b"Content-Type: text/plain\r\n\r\ninnermost\r\n"
    return head + b"".join(b"--b%d--\r\n" % i for i in reversed(range(levels)))


def nested_messages(levels: int) -> bytes:
    head = b"Subject: outer\r\nContent-Type: message/rfc822\r\n\r\n"
    head += b"".join(
        b"Subject: %d\r\nContent-Type: message/rfc822\r\n\r\n" % i for i in range(levels)
    )
    return head + b"Subject: inner\r\n\r\ninner text\r\n"


# --- Every fixture --------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_it_parses_every_fixture_into_something_to_show(path):
    parsed = message_parse(path.read_bytes())
    assert isinstance(parsed, ParsedMessage)
    assert parsed.subject
    assert parsed.text_body or parsed.html_body or parsed.attachments or parsed.problems
    for text in (parsed.subject, parsed.text_body or "", parsed.html_body or ""):
        text.encode("utf-8")  # no lone surrogates reach a template or the database
        assert "\x00" not in text


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_it_hands_out_every_listed_part_as_listed(path):
    raw = path.read_bytes()
    parsed = message_parse(raw)
    # every part would mean 500 full parses of 40-many-parts; its ends are enough
    for info in parsed.attachments[:20] + parsed.attachments[20:][-5:]:
        content = message_part(raw, info.part_id)
        assert content is not None, info
        assert (content.filename, content.content_type) == (info.filename, info.content_type)
        assert len(content.data) == info.size
        if info.is_message:
            nested = message_parse(raw, part=info.part_id)
            for inner in nested.attachments:
                assert inner.part_id.startswith(info.part_id + ".")
                assert len(message_part(raw, inner.part_id).data) == inner.size


def test_the_fixtures_are_crlf_mail_with_unique_ids_and_dates_in_2026():
    ids = set()
    for path in FIXTURES:
        raw = path.read_bytes()
        assert raw.replace(b"\r\n", b"").count(b"\n") == 0, path.name
        headers = dict(message_headers(raw))
        ids.add(headers["Message-ID"])
        if path.name != "37-garbage-date.eml":
            assert parse.header_date(headers["Date"]).year == 2026, path.name
        assert len(raw) < 300_000, path.name
    assert len(ids) == len(FIXTURES) >= 30


# --- Ordinary mail --------------------------------------------------------------------


def test_it_shows_plain_text_with_its_urls_and_quotes():
    parsed = message_parse(fixture("01-plain-text.eml"))
    assert parsed.html_body is None
    assert "https://www.example.org/agenda?week=2" in parsed.text_body
    assert "\n> Can we move the review to Thursday?\n" in parsed.text_body
    assert parsed.text_body.endswith("Grüße,\nAnna\n")
    assert parsed.from_ == [Address("Anna Schmidt", "anna.schmidt@example.org")]
    assert parsed.message_id == "<fixture-01-plain-text@postfach.example>"


def test_it_hands_html_over_unsanitized_for_the_sanitizer():
    parsed = message_parse(fixture("02-html-newsletter.eml"))
    assert parsed.text_body is None
    assert "This week at the Example Garden Club" in parsed.html_body
    assert "https://tracker.example/pixel.gif" in parsed.html_body  # quoted-printable undone
    assert parsed.attachments == []


def test_it_keeps_both_versions_of_an_alternative():
    parsed = message_parse(fixture("03-multipart-alternative.eml"))
    assert parsed.html_body.startswith("<html><body><p>Your order <b>2026-0042</b>")
    assert parsed.text_body.startswith("Your order 2026-0042 has shipped.")


def test_it_maps_a_cid_image_to_its_part():
    raw = fixture("04-inline-cid-image.eml")
    parsed = message_parse(raw)
    assert 'src="cid:logo.png@postfach.example"' in parsed.html_body
    assert parsed.inline_images == {"logo.png@postfach.example": "2.2"}
    (logo,) = parsed.attachments
    assert (logo.filename, logo.content_type, logo.inline) == ("logo.png", "image/png", True)
    assert message_part(raw, "2.2").data.startswith(b"\x89PNG\r\n\x1a\n")


def test_it_decodes_rfc_2231_and_rfc_2047_attachment_names():
    raw = fixture("05-attachments-umlaut.eml")
    parsed = message_parse(raw)
    assert parsed.subject == "Anhänge mit Umlauten"
    assert [(a.part_id, a.filename) for a in parsed.attachments] == [
        ("2", "Grüße.txt"),
        ("3", "Ärger über Straße.pdf"),
    ]
    assert message_part(raw, "2").data == "Viele Grüße aus Köln!".encode()
    assert message_part(raw, "3").data.startswith(b"%PDF-1.4")


def test_it_decodes_subjects_mixing_charsets_and_an_iso_2022_jp_body():
    parsed = message_parse(fixture("06-rfc2047-subjects.eml"))
    assert parsed.subject == "Grüße aus München – 日本語の件名もあります"
    assert parsed.from_ == [Address("山田太郎", "yamada@example.jp")]
    assert parsed.to == [Address("Jürgen Müller", "juergen@example.de")]
    assert parsed.text_body.startswith("こんにちは、ユルゲンさん。")


def test_it_reads_the_reply_thread():
    subjects = [
        message_parse(fixture(name)).subject
        for name in ("07-thread-start.eml", "08-thread-reply.eml", "09-thread-reply-reply.eml")
    ]
    assert subjects == ["Sommerfest 2026", "Re: Sommerfest 2026", "AW: Re: Sommerfest 2026"]
    headers = dict(message_headers(fixture("09-thread-reply-reply.eml")))
    assert headers["References"] == (
        "<fixture-07-thread-start@postfach.example> <fixture-08-thread-reply@postfach.example>"
    )


def test_it_lists_an_attached_message_and_opens_it_with_full_part_ids():
    raw = fixture("10-attached-message.eml")
    outer = message_parse(raw)
    (attached,) = outer.attachments
    assert (attached.part_id, attached.is_message) == ("2", True)
    assert attached.filename == "Invoice 2026-001.eml"

    inner = message_parse(raw, part="2")
    assert inner.subject == "Invoice 2026-001"
    assert inner.from_ == [Address("Example Billing", "billing@example.com")]
    assert inner.text_body == "Please find invoice 2026-001 attached."
    (pdf,) = inner.attachments
    assert (pdf.part_id, pdf.filename) == ("2.2", "invoice-2026-001.pdf")
    assert message_part(raw, "2.2").data.startswith(b"%PDF-1.4")


def test_it_hands_out_an_attached_message_as_an_eml_that_parses_the_same():
    raw = fixture("10-attached-message.eml")
    eml = message_part(raw, "2")
    assert eml.content_type == "message/rfc822"
    assert eml.data.startswith(b"From: Example Billing <billing@example.com>\r\n")
    again = message_parse(eml.data)
    assert again.subject == "Invoice 2026-001"
    assert message_part(eml.data, "2").data == message_part(raw, "2.2").data


def test_it_numbers_the_body_of_a_single_part_message_as_part_1():
    raw = fixture("01-plain-text.eml")
    content = message_part(raw, "1")
    assert content.content_type == "text/plain"
    assert content.data.startswith(b"Hi Bob,")


@pytest.mark.parametrize("part_id", ["", "0", "1.0", "9", "2.9", "a", "1.", "2/1", "1" * 8])
def test_it_gives_none_for_a_part_that_does_not_exist(part_id):
    assert message_part(fixture("10-attached-message.eml"), part_id) is None


@pytest.mark.parametrize("part", ["1", "9", "2.2", "x"])
def test_it_explains_when_the_part_to_open_is_not_an_attached_message(part):
    parsed = message_parse(fixture("10-attached-message.eml"), part=part)
    assert parsed.subject == "" and parsed.text_body is None
    assert parsed.problems == [f"The attached message {part} was not found in this message."]


def test_it_lists_all_headers_decoded_in_order():
    headers = message_headers(fixture("06-rfc2047-subjects.eml"))
    assert headers[:3] == [
        ("From", "山田太郎 <yamada@example.jp>"),
        ("To", "Jürgen Müller <juergen@example.de>"),
        ("Subject", "Grüße aus München – 日本語の件名もあります"),
    ]


# --- Choosing what to show ------------------------------------------------------------


def test_it_joins_several_inline_text_parts_of_a_mixed_message():
    raw = multipart(
        "mixed",
        "Content-Type: text/plain\n\nFirst part.",
        "Content-Type: image/png\nContent-Disposition: attachment; filename=a.png\n\nx",
        "Content-Type: text/plain\n\nSecond part.",
    )
    parsed = message_parse(raw)
    assert parsed.text_body == "First part.\n\nSecond part."
    assert parsed.html_body is None
    assert [a.filename for a in parsed.attachments] == ["a.png"]


def test_it_adds_a_text_footer_after_html_as_escaped_preformatted_text():
    alternative = (
        'Content-Type: multipart/alternative; boundary="b1"\n\n'
        "--b1\nContent-Type: text/plain\n\nHello.\n"
        "--b1\nContent-Type: text/html\n\n<p>Hello.</p>\n--b1--"
    )
    footer = "Content-Type: text/plain\n\n-- \nList <footer> & unsubscribe"
    parsed = message_parse(multipart("mixed", alternative, footer))
    assert (
        parsed.html_body == "<p>Hello.</p>\n<pre>-- \nList &lt;footer&gt; &amp; unsubscribe</pre>"
    )
    assert parsed.text_body == "Hello.\n\n-- \nList <footer> & unsubscribe"


def test_it_lists_the_calendar_version_of_an_invitation():
    parsed = message_parse(
        multipart(
            "alternative",
            "Content-Type: text/plain\n\nMeeting",
            "Content-Type: text/html\n\n<p>Meeting</p>",
            "Content-Type: text/calendar; method=REQUEST\n\nBEGIN:VCALENDAR",
        )
    )
    assert (parsed.text_body, parsed.html_body) == ("Meeting", "<p>Meeting</p>")
    assert [(a.part_id, a.filename) for a in parsed.attachments] == [("3", "attachment-3.ics")]


def test_it_takes_the_root_of_related_from_its_start_parameter():
    raw = mail(
        'Subject: r\nContent-Type: multipart/related; boundary="b0"; start="<root@x>"',
        "--b0\nContent-Type: image/png\nContent-ID: <img@x>\n\nx\n"
        "--b0\nContent-Type: text/html\nContent-ID: <root@x>\n\n<img src=cid:img@x>\n--b0--\n",
    )
    parsed = message_parse(raw)
    assert parsed.html_body == "<img src=cid:img@x>"
    assert [(a.part_id, a.inline) for a in parsed.attachments] == [("1", True)]


def test_it_lists_a_related_image_the_html_never_refers_to():
    parsed = message_parse(
        multipart(
            "related",
            "Content-Type: text/html\n\n<p>no images here</p>",
            "Content-Type: image/png\nContent-ID: <unused@x>\n\nx",
        )
    )
    (image,) = parsed.attachments
    assert (image.content_id, image.inline) == ("unused@x", False)


def test_it_shows_a_text_part_with_a_name_but_no_disposition_as_an_attachment():
    parsed = message_parse(
        multipart(
            "mixed",
            "Content-Type: text/plain\n\nBody.",
            'Content-Type: text/plain; name="notes.txt"\n\nNotes.',
        )
    )
    assert parsed.text_body == "Body."
    assert [a.filename for a in parsed.attachments] == ["notes.txt"]


# --- Hostile mail ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "20-xss-script-onerror.eml",
        "21-javascript-links.eml",
        "22-svg-mxss.eml",
        "23-css-tracking.eml",
        "24-base-meta-form.eml",
    ],
)
def test_it_passes_hostile_html_on_only_as_html_body_for_the_sanitizer(name):
    parsed = message_parse(fixture(name))
    assert "XSS-" in parsed.html_body or "__pwned" in parsed.html_body
    assert parsed.text_body is None and parsed.attachments == []


def test_it_keeps_markup_in_headers_as_plain_text():
    parsed = message_parse(fixture("25-header-xss.eml"))
    assert parsed.subject.startswith("<script>alert('XSS-subject')</script>")
    assert parsed.from_ == [Address("<img src=x onerror=alert(1)>", "evil@example.com")]
    assert parsed.cc == [Address("<svg onload=alert('XSS-cc-encoded')>", "carol@example.net")]
    names = [a.filename for a in parsed.attachments]
    assert names == ["_img src=x onerror=alert('XSS-filename')_.txt", "mimetype.bin"]


def test_it_strips_bidi_overrides_from_senders_and_file_names():
    parsed = message_parse(fixture("26-bidi-spoof.eml"))
    assert parsed.from_ == [Address("elpmaxe.knab@troppus", "attacker@evil.example")]
    assert parsed.reply_to == [Address("support@bank.example", "attacker@evil.example")]
    names = [a.filename for a in parsed.attachments]
    assert names == ["invoicegnp.exe", "reportfdp..exe", "photojpg.scr"]


def test_it_shows_a_message_without_its_closing_boundary():
    parsed = message_parse(fixture("27-missing-closing-boundary.eml"))
    assert parsed.text_body == "The closing boundary of this message is missing."
    assert [a.filename for a in parsed.attachments] == ["truncated.bin"]
    assert parse.DAMAGED in parsed.problems


def test_it_shows_the_raw_text_of_a_multipart_without_a_boundary():
    parsed = message_parse(fixture("28-missing-boundary-parameter.eml"))
    assert "The boundary of this message was never declared" in parsed.text_body
    assert parsed.text_body.startswith("--lost-0028\nContent-Type: text/plain")
    assert parsed.problems == [parse.NO_BOUNDARY]


def test_it_reads_an_unknown_charset_as_utf8_and_says_so():
    parsed = message_parse(fixture("29-unknown-charset.eml"))
    assert parsed.subject == "Grüße in an unknown charset"
    assert parsed.text_body.startswith("Grüße — this text is UTF-8")
    assert parsed.problems == [
        "Unknown character set x-unknown-charset; the text is shown as UTF-8 and some "
        "characters may be wrong."
    ]


def test_it_reads_raw_8bit_headers_and_a_windows_1252_body_labelled_latin1():
    parsed = message_parse(fixture("30-raw-8bit-headers.eml"))
    assert parsed.subject == "Grüße aus Köln – ohne Kodierung"
    assert parsed.from_ == [Address("Jürgen Müller", "juergen@example.de")]
    assert parsed.to == [Address("Zoë Ærø", "zoe@example.dk")]
    assert parsed.text_body == "Preis: 20 € “inklusive”, Lieferung nach München.\n"


def test_it_caps_a_huge_header_line():
    huge = dict(message_headers(fixture("31-huge-header.eml")))["X-Huge-Header"]
    assert len(huge) == 2000 and huge.endswith("…")


def test_it_caps_a_huge_subject():
    parsed = message_parse(mail("Subject: " + "A" * 200_000, "body"))
    assert len(parsed.subject) == 2000 and parsed.subject.endswith("A…")


def test_it_stops_at_30_levels_of_nesting_and_says_so():
    parsed = message_parse(fixture("32-deep-nesting.eml"))
    assert parsed.text_body == "The outer text of a message nested 60 levels deep."
    assert parsed.problems == [parse.TOO_DEEP]


def test_it_flattens_path_and_line_break_tricks_in_attachment_names():
    parsed = message_parse(fixture("33-traversal-crlf-names.eml"))
    names = [a.filename for a in parsed.attachments]
    assert names == [
        "passwd",
        "evil.dll",
        "script_.txt",
        "inject Set-Cookie_ x=1.txt",
        "htaccess",
        "nulbyte.txt",
    ]
    for name in names:
        assert not set(name) & set("/\\\r\n\x00")


def test_it_never_shows_an_html_attachment_as_the_body():
    parsed = message_parse(fixture("34-html-attachment.eml"))
    assert parsed.html_body is None
    assert parsed.text_body.startswith("The attached page and picture")
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("page.html", "text/html"),
        ("attachment-3.html", "text/html"),
        ("chart.svg", "image/svg+xml"),
        ("page.xhtml", "application/xhtml+xml"),
    ]
    assert not any(a.inline for a in parsed.attachments)


def test_it_opens_nested_attached_messages_down_to_the_depth_bound():
    raw = fixture("35-rfc822-deep-nest.eml")
    assert message_parse(raw, part="2.2.2").subject == "Level 3"
    level_29 = message_parse(raw, part=".".join(["2"] * 29))
    assert (level_29.subject, level_29.problems) == ("Level 29", [])
    level_30 = message_parse(raw, part=".".join(["2"] * 30))
    assert (level_30.subject, level_30.problems) == ("Level 30", [parse.TOO_DEEP])
    assert level_30.text_body is None
    too_deep = ".".join(["2"] * 31)
    assert message_parse(raw, part=too_deep).problems == [
        f"The attached message {too_deep[:39]}… was not found in this message."
    ]


def test_it_notes_damaged_base64_and_shows_what_it_can():
    parsed = message_parse(fixture("36-invalid-base64.eml"))
    assert parsed.text_body.startswith("The text of this message has broken base64.")
    assert parsed.problems == [parse.BAD_ENCODING]
    assert [a.filename for a in parsed.attachments] == ["garbage.bin", "cut.png"]


def test_it_gives_no_date_for_a_garbage_date():
    assert message_parse(fixture("37-garbage-date.eml")).date is None


def test_it_shows_a_spoofing_sender_whole_and_says_it_could_not_be_read():
    parsed = message_parse(fixture("38-sender-spoofing.eml"))
    assert parsed.from_ == [Address("ceo@bank.example)<mallory@attacker.example>", "")]
    assert parsed.cc == [Address("accounts@bank.example@attacker.example", "")]
    assert parsed.reply_to == [Address("ceo@bank.example", "mallory@attacker.example")]
    assert parsed.problems == [parse.SENDER_UNREADABLE]


def test_it_shows_the_real_domain_of_a_mailsploit_sender():
    parsed = message_parse(fixture("39-mailsploit.eml"))
    (sender,) = parsed.from_
    assert sender.name == "" and sender.addr.endswith("=?=@mailsploit.example")
    (reply_to,) = parsed.reply_to
    assert reply_to == Address("service@bank.example", "mallory@attacker.example")


def test_it_stops_at_500_parts_and_says_so():
    raw = fixture("40-many-parts.eml")
    parsed = message_parse(raw)
    assert len(parsed.attachments) == 499  # plus the text body: 500 parts
    assert parsed.attachments[-1].filename == "note-499.txt"
    assert parsed.problems == [parse.TOO_MANY_PARTS]
    assert message_part(raw, "501") is None


# --- Hostile shapes the standard library itself cannot take ---------------------------


def test_it_reads_a_content_type_with_30000_separators_quickly():
    raw = mail("Subject: params\nContent-Type: text/plain;" + ";" * 30000 + " charset=utf-8", "hi")
    started = time.monotonic()
    parsed = message_parse(raw)
    assert time.monotonic() - started < 2  # the plain standard library takes ~14 s
    assert parsed.text_body == "hi"


def test_it_reads_a_part_whose_disposition_has_60000_separators_quickly():
    raw = multipart(
        "mixed",
        "Content-Type: text/plain\n\nbody",
        "Content-Type: application/pdf\nContent-Disposition: attachment;"
        + ";" * 60000
        + " filename=a.pdf\n\n%PDF",
    )
    started = time.monotonic()
    parsed = message_parse(raw)
    assert time.monotonic() - started < 2
    assert [a.filename for a in parsed.attachments] == ["attachment-2.pdf"]


def test_it_survives_1000_nested_comments_in_from_and_content_type():
    comments = "(" * 1000 + ")" * 1000
    raw = mail(
        f"From: Mallory {comments} <mallory@evil.example>\n"
        f"Subject: comments\nContent-Type: text/plain; charset=utf-8 {comments}",
        "body",
    )
    parsed = message_parse(raw)
    assert parsed.text_body == "body"
    (sender,) = parsed.from_
    assert sender.addr == "" and sender.name.startswith("Mallory (((")


@pytest.mark.parametrize("levels", [1000, 5000])
def test_it_survives_multiparts_nested_beyond_the_recursion_limit(levels):
    parsed = message_parse(nested_multiparts(levels))
    assert parsed.subject == "deep"
    assert parsed.problems and parsed.problems[0] in (
        parse.TOO_DEEP,
        parse.TOO_DEEP_TO_READ,
        parse.TOO_COMPLEX,
    )
    assert message_part(nested_multiparts(levels), ".".join(["1"] * 40)) is None


def test_it_survives_attached_messages_nested_5000_deep():
    parsed = message_parse(nested_messages(5000))
    assert parsed.subject == "outer"
    assert parsed.problems == [parse.TOO_DEEP_TO_READ]
    assert message_part(nested_messages(5000), "1.1") is None


def test_it_refuses_to_build_100000_parts():
    raw = mail("Subject: parts\nContent-Type: multipart/mixed; boundary=x", "--x\n\n" * 100_000)
    started = time.monotonic()
    parsed = message_parse(raw)
    assert time.monotonic() - started < 2
    assert parsed.subject == "parts" and parsed.problems == [parse.TOO_COMPLEX]
    assert parsed.too_large and parsed.attachments == []


def test_it_still_shows_text_with_many_lines_that_look_like_boundaries():
    raw = mail("Subject: dump", "-- a comment in an SQL dump\n" * 10_000)
    assert message_parse(raw).text_body.count("-- a comment") == 10_000


def test_it_shows_only_the_headers_of_a_message_over_the_size_limit():
    raw = fixture("05-attachments-umlaut.eml")
    parsed = message_parse(raw, max_bytes=1000)
    assert parsed.too_large
    assert parsed.subject == "Anhänge mit Umlauten"
    assert parsed.from_ == [Address("Anna Schmidt", "anna.schmidt@example.org")]
    assert parsed.text_body is None and parsed.html_body is None and parsed.attachments == []
    assert parsed.problems[0].startswith("The message is too large to show")
    assert message_part(raw, "2", max_bytes=1000) is None


def test_it_does_not_open_attached_messages_of_a_message_over_the_size_limit():
    parsed = message_parse(fixture("10-attached-message.eml"), part="2", max_bytes=1000)
    assert parsed.too_large and parsed.subject == ""


@pytest.mark.parametrize("cut", [60, 100, 300])
def test_it_shows_the_beginning_of_a_truncated_message_without_attachments(cut):
    raw = fixture("05-attachments-umlaut.eml")
    parsed = message_parse(raw[:-cut], truncated=True)
    assert parsed.truncated and not parsed.too_large
    assert parsed.subject == "Anhänge mit Umlauten"
    assert parsed.from_ == [Address("Anna Schmidt", "anna.schmidt@example.org")]
    assert parsed.text_body.startswith("Anbei die Grüße und der Brief über die Straße.")
    # The cut parts are not listed (none could be fetched), and the damage the cut does
    # (no closing boundary, base64 cut short) is not blamed on the message.
    assert parsed.attachments == [] and parsed.problems == []


def test_it_keeps_the_html_of_a_truncated_message_but_no_inline_images():
    raw = fixture("04-inline-cid-image.eml")
    parsed = message_parse(raw[:-80], truncated=True)
    assert "<p>Do you like it?</p>" in parsed.html_body
    assert parsed.inline_images == {}
    assert parsed.truncated and parsed.problems == []


def test_it_still_reports_what_the_cut_does_not_explain():
    raw = fixture("29-unknown-charset.eml")
    parsed = message_parse(raw, truncated=True)
    assert parsed.truncated
    assert any(problem.startswith("Unknown character set") for problem in parsed.problems)


def test_a_message_read_whole_is_not_truncated():
    assert message_parse(fixture("05-attachments-umlaut.eml")).truncated is False


@pytest.mark.parametrize(
    "raw",
    [b"", b"\r\n\r\n", b"garbage without headers", bytes(range(256)) * 50, b"Subject: x"],
)
def test_it_never_raises_for_junk(raw):
    assert isinstance(message_parse(raw), ParsedMessage)
    message_part(raw, "1")
    message_headers(raw)


def test_it_never_raises_for_mangled_fixtures():
    """A fixed-seed fuzz over the fixtures: bytes flipped, cut and spliced with MIME
    syntax. Every listed part must still be fetchable with its listed size."""
    rnd = random.Random(2026)
    sources = [p.read_bytes()[:40_000] for p in FIXTURES]
    splices = [b"\r\n", b"--", b"=?", b"?=", b";", b"(", b'"', b"\\", b"<", b"@", b"\x00", b"\xff"]
    splices += [
        b"Content-Type: multipart/mixed; boundary=z\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
    ]
    for _ in range(300):
        raw = bytearray(rnd.choice(sources))
        for _ in range(rnd.randint(1, 20)):
            pos = rnd.randrange(len(raw) or 1)
            roll = rnd.random()
            if roll < 0.4 and raw:
                raw[pos] = rnd.randrange(256)
            elif roll < 0.7:
                raw[pos:pos] = rnd.choice(splices)
            else:
                del raw[pos : pos + rnd.randint(1, 200)]
        raw = bytes(raw)
        parsed = message_parse(raw)
        for info in parsed.attachments[:5]:
            assert len(message_part(raw, info.part_id).data) == info.size
