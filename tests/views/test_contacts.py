"""The address book page and the suggestions the compose form asks for; bob never sees
or changes alice's contacts."""

import html
import re

import pytest
from django.utils import translation

from accounts.models import Contact
from webmail.protocols.store import Address
from webmail.services.contacts import contact_save, contacts_collect

pytestmark = pytest.mark.django_db

LIST_URL = "/settings/contacts/"
ADD_URL = "/settings/contacts/add/"
SUGGEST_URL = "/contacts/suggest/"


def _text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def _rows(response) -> list[str]:
    """The addresses listed in the table, in order."""
    return re.findall(r"<td>([^<>]+@[^<>]+)</td>", response.content.decode())


def _collect(user, name, email, times=1):
    for _ in range(times):
        contacts_collect(user, [Address(name, email)], source="sent")


@pytest.fixture
def book(alice):
    _collect(alice, "Jürgen Müller", "jm@example.org", 1)
    _collect(alice, "Anna Schmidt", "anna@example.org", 5)
    _collect(alice, "Annette Berg", "berg@example.net", 2)
    _collect(alice, "", "annika@example.com", 3)
    return alice


# -- the page -----------------------------------------------------------------------------


def test_it_lists_the_address_book_alphabetically(alice_client, book):
    response = alice_client.get(LIST_URL)

    assert response.status_code == 200
    # By name, or by address where there is none: Anna, Annette, annika@, Jürgen.
    assert _rows(response) == [
        "anna@example.org",
        "berg@example.net",
        "annika@example.com",
        "jm@example.org",
    ]
    assert "Jürgen Müller" in _text(response)


def test_it_searches_by_name_and_address(alice_client, book):
    assert _rows(alice_client.get(LIST_URL, {"q": "ann"})) == [
        "anna@example.org",
        "berg@example.net",
        "annika@example.com",
    ]
    assert _rows(alice_client.get(LIST_URL, {"q": "MÜ"})) == ["jm@example.org"]
    response = alice_client.get(LIST_URL, {"q": "zz<b>"})
    assert _rows(response) == []
    assert "No contact starts with “zz<b>”." in _text(response)
    assert "<b>" not in response.content.decode().split("<main")[1]


def test_it_pages_the_address_book(alice_client, alice):
    contacts_collect(
        alice, [Address("", f"c{n:03}@example.org") for n in range(120)], source="read"
    )

    first = alice_client.get(LIST_URL)
    third = alice_client.get(LIST_URL, {"page": "3"})

    assert len(_rows(first)) == 50
    assert _rows(third) == [f"c{n:03}@example.org" for n in range(100, 120)]
    assert "Page 1 of 3" in _text(first)
    assert 'class="button" href="?page=2"' in first.content.decode()


def test_it_links_the_address_book_in_the_navigation(alice_client):
    page = alice_client.get("/settings/").content.decode()

    assert f'href="{LIST_URL}"' in page


def test_it_shows_the_form_with_labels(alice_client):
    page = alice_client.get(ADD_URL).content.decode()

    assert '<label for="id_name">' in page
    assert '<label for="id_email">' in page
    assert "csrfmiddlewaretoken" in page


def test_it_adds_a_contact(alice_client, alice):
    response = alice_client.post(ADD_URL, {"name": "Jürgen Müller", "email": "JM@Example.org"})

    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    contact = Contact.objects.get(user=alice)
    assert (contact.name, contact.email, contact.source) == (
        "Jürgen Müller",
        "jm@example.org",
        "manual",
    )


def test_it_changes_a_contact_and_keeps_the_name_from_then_on(alice_client, alice):
    _collect(alice, "Anna S.", "anna@example.org")
    contact = Contact.objects.get(user=alice)

    page = alice_client.get(f"/settings/contacts/{contact.pk}/").content.decode()
    assert 'value="Anna S."' in page
    alice_client.post(
        f"/settings/contacts/{contact.pk}/", {"name": "Anna Schmidt", "email": "anna@example.org"}
    )
    _collect(alice, "ANNA SCHMIDT (Work)", "anna@example.org")

    contact.refresh_from_db()
    assert (contact.name, contact.source, contact.times_used) == ("Anna Schmidt", "manual", 2)


def test_it_tells_of_an_address_that_is_there_already(alice_client, alice):
    contact_save(alice, name="Anna", email="anna@example.org")
    bob = contact_save(alice, name="Bob", email="bob@example.org")

    response = alice_client.post(
        f"/settings/contacts/{bob.pk}/", {"name": "Bob", "email": "anna@example.org"}
    )

    assert response.status_code == 200
    assert "This address is in your address book already." in _text(response)


