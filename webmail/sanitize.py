"""The only producer of HTML that templates may mark safe.

Mail HTML is hostile input. `html_sanitize` parses it once with bleach (html5lib) and walks
the tree through four stages; the serialised string that comes out is final and is never
edited again with string operations (Roundcube CVE-2024-42009 was exactly such a rewrite):

1. `_ContentFilter` (before bleach): drops `<script>` and `<title>` together with their text,
   and replaces the text of every `<style>` with its filtered form (see `stylesheet_clean`).
   Then `_DepthFilter` unwraps every element deeper than HTML_DEPTH_MAX: its tags go, its
   text stays.
2. bleach's own sanitizer: small tag and attribute allow-lists, comments and everything
   else stripped, `style` attributes through `_MailCss`.
3. `_UrlFilter` (after bleach): decides every `href` and `src`, rewrites `cid:` and remote
   image URLs, adds `target`/`rel` to links.
4. `_RoundTripFilter`: drops the few tags a browser would re-nest when it parses our output
   (a link inside a link, a list item inside a list item, ...), so the output is a fixed
   point and what we checked is the tree the browser builds. (Even without it a re-parse
   could only re-nest allowed elements: text is escaped, attributes are quoted, and the
   only raw text, <style>, contains no "<".)

Depth is bounded because html5lib's tree construction walks its stack of open elements
for nearly every tag: 50,000 nested `<div>`s took two and a half minutes. While parsing,
`_DepthBoundedTokenizer` keeps the parser from opening elements beyond twice the limit
(the cheap, approximate bound); `_DepthFilter` then makes the exact cut on the tree.

Between the stages, attribute values stay in bleach's form: HTML source text, character
references not yet decoded. Every value we check is decoded first and re-encoded after, so
what we checked is exactly what the browser will see.

`<style>` elements are kept, filtered: newsletters put most of their layout there, and the
body renders in its own sandboxed iframe document, so a rule cannot reach the app around
it. What can never pass is anything that fetches (`url()`, `@import`, `image-set()`, ...)
or that an old engine executes (`expression()`, `behavior`, `-moz-binding`).

Nothing here imports Django (import-linter holds that line).
"""

from __future__ import annotations

import html
import itertools
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.entities import html5 as _HTML5_ENTITIES
from urllib.parse import unquote

import tinycss2
from bleach import html5lib_shim
from bleach._vendor.html5lib.constants import tokenTypes
from bleach._vendor.html5lib.treebuilders import getTreeBuilder
from bleach._vendor.html5lib.treebuilders.base import Marker
from bleach.css_sanitizer import CSSSanitizer
from bleach.linkifier import Linker
from bleach.sanitizer import BleachSanitizerFilter, Cleaner

# Bump whenever the output for the same input can change: rendered bodies are cached
# under this number.
SANITIZER_VERSION = 4

# Elements nested deeper than this are unwrapped (their text stays). Mail programs nest
# tables, fonts and quotes a few dozen levels at most; Chromium's parser itself stops
# nesting at 512. Every level costs html5lib and our filters time on every later tag.
HTML_DEPTH_MAX = 100
# The parser already stops opening elements at twice that (see _parser_depth): all it
# leaves out would be unwrapped anyway, and the margin lets _DepthFilter make the cut
# with the whole tree in view (tables, <style>).
_PARSER_DEPTH_MAX = 2 * HTML_DEPTH_MAX
# Formatting elements the parser may re-open per message (see _EtreeTreeBuilder); real
# mail re-opens a few per paragraph.
_REOPEN_MAX = 10_000


@dataclass(frozen=True)
class SanitizedHtml:
    html: str  # body fragment, safe to embed
    remote_blocked: int  # remote resources dropped because remote loading was not allowed


ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big",
        "blockquote", "br", "caption", "center", "cite", "code", "col", "colgroup", "dd",
        "del", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "font", "footer",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i", "img", "ins", "kbd", "li",
        "main", "mark", "nav", "ol", "p", "pre", "q", "s", "samp", "section", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
        "thead", "tr", "tt", "u", "ul", "var", "wbr",
    }
)  # fmt: skip

# Parsed as the elements they are (so their text is one unit), then dropped with that text
# or, for <style>, filtered. Every other unknown tag is stripped by bleach's tokenizer and
# never becomes an element, which is also why <svg> and <math> cannot open foreign content.
_DROPPED_WITH_CONTENT = frozenset({"script", "style", "title"})

# HTML's "special" elements among the ones we emit: they stop the parser's search for an
# open <li>/<dd>/<dt> to close (see _RoundTripFilter).
_SPECIAL_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "center", "col",
        "colgroup", "dd", "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2",
        "h3", "h4", "h5", "h6", "header", "hr", "img", "li", "main", "nav", "ol", "p", "pre",
        "section", "style", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "wbr",
    }
)  # fmt: skip
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

