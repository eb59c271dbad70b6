"""Folding text for full-text search the way a German reader expects, in Python, so that
SQLite's FTS5 and PostgreSQL's full-text search see the same words.

Case folds (`GRÜSSE` = `grüße`), ß is ss (`Straße` = `Strasse`), and ä, ö, ü are spelled
ae, oe, ue (`Müller` = `Mueller`), as Germans write them without the keys. A word with an
umlaut is also indexed without its dots (`muller`), so a search typed on an English
keyboard finds it too. Other diacritics go (`café` = `cafe`). FTS5's own
`remove_diacritics` would make `Grüße` into `gruse`, which neither `Gruesse` nor
`Grüsse` reaches; folding here first leaves the tokenizer nothing to change.

Words are runs of letters and digits; everything else (`@`, `.`, `-`, quotes, `*`) only
separates them, so the same text tokenizes alike in both databases and no character a
reader types is ever query syntax.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_WORD = re.compile(r"[^\W_]+")
_QUERY_PART = re.compile(r'"([^"]*)"?|([^\s"]+)')
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})
MAX_TERMS = 12  # words in a query; more only make the database work harder
MAX_WORD = 64  # characters; longer "words" are base64 or the like


def _strip_marks(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFKC", kept)


def _words(text: str) -> list[str]:
    # NFC first: a decomposed ü (u + combining diaeresis) must meet the umlaut table.
    return _WORD.findall(unicodedata.normalize("NFC", text).casefold())


def word_fold(word: str) -> str:
    """One word as it is indexed and searched: `Grüße` -> `gruesse`."""
    return _strip_marks(unicodedata.normalize("NFC", word).casefold().translate(_UMLAUTS))


def document_fold(*parts: str) -> str:
    """The words of `parts`, folded and separated by spaces; the dotless spellings of
    umlaut words follow at the end, so they do not come between the words of a phrase."""
    folded, dotless = [], []
    for word in _words(" ".join(part for part in parts if part)):
        if len(word) > MAX_WORD:
            continue
        folded.append(word_fold(word))
        if any(ch in word for ch in "äöü"):
            dotless.append(_strip_marks(word))
    return " ".join(folded + dotless)


@dataclass(frozen=True)
class Term:
    """What one search word must match: its folded words in a row (a phrase, for an
    address such as `anna@example.org`, or words the reader put in quotes), the last
    one also as a prefix when `prefix`."""

    words: tuple[str, ...]
    prefix: bool = False


def query_terms(query: str) -> list[Term]:
    """The terms of what a reader typed. All of them must match. The last word counts as
    a prefix while it is being typed (no space after it, at least three characters)."""
    terms: list[Term] = []
    for quoted, bare in _QUERY_PART.findall(query):
        words = tuple(word_fold(w) for w in _words(quoted or bare) if len(w) <= MAX_WORD)
        words = tuple(w for w in words if w)
        if words:
            terms.append(Term(words=words))
    terms = terms[:MAX_TERMS]
    if terms and not query.endswith((" ", '"')) and len(terms[-1].words[-1]) >= 3:
        terms[-1] = Term(words=terms[-1].words, prefix=True)
    return terms


_SERVER_WORD = re.compile(r"[^\W_]|[@.\-_+']")


def server_words(query: str) -> list[str]:
    """The words of a query for a server's IMAP SEARCH (which matches substrings and folds
    case itself), as typed but kept to letters, digits and `@.-_+'`: characters that are
    plain atom characters in IMAP, so no word can ever be read as syntax (`(`, `{n}`
    literals, `*`, quotes)."""
    words = []
    for quoted, bare in _QUERY_PART.findall(unicodedata.normalize("NFC", query)):
        for part in (quoted or bare).split():
            word = "".join(_SERVER_WORD.findall(part))[:MAX_WORD]
            if word.strip(".-_+'@"):
                words.append(word)
    return words[:MAX_TERMS]
