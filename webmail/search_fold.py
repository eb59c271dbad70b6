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
from functools import lru_cache

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


# ASCII letters and digits stay, every other ASCII character becomes a space, and the
# bytes of UTF-8 sequences (128 and up) stay for the regular expression to judge.
_ASCII_SEPARATORS = bytes(b if b >= 128 or chr(b).isalnum() else 0x20 for b in range(256))


@lru_cache(maxsize=50_000)
def _fold_token(token: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The folded words of a non-ASCII run of text between ASCII separators (as found:
    NFC, case-folded), and the dotless spellings of those with an umlaut. Mail repeats
    its words, so most are looked up here instead of normalized again."""
    words = [word for word in _WORD.findall(token) if len(word) <= MAX_WORD]
    dotless = (_strip_marks(word) for word in words if any(ch in word for ch in "äöü"))
    return tuple(word_fold(word) for word in words), tuple(dotless)


def document_fold(*parts: str) -> str:
    """The words of `parts`, folded and separated by spaces; the dotless spellings of
    umlaut words follow at the end, so they do not come between the words of a phrase."""
    # The sync folds every message it indexes, so this is the fast way to the result of
    # folding each of _words(): ASCII separators go in one bytes.translate, an ASCII
    # word is folded already (lower case: no marks, no umlauts), and the others repeat.
    text = unicodedata.normalize("NFC", " ".join(part for part in parts if part)).casefold()
    spaced = text.encode(errors="surrogatepass").translate(_ASCII_SEPARATORS)
    tokens = spaced.decode(errors="surrogatepass").split()
    if text.isascii():
        return " ".join(token for token in tokens if len(token) <= MAX_WORD)
    folded, dotless = [], []
    for token in tokens:
        if token.isascii():
            if len(token) <= MAX_WORD:
                folded.append(token)
        else:
            plain, undotted = _fold_token(token)
            folded += plain
            dotless += undotted
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
