"""POP3 when the connection breaks (tests/faultproxy.py in front of the real Dovecot): a cut
or stalled RETR is a clear error and stores nothing; a session that never got its QUIT
through deletes nothing on the server."""

import io
import secrets
from dataclasses import replace

import pytest

from tests.faultproxy import FaultProxy
from tests.pop3_helpers import files_under, message, server_subjects
from webmail.blobs import BlobStore
from webmail.protocols.errors import ServerUnavailable, TimedOut
from webmail.protocols.pop3 import Pop3Session, TransferInterrupted, pop3_login_check


@pytest.fixture
def mailbox(mail_user):
    body = secrets.token_hex(512 * 1024).encode() + b"\r\n"  # 1 MB: many reads
    mail_user.append_many("INBOX", [message("One", body), message("Two"), message("Three")])
    return mail_user


@pytest.fixture
def proxy(mailbox):
    with FaultProxy(mailbox.dovecot.host, mailbox.dovecot.pop3_port) as running:
        yield running


def through(proxy, user, **kwargs):
    return replace(user.pop3_settings(**kwargs), port=proxy.port)


def test_it_reports_a_retr_cut_midway_and_stores_nothing(mailbox, proxy, tmp_path):
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(TransferInterrupted):
        with Pop3Session(through(proxy, mailbox)) as session:
            (first, *_) = session.listing()
            proxy.cut_after(first.size // 2)
            with store.writer() as blob:
                session.retr_to(1, blob)
    assert files_under(store.root) == []
    assert server_subjects(mailbox) == ["One", "Three", "Two"]


def test_it_times_out_on_a_stalled_retr_and_stores_nothing(mailbox, proxy, tmp_path):
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(TimedOut):
        with Pop3Session(through(proxy, mailbox, timeout=1)) as session:
            (first, *_) = session.listing()
            proxy.stall_after(first.size // 3)
            with store.writer() as blob:
                session.retr_to(1, blob)
    proxy.release()
    assert files_under(store.root) == []


def test_a_session_cut_after_dele_deletes_nothing(mailbox, proxy):
    with Pop3Session(through(proxy, mailbox)) as session:
        session.listing()
        session.dele(1)
        session.dele(2)
        proxy.cut_now()
        assert session.quit() is False  # the QUIT never reached the server
    assert server_subjects(mailbox) == ["One", "Three", "Two"]
    with Pop3Session(mailbox.pop3_settings()) as session:
        assert session.stat()[0] == 3


def test_a_lost_reply_to_quit_is_unknown_not_kept(mailbox, proxy):
    # The server got QUIT and deleted; only its +OK was lost. quit() cannot know, so it
    # says False ("unknown"), and the next listing settles it.
    with Pop3Session(through(proxy, mailbox)) as session:
        session.dele(2)
        proxy.cut_after(0)
        assert session.quit() is False
    assert server_subjects(mailbox) == ["One", "Three"]


def test_it_reports_a_connection_closed_before_the_greeting(mailbox, proxy):
    proxy.cut_after(0)
    with pytest.raises(ServerUnavailable):
        pop3_login_check(through(proxy, mailbox))


def test_a_broken_session_sends_nothing_more(mailbox, proxy):
    with pytest.raises(TransferInterrupted):
        with Pop3Session(through(proxy, mailbox)) as session:
            session.dele(2)
            proxy.cut_after(100)
            session.retr_to(1, io.BytesIO())
    assert server_subjects(mailbox) == ["One", "Three", "Two"]


def test_it_lists_without_uidls_when_the_server_has_no_uidl(mailbox, proxy):
    proxy.refuse_commands("UIDL")
    with Pop3Session(through(proxy, mailbox)) as session:
        entries = session.listing()
        assert session.uidl_supported is False
        headers = session.top_headers(2)  # what the digest fallback reads instead
    assert [(e.number, e.uidl) for e in entries] == [(1, None), (2, None), (3, None)]
    assert b"Subject: Two\r\n" in headers


def test_it_times_out_when_the_greeting_never_comes(mailbox, proxy):
    proxy.stall_after(0)
    with pytest.raises(TimedOut):
        pop3_login_check(through(proxy, mailbox, timeout=1))
    proxy.release()
