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
