"""Identities: every account has at least one, exactly one is the default, and nothing
that could end a header line is ever stored."""

import pytest
from django.core.exceptions import ValidationError

from accounts.models import Identity
from tests.personas import account_offline
from webmail.services.identities import (
    identities_for,
    identity_addresses,
    identity_delete,
    identity_save,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(alice):
    return account_offline(alice, "alice@example.org", "Alice Example")


def _save(account, **fields):
    values = {"name": "Alice", "email": "alice@example.org", "reply_to": "", "signature": ""}
    return identity_save(account, **{**values, **fields})


def _defaults(account) -> list[str]:
    return list(account.identities.filter(is_default=True).values_list("email", flat=True))


def test_it_makes_the_first_identity_from_the_account(account):
    identities = identities_for(account)

    assert [(i.name, i.email, i.is_default) for i in identities] == [
        ("Alice Example", "alice@example.org", True)
    ]
    assert identities_for(account) == identities  # made once, not again


def test_it_lists_the_default_first(account):
    identities_for(account)
    _save(account, name="Alice at work", email="alice@work.example", is_default=True)
    _save(account, name="Alice's club", email="club@example.org")

    assert [i.email for i in identities_for(account)] == [
        "alice@work.example",
        "alice@example.org",
        "club@example.org",
    ]


def test_it_keeps_exactly_one_default(account):
    first = identities_for(account)[0]
    second = _save(account, email="second@example.org", is_default=True)
    assert _defaults(account) == ["second@example.org"]

    _save(account, identity_id=second.pk, email="second@example.org", is_default=False)
    assert _defaults(account) == ["second@example.org"]  # someone has to be the default

    _save(account, identity_id=first.pk, email="alice@example.org", is_default=True)
    assert _defaults(account) == ["alice@example.org"]


def test_it_makes_the_only_identity_the_default_whatever_was_asked(account):
    identity = _save(account, is_default=False)

    assert identity.is_default


def test_it_stores_what_was_typed(account):
    identity = _save(
        account,
        name="  Jürgen Müller ",
        email="juergen@example.org",
        reply_to="team@example.org",
        signature="Jürgen\r\nBüro 3\r\n\r\n",
    )

    identity.refresh_from_db()
    assert identity.name == "Jürgen Müller"
    assert identity.reply_to == "team@example.org"
    assert identity.signature == "Jürgen\nBüro 3"


@pytest.mark.parametrize(
    "field, value",
    [
        ("name", "Alice\r\nBcc: victim@example.net"),
        ("name", "Alice\nBcc: victim@example.net"),
        ("name", "Alice\x00"),
        ("name", "Alice\u2028Bcc: victim@example.net"),
        ("email", "alice@example.org\r\nBcc: victim@example.net"),
        ("email", "alice@example.org\n"),
        ("reply_to", "team@example.org\r\nBcc: victim@example.net"),
        ("signature", "Regards\x00"),
        ("signature", "Regards\x1b[31m"),
    ],
)
def test_it_refuses_what_could_end_a_header_line(account, field, value):
    with pytest.raises(ValidationError) as raised:
        _save(account, **{field: value})

    assert field in raised.value.message_dict
    assert not Identity.objects.exists()


@pytest.mark.parametrize("field", ["email", "reply_to"])
def test_it_refuses_what_is_not_an_address(account, field):
    with pytest.raises(ValidationError) as raised:
        _save(account, **{field: "alice at example.org"})

    assert field in raised.value.message_dict


def test_it_requires_an_address(account):
    with pytest.raises(ValidationError) as raised:
        _save(account, email="")

    assert "email" in raised.value.message_dict


def test_it_changes_only_the_accounts_own_identities(alice, bob, account):
    bobs = identities_for(account_offline(bob, "bob@example.org"))[0]

    with pytest.raises(Identity.DoesNotExist):
        _save(account, identity_id=bobs.pk, email="mine@example.org")
    with pytest.raises(Identity.DoesNotExist):
        identity_delete(account, bobs.pk)

    bobs.refresh_from_db()
    assert bobs.email == "bob@example.org"


def test_it_refuses_to_delete_the_last_identity(account):
    only = identities_for(account)[0]

    with pytest.raises(ValidationError):
        identity_delete(account, only.pk)

    assert list(account.identities.all()) == [only]


def test_it_passes_the_default_on_when_the_default_is_deleted(account):
    default = identities_for(account)[0]
    _save(account, email="second@example.org")
    _save(account, email="third@example.org")

    identity_delete(account, default.pk)

    assert _defaults(account) == ["second@example.org"]
    assert [i.email for i in identities_for(account)] == ["second@example.org", "third@example.org"]


def test_it_deletes_an_identity_that_is_not_the_default(account):
    identities_for(account)
    other = _save(account, email="second@example.org")

    identity_delete(account, other.pk)

    assert [i.email for i in identities_for(account)] == ["alice@example.org"]


def test_it_knows_all_the_users_own_addresses(alice, bob, account):
    identities_for(account)
    _save(account, email="Alice.Work@Example.ORG", reply_to="Team@Example.org")
    account_offline(alice, "ALICE@second.example")
    identities_for(account_offline(bob, "bob@example.org"))

    assert identity_addresses(alice) == {
        "alice@example.org",
        "alice.work@example.org",
        "team@example.org",
        "alice@second.example",
    }
