"""Attachment names as shown and as offered for download."""

from email import message_from_bytes, policy

import pytest

from webmail.mime.filenames import content_disposition, filename_display


def _read(value: str) -> str | None:
    header = f"Content-Disposition: {value}\r\n\r\n".encode("ascii")
    return message_from_bytes(header, policy=policy.default).get_filename()


def _parsed_back(value: str) -> tuple[str | None, str | None]:
    """The names a parser reads from the filename* parameter (which user agents prefer)
    and from the ASCII filename fallback, each on its own."""
    fallback, _, extended = value.partition("; filename*=")
    kind = fallback.partition(";")[0]
    return _read(f"{kind}; filename*={extended}"), _read(fallback)


# --- filename_display -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["Grüße.txt", "Ärger über Straße.pdf", "日本語の資料.docx"])
def test_it_keeps_a_decoded_unicode_name(name):
    assert filename_display(name, "application/pdf", "2") == name


def test_it_decodes_an_encoded_word_left_in_a_name():
    name = "=?UTF-8?Q?=C3=84rger_=C3=BCber_Stra=C3=9Fe.pdf?="
    assert filename_display(name, "application/pdf", "2") == "Ärger über Straße.pdf"


@pytest.mark.parametrize(
    "name, shown",
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\System32\\evil.dll", "evil.dll"),
        ("/absolute/path/secret.txt", "secret.txt"),
        ("C:\\Users\\bob\\report.pdf", "report.pdf"),
    ],
)
def test_it_flattens_paths_to_the_last_component(name, shown):
    assert filename_display(name, "text/plain", "2") == shown


def test_it_removes_line_breaks_that_would_inject_headers():
    shown = filename_display("inject\r\nSet-Cookie: x=1.txt", "text/plain", "2")
    assert "\r" not in shown and "\n" not in shown
    assert shown == "inject Set-Cookie_ x=1.txt"


@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u2069", "\u200e", "\u200f", "\x00"])
def test_it_removes_bidi_and_control_characters_so_the_real_extension_shows(control):
    assert filename_display(f"invoice{control}gnp.exe", "image/png", "2") == "invoicegnp.exe"


@pytest.mark.parametrize("name, shown", [(".htaccess", "htaccess"), ("..bashrc", "bashrc")])
def test_it_removes_leading_dots(name, shown):
    assert filename_display(name, "text/plain", "2") == shown


def test_it_removes_trailing_dots_and_spaces():
    assert filename_display("report.pdf. . ", "application/pdf", "2") == "report.pdf"


def test_it_replaces_characters_windows_cannot_store():
    assert filename_display('a<b>c:d"e|f?g*.txt', "text/plain", "2") == "a_b_c_d_e_f_g_.txt"


def test_it_shortens_a_long_name_and_keeps_the_extension():
    shown = filename_display("x" * 500 + ".pdf", "application/pdf", "2")
    assert len(shown) <= 120 and shown.endswith("….pdf")


def test_it_shortens_by_bytes_for_wide_characters():
    shown = filename_display("資" * 200 + ".xlsx", "application/octet-stream", "2")
    assert len(shown.encode("utf-8")) <= 240 and shown.endswith("….xlsx")


@pytest.mark.parametrize(
    "name, content_type, part_id, shown",
    [
        (None, "application/pdf", "2.1", "attachment-2.1.pdf"),
        ("", "image/jpeg", "3", "attachment-3.jpg"),
        ("../", "message/rfc822", "2", "attachment-2.eml"),
        ("\u202e", "text/x-unknown", "4", "attachment-4.txt"),
        ("...", "application/x-unknown", "5", "attachment-5.bin"),
    ],
)
def test_it_makes_a_name_from_the_part_when_none_is_left(name, content_type, part_id, shown):
    assert filename_display(name, content_type, part_id) == shown


# --- content_disposition --------------------------------------------------------------


def test_it_builds_an_rfc_6266_value_with_an_ascii_fallback():
    assert content_disposition("Grüße.txt") == (
        "attachment; filename=\"Gru_e.txt\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt"
    )


@pytest.mark.parametrize("name", ["Grüße.txt", "Ärger über Straße.pdf", "日本語.pdf", "a b;c.txt"])
def test_it_gives_a_value_parsers_read_back_to_the_same_name(name):
    exact, fallback = _parsed_back(content_disposition(name))
    assert exact == name
    assert fallback.isascii() and fallback.endswith(name.rpartition(".")[2])


def test_it_can_say_inline():
    assert content_disposition("logo.png", inline=True).startswith('inline; filename="logo.png"')


def test_it_gives_an_ascii_fallback_even_for_names_without_latin_letters():
    assert 'filename="attachment.pdf"' in content_disposition("日本語.pdf")


@pytest.mark.parametrize(
    "name",
    ['evil"; filename=x.exe\r\nX-Injected: 1', "a\\b%41.txt", "\r\n", ""],
)
def test_it_cannot_be_made_to_inject_a_header_or_a_parameter(name):
    value = content_disposition(name)
    assert "\r" not in value and "\n" not in value
    assert value.isascii()
    assert value.count('"') == 2
    exact, fallback = _parsed_back(value)
    assert exact and fallback
