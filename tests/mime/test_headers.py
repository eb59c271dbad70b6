"""Header values as the reading page and the message list show them."""

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest

from webmail.mime.headers import (
    address_list,
    charset_decode,
    header_date,
    header_text,
)
from webmail.protocols.store import Address

BIDI_AND_CONTROLS = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x9b",
    "\ufeff",
]


# --- header_text ----------------------------------------------------------------------


def test_it_decodes_encoded_words_in_several_charsets():
    value = "=?ISO-8859-1?Q?Gr=FC=DFe_aus_M=FCnchen_?=\r\n =?UTF-8?B?4oCTIOaXpeacrOiqng==?="
    assert header_text(value) == "Grüße aus München – 日本語"


def test_it_decodes_a_character_split_across_two_encoded_words():
    # "日" is E6 97 A5; a careless encoder split it between two words.
    assert header_text("=?utf-8?B?5pc=?= =?utf-8?B?pQ==?=") == "日"


def test_it_keeps_the_space_between_an_encoded_word_and_plain_text():
    assert header_text("Re: =?utf-8?q?Gr=C3=BC=C3=9Fe?= from Köln") == "Re: Grüße from Köln"


def test_it_reads_encoded_words_in_an_unknown_charset_as_utf8():
    assert header_text("=?x-unknown-charset?Q?Gr=C3=BC=C3=9Fe?=") == "Grüße"


def test_it_leaves_a_malformed_encoded_word_alone():
    assert header_text("=?utf-8?X?abc?= and =?broken") == "=?utf-8?X?abc?= and =?broken"


def test_it_reads_the_encoded_word_that_hangs_old_cpython_quickly():
    started = time.monotonic()
    assert header_text("=?utf-8?q?somevalue?=aa" * 500).startswith("somevalueaa")
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "raw, text",
    [
        ("Grüße".encode(), "Grüße"),
        ("Grüße".encode("latin-1"), "Grüße"),
        (b"Preis: 20 \x80", "Preis: 20 €"),  # windows-1252, not a C1 control
    ],
)
def test_it_reads_raw_8bit_bytes_as_utf8_else_windows_1252(raw, text):
    assert header_text(raw) == text


def test_it_reads_the_surrogate_escapes_of_the_email_package():
    escaped = "Grüße".encode().decode("ascii", "surrogateescape")
    assert header_text(escaped) == "Grüße"


def test_it_unfolds_and_collapses_whitespace():
    assert header_text("A long\r\n\tsubject  with\r\n  folds\n") == "A long subject with folds"


def test_it_turns_unicode_line_breaks_into_spaces():
    assert header_text("one\x85two\u2028three\u2029four") == "one two three four"


@pytest.mark.parametrize("control", BIDI_AND_CONTROLS)
def test_it_strips_bidi_and_control_characters(control):
    assert header_text(f"invoice{control}gnp.exe") == "invoicegnp.exe"


def test_it_strips_controls_smuggled_in_encoded_words():
    assert header_text("=?utf-8?Q?service=40bank=2Eexample=0A=0D=00?= x") == (
        "service@bank.example x"
    )


def test_it_caps_an_absurd_header_line():
    text = header_text("x" * 200_000)
    assert len(text) == 2000 and text.endswith("…")


def test_it_caps_to_a_limit_the_caller_chooses():
    assert header_text("abcdef", limit=4) == "abc…"


@pytest.mark.parametrize("value", [None, "", b"", "   ", "\r\n"])
def test_it_gives_empty_text_for_nothing(value):
    assert header_text(value) == ""


@pytest.mark.parametrize(
    "value",
    ["\ud800lone surrogate", b"\xff\xfe\x00", "=?utf-16?b?2DzYPQ==?=", "=?utf-7?q?+AGE-?=", 12],
)
def test_it_never_raises_and_gives_encodable_text(value):
    header_text(value).encode("utf-8")


# --- charset_decode -------------------------------------------------------------------


def test_it_reads_iso_8859_1_as_windows_1252_like_browsers_do():
    assert charset_decode(b"\x93quoted\x94 \x80", "ISO-8859-1") == ("“quoted” €", True)


def test_it_says_when_it_does_not_know_a_charset():
    assert charset_decode("Grüße".encode(), "x-unknown-charset") == ("Grüße", False)


@pytest.mark.parametrize("label", ["unicode_escape", "punycode", "idna", "rot13", "zlib"])
def test_it_refuses_python_codecs_that_are_not_charsets(label):
    assert charset_decode(b"\\u0041", label) == ("\\u0041", False)