_GLOBAL_ATTRIBUTES = frozenset({"align", "class", "dir", "lang", "style", "title"})
_TAG_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "blockquote": frozenset({"type"}),
    "col": frozenset({"span", "valign", "width"}),
    "colgroup": frozenset({"span", "valign", "width"}),
    "font": frozenset({"color", "face", "size"}),
    "hr": frozenset({"color", "noshade", "size", "width"}),
    "img": frozenset({"alt", "border", "height", "hspace", "src", "vspace", "width"}),
    "li": frozenset({"type", "value"}),
    "ol": frozenset({"reversed", "start", "type"}),
    "table": frozenset({"bgcolor", "border", "cellpadding", "cellspacing", "summary", "width"}),
    "tbody": frozenset({"valign"}),
    "td": frozenset({"bgcolor", "colspan", "height", "nowrap", "rowspan", "valign", "width"}),
    "tfoot": frozenset({"valign"}),
    "th": frozenset(
        {"bgcolor", "colspan", "height", "nowrap", "rowspan", "scope", "valign", "width"}
    ),
    "thead": frozenset({"valign"}),
    "tr": frozenset({"bgcolor", "height", "valign"}),
    "ul": frozenset({"type"}),
}
# Never allowed, whatever the lists above say (a second line of defence against a careless
# addition): URL-bearing or script-bearing attributes a browser acts on by itself.
_NEVER_ATTRIBUTES = frozenset(
    {
        "action", "background", "dynsrc", "formaction", "id", "lowsrc", "name", "ping",
        "poster", "rel", "srcset", "target", "usemap", "xmlns",
    }
)  # fmt: skip

# `cid` must get past bleach so `_UrlFilter` can rewrite it; `_UrlFilter` then allows only
# http, https and mailto in href.
_BLEACH_PROTOCOLS = frozenset({"http", "https", "mailto", "cid"})

# No `cursor` (bleach allows it by default: `cursor: url(...)` is a tracker), no `position`
# (a fixed overlay over the reading pane), nothing that loads or runs anything.
ALLOWED_CSS_PROPERTIES = frozenset(
    {
        "background", "background-color", "border", "border-bottom", "border-bottom-color",
        "border-bottom-left-radius", "border-bottom-right-radius", "border-bottom-style",
        "border-bottom-width", "border-collapse", "border-color", "border-left",
        "border-left-color", "border-left-style", "border-left-width", "border-radius",
        "border-right", "border-right-color", "border-right-style", "border-right-width",
        "border-spacing", "border-style", "border-top", "border-top-color",
        "border-top-left-radius", "border-top-right-radius", "border-top-style",
        "border-top-width", "border-width", "box-sizing", "caption-side", "clear", "color",
        "direction", "display", "empty-cells", "float", "font", "font-family", "font-size",
        "font-style", "font-variant", "font-weight", "height", "letter-spacing",
        "line-height", "list-style", "list-style-position", "list-style-type", "margin",
        "margin-bottom", "margin-left", "margin-right", "margin-top", "max-height",
        "max-width", "min-height", "min-width", "opacity", "overflow", "overflow-wrap",
        "overflow-x", "overflow-y", "padding", "padding-bottom", "padding-left",
        "padding-right", "padding-top", "table-layout", "text-align", "text-decoration",
        "text-decoration-color", "text-decoration-line", "text-decoration-style",
        "text-indent", "text-overflow", "text-transform", "vertical-align", "visibility",
        "white-space", "width", "word-break", "word-spacing", "word-wrap",
    }
)  # fmt: skip
_CSS_VALUE_FUNCTIONS = frozenset(
    {
        "calc", "clamp", "hsl", "hsla", "linear-gradient", "max", "min", "radial-gradient",
        "repeating-linear-gradient", "repeating-radial-gradient", "rgb", "rgba",
    }
)  # fmt: skip
_CSS_SELECTOR_FUNCTIONS = frozenset(
    {"dir", "is", "lang", "not", "nth-child", "nth-last-child", "nth-last-of-type",
     "nth-of-type", "where"}
)  # fmt: skip
# Checked on the unescaped, whitespace-free text as a second line behind the token checks.
_CSS_FORBIDDEN_TEXT = (
    "url(", "image(", "image-set(", "cross-fade(", "element(", "expression", "var(", "env(",
    "attr(", "behavior", "-moz-binding", "javascript:", "vbscript:", "@import", "src(",
)  # fmt: skip

_LINK_REL = "noopener noreferrer"
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
# After the scheme: "//" and a non-empty authority. "https:/mail/1/" or "http:x" are
# resolved by browsers against the page's own origin, so they count as relative.
_AUTHORITY = re.compile(r"//[^/?#\\]+")
_C0_AND_SPACE = "".join(chr(c) for c in range(0x21))
_CSS_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_QUOTE_DEPTH_MAX = 12
# Real CSS nests brackets a few levels deep; deeper is refused rather than recursed into.
_CSS_DEPTH_MAX = 16


