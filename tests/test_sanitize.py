"""webmail.sanitize: hostile mail HTML comes out inert, benign mail comes out intact.

Every check on the output parses it with html5lib (bleach's vendored copy, the parser a
browser's behaviour is specified by) and walks the tree: substring searches on the output
would miss what a browser would build from it.
"""

import html
import random
import re

import pytest
from bleach._vendor import html5lib

from webmail.sanitize import (
    ALLOWED_TAGS,
    HTML_DEPTH_MAX,
    SanitizedHtml,
    html_sanitize,
    text_to_html,
)

KNOWN_CID = "logo@postfach.test"
LINK = 'target="_blank" rel="noopener noreferrer"'
PROXY = "/mail/image-proxy/?url="

FORBIDDEN_ELEMENTS = {
    "script", "svg", "math", "noscript", "template", "iframe", "object", "embed", "form",
    "input", "button", "select", "textarea", "option", "base", "meta", "link", "xmp",
    "noembed", "noframes", "plaintext", "title", "frame", "frameset", "applet", "area",
    "map", "video", "audio", "source", "param", "body", "head", "html", "isindex",
    "foreignobject", "mglyph", "mtext", "image",
}  # fmt: skip
FORBIDDEN_ATTRIBUTES = {
    "formaction", "srcset", "ping", "background", "poster", "usemap", "xmlns", "action",
    "srcdoc", "dynsrc", "lowsrc", "http-equiv", "content", "data", "code", "codebase",
}  # fmt: skip
CSS_FORBIDDEN = ("url(", "@import", "expression", "image-set", "var(", "behavior", "-moz-binding")


def blocked(html: str) -> SanitizedHtml:
    """Remote content off; only one cid is known to the message."""
    return html_sanitize(
        html,
        inline_image_url=lambda cid: f"/inline/{cid}" if cid == KNOWN_CID else None,
        remote_image_url=None,
    )


def nothing_known(html: str) -> SanitizedHtml:
    return html_sanitize(html, inline_image_url=lambda _cid: None, remote_image_url=None)


def proxied(html: str) -> SanitizedHtml:
    return html_sanitize(
        html, inline_image_url=lambda _cid: None, remote_image_url=lambda url: PROXY + url
    )


def parse(fragment: str):
    """The tree a browser builds when the fragment is a document's body."""
    return html5lib.parse(f"<!DOCTYPE html><html><head></head><body>{fragment}</body></html>")


def elements(fragment: str):
    """(namespace, local name, attributes, element) for every element inside <body>."""
    body = parse(fragment).find("{http://www.w3.org/1999/xhtml}body")
    for element in body.iter():
        if element is body:
            continue
        if not isinstance(element.tag, str):  # a comment: there should be none
            yield None, "#comment", {}, element
            continue
        namespace, _, name = element.tag[1:].partition("}")
        yield namespace, name.lower(), element.attrib, element


