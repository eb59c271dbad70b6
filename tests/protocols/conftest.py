"""The protocol tests compare what the server reports with the flags the mailbox was seeded
with, so they get a mailbox of their own: view and browser tests open messages in the
shared `seeded_mailbox`, and opening marks a message \\Seen."""

import pytest

from tests.conftest import FIXTURE_MAIL
from tests.dovecot import Dovecot, SeededMailbox, seed_reader


@pytest.fixture(scope="session")
def seeded_mailbox(dovecot: Dovecot) -> SeededMailbox:
    """The same folders and messages as the shared one, never opened by a view."""
    return seed_reader(dovecot, FIXTURE_MAIL, name="untouched")
