"""webmail.protocols.smtp against a real SMTP server (aiosmtpd, tests/smtp_server.py).

Only what aiosmtpd cannot do uses stand-ins: a patched resolver for "host not found" and
a silent socket server for time-outs.
"""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_nothing_listening_fixture,
    smtp_server_fixture,
)
from webmail.protocols.errors import (
    AuthenticationFailed,
    ConnectionRefused,
    HostNotFound,
    ServerSettings,
    TimedOut,
    TlsFailed,
)
from webmail.protocols.smtp import (
    MessageRefused,
    RecipientsRefused,
    smtp_login_check,
    smtp_send,
)

SENDER = "anna@example.org"
PASSWORD = "Sommer-Fest-2026"


def mail(body: str = "Hallo Bob.", **headers: str) -> bytes:
    fields = {"From": SENDER, "To": "bob@example.net", "Subject": "Test", **headers}
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return (head + "\r\n" + body + "\r\n").encode("utf-8")


# --- Sending -----------------------------------------------------------------------------


def test_it_delivers_exactly_the_envelope_and_the_bytes(smtp_server):
    message = mail()
    smtp_send(
        smtp_server.settings(),
        sender=SENDER,
        recipients=["bob@example.net", "carla@example.net"],
        message=message,
    )
    [received] = smtp_server.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == ["bob@example.net", "carla@example.net"]
    assert received.data == message


