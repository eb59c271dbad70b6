"""HTML to plain text, for the text/plain half of an HTML message.

Small on purpose: paragraphs and headings become blocks separated by a blank line,
<br> and <div> break lines, list items start with "- " (indented two spaces per level),
a link becomes "text <url>" (just the URL when the text is the URL), images give their
alt text, blockquotes become "> " lines (">> " one level deeper, as mail quoting does),
<pre> keeps its lines, and script, style and head content is dropped. Whitespace
elsewhere collapses as a browser would collapse it.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "pre", "blockquote", "table",
     "figure", "hr"}
)  # fmt: skip
_LINES = frozenset(
    {"div", "li", "tr", "dt", "dd", "address", "article", "aside", "section", "header",
     "footer", "nav", "main", "form", "fieldset", "figcaption", "caption", "center"}
)  # fmt: skip
_HIDDEN = frozenset({"script", "style", "head", "title", "template", "noscript"})
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base"})
_LINK_SCHEMES = ("http://", "https://", "mailto:", "ftp://")
_WHITESPACE = re.compile(r"\s+")


def html_to_text(html: str) -> str:
    """The text a reader would see in `html`, as plain-text lines joined by "\\n"."""
    writer = _TextWriter()
    writer.feed(html or "")
    writer.close()
    return writer.text()


class _TextWriter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text) of finished lines
        self.pieces: list[str] = []  # the line being written
        self.quote = 0
        self.pre = 0
        self.hidden = 0
        self.blank_wanted = False
        self.lists: list[str] = []
        self.item_marker: str | None = None  # "- " waiting for the item's first text
        self.marker = ""  # the marker of the line being written
        self.links: list[tuple[str | None, list[str]]] = []

    # -- the parser's callbacks ---------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self.hidden += 1
            return
        if self.hidden:
            return
        if tag == "br":
            self._line_end(keep_empty=True)
        elif tag in ("ul", "ol") and self.lists:  # a list inside a list item
            self._block(blank=False)
        elif tag in _PARAGRAPHS:
            self._block(blank=True)
        elif tag in _LINES:
            self._block(blank=False)
        if tag == "blockquote":
            self.quote += 1
        elif tag in ("ul", "ol"):
            self.lists.append(tag)
        elif tag == "li":
            self.item_marker = "  " * max(len(self.lists) - 1, 0) + "- "
        elif tag == "pre":
            self.pre += 1
        elif tag in ("td", "th"):
            self._write(" ")
        elif tag == "a":
            self.links.append((_link_url(dict(attrs).get("href")), []))
        elif tag == "img":
            alt = _WHITESPACE.sub(" ", dict(attrs).get("alt") or "").strip()
            if alt:
                self._write(alt)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self.hidden = max(self.hidden - 1, 0)
            return
        if self.hidden or tag in _VOID:
            return
        if tag == "a" and self.links:
            url, texts = self.links.pop()
            text = _WHITESPACE.sub(" ", "".join(texts)).strip()
            if url and url.removeprefix("mailto:") not in (text, text.removeprefix("mailto:")):
                self._write(f" <{url}>" if text else url)
        if tag in ("ul", "ol") and len(self.lists) > 1:
            self._block(blank=False)
        elif tag in _PARAGRAPHS:
            self._block(blank=True)
        elif tag in _LINES:
            self._block(blank=False)
        if tag == "blockquote":
            self.quote = max(self.quote - 1, 0)
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "pre":
            self.pre = max(self.pre - 1, 0)

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.pre:
            first, *rest = data.replace("\r\n", "\n").split("\n")
            self._write(first)
            for line in rest:
                self._line_end(keep_empty=True)
                self._write(line)
            return
        self._write(_WHITESPACE.sub(" ", data))

    # -- writing ------------------------------------------------------------------------

    def _write(self, text: str) -> None:
        if not text:
            return
        if self.item_marker is not None and text.strip():
            self._line_end(keep_empty=False)
            self.marker = self.item_marker
            self.item_marker = None
            text = text.lstrip()
        self.pieces.append(text)
        for _, texts in self.links:
            texts.append(text)

    def _block(self, *, blank: bool) -> None:
        self._line_end(keep_empty=False)
        if blank:
            self.blank_wanted = True

    def _line_end(self, *, keep_empty: bool) -> None:
        text = "".join(self.pieces)
        text = text.rstrip() if self.pre else _WHITESPACE.sub(" ", text).strip()
        text = self.marker + text if text else text
        self.pieces = []
        self.marker = ""
        if not text and not keep_empty:
            return
        if self.blank_wanted and self.lines and self.lines[-1][1]:
            self.lines.append((min(self.lines[-1][0], self.quote), ""))
        self.blank_wanted = False
        self.lines.append((self.quote, text))

    def text(self) -> str:
        self._line_end(keep_empty=False)
        lines = self.lines
        while lines and not lines[-1][1]:
            lines.pop()
        while lines and not lines[0][1]:
            lines.pop(0)
        return "\n".join(_quoted(depth, text) for depth, text in lines)


def _quoted(depth: int, text: str) -> str:
    if not depth:
        return text
    return ">" * depth + (" " + text if text else "")


def _link_url(href: str | None) -> str | None:
    url = _WHITESPACE.sub("", href or "")
    return url if url.lower().startswith(_LINK_SCHEMES) else None
