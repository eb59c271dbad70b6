"""Waiting for news in a folder (webmail.protocols.idle) against the test Dovecot, with a
second imapclient connection as "another device" that delivers, flags and expunges."""

import time

import pytest

from tests.dovecot import new_mail_user
from webmail.protocols import idle
from webmail.protocols.errors import ServerUnavailable
from webmail.protocols.imap import ImapStore

DEADLINE = 10.0  # seconds: the promise for new mail


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nText\r\n".encode()


def _changed_within(watch, seconds: float = DEADLINE) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if watch.changes_wait(1):
            return True
    return False


def test_it_wakes_when_another_client_delivers_mail(mail_user):
    with idle.folder_watch(mail_user.settings()) as watch:
        assert watch.uses_idle
        assert watch.changes_wait(0.3) is False  # nothing happened yet
        uid = mail_user.append("INBOX", _mail("Hello"))

        assert _changed_within(watch)

    # Watching is read-only: the new message is still unread for everyone.
    assert "\\Seen" not in mail_user.flags("INBOX", uid)


def test_its_snapshot_is_what_examine_said(mail_user):
    mail_user.append_many("INBOX", [_mail("One"), _mail("Two")])
    with idle.folder_watch(mail_user.settings()) as watch:
        assert (watch.snapshot.name, watch.snapshot.exists, watch.snapshot.uidnext) == (
            "INBOX",
            2,
            3,
        )
        assert watch.snapshot.uidvalidity == mail_user.uidvalidity("INBOX")


def test_it_wakes_for_flags_and_expunges_from_another_client(mail_user):
    uid = mail_user.append("INBOX", _mail("Flag me"))
    with idle.folder_watch(mail_user.settings()) as watch:
        assert watch.changes_wait(0.3) is False
        with mail_user.client() as other:
            other.select_folder("INBOX")
            other.add_flags([uid], ["\\Flagged"])
        assert _changed_within(watch)

        with mail_user.client() as other:
            other.select_folder("INBOX")
            other.add_flags([uid], ["\\Deleted"])
            other.uid_expunge([uid])
        assert _changed_within(watch)


def test_it_keeps_waking_after_idle_was_renewed(mail_user, monkeypatch):
    monkeypatch.setattr(idle, "IDLE_RENEW_SECONDS", 0.2)  # 28 minutes in real life
    with idle.folder_watch(mail_user.settings()) as watch:
        for _ in range(3):  # each wait spans a renewal: DONE, then IDLE again
            assert watch.changes_wait(0.5) is False
        mail_user.append("INBOX", _mail("After renewals"))

        assert _changed_within(watch)


def test_it_falls_back_to_noop_polling_without_idle(mail_user, monkeypatch):
    # Dovecot cannot be told to hide IDLE; the store's capability seam can.
    has = ImapStore._has
    monkeypatch.setattr(ImapStore, "_has", lambda self, name: name != "IDLE" and has(self, name))
    monkeypatch.setattr(idle, "NOOP_POLL_SECONDS", 0.5)
    with idle.folder_watch(mail_user.settings()) as watch:
        assert not watch.uses_idle
        assert watch.changes_wait(0.3) is False
        mail_user.append("INBOX", _mail("Polled"))

        assert _changed_within(watch)


def test_a_connection_the_server_ends_raises_instead_of_spinning(dovecot):
    user = new_mail_user(dovecot, prefix="kicked")
    with idle.folder_watch(user.settings()) as watch:
        assert watch.changes_wait(0.3) is False
        dovecot.doveadm("kick", user.name)

        with pytest.raises(ServerUnavailable):
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                watch.changes_wait(1)
