"""addresses_parse: what the user typed into To, Cc or Bcc."""

import pytest

from webmail.compose.addresses import (
    InvalidAddresses,
    address_ascii,
    address_key,
    addresses_parse,
)
from webmail.protocols.store import Address


def test_it_reads_names_quotes_and_both_separators():
    typed = 'Anna Müller <anna@example.org>, bob@example.net; "Meyer, Bob" <b@x.de>'
    assert addresses_parse(typed) == [
        Address("Anna Müller", "anna@example.org"),
        Address("", "bob@example.net"),
        Address("Meyer, Bob", "b@x.de"),
    ]


@pytest.mark.parametrize(
    "typed, expected",
    [
        ("", []),
        ("  ,; ", []),
        ("<anna@example.org>", [Address("", "anna@example.org")]),
        ("anna@example.org (Anna Müller)", [Address("Anna Müller", "anna@example.org")]),
        (
            '"Bob \\"the builder\\"" <bob@example.net>',
            [Address('Bob "the builder"', "bob@example.net")],
        ),
        ('"a@b.example; c" <real@example.net>', [Address("a@b.example; c", "real@example.net")]),
        ("bob@example.net, BOB@Example.NET", [Address("", "bob@example.net")]),
        ("Jörg <info@bücher.example>", [Address("Jörg", "info@bücher.example")]),
        ("first.last+tag@sub.example.co.uk", [Address("", "first.last+tag@sub.example.co.uk")]),
    ],
)
def test_it_accepts(typed, expected):
    assert addresses_parse(typed) == expected


def test_it_names_every_invalid_entry():
    with pytest.raises(InvalidAddresses) as caught:
        addresses_parse("ok@example.org, nobody, a@b; c@d..e, anna@example.org")
    assert caught.value.entries == ["nobody", "a@b", "c@d..e"]


def test_skip_invalid_keeps_the_valid_entries_of_a_field_still_being_typed():
    typed = 'Anna <anna@example.org>, "Meyer, Bob" <b@x.de>, car'
    assert addresses_parse(typed, skip_invalid=True) == [
        Address("Anna", "anna@example.org"),
        Address("Meyer, Bob", "b@x.de"),
    ]
    assert addresses_parse("Bob\r\nBcc: x@y.de <bob@example.net>", skip_invalid=True) == []


def test_an_unclosed_quote_makes_the_rest_one_invalid_entry():
    with pytest.raises(InvalidAddresses) as caught:
        addresses_parse('ok@example.org, "Unclosed <x@example.org>, anna@example.org')
    assert caught.value.entries == ['"Unclosed <x@example.org>, anna@example.org']


@pytest.mark.parametrize(
    "entry",
    [
        "nobody",
        "a@b",  # no dot in the domain
        "a@b..example",
        "a@-b.example",
        "a@example.123",
        "a b@example.org",
        "a..b@example.org",
        ".a@example.org",
        '"quoted local"@example.org',
        "a@[192.0.2.1]",
        "jörg@example.org",  # needs SMTPUTF8
        "Anna <anna@example.org",
        "Anna anna@example.org>",
        "Anna <>",
        "a@example.org.",
        "x" * 65 + "@example.org",
        "a@" + "b" * 64 + ".example",
        "Anna\r\nBcc: evil@example.com <anna@example.org>",
        "anna@example.org\nBcc: evil@example.com",
        "Anna\x00 <anna@example.org>",
        "Anna\u2028 <anna@example.org>",
        "An<na <anna@example.org>",
    ],
)
def test_it_refuses(entry):
    with pytest.raises(InvalidAddresses) as caught:
        addresses_parse(f"ok@example.org, {entry}")
    assert caught.value.entries == [entry.strip()]


def test_separators_split_entries_outside_quotes_only():
    with pytest.raises(InvalidAddresses) as caught:
        addresses_parse("Meyer, Bob <b@x.de>")
    assert caught.value.entries == ["Meyer"]


def test_idn_domains_are_kept_as_typed_and_punycoded_for_sending():
    [address] = addresses_parse("Post <post@Straße.de>")
    assert address.addr == "post@Straße.de"
    assert address_ascii(address.addr) == "post@xn--strae-oqa.de"  # IDNA 2008: ß stays
    assert address_ascii("a@bücher.example") == "a@xn--bcher-kva.example"
    assert address_ascii("a@xn--bcher-kva.example") == "a@xn--bcher-kva.example"
    assert address_key("A@Bücher.Example") == address_key("a@xn--bcher-kva.example")
