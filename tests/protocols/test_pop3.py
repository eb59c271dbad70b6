"""The POP3 session against the real Dovecot: login ways, listing, streaming RETR, TOP, and
that deleting happens at QUIT and only then."""

import hashlib
import io
import secrets
from dataclasses import replace

import pytest

from tests.dovecot import MailUser, new_mail_user
from tests.dovecot_tls import TlsDovecot
from tests.pop3_helpers import message, server_subjects
from webmail.protocols.errors import (
    AuthenticationFailed,
    ConnectionRefused,
    MessageNotFound,
    TlsFailed,
)
from webmail.protocols.pop3 import (
    PIECE,
    MailboxBusy,
    Pop3Session,
    TransferOverrun,
    pop3_login_check,
)


@pytest.fixture
def mailbox(mail_user: MailUser) -> MailUser:
    mail_user.append_many("INBOX", [message("One"), message("Two"), message("Three")])
    return mail_user


@pytest.fixture(scope="module")
def tls_dovecot():
    with TlsDovecot() as server:
        yield server


# --- listing and reading ---------------------------------------------------------------


def test_it_lists_every_message_with_its_size_and_uidl(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        count, total = session.stat()
        entries = session.listing()
        assert session.uidl_supported
    assert count == 3 and len(entries) == 3
    assert [e.number for e in entries] == [1, 2, 3]
    assert sum(e.size for e in entries) == total
    assert len({e.uidl for e in entries}) == 3 and None not in {e.uidl for e in entries}


def test_it_reads_a_message_byte_for_byte_with_dots_unstuffed(mail_user):
    raw = message("Dots", b".\r\n..two dots\r\n.one dot\r\nplain\r\n.\r\nend.\r\n")
    mail_user.append("INBOX", raw)
    out = io.BytesIO()
    with Pop3Session(mail_user.pop3_settings()) as session:
        (entry,) = session.listing()
        written = session.retr_to(1, out)
    assert out.getvalue() == raw
    assert written == entry.size == len(raw)


def test_it_keeps_dots_and_line_ends_where_long_lines_are_read_in_pieces(mail_user):
    # Lines around the 64 KiB piece the reader holds at once, with a "." right where a
    # piece ends or starts: only a "." at the start of a real line is stuffing, and a
    # piece that reads ".\r\n" in the middle of a line is not the end of the message.
    lines = [
        b"a" * (PIECE - 2) + b"\r\n",
        b"." + b"b" * (PIECE - 1) + b"\r\n",
        b"c" * PIECE + b".\r\n",
        b"d" * (PIECE - 1) + b".\r\n",
        b"e" * (2 * PIECE) + b"..\r\n",
        b".\r\n",
        b"f" * (PIECE - 3) + b"\r\n",
        b"..\r\n",
    ]
    raw = message("Pieces", b"".join(lines))
    mail_user.append("INBOX", raw)
    out = io.BytesIO()
    with Pop3Session(mail_user.pop3_settings()) as session:
        session.retr_to(1, out)
        assert session.stat()[0] == 1  # the reply was read to its real end
    assert out.getvalue() == raw


def test_it_stops_a_message_longer_than_the_caller_allows(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        (first, *_) = session.listing()
        assert session.retr_to(1, io.BytesIO(), max_bytes=first.size) == first.size
        with pytest.raises(TransferOverrun):
            session.retr_to(1, io.BytesIO(), max_bytes=first.size - 1)


def test_it_reads_the_headers_alone_with_top(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        headers = session.top_headers(2)
    assert headers.startswith(b"From: Sender <sender@example.org>\r\n")
    assert b"Subject: Two\r\n" in headers
    assert b"Hello." not in headers


@pytest.mark.parametrize("megabytes", [1, 30])
def test_it_streams_a_large_message_with_one_long_line(mail_user, megabytes):
    # One line of `megabytes` MB: far beyond poplib's 2,048-byte line limit.
    body = (secrets.token_hex(megabytes * 1024 * 1024 // 2)).encode() + b"\r\n"
    raw = message("Large", body)
    mail_user.append("INBOX", raw)

    class Digest:  # keeps nothing but a hash, as the blob store does
        def __init__(self):
            self.hash, self.size = hashlib.sha256(), 0

        def write(self, piece):
            self.hash.update(piece)
            self.size += len(piece)

    out = Digest()
    with Pop3Session(mail_user.pop3_settings(timeout=30)) as session:
        session.retr_to(1, out)
    assert (out.hash.hexdigest(), out.size) == (hashlib.sha256(raw).hexdigest(), len(raw))


# --- deleting happens at QUIT, and only after quit() -------------------------------------


def test_it_deletes_what_was_marked_when_quit_is_answered(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        session.listing()
        session.dele(2)
        assert session.quit() is True
    assert server_subjects(mailbox) == ["One", "Three"]


def test_it_deletes_nothing_when_the_block_ends_without_quit(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        session.dele(1)
    assert server_subjects(mailbox) == ["One", "Three", "Two"]


def test_it_deletes_nothing_when_the_block_ends_in_an_error(mailbox):
    with pytest.raises(RuntimeError), Pop3Session(mailbox.pop3_settings()) as session:
        session.dele(1)
        session.dele(3)
        raise RuntimeError("the database failed")
    assert server_subjects(mailbox) == ["One", "Three", "Two"]


def test_it_says_when_a_message_to_delete_is_not_there(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        with pytest.raises(MessageNotFound):
            session.dele(9)
        assert session.stat()[0] == 3  # the session goes on


def test_it_says_when_a_message_to_read_is_not_there(mailbox):
    out = io.BytesIO()
    with Pop3Session(mailbox.pop3_settings()) as session:
        session.dele(1)
        with pytest.raises(MessageNotFound):
            session.retr_to(1, out)  # marked deleted in this session
        with pytest.raises(MessageNotFound):
            session.top_headers(9)
        assert session.retr_to(2, out) > 0  # the session goes on
    assert out.getvalue().startswith(b"From: ") and b"Subject: Two\r\n" in out.getvalue()


# --- logging in ------------------------------------------------------------------------


def test_it_logs_in_with_sasl_plain_where_offered(mailbox):
    with Pop3Session(mailbox.pop3_settings()) as session:
        assert "SASL PLAIN LOGIN" in session.capabilities and not session.encrypted
        mechanism = session.mechanism
    assert mechanism == "PLAIN"
    assert f"user=<{mailbox.name}>, method=PLAIN" in mailbox.dovecot.log()


def test_it_refuses_a_wrong_password_without_repeating_it(mail_user):
    wrong = "wrong-" + secrets.token_hex(4)
    settings = replace(mail_user.pop3_settings(), password=wrong)
    with pytest.raises(AuthenticationFailed) as caught:
        pop3_login_check(settings)
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert all(wrong not in repr(exc) and wrong not in str(exc) for exc in chain)


def test_it_says_the_mailbox_is_busy_rather_than_the_password_wrong(dovecot):
    # Dovecot with pop3_lock_session answers a second login "-ERR [IN-USE] ..." after
    # trying for the lock about ten seconds (a fixed wait in Dovecot 2.3), hence the
    # long time-out: two workers on one account meet exactly this.
    user = new_mail_user(dovecot, settings={"pop3_lock_session": "yes"})
    with Pop3Session(user.pop3_settings()) as first:
        with pytest.raises(MailboxBusy):
            pop3_login_check(user.pop3_settings(timeout=60))
        first.stat()
    pop3_login_check(user.pop3_settings())  # free again once the first session quit


def test_it_refuses_a_password_with_a_line_break_before_sending_anything(mail_user):
    settings = replace(mail_user.pop3_settings(), password="pw\r\nDELE 1")
    with pytest.raises(AuthenticationFailed):
        pop3_login_check(settings)


def test_it_refuses_stls_when_the_server_does_not_offer_it(mail_user):
    # The shared Dovecot has ssl = no: we must not log in in clear instead.
    with pytest.raises(TlsFailed):
        pop3_login_check(replace(mail_user.pop3_settings(), security="starttls"))


def test_it_reports_tls_against_a_plaintext_port(mail_user):
    with pytest.raises(TlsFailed):
        pop3_login_check(replace(mail_user.pop3_settings(), security="tls"))


def test_it_reports_a_closed_port(mail_user):
    from tests.dovecot import _free_port

    with pytest.raises(ConnectionRefused):
        pop3_login_check(replace(mail_user.pop3_settings(), port=_free_port()))


def test_it_reads_over_implicit_tls(tls_dovecot):
    user = new_mail_user(tls_dovecot)
    raw = message("Over TLS")
    user.append("INBOX", raw)
    settings = replace(user.pop3_settings(), port=tls_dovecot.pop3s_port, security="tls")
    out = io.BytesIO()
    with Pop3Session(settings, tls_context=tls_dovecot.client_context()) as session:
        assert session.encrypted and session.mechanism == "PLAIN"
        session.retr_to(1, out)
    assert out.getvalue() == raw


def test_it_upgrades_with_stls_before_logging_in(tls_dovecot):
    user = new_mail_user(tls_dovecot)
    user.append("INBOX", message("After STLS"))
    settings = replace(user.pop3_settings(), security="starttls")
    with Pop3Session(settings, tls_context=tls_dovecot.client_context()) as session:
        assert session.encrypted
        assert "STLS" not in session.capabilities  # asked again inside TLS
        assert session.stat()[0] == 1
    assert f"user=<{user.name}>, method=PLAIN" in tls_dovecot.log()


def test_it_refuses_a_certificate_it_does_not_trust(tls_dovecot):
    user = new_mail_user(tls_dovecot)
    settings = replace(user.pop3_settings(), port=tls_dovecot.pop3s_port, security="tls")
    with pytest.raises(TlsFailed):
        pop3_login_check(settings)  # the system store does not know the test certificate


def test_it_logs_in_with_apop_in_clear_so_the_password_never_crosses(tls_dovecot):
    user = new_mail_user(tls_dovecot)
    with Pop3Session(user.pop3_settings()) as session:
        assert session.mechanism == "APOP"
        assert session.stat() == (0, 0)
    assert f"user=<{user.name}>, method=APOP" in tls_dovecot.log()


def test_it_refuses_a_wrong_password_with_apop(tls_dovecot):
    user = new_mail_user(tls_dovecot)
    with pytest.raises(AuthenticationFailed):
        pop3_login_check(replace(user.pop3_settings(), password="wrong"))