def test_it_greets_with_an_address_literal_not_the_machine_name(smtp_server):
    smtp_send(smtp_server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    assert smtp_server.received[0].helo == "[127.0.0.1]"


def test_a_name_that_cannot_exist_is_not_looked_up(smtp_server):
    with pytest.raises(HostNotFound):
        smtp_send(
            smtp_server.settings(host="smtp.postfach.invalid"),
            sender=SENDER, recipients=["bob@example.net"], message=mail(),
        )


def test_it_keeps_lines_that_start_with_a_dot(smtp_server):
    message = mail(body=".\r\n..two dots\r\n.signature")
    smtp_send(
        smtp_server.settings(), sender=SENDER, recipients=["bob@example.net"], message=message
    )
    assert smtp_server.received[0].data == message


def test_a_bare_line_feed_dot_cannot_end_the_message_early(smtp_server):
    # SMTP smuggling: "\n.\n" ends DATA at some lenient servers, and what follows would
    # run as commands of a second, forged message.
    smuggled = "before\n.\nMAIL FROM:<ceo@example.org>\r\nRCPT TO:<victim@example.net>\r\nafter"
    smtp_send(
        smtp_server.settings(),
        sender=SENDER,
        recipients=["bob@example.net"],
        message=mail(smuggled),
    )
    [received] = smtp_server.received
    assert received.rcpt_tos == ["bob@example.net"]
    assert b"before\r\n.\r\nMAIL FROM:<ceo@example.org>\r\n" in received.data
    assert received.data.endswith(b"after\r\n")


def test_it_announces_size_and_8bit_only_when_the_message_has_8bit_bytes(smtp_server):
    ascii_message = mail()
    utf8_message = mail(body="Grüße aus Köln")
    for message in (ascii_message, utf8_message):
        smtp_send(
            smtp_server.settings(), sender=SENDER, recipients=["b@example.net"], message=message
        )
    plain, eight_bit = smtp_server.received
    assert plain.mail_options == [f"SIZE={len(ascii_message)}"]
    assert eight_bit.mail_options == [f"SIZE={len(utf8_message)}", "BODY=8BITMIME"]
    assert eight_bit.data == utf8_message


def test_it_refuses_envelope_addresses_that_could_inject_commands(smtp_server):
    for sender, recipient in [
        ("anna@example.org\r\nRCPT TO:<evil@example.com>", "bob@example.net"),
        (SENDER, "bob@example.net> NOTIFY=SUCCESS"),
        (SENDER, "Bob <bob@example.net>"),
        (SENDER, "bob@exämple.net"),
    ]:
        with pytest.raises(ValueError):
            smtp_send(smtp_server.settings(), sender=sender, recipients=[recipient], message=mail())
    assert smtp_server.received == []


# --- Refusals ----------------------------------------------------------------------------


def test_a_refused_recipient_is_named_and_nobody_gets_the_message(smtp_server):
    with pytest.raises(RecipientsRefused) as caught:
        smtp_send(
            smtp_server.settings(),
            sender=SENDER,
            recipients=["bob@example.net", "reject-me@example.net"],
            message=mail(),
        )
    assert caught.value.addresses == ["reject-me@example.net"]
    code, reply = caught.value.refused["reject-me@example.net"]
    assert code == 550
    assert "Recipient address rejected" in reply
    assert not caught.value.transient
    assert smtp_server.received == []


def test_a_message_above_the_servers_size_is_refused_before_it_is_sent(make_smtp_server):
    server = make_smtp_server(size_limit=1000)
    with pytest.raises(MessageRefused) as caught:
        smtp_send(
            server.settings(), sender=SENDER, recipients=["b@example.net"], message=mail("x" * 5000)
        )
    assert caught.value.smtp_code == 552
    assert server.received == []


# --- Logging in --------------------------------------------------------------------------


def test_it_logs_in_and_sends(make_smtp_server):
    server = make_smtp_server(login="anna", password=PASSWORD)
    smtp_send(server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    assert server.logins == [("anna", True)]
    assert len(server.received) == 1


def test_a_wrong_password_is_an_authentication_failure(make_smtp_server):
    server = make_smtp_server(login="anna", password=PASSWORD)
    with pytest.raises(AuthenticationFailed) as caught:
        smtp_send(
            server.settings(password="wrong-password"),
            sender=SENDER,
            recipients=["bob@example.net"],
            message=mail(),
        )
    assert server.logins == [("anna", False)]
    assert server.received == []
    assert "wrong-password" not in str(caught.value)
    assert caught.value.__cause__ is None  # the server's reply stays out of logs


def test_it_logs_in_with_a_non_ascii_password(make_smtp_server):
    server = make_smtp_server(login="anna", password="Grüße-aus-Köln")
    smtp_send(server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    assert server.logins == [("anna", True)]
    assert len(server.received) == 1


def test_a_server_that_wants_a_login_says_so(make_smtp_server):
    server = make_smtp_server(login="anna", password=PASSWORD)
    with pytest.raises(AuthenticationFailed):
        smtp_send(
            server.settings(login="", password=""),
            sender=SENDER,
            recipients=["bob@example.net"],
            message=mail(),
        )
    assert server.received == []


def test_login_check_passes_and_fails_like_sending(make_smtp_server):
    server = make_smtp_server(login="anna", password=PASSWORD)
    smtp_login_check(server.settings())
    with pytest.raises(AuthenticationFailed):
        smtp_login_check(server.settings(password="nope"))
    assert server.logins == [("anna", True), ("anna", False)]
    assert server.received == []


def test_it_keeps_the_password_out_of_debug_logs(make_smtp_server, caplog):
    caplog.set_level(logging.DEBUG)
    server = make_smtp_server(login="anna", password=PASSWORD)
    smtp_send(server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    with pytest.raises(AuthenticationFailed):
        smtp_login_check(server.settings(password="Other-Secret-9"))
    assert PASSWORD not in caplog.text
    assert "Other-Secret-9" not in caplog.text


# --- TLS ---------------------------------------------------------------------------------


def test_starttls_encrypts_before_logging_in(make_smtp_server):
    server = make_smtp_server(security="starttls", login="anna", password=PASSWORD)
    smtp_send(server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    assert server.logins == [("anna", True)]
    assert server.received[0].data == mail()


def test_it_never_logs_in_in_clear_when_the_server_offers_login_only_inside_tls(
    make_smtp_server,
):
    server = make_smtp_server(security="starttls", login="anna", password=PASSWORD)
    with pytest.raises(TlsFailed):
        smtp_login_check(server.settings(security="none"))
    assert server.logins == []


def test_it_refuses_starttls_when_the_server_does_not_offer_it(smtp_server):
    with pytest.raises(TlsFailed):
        smtp_send(
            smtp_server.settings(security="starttls"),
            sender=SENDER,
            recipients=["bob@example.net"],
            message=mail(),
        )
    assert smtp_server.received == []


def test_an_untrusted_certificate_stops_the_connection(make_smtp_server, monkeypatch, tmp_path):
    server = make_smtp_server(security="starttls", login="anna", password=PASSWORD)
    nobody = tmp_path / "no-ca.pem"
    nobody.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(nobody))  # the test CA is trusted no more
    with pytest.raises(TlsFailed):
        smtp_login_check(server.settings())
    assert server.logins == []


def test_implicit_tls_sends(make_smtp_server):
    server = make_smtp_server(security="tls", login="anna", password=PASSWORD)
    smtp_send(server.settings(), sender=SENDER, recipients=["bob@example.net"], message=mail())
    assert server.logins == [("anna", True)]
    assert len(server.received) == 1


def test_tls_against_a_plaintext_port_fails_as_tls(smtp_server):
    with pytest.raises(TlsFailed):
        smtp_login_check(smtp_server.settings(security="tls"))


# --- Connecting --------------------------------------------------------------------------


def test_nothing_listening_is_a_refused_connection(smtp_nothing_listening):
    with pytest.raises(ConnectionRefused):
        smtp_send(
            smtp_nothing_listening, sender=SENDER, recipients=["bob@example.net"], message=mail()
        )


def test_an_unknown_host_is_reported(monkeypatch):
    def no_dns(*args, **kwargs):  # no resolver traffic leaves the machine
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(HostNotFound) as caught:
        smtp_login_check(ServerSettings("smtp.postfach.invalid", 587, "starttls", "a", "b"))
    assert "smtp.postfach.invalid" in str(caught.value)


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        listener.close()


def test_it_times_out_when_the_server_never_greets():
    with silent_server() as port:
        started = time.monotonic()
        with pytest.raises(TimedOut):
            smtp_login_check(ServerSettings("127.0.0.1", port, "none", "", "", timeout=1))
        assert time.monotonic() - started < 3