def html_sanitize(
    html: str,
    *,
    inline_image_url: Callable[[str], str | None],
    remote_image_url: Callable[[str], str] | None,
) -> SanitizedHtml:
    """Mail HTML to a body fragment that is safe to embed.

    `inline_image_url(content_id)` gives the app URL of a `cid:` image (None drops it).
    `remote_image_url` is None while remote content is blocked: remote images are then
    removed and counted; once the reader consents it maps an http(s) URL to the proxy.
    """
    return _cleaner().sanitize(
        html, inline_image_url=inline_image_url, remote_image_url=remote_image_url
    )


def text_to_html(text: str) -> str:
    """A text/plain body as HTML for `<div class="plain">` (which has `white-space:
    pre-wrap`).

    Line breaks stay "\\n" characters (no `<br>`): the container's CSS shows them, and
    copying text out of the page gives the original lines back. Runs of lines starting
    with ">" become `<blockquote class="quote">` (one level of ">" and one space removed
    per nesting level). Every piece of text is escaped before anything else looks at it;
    the only markup is our own blockquotes and the links `bleach.linkify` makes (http,
    https and mailto only).
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return _quoted_lines_to_html(lines, depth=0)


def stylesheet_clean(css: str) -> str:
    """The text of a `<style>` element, keeping only plain rules and `@media` blocks of
    them, each with the same declaration filter as `style` attributes. The result contains
    no "<" and no "&", so it cannot end the element or change under HTML decoding."""
    rules = tinycss2.parse_stylesheet(
        _css_preprocess(css), skip_comments=True, skip_whitespace=True
    )
    return "\n".join(_rules_clean(rules, nested=False))


def style_attribute_clean(css: str) -> str:
    """A `style` attribute's value (already HTML-decoded), filtered declaration by
    declaration."""
    declarations = tinycss2.parse_declaration_list(
        _css_preprocess(css), skip_comments=True, skip_whitespace=True
    )
    return "; ".join(_declarations_clean(declarations))


# --- the bleach pipeline -------------------------------------------------------------


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    name = name.lower()
    if name.startswith("on") or ":" in name or name in _NEVER_ATTRIBUTES:
        return False  # event handlers, xlink:*, xmlns:*, URL attributes we never want
    return name in _GLOBAL_ATTRIBUTES or name in _TAG_ATTRIBUTES.get(tag, ())


class _MailCss(CSSSanitizer):
    """bleach calls this for every `style` attribute; counts remote references."""

    def __init__(self) -> None:
        super().__init__(
            allowed_css_properties=ALLOWED_CSS_PROPERTIES, allowed_svg_properties=frozenset()
        )
        self.remote_refs = 0

    def sanitize_css(self, style: str) -> str:
        css = _attribute_unescape(style)
        self.remote_refs += _css_remote_refs(css)
        return html.escape(style_attribute_clean(css))


class _MailCleaner(Cleaner):
    """bleach's Cleaner (strip=True, strip_comments=True) with our filters around its
    sanitizer. Not thread-safe (the parser keeps state): one per thread, see `_cleaner`."""

    def __init__(self) -> None:
        super().__init__(
            tags=ALLOWED_TAGS | {"style"},
            attributes=_attribute_allowed,
            protocols=_BLEACH_PROTOCOLS,
            strip=True,
            strip_comments=True,
            css_sanitizer=_MailCss(),
        )
        self.css_sanitizer: _MailCss
        self.parser = _DepthBoundedParser(
            tags=self.tags | _DROPPED_WITH_CONTENT,
            strip=True,
            consume_entities=False,
            namespaceHTMLElements=False,
            tree=_EtreeTreeBuilder,
        )
        # bleach escapes "<", ">" and "&" inside <style>, where the browser does not decode
        # them ("td > p" would become "td &gt; p"). Our <style> text contains no "<" or "&",
        # and <style> is the only raw-text element that can reach the serialiser.
        self.serializer.escape_rcdata = False

    def clean(self, text: str) -> str:
        # No entry point around our filters: plain clean() blocks everything remote.
        return self.sanitize(text, inline_image_url=lambda _cid: None, remote_image_url=None).html

    def sanitize(
        self,
        text: str,
        *,
        inline_image_url: Callable[[str], str | None],
        remote_image_url: Callable[[str], str] | None,
    ) -> SanitizedHtml:
        if not isinstance(text, str):
            raise TypeError("html_sanitize takes str")
        self.css_sanitizer.remote_refs = 0
        dom = self.parser.parseFragment(text)
        content = _ContentFilter(self.walker(dom))
        sanitized = BleachSanitizerFilter(
            source=_DepthFilter(content),
            allowed_tags=self.tags,
            attributes=self.attributes,
            allowed_protocols=self.protocols,
            strip_disallowed_tags=True,
            strip_html_comments=True,
            css_sanitizer=self.css_sanitizer,
        )
        urls = _UrlFilter(
            sanitized, inline_image_url=inline_image_url, remote_image_url=remote_image_url
        )
        out = self.serializer.render(_RoundTripFilter(urls))  # the counts are final after this
        blocked = urls.blocked
        if remote_image_url is None:
            # CSS url()s and background/srcset attributes are dropped whatever the reader
            # chose; they count as "blocked" only while remote content is off.
            blocked += content.remote_refs + self.css_sanitizer.remote_refs
        return SanitizedHtml(html=out, remote_blocked=blocked)


_EtreeBuilderBase = getTreeBuilder("etree")


class _FosteringElement(_EtreeBuilderBase.elementClass):
    """html5lib's etree Element forgets a child added with insertBefore (what the parser
    does with content misplaced inside a <table>) when it later hands its children on, so
    "<table><b>x</b>..." at the top of a mail silently lost the <b>. Keep the list of
    children in step with the tree."""

    def insertBefore(self, node, refNode):  # html5lib's method name
        super().insertBefore(node, refNode)
        if refNode in self._childNodes:
            self._childNodes.insert(self._childNodes.index(refNode), node)
        else:
            self._childNodes.append(node)


class _EtreeTreeBuilder(_EtreeBuilderBase):
    elementClass = _FosteringElement

    def reset(self) -> None:
        super().reset()
        self.reopened = 0

    def reconstructActiveFormattingElements(self) -> None:  # html5lib's method name
        """html5lib re-opens, at the start of every new block, each formatting element
        (<b>, <font>, ...) an earlier block closed without its end tag. With twenty such
        elements and then 20,000 "<p>x</p>", that is 400,000 elements: 7.5 MB of output
        from 160 KB, in half a minute. Past a budget, formatting no longer carries over
        into new blocks; the text itself is unaffected."""
        if self.reopened >= _REOPEN_MAX:
            return
        before = len(self.openElements)
        super().reconstructActiveFormattingElements()
        self.reopened += len(self.openElements) - before


_START_TAG = tokenTypes["StartTag"]
_END_TAG = tokenTypes["EndTag"]
_SPACE_CHARACTERS = tokenTypes["SpaceCharacters"]
# Never left out by the tokenizer below: the parser switches the tokenizer to raw text
# for them, and without their start tag a stylesheet or script would be read as markup
# and text. They cannot contain elements, so they add one level at most.
_RAW_TEXT_ELEMENTS = frozenset({"script", "style", "title"})


class _DepthBoundedParser(html5lib_shim.BleachHTMLParser):
    """bleach's parser with `_DepthBoundedTokenizer` in place of bleach's tokenizer."""

    def _parse(self, stream, innerHTML=False, container="div", scripting=True, **kwargs):
        # bleach's own _parse, with our tokenizer class.
        self.innerHTMLMode = innerHTML
        self.container = container
        self.scripting = scripting
        self.tokenizer = _DepthBoundedTokenizer(
            stream=stream, consume_entities=self.consume_entities, parser=self, **kwargs
        )
        self.reset()
        try:
            self.mainLoop()
        except html5lib_shim.ReparseException:
            self.reset()
            self.mainLoop()


class _DepthBoundedTokenizer(html5lib_shim.BleachHTMLTokenizer):
    """Leaves out start tags that would open an element beyond _PARSER_DEPTH_MAX, and as
    many later end tags of the same names; the text in between stays.

    html5lib checks "is there an open <p> in scope?" and the like by walking its stack of
    open elements, for nearly every tag, so its time grows with depth times tags. The
    parser pulls one token at a time and has handled the last one when it asks for the
    next, so its stack here is exact.
    """

    def __iter__(self):
        tree = self.parser.tree
        left_out: Counter[str] = Counter()
        after_break = False  # one line break stands for a run of left-out blocks
        for token in super().__iter__():
            kind = token["type"]
            leave_out = False
            if kind == _START_TAG and token["name"] not in _RAW_TEXT_ELEMENTS:
                if _parser_depth(tree) >= _PARSER_DEPTH_MAX:
                    left_out[token["name"]] += 1  # void elements too: harmless surplus
                    leave_out = True
            elif kind == _END_TAG and left_out[token["name"]]:
                left_out[token["name"]] -= 1
                leave_out = True
            if not leave_out:
                after_break = False
                yield token
            elif token["name"] in _BLOCK_ELEMENTS and not after_break:
                after_break = True
                yield {"type": _SPACE_CHARACTERS, "data": "\n"}


def _parser_depth(tree) -> int:
    """An upper bound on how deep the parser's next element can land: the open elements,
    plus the formatting elements (<b>, <font>, ...) the parser would open again before it
    (the "active formatting elements" after the last marker, which also count some that
    are open). At most twice the real figure, which is why the limit is twice ours."""
    open_count = len(tree.openElements)
    formatting = tree.activeFormattingElements
    if open_count + len(formatting) < _PARSER_DEPTH_MAX:
        return open_count + len(formatting)  # the cheap check, enough for real mail
    pending = 0
    for entry in reversed(formatting):
        if entry is Marker:
            break
        pending += 1
    return open_count + pending


_local = threading.local()


def _cleaner() -> _MailCleaner:
    cleaner = getattr(_local, "cleaner", None)
    if cleaner is None:
        cleaner = _local.cleaner = _MailCleaner()
    return cleaner


class _ContentFilter(html5lib_shim.Filter):
    """Runs before bleach's sanitizer, on the parsed tree."""

    def __init__(self, source: Iterable[dict]) -> None:
        super().__init__(source)
        self.remote_refs = 0

    def __iter__(self) -> Iterator[dict]:
        tokens = iter(self.source)
        for token in tokens:
            kind = token["type"]
            if kind == "StartTag" and token["name"] in _DROPPED_WITH_CONTENT:
                inner = list(_element_content(tokens, token["name"]))
                if token["name"] == "style":
                    yield from self._style(token, inner)
                continue
            if kind in ("StartTag", "EmptyTag"):
                self.remote_refs += _remote_attribute_refs(token.get("data") or {})
            elif kind == "SpaceCharacters" and "\f" in token["data"]:
                # bleach turns a form feed into "?" inside text but leaves it alone in a
                # run of spaces after a tag; the next parse may join that run to the text
                # ("0<!>\f0" gave "0\f0", then "0?0"). A space, as a browser shows it,
                # keeps the output a fixed point (found by tests/test_fuzz_mime.py).
                token = {**token, "data": token["data"].replace("\f", " ")}
            yield token

    def _style(self, start: dict, inner: list[dict]) -> Iterator[dict]:
        if any(t["type"] not in ("Characters", "SpaceCharacters") for t in inner):
            return  # markup inside <style>: not an HTML raw-text element, keep nothing
        css = "".join(t["data"] for t in inner)
        self.remote_refs += _css_remote_refs(css)
        clean = stylesheet_clean(css)
        if clean:
            yield {**start, "data": {}}  # media/type attributes are not worth keeping
            yield {"type": "Characters", "data": clean}
            yield {"type": "EndTag", "name": "style", "namespace": start.get("namespace")}


