"""Property tests (hypothesis) over the MIME parser and the sanitizer, the two pure
functions every message page goes through (issue 6, "Hardening").

Generated messages have random headers (encoded words in known, unknown and broken
charsets, bidi and control characters, bare CR/LF), random MIME trees (multiparts,
message/rfc822, every transfer encoding, broken ones too) and HTML bodies built from a
vocabulary of dangerous tags, attributes, URLs, entities and parser-confusing fragments.

Properties: nothing the views call raises (message_parse, message_part, message_headers,
body_render, html_sanitize); the body HTML, re-parsed as a browser would parse it, holds
only elements and attributes the sanitizer's allow-lists name, no event handler, no script,
no URL outside http(s)/mailto or our own; sanitizing is a fixed point. One pass of the
Django test client opens a few hundred generated messages through the reading page and
its body frame: every one answers 200.

Runs are reproducible (derandomize=True: the same examples on every run and in CI).
"""

import base64
import quopri

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accounts.models import MailAccount
from tests.test_sanitize import assert_inert, elements
from webmail import sanitize
from webmail.mime.parse import message_headers, message_parse, message_part
from webmail.sanitize import html_sanitize
from webmail.services.bodies import body_render

INLINE = "/mail/inline/"
PROXY = "/mail/image-proxy/?u="
_FUZZ = settings(
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def fuzz(examples: int) -> settings:
    return settings(_FUZZ, max_examples=examples)


# --- HTML -------------------------------------------------------------------------------

TAGS = [
    "a", "img", "div", "p", "b", "table", "tr", "td", "li", "ul", "style", "script", "svg",
    "math", "mtext", "mglyph", "mi", "annotation-xml", "foreignObject", "animate", "set",
    "use", "image", "feImage", "iframe", "object", "embed", "base", "meta", "link", "form",
    "input", "button", "select", "option", "noscript", "template", "xmp", "noembed",
    "noframes", "textarea", "title", "plaintext", "area", "map", "video", "source",
    "details", "body", "html", "head", "frameset", "font", "pre", "h1", "blockquote",
]  # fmt: skip
ATTRIBUTES = [
    "href", "src", "srcset", "style", "onerror", "onload", "onclick", "ONMOUSEOVER",
    "xlink:href", "xmlns", "xmlns:xlink", "background", "action", "formaction",
    "attributeName", "values", "to", "srcdoc", "data", "poster", "ping", "usemap", "name",
    "id", "class", "title", "http-equiv", "content", "encoding", "color", "width", "alt",
    "target", "rel", "dir", "align",
]  # fmt: skip
VALUES = [
    "javascript:alert(1)", "jav&#x09;ascript:alert(1)", "java\nscript:alert(1)",
    "&#106;avascript:alert(1)", "javascript&colon;alert(1)", " javascript:alert(1)",
    "JaVaScRiPt:alert(1)", "vbscript:msgbox(1)", "data:text/html,<script>alert(1)</script>",
    "data:image/svg+xml;base64,PHN2Zy8+", "https://tracker.example/p.gif",
    "//evil.example/x", "http://[::1]/x", "/accounts/logout/", "cid:logo@x",
    "cid:../../x", "mailto:a@example.org", "https://example.org/a?b=1&copy=2",
    "url(https://evil.example/x)", "background:url(//evil.example/y)",
    "width:expression(alert(1))", "color:red", "\\75 rl(https://evil.example/z)",
    "x onerror=alert(1)", '"><script>alert(1)</script>', "</style><img src=x onerror=alert(1)>",
    "position:fixed;top:0", "-moz-binding:url(x)", "text/html", "refresh", "0;url=https://evil.example/",
    "", "&", "&amp;", "&lt;script&gt;", "\x00", "\u202e",
]  # fmt: skip
TEXTS = [
    "<", "</", ">", "<!--", "-->", "--!>", "<![CDATA[", "]]>", "<?", "&", "&lt;", "&#0;",
    "&#x3c;script&#x3e;", '"', "'", "`", "</style>", "</script>", "</textarea>", "</title>",
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "@import url(x);",
    "hello", " ", "\n", "\t", "\u202e", "\u00e4", "\ufeff", "javascript:alert(1)",
]  # fmt: skip

names = st.sampled_from(TAGS)
attributes = st.lists(
    st.tuples(st.sampled_from(ATTRIBUTES), st.sampled_from(VALUES) | st.text(max_size=12)),
    max_size=4,
)
texts = st.sampled_from(TEXTS) | st.text(max_size=16)


def _attribute_text(name: str, value: str, quote: str) -> str:
    if quote:
        return f" {name}={quote}{value.replace(quote, '')}{quote}"
    return f" {name}={value.replace(' ', '').replace('>', '') or 'x'}"


@st.composite
def start_tags(draw) -> str:
    name = draw(names)
    quote = draw(st.sampled_from(['"', "'", ""]))
    attrs = "".join(_attribute_text(n, v, quote) for n, v in draw(attributes))
    return f"<{name}{attrs}{draw(st.sampled_from(['', '/']))}>"


elements_html = st.recursive(
    texts,
    lambda children: st.builds(
        lambda start, inner, close: start + "".join(inner) + close,
        start_tags(),
        st.lists(children, max_size=4),
        names.map(lambda n: f"</{n}>") | st.just(""),
    ),
    max_leaves=20,
)
# Well-formed trees and token soup (tags, end tags and text in any order).
html_fragments = st.one_of(
    elements_html,
    st.lists(st.one_of(start_tags(), names.map(lambda n: f"</{n}>"), texts), max_size=25).map(
        "".join
    ),
)

# --- messages ---------------------------------------------------------------------------

CHARSETS = [
    "utf-8", "iso-8859-1", "windows-1252", "utf-7", "utf-16", "iso-2022-jp", "koi8-r",
    "x-unknown-42", "", "utf-8'de'", "us-ascii",
]  # fmt: skip
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "binary", "x-uuencode", ""]
HEADER_PIECES = [
    "PayPal <security@paypal.com>", "\u202eelpmaxe", "a@b@c", "ceo@bank.example)<m@x.example>",
    "(((", '"', "<", ">", ",", ";", ":", "@", "\\", "=?", "?=", "\x00", "\r", "\n", "\t",
    "Anna Schmidt", "attacker@evil.example", "<img src=x onerror=alert(1)>",
]  # fmt: skip


