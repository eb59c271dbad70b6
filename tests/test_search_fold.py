"""Folding for search: pure functions, the same for the index and the query."""

from webmail.search_fold import Term, document_fold, query_terms, server_words, word_fold


def test_it_folds_case_sharp_s_and_umlauts_alike():
    assert {word_fold(w) for w in ["Grüße", "grüße", "GRÜSSE", "Grüsse", "Gruesse"]} == {"gruesse"}
    assert word_fold("Straße") == word_fold("STRASSE") == "strasse"
    assert word_fold("Café") == "cafe"
    assert word_fold("u\u0308ber") == "ueber"  # a decomposed ü is an umlaut too
    assert document_fold("u\u0308ber") == "ueber uber"


def test_it_indexes_umlaut_words_also_without_dots_after_the_other_words():
    assert document_fold("Müller-Lüdenscheidt", "anna@example.org") == (
        "mueller luedenscheidt anna example org muller ludenscheidt"
    )


def test_query_words_are_folded_and_punctuation_never_is_syntax():
    assert query_terms('"NEAR" * - : anna@example.org Grü') == [
        Term(words=("near",)),
        Term(words=("anna", "example", "org")),
        Term(words=("grue",), prefix=True),
    ]
    assert query_terms("Grüße") == [Term(words=("gruesse",), prefix=True)]
    assert query_terms("Grüße ") == [Term(words=("gruesse",))]
    assert query_terms('* "" - :') == []


def test_server_words_keep_only_atom_characters():
    assert server_words('Grüße "{5}" (x) a*b anna@example.org \\') == [
        "Grüße", "5", "x", "ab", "anna@example.org",
    ]  # fmt: skip
    assert server_words("x\r\nA1 LOGOUT") == ["x", "A1", "LOGOUT"]


def _document_fold_word_by_word(*parts):
    # The definition document_fold takes short cuts to (it folds every synced message).
    from webmail.search_fold import MAX_WORD, _strip_marks, _words

    words = [w for w in _words(" ".join(p for p in parts if p)) if len(w) <= MAX_WORD]
    dotless = [_strip_marks(w) for w in words if any(ch in w for ch in "äöü")]
    return " ".join([word_fold(w) for w in words] + dotless)


def test_it_folds_a_document_like_word_by_word():
    texts = [
        "Sehr geehrte Frau Müller, anbei die Übersicht (Änderungen: Größe, Maße).",
        "„Grüße“ aus der STRASSE\u00a0— café naïve Zoë İstanbul ﬁle ½ x_y ǰ",
        "plain ASCII only: invoice #42, anna@example.org, re: report",
        "u\u0308ber " + "a" * 65 + " " + "ä" * 65 + " ok",
        "Привет мир 中文 👍 \ud800 ΣΊΣΥΦΟΣ",
        "",
    ]
    for text in texts:
        assert document_fold("Jörg Weiß", text) == _document_fold_word_by_word("Jörg Weiß", text)
        assert document_fold(text) == _document_fold_word_by_word(text)