class _DepthFilter(html5lib_shim.Filter):
    """Unwraps every element deeper than HTML_DEPTH_MAX: its tags are dropped, its text
    and its shallower-fitting descendants stay, and a block element leaves a line break
    so words of different blocks do not run together. Runs on the parsed tree, after
    `_ContentFilter` (scripts are gone, stylesheets filtered) and before bleach.

    A table is kept only where its whole table > tbody > tr > td chain fits, and the parts
    of a table that was unwrapped are unwrapped with it: text left directly inside a <tr>,
    or a <td> outside any table, would be moved or dropped by the next parser. A <style>
    too deep goes with its text, which is CSS, not something to read.
    """

    def __iter__(self) -> Iterator[dict]:
        kept: list[bool] = []  # one per open element of the input
        depth = 0  # open elements that are kept
        after_break = False  # one line break stands for a run of unwrapped blocks
        tokens = iter(self.source)
        for token in tokens:
            kind = token["type"]
            keep = True
            if kind == "EndTag":
                keep = kept.pop()
                if keep:
                    depth -= 1
            elif kind in ("StartTag", "EmptyTag"):
                keep = _fits(token["name"], depth, parent_kept=kept[-1] if kept else True)
                if kind == "StartTag" and not keep and token["name"] == "style":
                    for _ in _element_content(tokens, "style"):
                        pass
                    continue
                if kind == "StartTag":
                    kept.append(keep)
                    if keep:
                        depth += 1
            if keep:
                after_break = False
                yield token
            elif token["name"] in _BLOCK_ELEMENTS and not after_break:
                after_break = True
                yield {"type": "SpaceCharacters", "data": "\n"}


