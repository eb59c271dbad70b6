"""Shared fixtures. The Dovecot machinery lives in tests/dovecot.py; these stay thin."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dovecot import Dovecot, MailUser, SeededMailbox, new_mail_user, seed_reader

FIXTURE_MAIL = Path(__file__).parent / "fixtures" / "mail"


@pytest.fixture(scope="session")
def dovecot() -> Iterator[Dovecot]:
    """One throwaway Dovecot (IMAP + POP3 on 127.0.0.1) for the whole run."""
    with Dovecot() as server:
        yield server


@pytest.fixture
def mail_user(dovecot: Dovecot) -> MailUser:
    """A fresh user with an empty mailbox; `.settings()` gives its IMAP ServerSettings."""
    return new_mail_user(dovecot)


@pytest.fixture(scope="session")
def seeded_mailbox(dovecot: Dovecot) -> SeededMailbox:
    """User `reader`: INBOX holds tests/fixtures/mail/*.eml, plus Projects/2026 and
    Newsletters (see SeededMailbox). Tests change no mail here, but views mark what they
    open as \\Seen: tests that compare flags use tests/protocols' own copy."""
    return seed_reader(dovecot, FIXTURE_MAIL)


# The people the tests talk about (alice, bob, their clients and accounts).
from tests.personas import (  # noqa: E402,F401
    alice,
    alice_account,
    alice_client,
    bob,
    bob_client,
)


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests render templates without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