@st.composite
def encoded_words(draw) -> str:
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(st.text(max_size=12) | st.sampled_from(HEADER_PIECES))
    kind = draw(st.sampled_from(["b", "q", "B", "Q", "x"]))
    data = text.encode("utf-8", "surrogatepass")
    if kind.lower() == "b":
        payload = base64.b64encode(data).decode()
        payload = draw(st.sampled_from([payload, payload[:-1], payload + "=", "!!!"]))
    else:
        payload = quopri.encodestring(data, header=True).decode().replace("\n", "")
    return f"=?{charset}?{kind}?{payload}?="


header_values = st.lists(
    encoded_words() | st.sampled_from(HEADER_PIECES) | st.text(max_size=10), max_size=5
).map(" ".join)


def _header_safe(value: str) -> str:
    # A raw line break would end the header block; keep the value on its (folded) line.
    return value.replace("\r", " ").replace("\n", "\n ")


@st.composite
def leaves(draw) -> str:
    kind = draw(
        st.sampled_from(
            [
                "text/html",
                "text/plain",
                "image/svg+xml",
                "image/png",
                "application/octet-stream",
                "text/calendar",
                "text/x-unknown",
            ]
        )
    )
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    body = draw(html_fragments) if kind != "text/plain" else draw(texts)
    data = body.encode("utf-8", "surrogatepass")
    if encoding == "base64":
        text = base64.encodebytes(data).decode()
        text = draw(st.sampled_from([text, text[:-3], text + "@@", "not base64 at all"]))
    elif encoding == "quoted-printable":
        text = quopri.encodestring(data).decode()
    else:
        text = body
    headers = [f"Content-Type: {kind}; charset={charset}"]
    if encoding:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if draw(st.booleans()):
        disposition = draw(st.sampled_from(["attachment", "inline", "bogus"]))
        name = draw(
            st.sampled_from(["a.html", "../../x.svg", "x\u202egnp.exe", "=?utf-8?q?a=0Ab?="])
        )
        headers.append(f'Content-Disposition: {disposition}; filename="{name}"')
    if draw(st.booleans()):
        headers.append(f"Content-ID: <{draw(st.sampled_from(['logo@x', 'p1', '../x']))}>")
    return "\n".join(headers) + "\n\n" + text


def _multipart(draw, children: list[str]) -> str:
    subtype = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "x-bogus"]))
    boundary = draw(st.sampled_from(["b1", "b2", "=_x", "b1"]))  # b1 twice: nested clashes
    closed = draw(st.booleans())
    body = "".join(f"--{boundary}\n{child}\n" for child in children)
    if closed:
        body += f"--{boundary}--\n"
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\npreamble\n{body}'


