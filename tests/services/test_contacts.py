"""The address book: what collecting stores, what suggestions offer, and what the user
typed by hand staying theirs."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Contact
from tests.personas import account_offline
from webmail import clock
from webmail.protocols.store import Address
from webmail.services import contacts
from webmail.services.contacts import (
    contact_delete,
    contact_label,
    contact_save,
    contacts_collect,
    contacts_suggest,
)
from webmail.services.identities import identity_save

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def now(monkeypatch):
    """The clock, moved on by hand: `now.advance(minutes=5)`."""

    class Clock:
        value = T0

        def advance(self, **delta):
            self.value += timedelta(**delta)

    fake = Clock()
    monkeypatch.setattr(clock, "now", lambda: fake.value)
    return fake


def _book(user) -> dict[str, tuple[str, int, str]]:
    return {c.email: (c.name, c.times_used, c.source) for c in Contact.objects.filter(user=user)}


def _emails(found) -> list[str]:
    return [c.email for c in found]


# -- collecting ---------------------------------------------------------------------------


def test_it_collects_new_addresses_lower_cased(alice, now):
    contacts_collect(
        alice,
        [Address("Anna Schmidt", "Anna.Schmidt@Example.org"), Address("", "bob@example.net")],
        source="sent",
    )

    assert _book(alice) == {
        "anna.schmidt@example.org": ("Anna Schmidt", 1, "sent"),
        "bob@example.net": ("", 1, "sent"),
    }
    assert Contact.objects.get(email="bob@example.net").last_used == T0


def test_it_counts_each_use_and_fills_an_empty_name(alice, now):
    contacts_collect(alice, [Address("", "anna@example.org")], source="read")
    now.advance(days=1)
    contacts_collect(alice, [Address("Anna Schmidt", "ANNA@example.org")], source="read")

    anna = Contact.objects.get(user=alice)
    assert (anna.name, anna.times_used, anna.source) == ("Anna Schmidt", 2, "read")
    assert anna.last_used == T0 + timedelta(days=1)


def test_it_counts_an_address_once_per_message(alice, now):
    contacts_collect(
        alice, [Address("", "anna@example.org"), Address("Anna", "Anna@example.org")], source="sent"
    )

    assert _book(alice) == {"anna@example.org": ("Anna", 1, "sent")}


def test_it_keeps_a_name_it_has(alice, now):
    contacts_collect(alice, [Address("Anna Schmidt", "anna@example.org")], source="read")
    contacts_collect(alice, [Address("ANNA (via List)", "anna@example.org")], source="read")

    assert _book(alice)["anna@example.org"][0] == "Anna Schmidt"


def test_it_never_overwrites_a_name_the_user_typed(alice, now):
    contact_save(alice, name="Mum", email="anna@example.org")
    contacts_collect(alice, [Address("Anna Schmidt", "anna@example.org")], source="sent")

    assert _book(alice) == {"anna@example.org": ("Mum", 1, "manual")}


def test_it_never_names_a_contact_the_user_left_nameless(alice, now):
    contact_save(alice, name="", email="anna@example.org")
    contacts_collect(alice, [Address("Anna Schmidt", "anna@example.org")], source="read")

    assert _book(alice) == {"anna@example.org": ("", 1, "manual")}


def test_it_promotes_an_address_read_from_to_written_to(alice, now):
    contacts_collect(alice, [Address("", "anna@example.org")], source="read")
    contacts_collect(alice, [Address("", "anna@example.org")], source="sent")
    contacts_collect(alice, [Address("", "anna@example.org")], source="read")

    assert _book(alice) == {"anna@example.org": ("", 3, "sent")}


def test_it_leaves_out_the_users_own_addresses(alice, now):
    account = account_offline(alice, "alice@example.org")
    identity_save(account, name="Alice", email="alias@example.org", reply_to="team@example.org")

    contacts_collect(
        alice,
        [
            Address("Alice", "ALICE@example.org"),
            Address("", "alias@example.org"),
            Address("", "team@example.org"),
            Address("Anna", "anna@example.org"),
        ],
        source="sent",
    )

    assert list(_book(alice)) == ["anna@example.org"]


@pytest.mark.parametrize(
    "address",
    [
        Address("Undisclosed recipients", ""),
        Address("", "postmaster"),
        Address("", "not an address@example.org"),
        Address("Anna", "anna@example.org\r\nBcc: victim@example.net"),
        Address("Anna\r\nBcc: victim@example.net", "anna@example.org"),
        Address("Anna\nX: y", "anna@example.org"),
        Address("Anna\x00", "anna@example.org"),
        Address("", "a" * 250 + "@example.org"),
    ],
)
def test_it_leaves_out_what_is_no_clean_address(alice, now, address):
    assert contacts_collect(alice, [address], source="read") == 0

    assert not Contact.objects.exists()


def test_it_refuses_an_unknown_source(alice):
    with pytest.raises(ValueError):
        contacts_collect(alice, [Address("", "anna@example.org")], source="manual")


def test_it_keeps_each_users_book_apart(alice, bob, now):
    contacts_collect(alice, [Address("Anna", "anna@example.org")], source="sent")
    contacts_collect(bob, [Address("Anna B.", "anna@example.org")], source="read")

    assert _book(alice) == {"anna@example.org": ("Anna", 1, "sent")}
    assert _book(bob) == {"anna@example.org": ("Anna B.", 1, "read")}


def test_it_drops_the_least_used_read_entries_beyond_the_cap(alice, now, monkeypatch):
    monkeypatch.setattr(contacts, "CONTACTS_MAX", 3)
    contacts_collect(alice, [Address("", "kept-sent@example.org")], source="sent")
    contact_save(alice, name="Kept", email="kept-manual@example.org")
    contacts_collect(alice, [Address("", "old-read@example.org")], source="read")
    now.advance(hours=1)
    contacts_collect(alice, [Address("", "often-read@example.org")], source="read")
    contacts_collect(alice, [Address("", "often-read@example.org")], source="read")
    now.advance(hours=1)
    contacts_collect(alice, [Address("", "new-read@example.org")], source="read")

    # Over the cap by two: the once-read entries go, the older first; one still fits.
    assert sorted(_book(alice)) == [
        "kept-manual@example.org",
        "kept-sent@example.org",
        "often-read@example.org",
    ]


# -- suggesting ---------------------------------------------------------------------------


@pytest.fixture
def book(alice, now):
    def use(name, email, times):
        for _ in range(times):
            contacts_collect(alice, [Address(name, email)], source="sent")

    use("Jürgen Müller-Lüdenscheidt", "jm@example.org", 1)
    use("Anna Schmidt", "anna.schmidt@example.org", 5)
    use("Annette Berg", "berg@example.net", 2)
    use("", "annika@example.com", 3)
    use("Zoë O'Brien", "zoe@example.ie", 1)
    return alice


@pytest.mark.parametrize(
    "query, expected",
    [
        ("ann", ["anna.schmidt@example.org", "annika@example.com", "berg@example.net"]),
        ("ANN", ["anna.schmidt@example.org", "annika@example.com", "berg@example.net"]),
        ("anna.", ["anna.schmidt@example.org"]),
        ("schm", ["anna.schmidt@example.org"]),
        ("anna sch", ["anna.schmidt@example.org"]),
        ("berg", ["berg@example.net"]),
        ("jü", ["jm@example.org"]),
        ("JÜ", ["jm@example.org"]),
        ("mü", ["jm@example.org"]),
        ("lüden", ["jm@example.org"]),
        ("zoë", ["zoe@example.ie"]),
        ("zoe\u0308", ["zoe@example.ie"]),  # typed with a combining diaeresis
        ("brien", ["zoe@example.ie"]),
        ("example", []),  # the domain is not where a name starts
        ("nna", []),
        ("%", []),
        ("_", []),
        ("", []),
        ("   ", []),
    ],
)
def test_it_suggests_by_prefix_of_address_name_and_words(book, query, expected):
    assert _emails(contacts_suggest(book, query)) == expected


def test_it_suggests_the_most_used_first_then_the_latest(alice, now):
    contacts_collect(alice, [Address("", "a1@example.org")], source="read")
    now.advance(minutes=1)
    contacts_collect(alice, [Address("", "a2@example.org")], source="read")
    contacts_collect(alice, [Address("", "a3@example.org")], source="read")
    contacts_collect(alice, [Address("", "a3@example.org")], source="read")
    contact_save(alice, name="", email="a0@example.org")  # never used

    assert _emails(contacts_suggest(alice, "a")) == [
        "a3@example.org",
        "a2@example.org",
        "a1@example.org",
        "a0@example.org",
    ]


def test_it_suggests_at_most_the_limit(alice, now):
    contacts_collect(alice, [Address("", f"a{n}@example.org") for n in range(20)], source="sent")

    assert len(contacts_suggest(alice, "a")) == 8
    assert len(contacts_suggest(alice, "a", limit=3)) == 3


def test_it_suggests_only_the_users_own_contacts(book, bob):
    assert contacts_suggest(bob, "ann") == []


# -- by hand ------------------------------------------------------------------------------


def test_it_saves_a_contact_by_hand(alice):
    contact = contact_save(alice, name=" Jürgen ", email=" Juergen@Example.org ")

    assert _book(alice) == {"juergen@example.org": ("Jürgen", 0, "manual")}
    assert contact.name_key == " jürgen"


def test_it_takes_over_a_collected_entry_when_adding_its_address(alice, now):
    contacts_collect(alice, [Address("Anna S.", "anna@example.org")], source="read")

    contact_save(alice, name="Anna Schmidt", email="ANNA@example.org")

    assert _book(alice) == {"anna@example.org": ("Anna Schmidt", 1, "manual")}


def test_it_edits_a_contact(alice, now):
    contact = contact_save(alice, name="Anna", email="anna@example.org")

    contact_save(alice, contact_id=contact.pk, name="Anna Schmidt", email="anna.s@example.org")

    assert _book(alice) == {"anna.s@example.org": ("Anna Schmidt", 0, "manual")}
    assert _emails(contacts_suggest(alice, "schm")) == ["anna.s@example.org"]


def test_it_refuses_to_give_a_contact_anothers_address(alice):
    contact_save(alice, name="Anna", email="anna@example.org")
    bob = contact_save(alice, name="Bob", email="bob@example.org")

    with pytest.raises(ValidationError) as raised:
        contact_save(alice, contact_id=bob.pk, name="Bob", email="anna@example.org")

    assert "email" in raised.value.message_dict
    assert _book(alice)["bob@example.org"] == ("Bob", 0, "manual")


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Anna\r\nBcc: victim@example.net"),
        ("name", "Anna\u2029"),
        ("email", "anna@example.org\r\nBcc: victim@example.net"),
        ("email", "anna"),
        ("email", ""),
    ],
)
def test_it_refuses_a_contact_that_is_no_clean_address(alice, field, value):
    fields = {"name": "Anna", "email": "anna@example.org", field: value}

    with pytest.raises(ValidationError) as raised:
        contact_save(alice, **fields)

    assert field in raised.value.message_dict
    assert not Contact.objects.exists()


def test_it_changes_and_deletes_only_the_users_own_contacts(alice, bob):
    bobs = contact_save(bob, name="Anna", email="anna@example.org")

    with pytest.raises(Contact.DoesNotExist):
        contact_save(alice, contact_id=bobs.pk, name="Mine", email="anna@example.org")
    with pytest.raises(Contact.DoesNotExist):
        contact_delete(alice, bobs.pk)

    assert _book(bob) == {"anna@example.org": ("Anna", 0, "manual")}


def test_it_deletes_a_contact(alice):
    contact = contact_save(alice, name="Anna", email="anna@example.org")

    contact_delete(alice, contact.pk)

    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    "name, label",
    [
        ("", "anna@example.org"),
        ("Anna Schmidt", "Anna Schmidt <anna@example.org>"),
        ("Jürgen Müller", "Jürgen Müller <anna@example.org>"),
        ("Schmidt, Anna", '"Schmidt, Anna" <anna@example.org>'),
        ('Anna "Nan" S.', '"Anna \\"Nan\\" S." <anna@example.org>'),
    ],
)
def test_it_labels_a_contact_as_an_address_field_reads_it(name, label):
    assert contact_label(Contact(name=name, email="anna@example.org")) == label