# Levels an element needs below the cap so that text can sit in it.
_TABLE_ROOM = {
    "table": 4, "tbody": 3, "thead": 3, "tfoot": 3, "tr": 2, "colgroup": 2,
    "td": 1, "th": 1, "caption": 1, "col": 1,
}  # fmt: skip
# Unwrapped, these leave a line break behind (it renders as a space outside <pre>).
_BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div",
        "dl", "dt", "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip


def _fits(name: str, depth: int, *, parent_kept: bool) -> bool:
    if name in _TABLE_ROOM and name != "table" and not parent_kept:
        return False  # the rest of an unwrapped table
    return depth + _TABLE_ROOM.get(name, 1) <= HTML_DEPTH_MAX


def _element_content(tokens: Iterator[dict], name: str) -> Iterator[dict]:
    """Consume tokens up to the end tag that closes the element just opened."""
    depth = 0
    for token in tokens:
        if token["type"] == "StartTag" and token["name"] == name:
            depth += 1
        elif token["type"] == "EndTag" and token["name"] == name:
            if depth == 0:
                return
            depth -= 1
        yield token


def _remote_attribute_refs(data: dict) -> int:
    # Attributes bleach will drop that a browser would have fetched.
    return sum(
        1
        for (_ns, name), value in data.items()
        if name in ("background", "srcset", "lowsrc", "dynsrc")
        and _remote_url(_url_normalise(_attribute_unescape(value).split(",")[0].split(" ")[0]))
    )