@pytest.mark.parametrize(
    "fields",
    [
        {"name": "Anna\r\nBcc: victim@example.net", "email": "anna@example.org"},
        {"name": "Anna\nBcc: victim@example.net", "email": "anna@example.org"},
        {"name": "Anna", "email": "anna@example.org\r\nBcc: victim@example.net"},
        {"name": "Anna", "email": "anna@example.org,victim@example.net"},
    ],
)
def test_it_refuses_header_injection(alice_client, fields):
    response = alice_client.post(ADD_URL, fields)

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert not Contact.objects.exists()


def test_it_deletes_a_contact_by_post_only(alice_client, alice):
    contact = contact_save(alice, name="Anna", email="anna@example.org")
    url = f"/settings/contacts/{contact.pk}/delete/"

    assert alice_client.get(url).status_code == 405
    assert Contact.objects.exists()

    response = alice_client.post(url, follow=True)

    assert not Contact.objects.exists()
    assert "Anna <anna@example.org> was removed from your address book." in _text(response)


def test_it_gives_bob_404_for_alices_contacts(bob_client, alice):
    contact = contact_save(alice, name="Anna", email="anna@example.org")
    url = f"/settings/contacts/{contact.pk}/"

    assert bob_client.get(url).status_code == 404
    assert bob_client.post(url, {"name": "Mine", "email": "bob@example.org"}).status_code == 404
    assert bob_client.post(url + "delete/").status_code == 404
    assert "anna@example.org" not in bob_client.get(LIST_URL).content.decode()
    assert bob_client.get(SUGGEST_URL, {"q": "ann"}).json() == {"results": []}

    contact.refresh_from_db()
    assert (contact.name, contact.email) == ("Anna", "anna@example.org")


def test_it_sends_strangers_to_the_sign_in_page(client):
    for url in (LIST_URL, ADD_URL, SUGGEST_URL + "?q=a"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


# -- suggestions --------------------------------------------------------------------------


def test_it_suggests_the_most_used_first(alice_client, book):
    response = alice_client.get(SUGGEST_URL, {"q": "ann"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-store" in response["Cache-Control"]
    assert response.json() == {
        "results": [
            {
                "name": "Anna Schmidt",
                "email": "anna@example.org",
                "label": "Anna Schmidt <anna@example.org>",
            },
            {"name": "", "email": "annika@example.com", "label": "annika@example.com"},
            {
                "name": "Annette Berg",
                "email": "berg@example.net",
                "label": "Annette Berg <berg@example.net>",
            },
        ]
    }


def test_it_suggests_by_a_word_of_the_name_with_umlauts(alice_client, book):
    for query in ("jü", "JÜ", "mü", "Jürgen M"):
        results = alice_client.get(SUGGEST_URL, {"q": query}).json()["results"]
        assert [r["email"] for r in results] == ["jm@example.org"], query


def test_it_suggests_at_most_eight(alice_client, alice):
    contacts_collect(alice, [Address("", f"a{n}@example.org") for n in range(20)], source="read")

    assert len(alice_client.get(SUGGEST_URL, {"q": "a"}).json()["results"]) == 8


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "   "}, {"q": "a\r\nb"}])
def test_it_suggests_nothing_for_nothing(alice_client, book, params):
    assert alice_client.get(SUGGEST_URL, params).json() == {"results": []}


def test_it_quotes_a_label_that_an_address_field_would_split(alice_client, alice):
    contact_save(alice, name="Schmidt, Anna", email="anna@example.org")

    results = alice_client.get(SUGGEST_URL, {"q": "schmidt"}).json()["results"]

    assert results[0]["label"] == '"Schmidt, Anna" <anna@example.org>'


def test_it_suggests_by_get_only_and_changes_nothing(alice_client, book):
    before = list(Contact.objects.values_list("email", "times_used", "last_used"))

    assert alice_client.post(SUGGEST_URL, {"q": "ann"}).status_code == 405
    alice_client.get(SUGGEST_URL, {"q": "ann"})

    assert list(Contact.objects.values_list("email", "times_used", "last_used")) == before


def test_it_speaks_german_to_a_german_reader(alice_client, alice, book):
    alice.language = "de"
    alice.save()
    with translation.override("en"):  # the request activates German; keep it out of later tests
        response = alice_client.get(LIST_URL)

    text = _text(response)
    assert "<title>Adressbuch – Postfach</title>" in response.content.decode()
    assert "Nach Name oder Adresse suchen" in text
    assert "5 Mal" in text
