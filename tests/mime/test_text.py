"""mime.text: readable text from the first bytes of a part, however they were cut."""

import base64
import quopri

from webmail.mime.text import text_excerpt


def excerpt(data: bytes, encoding=None, charset="utf-8", html=False, limit=4096) -> str:
    return text_excerpt(
        data, transfer_encoding=encoding, charset=charset, html_text=html, limit=limit
    )


def test_plain_text_has_its_whitespace_collapsed():
    assert excerpt(b"Hallo Bob,\r\n\r\n  bis  morgen.\r\n") == "Hallo Bob, bis morgen."


def test_base64_cut_inside_a_quantum_keeps_the_whole_ones():
    encoded = base64.encodebytes("Grüße aus Köln".encode())  # 17 bytes: 24 letters
    assert excerpt(encoded[:18], "BASE64") == "Grüße aus"  # 4 quanta (12 bytes); 2 left over
    assert excerpt(encoded[:22], "base64") == "Grüße aus Kö"  # cut inside "l": 15 bytes
    assert excerpt(encoded, "base64") == "Grüße aus Köln"


def test_quoted_printable_cut_inside_an_escape():
    encoded = quopri.encodestring("Straße über".encode())
    assert excerpt(encoded, "quoted-printable") == "Straße über"
    cut = encoded[: encoded.index(b"=C3") + 2]  # "=C" at the very end
    assert excerpt(cut, "quoted-printable") == "Stra"


def test_a_character_cut_in_two_is_dropped():
    assert excerpt("Grüße".encode()[:3]) == "Gr"


def test_the_declared_charset_is_used():
    assert excerpt("Grüße".encode("latin-1"), charset="iso-8859-1") == "Grüße"


def test_html_is_text_without_markup_styles_scripts_and_comments():
    markup = (
        b"<html><head><title>Newsletter</title><style>p{color:red}</style></head>"
        b"<body><!-- tracking --><p>Spring&nbsp;planting</p><script>x()</script>"
        b"<div>starts &amp; ends</div><br>soon</body></html>"
    )
    assert excerpt(markup, html=True) == "Spring planting starts & ends soon"


def test_html_cut_inside_a_style_or_a_tag_leaves_nothing_of_them():
    assert excerpt(b"<p>Hello</p><style>body { font-", html=True) == "Hello"
    assert excerpt(b"<p>Hello</p><a href=\"https://exa", html=True) == "Hello"


def test_quoted_lines_of_a_reply_are_left_out():
    assert excerpt(b"Yes, fine.\r\n> Can we meet?\r\n>> Old\r\n") == "Yes, fine."


def test_the_limit_holds_and_nothing_raises():
    assert len(excerpt(b"word " * 1000, limit=100)) == 100
    assert excerpt(b"\xff\xfe\x00garbage", "x-unknown", charset="no-such") == "\ufffd\ufffdgarbage"
    assert excerpt(b"!!!", "base64") == ""