class _UrlFilter(html5lib_shim.Filter):
    """Runs after bleach's sanitizer: the final say on every attribute value."""

    def __init__(
        self,
        source: Iterable[dict],
        *,
        inline_image_url: Callable[[str], str | None],
        remote_image_url: Callable[[str], str] | None,
    ) -> None:
        super().__init__(source)
        self.inline_image_url = inline_image_url
        self.remote_image_url = remote_image_url
        self.blocked = 0

    def __iter__(self) -> Iterator[dict]:
        for token in self.source:
            if token["type"] in ("StartTag", "EmptyTag"):
                token["data"] = self._attributes(token["name"], token.get("data") or {})
            yield token

    def _attributes(self, tag: str, data: dict) -> dict:
        attributes = {}
        for (namespace, name), raw in data.items():
            value: str | None = _attribute_unescape(raw)
            if name == "href":
                value = _link_href(value) if tag == "a" else None
            elif name == "src":
                if tag != "img":
                    value = None
                elif _is_pixel(data):
                    # A 0x0 or 1x1 image shows nothing and exists to report the reading
                    # (issue 6): never loaded, even with remote images shown. Before
                    # consent it still counts as blocked, as it did.
                    if self.remote_image_url is None:
                        self._image_src(value)
                    value = None
                else:
                    value = self._image_src(value)
            elif name == "style" and not value.strip():
                value = None
            if value is not None:
                attributes[(namespace, name)] = html.escape(value)
        if tag == "a" and (None, "href") in attributes:
            attributes[(None, "target")] = "_blank"
            attributes[(None, "rel")] = _LINK_REL
        return attributes

    def _image_src(self, value: str) -> str | None:
        url = _url_normalise(value)
        scheme = _SCHEME.match(url)
        if scheme and scheme.group(1).lower() == "cid":
            # RFC 2392: cid:<url-encoded Content-ID>, without the angle brackets (some
            # senders keep them anyway).
            content_id = unquote(url[len("cid:") :]).strip().removeprefix("<").removesuffix(">")
            return self.inline_image_url(content_id) if content_id else None
        remote = _remote_url(url)
        if remote is None:
            return None  # relative (our own endpoints), data:, anything else
        if self.remote_image_url is None:
            self.blocked += 1
            return None
        return self.remote_image_url(remote)


class _RoundTripFilter(html5lib_shim.Filter):
    """Makes the output parse back into the tree we checked.

    html5lib builds a few trees that do not survive being serialised and parsed again, by
    a browser or by html5lib itself: what it moved out of a <table> can end up as a link
    inside a link, a list item inside a list item or a heading inside a heading (parsing
    again closes the outer one early), and it leaves some content directly inside table
    rows where a parser moves it out. Such inner tags are dropped (their content stays);
    misplaced content inside a table is dropped with its element. A <pre> whose text starts
    with a newline gets one more, since parsing swallows the first (except in table cells,
    where html5lib keeps it).
    """

    def __iter__(self) -> Iterator[dict]:
        stack: list[tuple[str, bool]] = []  # open elements of the input: (name, kept)
        kept_names: list[str] = []  # the kept ones among them, kept in step with `stack`
        skipping = 0  # depth inside an element dropped with its content
        after_pre = False
        for token in self.source:
            kind = token["type"]
            if skipping:
                skipping += {"StartTag": 1, "EndTag": -1}.get(kind, 0)
                continue
            parent = kept_names[-1] if kept_names else None
            if parent in _TABLE_CONTENT and not _fits_table(parent, token):
                skipping = 1 if kind == "StartTag" else 0
                continue
            if after_pre and kind in ("Characters", "SpaceCharacters"):
                if token["data"].startswith("\n") and not _in_cell(kept_names):
                    token = {**token, "data": "\n" + token["data"]}
            after_pre = kind == "StartTag" and token["name"] == "pre"
            if kind == "StartTag":
                kept = not _reparse_closes_early(token["name"], kept_names)
                stack.append((token["name"], kept))
                if not kept:
                    continue
                kept_names.append(token["name"])
            elif kind == "EndTag":
                kept = True
                while stack:
                    name, kept = stack.pop()
                    if kept:
                        kept_names.pop()
                    if name == token["name"]:
                        break
                if not kept:
                    continue
            yield token


# What may sit directly inside table parts; a parser moves anything else out.
_TABLE_CONTENT = {
    "table": frozenset({"caption", "colgroup", "tbody", "thead", "tfoot", "style"}),
    "tbody": frozenset({"tr", "style"}),
    "thead": frozenset({"tr", "style"}),
    "tfoot": frozenset({"tr", "style"}),
    "tr": frozenset({"td", "th", "style"}),
    "colgroup": frozenset({"col"}),
}


def _fits_table(parent: str, token: dict) -> bool:
    kind = token["type"]
    if kind in ("StartTag", "EmptyTag"):
        return token["name"] in _TABLE_CONTENT[parent]
    if kind == "Characters":
        return not token["data"].strip()
    return kind != "Entity"  # an entity is text, and text is moved out too


def _in_cell(open_names: list[str]) -> bool:
    for name in reversed(open_names):
        if name in ("td", "th", "caption"):
            return True
        if name == "table":
            return False
    return False