# --- address_list ---------------------------------------------------------------------


def test_it_reads_display_names_and_addresses():
    assert address_list('"Müller, Jürgen" <j@example.de>, anna@example.org') == [
        Address(name="Müller, Jürgen", addr="j@example.de"),
        Address(name="", addr="anna@example.org"),
    ]


def test_it_decodes_encoded_display_names():
    assert address_list("=?UTF-8?B?5bGx55Sw5aSq6YOO?= <yamada@example.jp>") == [
        Address(name="山田太郎", addr="yamada@example.jp")
    ]


def test_it_reads_raw_latin1_bytes_as_sent_by_old_clients():
    assert address_list(b"J\xfcrgen M\xfcller <juergen@example.de>") == [
        Address(name="Jürgen Müller", addr="juergen@example.de")
    ]


def test_it_keeps_the_real_address_behind_a_display_name_with_an_at_sign():
    assert address_list('"ceo@bank.example" <mallory@attacker.example>') == [
        Address(name="ceo@bank.example", addr="mallory@attacker.example")
    ]


def test_it_shows_markup_in_a_display_name_as_text_with_the_real_address():
    assert address_list('"<img src=x onerror=alert(1)>" <evil@example.com>') == [
        Address(name="<img src=x onerror=alert(1)>", addr="evil@example.com")
    ]


def test_it_strips_a_bidi_override_from_a_display_name():
    (sender,) = address_list("=?UTF-8?Q?=E2=80=AEelpmaxe=2Eknab=40troppus?= <a@evil.example>")
    assert sender == Address(name="elpmaxe.knab@troppus", addr="a@evil.example")


def test_it_never_decodes_the_address_itself():
    value = "=?utf-8?b?c2VydmljZUBiYW5rLmV4YW1wbGU=?==?utf-8?Q?=00=0A?=@mailsploit.example"
    (sender,) = address_list(value)
    assert sender.addr == value and sender.addr.endswith("@mailsploit.example")


@pytest.mark.parametrize(
    "value",
    [
        "ceo@bank.example)<mallory@attacker.example>",  # CVE-2023-27043
        "accounts@bank.example@attacker.example",  # CVE-2019-16056
        '"unterminated <bob@example.net>',
        "Mallory " + "(" * 1000 + ")" * 1000 + " <mallory@evil.example>",
    ],
)
def test_it_shows_an_unreadable_address_header_whole_with_an_empty_address(value):
    (address,) = address_list(value)
    assert address.addr == ""
    assert address.name.startswith(value[:20].strip())


def test_it_shows_every_mailbox_when_an_address_hides_behind_another():
    assert [a.addr for a in address_list("alice@example.org <bob@example.org>")] == [
        "alice@example.org",
        "bob@example.org",
    ]


def test_it_reads_groups_and_drops_empty_ones():
    assert address_list("Team: a@example.org, b@example.org;, undisclosed-recipients:;") == [
        Address(name="", addr="a@example.org"),
        Address(name="", addr="b@example.org"),
    ]


@pytest.mark.parametrize("value", [None, "", b"", "<>", " , , "])
def test_it_gives_no_addresses_for_an_empty_header(value):
    assert address_list(value) == []


def test_it_bounds_the_number_of_addresses():
    value = ", ".join(f"user{n}@example.org" for n in range(3000))
    assert len(address_list(value)) == 1000


# --- header_date ----------------------------------------------------------------------


def test_it_reads_an_rfc_5322_date_with_its_zone():
    assert header_date("Tue, 3 Mar 2026 10:00:00 +0100 (CET)") == datetime(
        2026, 3, 3, 10, 0, tzinfo=timezone(timedelta(hours=1))
    )


@pytest.mark.parametrize("value", ["3 Mar 2026 10:00:00 -0000", "2026-03-03T10:00:00"])
def test_it_reads_a_date_without_a_zone_as_utc(value):
    assert header_date(value) == datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_it_reads_a_date_from_bytes():
    assert header_date(b"Tue, 3 Mar 2026 10:00:00 +0000") == datetime(2026, 3, 3, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Tomorrow at noon, probably",
        "Tue, 3 Mar 99999 10:00:00 +0100",
        "Tue, 3 Mar 2026 10:00:00 +9999",
        "Mon, 32 Jan 2026 25:61:00 +0100",
    ],
)
def test_it_gives_none_for_a_date_it_cannot_read(value):
    assert header_date(value) is None
