"""Shared fixtures. The Dovecot machinery lives in tests/dovecot.py; these stay thin."""

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dovecot import Dovecot, MailUser, SeededMailbox, new_mail_user, seed_reader
from webmail.celery import app as celery_app

FIXTURE_MAIL = Path(__file__).parent / "fixtures" / "mail"

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "testserver"}


def _numeric(host: str) -> bool:
    try:
        socket.inet_aton(host)  # also the odd spellings (127.1, 0x7f.1) netguard tests use
        return True
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET6, host.split("%")[0])
        return True
    except OSError:
        return False


def _loopback_only(event: str, args: tuple) -> None:
    """Tests talk to servers they started on 127.0.0.1 and to nothing else: no connection
    to another address and no name lookup that would ask a DNS server. (Chromium is
    another process; its requests are held in by tests/browser/conftest.py.)"""
    if event == "socket.connect":
        sock, address = args
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in (
            "127.0.0.1", "::1", "::ffff:127.0.0.1"
        ):
            raise ConnectionRefusedError(f"test tried to connect to {address!r}: loopback only")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        host = args[0]
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if host is not None and host not in LOOPBACK_NAMES and not _numeric(host):
            raise socket.gaierror(socket.EAI_NONAME, f"test tried to look up {host!r}")


sys.addaudithook(_loopback_only)

# The suite's servers listen on loopback, which the SSRF guard refuses for a host a user
# typed unless the operator allows it: allowed here, and in the workers and scripts the
# tests start (they inherit the environment); the fixture below does it for this process,
# whose settings were read before this file. tests/protocols/test_mail_host_guard.py
# turns it off.
TEST_MAIL_HOSTS = ["127.0.0.1", "::1", "localhost"]
os.environ.setdefault("MAIL_HOSTS_ALLOWED", ",".join(TEST_MAIL_HOSTS))

# Tasks queued by the code under test (a sync after sign-in, say) go to kombu's in-memory
# transport and vanish with the process; the end-to-end tests start real workers on the
# real Redis with a broker and queue of their own (tests/test_celery_worker.py).
celery_app.conf.broker_url = "memory://"
celery_app.conf.broker_transport_options = {}


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


@pytest.fixture(scope="session", autouse=True)
def _data_dir_of_this_run(tmp_path_factory) -> Iterator[Path]:
    """DATA_DIR (blobs, file locks, compose areas) of this test process alone. Test databases
    all start their ids at 1, so two runs at once (pytest-xdist's workers, or two people's
    runs) sharing ./var would meet in each other's file locks and blobs."""
    from django.test import override_settings

    data_dir = tmp_path_factory.mktemp("data")
    with override_settings(DATA_DIR=data_dir):
        yield data_dir


@pytest.fixture(autouse=True)
def _mail_servers_on_loopback(settings):
    settings.MAIL_HOSTS_ALLOWED = TEST_MAIL_HOSTS


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests render templates without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _default_language():
    """A request leaves its language active in the thread (LocaleMiddleware activates, nothing
    deactivates), so a German page would turn the next test's dates German."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture
def redis_locks(settings):
    """Job locks in the real Redis under keys no other test run uses: test databases all
    start their account ids at 1, so file locks under one DATA_DIR would collide."""
    import secrets

    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    settings.REDIS_KEY_PREFIX = f"postfach-test-{secrets.token_hex(6)}:"