def _reparse_closes_early(name: str, open_names: list[str]) -> bool:
    """Would the HTML parser close an open element on seeing this start tag?"""
    if name == "a":  # an <a> still open since the last table cell
        for open_name in reversed(open_names):
            if open_name == "a":
                return True
            if open_name in ("td", "th", "caption"):
                return False
        return False
    if name in _HEADINGS:
        return bool(open_names) and open_names[-1] in _HEADINGS
    if name in ("li", "dd", "dt"):
        targets = {"li"} if name == "li" else {"dd", "dt"}
        for open_name in reversed(open_names):
            if open_name in targets:
                return True
            if open_name in _SPECIAL_ELEMENTS and open_name not in ("address", "div", "p"):
                return False
    return False


# --- URLs ----------------------------------------------------------------------------


def _url_normalise(value: str) -> str:
    # What a browser's URL parser does first: strip C0 controls and spaces at both ends,
    # drop tabs and newlines anywhere ("java\nscript:" is "javascript:").
    return re.sub(r"[\t\n\r]", "", value).strip(_C0_AND_SPACE)


def _link_href(value: str) -> str | None:
    """http(s) with a host, or mailto; everything else (relative, fragment, javascript:,
    data:, cid:, ...) is dropped so a mail cannot make the browser call our endpoints."""
    url = _url_normalise(value)
    scheme = _SCHEME.match(url)
    if scheme is None:
        return None
    if scheme.group(1).lower() == "mailto":
        return url
    return _remote_url(url)


_PIXEL_SIZE = re.compile(r"\s*([01])(?:\.0*)?\s*(?:px)?\s*")


def _is_pixel(data: dict) -> bool:
    """An <img> of 1x1 pixels or less, or of width or height 0: a tracker's beacon. A
    spacer of 1 by 20 keeps its image (it may shape a newsletter's layout)."""
    sizes = []
    for key in ((None, "width"), (None, "height")):
        value = data.get(key)
        match = _PIXEL_SIZE.fullmatch(_attribute_unescape(value)) if value is not None else None
        sizes.append(int(match.group(1)) if match else None)
    if 0 in sizes:
        return True
    return sizes == [1, 1]


def _remote_url(url: str) -> str | None:
    """`url` as an absolute http(s) URL, if it is one (protocol-relative counts, as
    https). Backslashes are refused: browsers read them as "/", Python's urlsplit does not."""
    if "\\" in url:
        return None
    if url.startswith("//"):
        url = "https:" + url
    scheme = _SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() not in ("http", "https"):
        return None
    if not _AUTHORITY.match(url, scheme.end()):
        return None
    return url


_REFERENCE = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


def _attribute_unescape(value: str) -> str:
    """Decode character references the way a browser does inside an attribute value.

    html.unescape would turn "?a=1&copy=2" into "?a=1©=2"; browsers leave a legacy named
    reference without ";" alone when "=" or a letter or digit follows it.
    """

    def decode(match: re.Match[str]) -> str:
        reference = match.group(1)
        if reference.startswith("#"):
            return html.unescape(match.group(0))
        if reference.endswith(";") and reference in _HTML5_ENTITIES:
            return _HTML5_ENTITIES[reference]
        name = reference.rstrip(";")
        for end in range(len(name), 0, -1):
            if name[:end] in _HTML5_ENTITIES:  # a legacy name, valid without ";"
                following = reference[end:] or value[match.end() : match.end() + 1]
                if re.match(r"[=A-Za-z0-9]", following):
                    return match.group(0)
                return _HTML5_ENTITIES[name[:end]] + reference[end:]
        return match.group(0)

    return _REFERENCE.sub(decode, value)


# --- CSS -----------------------------------------------------------------------------


def _css_preprocess(css: str) -> str:
    # CSS's own newline normalisation, and no control characters (bleach would turn them
    # into "?" later, which would make the output differ from a second pass).
    css = css.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")
    return _CSS_CONTROL_CHARACTERS.sub("", css)


def _rules_clean(rules: Iterable, *, nested: bool) -> Iterator[str]:
    for rule in rules:
        if rule.type == "qualified-rule":
            selector = _prelude_clean(rule.prelude, functions=_CSS_SELECTOR_FUNCTIONS)
            if selector is None or rule.content is None:
                continue
            declarations = tinycss2.parse_declaration_list(
                rule.content, skip_comments=True, skip_whitespace=True
            )
            body = "; ".join(_declarations_clean(declarations))
            if body:
                yield f"{selector} {{ {body} }}"
        elif rule.type == "at-rule" and rule.lower_at_keyword == "media" and not nested:
            # @media only, one level deep; @import, @font-face, @namespace and the rest
            # fetch something or are not worth the risk.
            query = _prelude_clean(rule.prelude, functions=frozenset())
            if query is None or rule.content is None:
                continue
            inner = tinycss2.parse_rule_list(rule.content, skip_comments=True, skip_whitespace=True)
            kept = list(_rules_clean(inner, nested=True))
            if kept:
                yield "@media " + query + " {\n" + "\n".join(kept) + "\n}"