def _rfc822(draw, child: str) -> str:
    return f"Content-Type: message/rfc822\n\nSubject: {draw(header_values)}\n{child}"


entities = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(
            lambda data, kids: _multipart(data.draw, kids),
            st.data(),
            st.lists(children, max_size=4),
        ),
        st.builds(lambda data, kid: _rfc822(data.draw, kid), st.data(), children),
    ),
    max_leaves=6,
)


@st.composite
def raw_messages(draw) -> bytes:
    head = [
        f"{name}: {_header_safe(draw(header_values))}"
        for name in ("From", "To", "Subject")
        if draw(st.integers(0, 9))  # now and then a field is missing
    ]
    head.append(
        "Date: " + draw(st.sampled_from(["Mon, 6 Apr 2026 10:00:00 +0200", "tomorrow", ""]))
    )
    head.append("Message-ID: <fuzz@example.org>")
    head.append("MIME-Version: 1.0")
    text = "\n".join(head) + "\n" + draw(entities)
    line_end = draw(st.sampled_from(["\r\n", "\n"]))
    return text.replace("\n", line_end).encode("utf-8", "surrogatepass")


# --- checks -----------------------------------------------------------------------------


def inline_url(content_id: str) -> str:
    return INLINE + content_id.replace("/", "_")


def proxy_url(url: str) -> str:
    return PROXY + url


def assert_sanitized(fragment: str) -> None:
    """Everything tests/test_sanitize.py checks, and every attribute on the allow-lists."""
    assert "<script" not in fragment.lower(), fragment
    assert_inert(fragment, allowed_src=(INLINE, PROXY))
    for _namespace, name, attributes, _element in elements(fragment):
        for attribute, value in attributes.items():
            allowed = sanitize._attribute_allowed(name, attribute, value)
            assert allowed or (name == "a" and attribute in ("target", "rel")), (
                name,
                attribute,
                fragment,
            )


@fuzz(400)
@given(html_fragments)
@example("0<!>\x0c0")  # a form feed after a tag: "0\x0c0", then "0?0" (fixed in sanitize)
def test_sanitized_html_is_inert_and_a_fixed_point(fragment):
    for remote in (None, proxy_url):
        clean = html_sanitize(fragment, inline_image_url=inline_url, remote_image_url=remote).html
        assert_sanitized(clean)
        again = html_sanitize(clean, inline_image_url=inline_url, remote_image_url=remote).html
        assert again == clean


@fuzz(300)
@given(raw_messages())
def test_no_message_makes_the_parser_or_the_sanitizer_raise(raw):
    parsed = message_parse(raw)
    message_headers(raw)
    for part in parsed.attachments:
        message_part(raw, part.part_id)
        if part.is_message:
            message_parse(raw, part=part.part_id)
    for remote in (None, proxy_url):
        body = body_render(parsed, inline_image_url=inline_url, remote_image_url=remote)
        assert_sanitized(body.html)


# --- through the reading page -------------------------------------------------------------


@pytest.fixture
def local_account(alice, settings, tmp_path):
    """alice's POP3 account, read from the local store only (nothing to connect to)."""
    from webmail.services.local_store import local_folders_ensure

    settings.DATA_DIR = tmp_path
    account = MailAccount(
        user=alice, email="alice@example.org", protocol=MailAccount.Protocol.POP3,
        incoming_host="pop.example.invalid", incoming_port=995, incoming_login="alice",
    )  # fmt: skip
    account.set_incoming_password("not-used-1")
    account.save()
    return account, local_folders_ensure(account=account)


def _stored(account, inbox, raw: bytes) -> int:
    from django.db import transaction

    from webmail.services.local_store import blob_store, stored_entry_read, stored_message_add

    digest, size = blob_store().write(raw)
    entry = stored_entry_read(digest=digest, size=size)
    with transaction.atomic():
        stored, _added = stored_message_add(
            account=account, folder=inbox, digest=digest, size=size, entry=entry
        )
    return stored.indexed.uid


@pytest.mark.django_db
def test_the_reading_page_answers_every_generated_message(alice_client, local_account):
    account, inbox = local_account

    @fuzz(60)
    @given(raw_messages())
    def opens(raw):
        uid = _stored(account, inbox, raw)
        base = f"/mail/{account.pk}/{inbox.uidvalidity}/{uid}/"
        page = alice_client.get(base, {"folder": "INBOX"})
        assert page.status_code == 200, raw
        frame = alice_client.get(base + "body/", {"folder": "INBOX"})
        assert frame.status_code == 200, raw
        assert_sanitized(frame.content.decode().partition("<body>")[2].rpartition("</body>")[0])

    opens()
