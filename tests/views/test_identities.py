"""An account's identities in the settings, as the reader sees and changes them; bob
never sees or changes alice's."""

import html
import re

import pytest

from accounts.models import Identity
from tests.personas import account_offline
from webmail.services.identities import identities_for, identity_save

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(alice):
    return account_offline(alice, "alice@example.org", "Alice Example")


def _url(account, rest: str = "") -> str:
    return f"/settings/accounts/{account.pk}/identities/{rest}"


def _form(**fields) -> dict[str, str]:
    values = {
        "name": "Alice at work",
        "email": "alice@work.example",
        "reply_to": "",
        "signature": "",
    }
    return {**values, **fields}


def _text(response) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_it_lists_the_accounts_identities_with_the_first_made_from_the_account(
    alice_client, account
):
    response = alice_client.get(_url(account))

    assert response.status_code == 200
    text = _text(response)
    assert "Identities of alice@example.org" in text
    assert "Alice Example" in text
    assert re.search(r"alice@example\.org\s+default", text)
    assert Identity.objects.filter(account=account, is_default=True).count() == 1


def test_it_links_the_identities_from_the_accounts_page(alice_client, account):
    page = alice_client.get("/settings/accounts/").content.decode()

    assert f'href="{_url(account)}"' in page


def test_it_shows_no_delete_button_for_the_only_identity(alice_client, account):
    page = alice_client.get(_url(account)).content.decode()

    assert "/delete/" not in page


def test_it_shows_the_form_with_labels(alice_client, account):
    page = alice_client.get(_url(account, "add/")).content.decode()

    for field in ("name", "email", "reply_to", "signature", "is_default"):
        assert f'<label for="id_{field}">' in page
    assert "csrfmiddlewaretoken" in page


def test_it_adds_an_identity(alice_client, account):
    identities_for(account)

    response = alice_client.post(
        _url(account, "add/"),
        _form(reply_to="team@work.example", signature="Alice\r\nWork Ltd.", is_default="on"),
    )

    assert response.status_code == 302
    assert response["Location"] == _url(account)
    added = Identity.objects.get(email="alice@work.example")
    assert (added.name, added.reply_to, added.signature, added.is_default) == (
        "Alice at work",
        "team@work.example",
        "Alice\nWork Ltd.",
        True,
    )
    assert [i.email for i in identities_for(account)] == ["alice@work.example", "alice@example.org"]
    assert "The identity alice@work.example was saved." in _text(alice_client.get(_url(account)))


def test_it_changes_an_identity(alice_client, account):
    identity = identities_for(account)[0]

    page = alice_client.get(_url(account, f"{identity.pk}/")).content.decode()
    assert 'value="alice@example.org"' in page

    response = alice_client.post(
        _url(account, f"{identity.pk}/"), _form(email="alice@example.org", signature="– A.")
    )

    assert response.status_code == 302
    identity.refresh_from_db()
    assert (identity.name, identity.signature, identity.is_default) == (
        "Alice at work",
        "– A.",
        True,
    )


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Alice\r\nBcc: victim@example.net"),
        ("name", "Alice\nBcc: victim@example.net"),
        ("email", "alice@work.example\r\nBcc: victim@example.net"),
        ("reply_to", "team@work.example\nBcc: victim@example.net"),
        ("signature", "Alice\x00"),
    ],
)
def test_it_refuses_header_injection(alice_client, account, field, value):
    response = alice_client.post(_url(account, "add/"), _form(**{field: value}))

    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()
    assert not Identity.objects.filter(email="alice@work.example").exists()
    assert "victim" not in "".join(Identity.objects.values_list("name", flat=True))


def test_it_refuses_to_delete_the_last_identity(alice_client, account):
    only = identities_for(account)[0]

    response = alice_client.post(_url(account, f"{only.pk}/delete/"), follow=True)

    assert list(account.identities.all()) == [only]
    assert "its last one cannot be deleted" in _text(response)


def test_it_deletes_an_identity_and_passes_the_default_on(alice_client, account):
    default = identities_for(account)[0]
    identity_save(account, name="", email="other@example.org")

    response = alice_client.post(_url(account, f"{default.pk}/delete/"))

    assert response.status_code == 302
    assert [(i.email, i.is_default) for i in account.identities.all()] == [
        ("other@example.org", True)
    ]


def test_it_deletes_only_by_post(alice_client, account):
    identities_for(account)
    other = identity_save(account, name="", email="other@example.org")

    response = alice_client.get(_url(account, f"{other.pk}/delete/"))

    assert response.status_code == 405
    assert account.identities.count() == 2


def test_it_gives_bob_404_for_alices_identities(bob_client, account):
    identity = identities_for(account)[0]

    assert bob_client.get(_url(account)).status_code == 404
    assert bob_client.get(_url(account, "add/")).status_code == 404
    assert bob_client.get(_url(account, f"{identity.pk}/")).status_code == 404
    assert bob_client.post(_url(account, "add/"), _form()).status_code == 404
    assert bob_client.post(_url(account, f"{identity.pk}/"), _form()).status_code == 404
    assert bob_client.post(_url(account, f"{identity.pk}/delete/")).status_code == 404

    identity.refresh_from_db()
    assert identity.email == "alice@example.org"
    assert account.identities.count() == 1


def test_it_gives_404_for_an_identity_of_anothers_account_under_ones_own(
    alice_client, alice, bob, account
):
    bobs = identities_for(account_offline(bob, "bob@example.org"))[0]

    assert alice_client.get(_url(account, f"{bobs.pk}/")).status_code == 404
    assert alice_client.post(_url(account, f"{bobs.pk}/delete/")).status_code == 404
    assert Identity.objects.filter(pk=bobs.pk).exists()


def test_it_sends_strangers_to_the_sign_in_page(client, account):
    response = client.get(_url(account))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
