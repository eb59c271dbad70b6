"""ImapStore.message_append against the real test Dovecot: what another device sees in the
folder afterwards (bytes, flags, internal date) and the UID it reports."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webmail.protocols.errors import ActionRefused, FolderNotFound
from webmail.protocols.imap import imap_store


def _mail(subject: str) -> bytes:
    return f"From: a@example.org\r\nSubject: {subject}\r\n\r\nbody\r\n".encode()


def test_it_appends_the_exact_bytes_with_flags_and_returns_the_uid(mail_user):
    raw = _mail("Entwurf über alles")
    with imap_store(mail_user.settings()) as store:
        uid = store.message_append("Drafts", raw, flags=["\\Seen", "\\Draft"])
    assert isinstance(uid, int)
    with mail_user.client() as client:
        client.select_folder("Drafts", readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]"])[uid]
    assert data[b"BODY[]"] == raw
    assert mail_user.flags("Drafts", uid) == {"\\Seen", "\\Draft"}


def test_uids_grow_with_every_append(mail_user):
    with imap_store(mail_user.settings()) as store:
        first = store.message_append("Sent", _mail("one"))
        second = store.message_append("Sent", _mail("two"))
    assert second > first
    assert mail_user.flags("Sent", first) == frozenset()


def test_it_keeps_the_internal_date_given(mail_user):
    when = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    with imap_store(mail_user.settings()) as store:
        uid = store.message_append("Sent", _mail("dated"), when=when)
    with mail_user.client() as client:
        client.normalise_times = False
        client.select_folder("Sent", readonly=True)
        internal = client.fetch([uid], ["INTERNALDATE"])[uid][b"INTERNALDATE"]
    assert internal == when
    assert internal.astimezone(UTC) == datetime(2026, 3, 2, 8, 30, tzinfo=UTC)


def test_bare_line_feeds_are_stored_as_crlf(mail_user):
    with imap_store(mail_user.settings()) as store:
        uid = store.message_append("Drafts", b"Subject: lf\n\nline one\nline two\n")
    with mail_user.client() as client:
        client.select_folder("Drafts", readonly=True)
        data = client.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
    assert data == b"Subject: lf\r\n\r\nline one\r\nline two\r\n"


def test_without_uidplus_it_appends_but_cannot_say_the_uid(mail_user):
    with imap_store(mail_user.settings()) as store:
        real = store._has
        store._has = lambda name: name != "UIDPLUS" and real(name)
        assert store.message_append("Drafts", _mail("no uidplus")) is None
    with mail_user.client() as client:
        client.select_folder("Drafts", readonly=True)
        assert len(client.search("ALL")) == 1


def test_a_missing_folder_is_folder_not_found(mail_user):
    with imap_store(mail_user.settings()) as store:
        with pytest.raises(FolderNotFound):
            store.message_append("No such folder", _mail("lost"))
        # The connection is still usable afterwards.
        assert store.message_append("Drafts", _mail("kept")) is not None


def test_a_full_mailbox_is_refused_with_its_reason(dovecot):
    from tests.dovecot import MailUser

    user = MailUser("tiny-quota-append", "tiny-password-1", dovecot)
    dovecot.add_user(user.name, user.password, quota="1k")
    with imap_store(user.settings()) as store:
        with pytest.raises(ActionRefused) as refused:
            store.message_append("Drafts", _mail("big") + b"x" * 4096 + b"\r\n")
    assert refused.value.reason == "OVERQUOTA"


@pytest.mark.parametrize(
    "flags",
    [["\\Seen) (\\Deleted"], ["\\Recent"], ["bad\r\nA1 LOGOUT"], [""]],
)
def test_flags_that_are_not_flags_are_refused_before_anything_is_sent(mail_user, flags):
    with imap_store(mail_user.settings()) as store:
        with pytest.raises(ValueError):
            store.message_append("Drafts", _mail("x"), flags=flags)
    with mail_user.client() as client:
        client.select_folder("Drafts", readonly=True)
        assert client.search("ALL") == []


def test_folder_names_with_line_breaks_and_naive_dates_are_refused(mail_user):
    with imap_store(mail_user.settings()) as store:
        with pytest.raises(FolderNotFound):
            store.message_append("Drafts\r\nA1 DELETE INBOX", _mail("x"))
        with pytest.raises(ValueError):
            store.message_append("Drafts", _mail("x"), when=datetime(2026, 1, 1))
        with pytest.raises(ValueError):
            store.message_append("Drafts", b"")