def css_plain(css: str) -> str:
    """CSS with escapes undone, comments and whitespace removed, lower-cased (written
    independently of the module's own unescaping)."""

    def decode(match):
        if match.group(1):
            return chr(int(match.group(1), 16))
        return match.group(2)

    css = re.sub(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", decode, css, flags=re.S)
    return re.sub(r"\s+|/\*.*?\*/", "", css, flags=re.S).lower()


def assert_css_inert(css: str) -> None:
    plain = css_plain(css)
    for word in CSS_FORBIDDEN:
        assert word not in plain, (word, css)
    assert not re.search(r"(^|[;{])(position|cursor):", plain), css


def url_normalise(url: str) -> str:
    return re.sub(r"[\t\n\r]", "", url).strip("".join(chr(c) for c in range(0x21)))


def assert_inert(fragment: str, *, allowed_src: tuple[str, ...] = ("/inline/",)) -> None:
    for namespace, name, attributes, element in elements(fragment):
        assert namespace == "http://www.w3.org/1999/xhtml", (name, fragment)
        assert name not in FORBIDDEN_ELEMENTS, (name, fragment)
        assert name in ALLOWED_TAGS | {"style"}, (name, fragment)
        for attribute, value in attributes.items():
            attribute = attribute.lower()
            assert not attribute.startswith("on"), (attribute, fragment)
            assert attribute not in FORBIDDEN_ATTRIBUTES, (attribute, fragment)
            assert ":" not in attribute and "}" not in attribute, (attribute, fragment)
            if attribute == "href":
                assert name == "a"
                assert re.match(r"(?i)(https?://[^/\\?#]|mailto:)", url_normalise(value)), value
            if attribute == "src":
                assert name == "img"
                assert url_normalise(value).startswith(allowed_src), value
            if attribute == "style":
                assert_css_inert(value)
        if name == "a" and "href" in attributes:
            assert attributes["target"] == "_blank"
            assert attributes["rel"] == "noopener noreferrer"
        if name == "style":
            assert len(element) == 0 and element.attrib == {}
            assert_css_inert(element.text or "")


def body_of(fragment: str):
    return parse(fragment).find("{http://www.w3.org/1999/xhtml}body")


def tree_dump(body) -> list:
    return [(e.tag, sorted(e.attrib.items()), e.text, e.tail) for e in body.iter()]


VOID = {"br", "col", "hr", "img", "wbr"}


def inner_html(element, *, in_cell: bool = False) -> str:
    """The browser's innerHTML serialisation (HTML spec "serialising HTML fragments"),
    including the extra newline after <pre> that html5lib's serialiser leaves out. (Not in
    table cells: html5lib's parser keeps that newline there, browsers do not.)"""
    out = []
    name = element.tag.rpartition("}")[2]
    in_cell = (in_cell or name in ("td", "th", "caption")) and name != "table"
    text = element.text or ""
    if name == "style":
        out.append(text)
    else:
        if name == "pre" and text.startswith("\n") and not in_cell:
            out.append("\n")
        out.append(html.escape(text, quote=False))
    for child in element:
        child_name = child.tag.rpartition("}")[2]
        attributes = "".join(
            f' {key}="{html.escape(value)}"' for key, value in child.attrib.items()
        )
        out.append(f"<{child_name}{attributes}>")
        if child_name not in VOID:
            out.append(inner_html(child, in_cell=in_cell) + f"</{child_name}>")
        out.append(html.escape(child.tail or "", quote=False))
    return "".join(out)


def assert_fixed_point(fragment: str, sanitize=nothing_known) -> None:
    """Sanitising again changes nothing, and parse -> serialise -> parse is stable (the
    mutation-XSS check: the tree we checked is the tree a browser keeps)."""
    assert sanitize(fragment).html == fragment
    body = body_of(fragment)
    assert tree_dump(body_of(inner_html(body))) == tree_dump(body)


HOSTILE = {
    # plain script and event handlers
    "script": "<script>alert(1)</script>",
    "script src": "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "img onerror": "<img src=x onerror=alert(1)>",
    "img onerror mixed case": '<img src="x" OnErRoR="alert(1)">',
    "img slash separators": "<img/src=x/onerror=alert(1)>",
    "body onload": "<body onload=alert(1)><p>x</p></body>",
    # javascript: in every spelling
    "javascript href": '<a href="javascript:alert(1)">x</a>',
    "javascript case": '<a href="JaVaScRiPt:alert(1)">x</a>',
    "javascript hex entity": '<a href="j&#x61;vascript:alert(1)">x</a>',
    "javascript decimal entities": (
        '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>'
    ),
    "javascript padded entity": '<a href="&#0000106avascript:alert(1)">x</a>',
    "javascript tab entity": '<a href="java&#x09;script:alert(1)">x</a>',
    "javascript named newline": '<a href="java&NewLine;script:alert(1)">x</a>',
    "javascript raw newline": '<a href="java\nscript:alert(1)">x</a>',
    "javascript leading control": '<a href=" &#14; javascript:alert(1)">x</a>',
    "javascript colon entity": '<a href="javascript&colon;alert(1)">x</a>',
    "javascript double encoded": '<a href="&amp;#106;avascript:alert(1)">x</a>',
    "vbscript": '<a href="vbscript:msgbox(1)">x</a>',
    "javascript img src": '<img src="  javascript:alert(1)">',
    "data html href": (
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'
    ),
    "data svg img": '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
    # svg / math and mutation XSS classics
    "svg script": "<svg><script>alert(1)</script></svg>",
    "svg onload": "<svg/onload=alert(1)>",
    "svg xlink": '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    "svg foreignObject": "<svg><foreignObject><img src=x onerror=alert(1)></foreignObject></svg>",
    "svg style breakout": '<svg></p><style><a id="</style><img src=1 onerror=alert(1)>">',
    "math mglyph style": "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "math style": "<math><mi><style><img src=x onerror=alert(1)></style></mi></math>",
    "form math mxss": (
        "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>"
    ),
    # raw-text and comment tricks
    "noscript title": '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "style with markup": "<style><img src=x onerror=alert(1)></style>",
    "style string breakout": '<style>p{font-family:"</style><img src=x onerror=alert(1)>"}</style>',
    "xmp": "<xmp><img src=x onerror=alert(1)></xmp>",
    "noembed": '<noembed><img title="</noembed><img src=x onerror=alert(1)>"></noembed>',
    "noframes": '<noframes><img title="</noframes><img src=x onerror=alert(1)>"></noframes>',
    "textarea": "<textarea><img src=x onerror=alert(1)></textarea>",
    "plaintext": "<plaintext><img src=x onerror=alert(1)>",
    "title": "<title><img src=x onerror=alert(1)></title>",
    "template": "<template><img src=x onerror=alert(1)></template>",
    "select style": "<select><style><img src=x onerror=alert(1)>",
    "comment": "<!--<img src=x onerror=alert(1)>-->",
    "comment abrupt": "<!--><img src=x onerror=alert(1)>-->",
    "comment bang": "<!--!><img src=x onerror=alert(1)>-->",
    "cdata": "<![CDATA[<img src=x onerror=alert(1)>]]>",
    # elements that navigate, submit, embed or fetch
    "base": '<base href="https://evil.example/"><a href="x">x</a>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
    "link stylesheet": '<link rel="stylesheet" href="https://evil.example/x.css">',
    "form formaction": (
        '<form action="/mail/1/delete" method="post"><button formaction="/accounts/logout/">'
        "go</button><input type=submit></form>"
    ),
    "iframe": '<iframe src="https://evil.example/"></iframe>',
    "iframe srcdoc": '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>',
    "object embed": (
        '<object data="https://evil.example/x.swf"></object><embed src="https://evil.example/x">'
    ),
    "srcset": '<img srcset="https://t.example/a.png 1x, https://t.example/b.png 2x">',
    "background attribute": (
        '<table background="https://t.example/bg.png"><tr>'
        '<td background="https://t.example/td.png">x</td></tr></table>'
    ),
    "video poster": '<video poster="https://t.example/p.png"><source src="x"></video>',
    "area href": (
        '<map name="m"><area href="javascript:alert(1)" shape="rect" coords="0,0,9,9"></map>'
        '<img usemap="#m" src="cid:logo@postfach.test">'
    ),
    "ping": '<a href="https://ok.example/" ping="https://t.example/ping">x</a>',
    "xmlns": '<div xmlns="http://www.w3.org/1999/xhtml" xmlns:xlink="http://x">x</div>',
    "opener": '<a href="https://ok.example/" target="_self" rel="opener">x</a>',
    # CSS in attributes
    "style url": '<div style="background-image: url(https://t.example/x.png)">x</div>',
    "style escaped url": '<div style="background: u\\72l(https://t.example/x.png)">x</div>',
    "style entity url": '<div style="background:url&#40https://t.example/x.png&#41">x</div>',
    "style expression": '<div style="width: expression(alert(1))">x</div>',
    "style cursor": '<div style="cursor: url(https://t.example/c.cur), auto">x</div>',
    "style position fixed": (
        '<div style="position: fixed; top: 0; left: 0; width: 100%; height: 100%">x</div>'
    ),
    "style position important": '<div style="position: fixed !important">x</div>',
    "style var": '<p style="--x: url(https://t.example/); background: var(--x)">x</p>',
    "style behavior": '<p style="behavior: url(x.htc); -moz-binding: url(x.xml#xss)">x</p>',
    "style image-set": "<p style=\"background-image: image-set('https://t.example/a.png' 1x)\">",
    # CSS in <style>
    "style import": "<style>@import url(https://t.example/x.css); p { color: red }</style>",
    "style import string": '<style>@import "https://t.example/x.css";</style>',
    "style block url": '<style>p { background: url("https://t.example/x.png") }</style>',
    "style block escaped url": "<style>p { background: \\75 rl(https://t.example/x.png) }</style>",
    "style font-face": (
        "<style>@font-face { font-family: x; src: url(https://t.example/f.woff) }</style>"
    ),
    "style block var": "<style>p { --x: url(https://t.example/); background: var(--x) }</style>",
    "style block fixed": "<style>div { position: fixed !important; inset: 0 }</style>",
    "style block cursor": "<style>body { cursor: url(https://t.example/c.cur), auto }</style>",
    "style media import": (
        "<style>@media screen { @import url(https://t.example/x.css); p { color: red } }</style>"
    ),
    "style selector exfiltration": (
        '<style>a[href^="https://"] { background: url(https://t.example/leak) }</style>'
    ),
    # our own endpoints and trackers
    "relative link": '<a href="/mail/1/delete/">x</a>',
    "relative img": '<img src="/mail/1/INBOX/5/delete/">',
    "scheme relative path": '<a href="https:/mail/1/">x</a><a href="http:mail">y</a>',
    "protocol relative link": '<a href="//evil.example/">x</a>',
    "backslash authority": '<a href="https:\\\\evil.example\\x">x</a>',
    "fragment link": '<a href="#top">x</a>',
    "tracking pixel": '<img src="https://t.example/open.gif?u=42" width="1" height="1">',
    "unknown cid": '<img src="cid:missing@postfach.test">',
    "cid link": '<a href="cid:logo@postfach.test">x</a>',
}


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_it_leaves_nothing_active(html):
    result = blocked(html)

    assert_inert(result.html)


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_it_is_a_fixed_point_on_hostile_input(html):
    assert_fixed_point(nothing_known(html).html)


@pytest.mark.parametrize("html", HOSTILE.values(), ids=HOSTILE.keys())
def test_it_keeps_hostile_input_inert_when_remote_images_are_shown(html):
    assert_inert(proxied(html).html, allowed_src=(PROXY + "http",))


BENIGN = {
    "text": ("<p>Hello, <b>world</b> &amp; <i>friends</i></p>",) * 2,
    "link": (
        '<p>See <a href="https://example.com/a?b=1&amp;c=2">this</a></p>',
        '<p>See <a href="https://example.com/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer">this</a></p>',
    ),
    "mailto": (
        '<a href="mailto:bob@example.com?subject=Hi">Bob</a>',
        '<a href="mailto:bob@example.com?subject=Hi" target="_blank" '
        'rel="noopener noreferrer">Bob</a>',
    ),
    "legacy entity name in a url": (
        '<a href="https://example.com/?a=1&copy=2">x</a>',
        '<a href="https://example.com/?a=1&amp;copy=2" target="_blank" '
        'rel="noopener noreferrer">x</a>',
    ),
    "table": (
        '<table border="0" cellpadding="4" width="100%"><tr><td align="left" '
        'bgcolor="#eeeeee" colspan="2">Cell</td></tr></table>',
        '<table border="0" cellpadding="4" width="100%"><tbody><tr><td align="left" '
        'bgcolor="#eeeeee" colspan="2">Cell</td></tr></tbody></table>',
    ),
    "lists and headings": ('<h1>T</h1><ul><li>a</li></ul><ol start="3"><li>b</li></ol>',) * 2,
    "quote and code": ('<blockquote type="cite"><pre><code>x &lt; y</code></pre></blockquote><hr>',)
    * 2,
    "font and center": ('<center><font color="red" face="Arial" size="2">x</font></center>',) * 2,
    "style attribute": ('<p style="color: #333; font-size: 14px; margin: 0 auto !important">x</p>',)
    * 2,
    "title with quotes": ('<abbr title="&quot;HTML&quot; &amp; co">HTML</abbr>',) * 2,
    "newsletter stylesheet": (
        "<style>td > p { color: red; padding: 0 }\n"
        "@media only screen and (max-width: 600px) { .col { width: 100% !important } }</style>"
        "<p>x</p>",
        "<style>td > p { color: red; padding: 0 }\n"
        "@media only screen and (max-width: 600px) {\n.col { width: 100% !important }\n}"
        "</style><p>x</p>",
    ),
    "whole document": (
        "<html><head><title>News</title><meta charset=utf-8></head>"
        '<body bgcolor="#fff"><p>Hi</p></body></html>',
        "<p>Hi</p>",
    ),
}


@pytest.mark.parametrize(("html", "expected"), BENIGN.values(), ids=BENIGN.keys())
def test_it_keeps_benign_content(html, expected):
    result = nothing_known(html)

    assert result.html == expected
    assert result.remote_blocked == 0
    assert_inert(result.html)
    assert_fixed_point(result.html)


def test_it_rewrites_cid_images_to_the_app_url():
    html = (
        f'<img src="cid:{KNOWN_CID}" alt="Logo">'
        '<img src="cid:%3Clogo%40postfach.test%3E">'
        '<img src="cid:missing@postfach.test" alt="gone">'
    )

    result = blocked(html)

    assert result.html == (
        f'<img src="/inline/{KNOWN_CID}" alt="Logo"><img src="/inline/{KNOWN_CID}"><img alt="gone">'
    )
    assert result.remote_blocked == 0


def test_it_counts_the_remote_resources_it_blocked():
    html = (
        '<img src="https://t.example/open.gif" width="1" height="1">'
        '<img src="//cdn.example/hero.jpg" alt="Hero">'
        '<div style="background: url(https://t.example/bg.png)">x</div>'
        '<table background="https://t.example/t.png"><tr><td>y</td></tr></table>'
        "<style>p { background: url(https://t.example/p.png) } "
        "@import url(https://t.example/x.css);</style>"
        '<img src="/relative.png"><img src="data:image/png;base64,AAAA">'
    )

    result = blocked(html)

    assert result.remote_blocked == 6
    assert "https://" not in result.html and "//cdn.example" not in result.html
    assert '<img width="1" height="1">' in result.html
    assert '<img alt="Hero">' in result.html


def test_it_maps_remote_images_through_the_proxy_once_allowed():
    html = (
        '<img src="https://t.example/a.png?x=1&amp;y=2" alt="A">'
        '<img src="//cdn.example/b.jpg">'
        '<div style="background: url(https://t.example/bg.png)">x</div>'
    )

    result = proxied(html)

    assert result.html == (
        f'<img src="{PROXY}https://t.example/a.png?x=1&amp;y=2" alt="A">'
        f'<img src="{PROXY}https://cdn.example/b.jpg"><div>x</div>'
    )
    assert result.remote_blocked == 0  # CSS url() is never fetched, but not because of consent


def test_it_is_a_fixed_point_with_remote_images_mapped():
    def identity(html):
        return html_sanitize(html, inline_image_url=lambda _c: None, remote_image_url=str)

    first = identity('<p><img src="https://t.example/a.png" alt="a"> <a href="https://x.org">x</a>')

    assert first.html.count('src="https://t.example/a.png"') == 1
    assert_fixed_point(first.html, sanitize=identity)


def test_it_sets_link_target_and_rel_in_the_tree():
    result = nothing_known('<a href="https://example.com/" target="_top" rel="opener">x</a>')

    ((_, name, attributes, _element),) = list(elements(result.html))
    assert name == "a"
    assert attributes == {
        "href": "https://example.com/",
        "target": "_blank",
        "rel": "noopener noreferrer",
    }


def test_it_returns_empty_for_empty_input():
    assert nothing_known("") == SanitizedHtml(html="", remote_blocked=0)


MISNESTED = {
    "content fostered out of a table": (
        "<table><b>bold</b><tr><td>x</td></tr></table>",
        "<b>bold</b><table><tbody><tr><td>x</td></tr></tbody></table>",
    ),
    "link inside a link": (
        '<a href="https://x.org"><table><a href="https://y.org">z</a></table></a>',
        f'<a href="https://x.org" {LINK}>z<table></table></a>',
    ),
    "list item inside a list item": ("<li><table><li>x</table>", "<li>x<table></table></li>"),
    "heading inside a heading": ("<h1><table><h2>x</h2></table></h1>", "<h1>x<table></table></h1>"),
    "pre starting with a newline": ("<pre>\n\nfoo</pre>", "<pre>\n\nfoo</pre>"),
    "pre in a cell": (
        "<table><tr><td><pre>\n\nx</pre></td></tr></table>",
        "<table><tbody><tr><td><pre>\n\nx</pre></td></tr></tbody></table>",
    ),
}


@pytest.mark.parametrize(("html", "expected"), MISNESTED.values(), ids=MISNESTED.keys())
def test_it_emits_trees_that_parse_back_the_same(html, expected):
    result = nothing_known(html)

    assert result.html == expected
    assert_fixed_point(result.html)


@pytest.mark.parametrize(
    "html",
    [
        '<p style="color: ' + "calc(" * 3000 + '">x</p>',
        "<style>p { color: " + "(" * 3000 + " }</style>",
        "<style>" + "@media screen {" * 3000 + "</style>",
        "<style>" + "a {" * 3000 + "</style>",
        "<div>" * 2000 + "x",
    ],
    ids=["style attribute", "style block", "nested media", "nested rules", "nested divs"],
)
def test_it_survives_deep_nesting(html):
    assert_inert(nothing_known(html).html)


def depth_of(fragment: str) -> int:
    """How many elements deep the browser's tree of the fragment goes below <body>."""
    deepest = 0
    stack = [(body_of(fragment), 0)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


def texts(element):
    """The text nodes a reader sees, in order (not the stylesheets)."""
    if not element.tag.endswith("}style"):
        yield element.text or ""
    for child in element:
        yield from texts(child)
        yield child.tail or ""


def text_of(fragment: str) -> str:
    return "".join(texts(body_of(fragment)))


def words_of(fragment: str) -> list[str]:
    """The words of every text node in order (words in different cells stay apart)."""
    return [word for text in texts(body_of(fragment)) for word in text.split()]


WORDS = [f"w{i}" for i in range(20_000)]
FEWER = WORDS[:5_000]
DEEP = {  # (html, the words a reader sees in it)
    "nested divs": ("".join(f"<div>{w} " for w in WORDS) + "</div>" * len(WORDS), WORDS),
    "unclosed divs": ("".join(f"<div>{w} " for w in WORDS), WORDS),
    "unclosed b": ("".join(f"<b>{w} " for w in WORDS), WORDS),
    "fonts": ("".join(f'<font color="#{i:06x}">{w} ' for i, w in enumerate(WORDS)), WORDS),
    "lists": ("".join(f"<ul><li>{w} " for w in FEWER), FEWER),
    "quotes": ("".join(f"<blockquote>{w} " for w in FEWER), FEWER),
    "tables": ("".join(f"<table><tr><td>{w} " for w in FEWER), FEWER),
}  # fmt: skip


@pytest.mark.parametrize(("html", "words"), DEEP.values(), ids=DEEP.keys())
def test_it_cuts_deep_nesting_at_the_limit_and_keeps_every_word(html, words):
    # How fast (it used to take minutes) is benchmarks/sanitize_deep_nesting.py's to say:
    # a timed assertion here failed under load and proved nothing about the code.
    result = nothing_known(html).html

    assert depth_of(result) == HTML_DEPTH_MAX
    assert words_of(result) == words
    assert_inert(result)
    assert_fixed_point(result)


def test_it_stops_re_opening_formatting_in_every_new_block():
    # The parser re-opens each <b> a </p> closed in every later paragraph: 20 x 20,000
    # elements, 7.5 MB of output from 160 KB, before the budget.
    bold = "".join(f'<b class="c{i}">' for i in range(20))
    html = f"<p>{bold}start</p>" + "".join(f"<p>{w}</p>" for w in WORDS)

    result = nothing_known(html).html

    assert len(result) < 3 * len(html)  # the work is bounded by the output's size
    assert words_of(result) == ["start", *WORDS]
    assert_inert(result)


def test_it_separates_the_words_of_the_blocks_it_unwraps():
    html = "<div>" * HTML_DEPTH_MAX + "<p>one</p><p>two</p><ul><li>three<li>four</ul>"

    result = nothing_known(html).html

    assert text_of(result).split() == ["one", "two", "three", "four"]


@pytest.mark.parametrize("above", range(-5, 2))
def test_it_keeps_a_table_whole_or_unwraps_it_whole_at_the_limit(above):
    # A table needs table > tbody > tr > td below the limit; half a table would lose its
    # text to the next parser (text directly inside a <tr> is moved out or dropped).
    html = "<div>" * (HTML_DEPTH_MAX - 4 + above)
    html += "<table><tr><td>left</td><td>right</td></tr></table>after"

    result = nothing_known(html).html

    assert words_of(result) == ["left", "right", "after"]
    assert depth_of(result) <= HTML_DEPTH_MAX
    has_table = any(name == "table" for _ns, name, _a, _e in elements(result))
    assert has_table == (above <= 0)
    assert_fixed_point(result)


@pytest.mark.parametrize(
    "depth",
    [
        HTML_DEPTH_MAX - 1,
        HTML_DEPTH_MAX,
        HTML_DEPTH_MAX + 1,
        2 * HTML_DEPTH_MAX - 1,
        2 * HTML_DEPTH_MAX,
        20_000,
    ],
)
def test_it_lets_no_script_through_at_any_depth(depth):
    html = "<div>" * depth + (
        "<script>alert(1)</script><img src=x onerror=alert(2)> "
        "<a href='javascript:alert(3)'>link</a> <style>p { color: red }</style> "
        "<svg><script>alert(4)</script></svg> <b onclick=alert(5)>text</b>"
    )

    result = nothing_known(html).html

    assert_inert(result)
    assert words_of(result) == ["link", "text"]  # no script, no stylesheet shown as text
    assert "alert" not in result


SOUP = [
    *HOSTILE.values(),
    *(html for html, _expected in BENIGN.values()),
    *"< > </ <!-- --> \" ' & &# \\ { } ; \n".split(" "),
    *"<table> <tr> <td> <th> <caption> <colgroup> <tbody> </td> </tr> </table>".split(),
    *"<li> <ul> <dl> <dd> <dt> <h1> <h2> <p> </p> <div> </div> <pre>\n </pre>".split(),
    *"<b> </b> <font> <i> <center> <blockquote> <hr> <br> </a> <a href=https://a.org>".split(),
    *"<svg> </svg> <math> <style> </style> <noscript> <select> <textarea> <title>".split(),
    "<img src=",
    " onerror=alert(1)",
    "javascript:",
    "url(",
    "<![CDATA[",
    "text",
]


def soup(seed: int) -> str:
    """Fragments of the vectors above, cut and glued at random (a fixed seed per case, so
    a failure can be replayed)."""
    rng = random.Random(seed)
    parts = []
    for _ in range(rng.randint(1, 6)):
        part = rng.choice(SOUP)
        if rng.random() < 0.4:
            start = rng.randint(0, len(part))
            part = part[start : rng.randint(start, len(part))]
        parts.append(part)
    return "".join(parts)


@pytest.mark.parametrize("seed", range(300))
def test_it_holds_its_properties_on_random_tag_soup(seed):
    html = soup(seed)

    assert_inert(blocked(html).html)
    assert_inert(proxied(html).html, allowed_src=(PROXY + "http",))
    assert_fixed_point(nothing_known(html).html)
    assert_inert(text_to_html(html))
    assert {name for _ns, name, _a, _e in elements(text_to_html(html))} <= {"a", "blockquote"}


# --- text_to_html ----------------------------------------------------------------------


def test_it_escapes_plain_text_before_anything_else():
    html = text_to_html('<script>alert(1)</script> & <img src=x onerror="alert(1)">')

    assert list(elements(html)) == []
    assert html == (
        "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img src=x onerror=&quot;alert(1)&quot;&gt;"
    )


def test_it_links_web_and_mail_addresses():
    html = text_to_html("See <https://example.com/a?b=1&c=2>, www.example.org or bob@example.com.")

    assert html == (
        f'See &lt;<a href="https://example.com/a?b=1&amp;c=2" {LINK}>'
        "https://example.com/a?b=1&amp;c=2</a>&gt;, "
        f'<a href="http://www.example.org" {LINK}>www.example.org</a> or '
        f'<a href="mailto:bob@example.com" {LINK}>bob@example.com</a>.'
    )


@pytest.mark.parametrize(
    "text",
    [
        "javascript:alert(1)//example.com",
        'https://example.com/"><img src=x onerror=alert(1)>',
        "https://example.com/' onmouseover='alert(1)",
        "data:text/html,<script>alert(1)</script>.example.com",
        "ftp://example.com/x",
        "&#106;avascript:alert(1) http://example.com/&quot;onclick=alert(1)",
    ],
)
def test_it_never_makes_active_markup_from_text(text):
    html = text_to_html(text)

    for _namespace, name, attributes, _element in elements(html):
        assert name == "a"
        assert set(attributes) == {"href", "target", "rel"}
        assert re.match(r"(https?|mailto):", attributes["href"])
    assert_inert(html)


def test_it_sets_quoted_lines_apart():
    html = text_to_html("Hi\n> you wrote\n> two lines\n>> older\nMy answer\n")

    assert html == (
        'Hi<blockquote class="quote">you wrote\ntwo lines'
        '<blockquote class="quote">older</blockquote></blockquote>My answer\n'
    )


def test_it_keeps_line_breaks_as_newlines():
    assert text_to_html("a\r\nb\rc\n\nd") == "a\nb\nc\n\nd"


def test_it_survives_absurdly_deep_quoting():
    html = text_to_html(">" * 5000 + " x")

    assert html.count("<blockquote") == 12
    assert html.endswith("&gt; x" + "</blockquote>" * 12)


def test_it_never_loads_a_tracking_pixel_even_with_remote_images_shown():
    html = (
        '<img src="https://t.example/open.gif?u=42" width="1" height="1">'
        '<img src="https://t.example/o2.gif" width="0" height="12">'
        '<img src="https://t.example/o3.gif" WIDTH=" 1px " height="1.0">'
        '<img src="https://cdn.example/spacer.gif" width="1" height="20">'
        '<img src="https://cdn.example/hero.jpg" width="600" height="1">'
    )

    result = proxied(html)

    assert "open.gif" not in result.html and "o2.gif" not in result.html
    assert "o3.gif" not in result.html
    assert f"{PROXY}https://cdn.example/spacer.gif" in result.html  # layout, not a beacon
    assert f"{PROXY}https://cdn.example/hero.jpg" in result.html