def _prelude_clean(tokens: list, *, functions: frozenset[str]) -> str | None:
    tokens = [t for t in tokens if t.type != "comment"]
    if not _css_tokens_safe(tokens, functions):
        return None
    text = tinycss2.serialize(tokens).strip()
    if not text or not _css_text_safe(text) or "{" in text:
        return None
    return text


def _declarations_clean(declarations: Iterable) -> Iterator[str]:
    for declaration in declarations:
        if declaration.type != "declaration":
            continue  # nested rules, at-rules, parse errors
        name = declaration.lower_name
        if name not in ALLOWED_CSS_PROPERTIES:
            continue
        value = [t for t in declaration.value if t.type != "comment"]
        if not _css_tokens_safe(value, _CSS_VALUE_FUNCTIONS):
            continue
        text = tinycss2.serialize(value).strip()
        if not text or not _css_text_safe(text):
            continue
        yield f"{name}: {text}{' !important' if declaration.important else ''}"


def _css_tokens_safe(tokens: Iterable, functions: frozenset[str], depth: int = 0) -> bool:
    """No url token, no function outside `functions`, no parse error, at any depth.
    tinycss2 has already undone CSS escapes, so `u\\72l(` is seen as `url(` here."""
    if depth > _CSS_DEPTH_MAX:
        return False
    for token in tokens:
        if token.type in ("url", "error", "at-keyword", "{} block"):
            return False
        if token.type == "function":
            if token.lower_name not in functions:
                return False
            if not _css_tokens_safe(token.arguments, functions, depth + 1):
                return False
        elif token.type in ("() block", "[] block"):
            if not _css_tokens_safe(token.content, functions, depth + 1):
                return False
    return True


def _css_text_safe(serialized: str) -> bool:
    if "<" in serialized or "&" in serialized:
        return False  # see stylesheet_clean: must stay inert as HTML raw text
    # Unescape once more as a second line (the token check already did): "\75 rl(" etc.
    plain = re.sub(r"\s+|/\*.*?\*/", "", _css_unescape(serialized), flags=re.S).lower()
    return not any(word in plain for word in _CSS_FORBIDDEN_TEXT)


def _css_unescape(text: str) -> str:
    def decode(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"
        return match.group(2)

    return re.sub(r"\\(?:([0-9a-fA-F]{1,6})\s?|(.))", decode, text, flags=re.S)


def _css_remote_refs(css: str) -> int:
    """How many url(...) references in `css` point at another server."""
    tokens = tinycss2.parse_component_value_list(_css_preprocess(css), skip_comments=True)
    return sum(1 for url in _css_urls(tokens) if _remote_url(_url_normalise(url)))


def _css_urls(tokens: Iterable, depth: int = 0) -> Iterator[str]:
    if depth > _CSS_DEPTH_MAX:
        return  # only counted, never kept: deeper references are dropped all the same
    for token in tokens:
        if token.type == "url":
            yield token.value
        elif token.type == "function":
            if token.lower_name in ("url", "src"):
                yield from (t.value for t in token.arguments if t.type == "string")
            yield from _css_urls(token.arguments, depth + 1)
        elif token.type in ("() block", "[] block", "{} block"):
            yield from _css_urls(token.content, depth + 1)


# --- plain text ----------------------------------------------------------------------


def _quoted_lines_to_html(lines: list[str], *, depth: int) -> str:
    parts = []
    for quoted, group in itertools.groupby(lines, key=lambda line: line.startswith(">")):
        run = list(group)
        if quoted and depth < _QUOTE_DEPTH_MAX:
            inner = [line[1:].removeprefix(" ") for line in run]
            body = _quoted_lines_to_html(inner, depth=depth + 1)
            parts.append(f'<blockquote class="quote">{body}</blockquote>')
        else:
            # A block element ends the line by itself, so the "\n" between a run and a
            # blockquote is not written (it would show as an extra empty line).
            parts.append(_text_to_html("\n".join(run)))
    return "".join(parts)


def _text_to_html(text: str) -> str:
    """Escape, then linkify, piece by piece between the characters "<", ">" and '"'.

    bleach.linkify on escaped text takes the entity of a closing bracket into the link
    ("<https://example.com/>" would link to "https://example.com/>"). None of the three can
    be part of a URL, so each piece between them is linkified alone and they are only
    escaped.
    """
    return "".join(
        html.escape(piece) if piece in ("<", ">", '"') else _text_linkify(piece)
        for piece in re.split(r'([<>"])', text)
        if piece
    )


def _link_callback(attrs: dict, new: bool = False) -> dict | None:
    href = attrs.get((None, "href"), "")
    if not re.match(r"(?i)(https?://|mailto:)", href):
        return None  # bleach keeps the text and drops the link
    attrs[(None, "target")] = "_blank"
    attrs[(None, "rel")] = _LINK_REL
    return attrs


def _text_linkify(text: str) -> str:
    escaped = html.escape(text, quote=False)
    if "." not in escaped:
        return escaped  # no host name, no link: spare the parser
    linker = getattr(_local, "linker", None)
    if linker is None:
        linker = _local.linker = Linker(callbacks=[_link_callback], parse_email=True)
    return linker.linkify(escaped)
