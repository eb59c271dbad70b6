"""`manage.py mailaccount`, the admin's way to add and list mail accounts, against the real
Dovecot and a real SMTP server (aiosmtpd): the password comes only from standard input,
is stored encrypted, is never printed, and every mistake stops with a clear message and
saves nothing."""

import io
import socket
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import MailAccount
from tests.personas import account_for
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_nothing_listening_fixture,
)

pytestmark = pytest.mark.django_db

WRONG_PASSWORD = "Wr0ng-Pa55word-7d1f"
SMTP_PASSWORD = "smtp-Secret-42"


def _run(monkeypatch, *args: str, stdin: str = "") -> str:
    """Runs the command with `stdin` as standard input; returns what it printed."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    out, err = io.StringIO(), io.StringIO()
    call_command("mailaccount", *args, stdout=out, stderr=err)
    assert err.getvalue() == ""
    return out.getvalue()


def _fails(monkeypatch, *args: str, stdin: str = "") -> str:
    """Runs the command expecting it to stop; returns the message the admin sees."""
    with pytest.raises(CommandError) as caught:
        _run(monkeypatch, *args, stdin=stdin)
    assert caught.value.returncode == 1  # what the shell sees as the exit status
    return str(caught.value)


def _add_args(dovecot, mail_user, **overrides: str) -> list[str]:
    options = {
        "--user": "alice",
        "--email": f"{mail_user.name}@example.org",
        "--protocol": "imap",
        "--host": dovecot.host,
        "--port": str(dovecot.imap_port),
        "--security": "none",
        "--login": mail_user.name,
        **overrides,
    }
    args = ["add"]
    for option, value in options.items():
        if value is not None:
            args += [option, value]
    return [*args, "--password-stdin"]


def _free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- add -----------------------------------------------------------------------------------


def test_it_adds_an_account_that_logs_in(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--name": "Alice Example"})
    out = _run(monkeypatch, *args, stdin=mail_user.password + "\n")

    account = MailAccount.objects.get(user=alice)
    assert out == f"Added mail account {account.pk}: {mail_user.name}@example.org for alice\n"
    assert mail_user.password not in out
    assert account.display_name == "Alice Example"
    assert (account.protocol, account.incoming_host, account.incoming_port) == (
        "imap",
        dovecot.host,
        dovecot.imap_port,
    )
    assert (account.incoming_security, account.incoming_login) == ("none", mail_user.name)
    stored = MailAccount.objects.values_list("incoming_password_encrypted", flat=True).get()
    assert mail_user.password not in stored
    assert account.incoming_password() == mail_user.password
    assert account.smtp_same_credentials
    assert account.smtp_host == ""


def test_it_adds_a_pop3_account(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--protocol": "pop3", "--port": str(dovecot.pop3_port)})
    _run(monkeypatch, *args, stdin=mail_user.password + "\n")
    account = MailAccount.objects.get(user=alice)
    assert (account.protocol, account.incoming_port) == ("pop3", dovecot.pop3_port)
    assert account.incoming_password() == mail_user.password


def _smtp_options(server, **overrides: str) -> dict[str, str]:
    options = {
        "--smtp-host": server.host,
        "--smtp-port": str(server.port),
        "--smtp-security": server.security,
    }
    return {**options, **overrides}


def test_it_stores_the_smtp_settings_after_logging_in_there(
    monkeypatch, alice, dovecot, mail_user, make_smtp_server
):
    # Implicit TLS, with a certificate of the test CA the fixture makes trusted.
    smtp = make_smtp_server(security="tls", login=mail_user.name, password=mail_user.password)
    args = _add_args(dovecot, mail_user, **_smtp_options(smtp))
    _run(monkeypatch, *args, stdin=mail_user.password + "\n")
    # Without --smtp-login, the incoming login and password are the SMTP ones.
    assert smtp.logins == [(mail_user.name, True)]
    account = MailAccount.objects.get(user=alice)
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        smtp.host,
        smtp.port,
        "tls",
    )
    assert account.smtp_same_credentials
    assert account.smtp_credentials() == (mail_user.name, mail_user.password)


def test_it_reads_a_separate_smtp_password_from_the_second_line(
    monkeypatch, alice, dovecot, mail_user, make_smtp_server
):
    smtp = make_smtp_server(login="alice-smtp", password=SMTP_PASSWORD)
    args = _add_args(dovecot, mail_user, **_smtp_options(smtp, **{"--smtp-login": "alice-smtp"}))
    out = _run(monkeypatch, *args, stdin=f"{mail_user.password}\n{SMTP_PASSWORD}\n")
    assert smtp.logins == [("alice-smtp", True)]
    assert SMTP_PASSWORD not in out
    account = MailAccount.objects.get(user=alice)
    assert not account.smtp_same_credentials
    assert SMTP_PASSWORD not in account.smtp_password_encrypted
    assert account.smtp_credentials() == ("alice-smtp", SMTP_PASSWORD)


def test_it_gives_an_smtp_server_without_a_port_the_usual_one(
    monkeypatch, alice, dovecot, mail_user
):
    # --no-check: nothing runs on 587 here, and the port is what this test is about.
    args = [*_add_args(dovecot, mail_user, **{"--smtp-host": "smtp.example.org"}), "--no-check"]
    _run(monkeypatch, *args, stdin=mail_user.password + "\n")
    account = MailAccount.objects.get(user=alice)
    assert (account.smtp_host, account.smtp_port) == ("smtp.example.org", 587)  # STARTTLS


def test_it_saves_without_an_smtp_check_when_asked(
    monkeypatch, alice, dovecot, mail_user, smtp_nothing_listening
):
    smtp = {
        "--smtp-host": smtp_nothing_listening.host,
        "--smtp-port": str(smtp_nothing_listening.port),
        "--smtp-security": "none",
    }
    args = [*_add_args(dovecot, mail_user, **smtp), "--no-check"]
    _run(monkeypatch, *args, stdin=mail_user.password + "\n")
    account = MailAccount.objects.get(user=alice)
    assert account.smtp_port == smtp_nothing_listening.port


def test_it_uses_the_address_as_login_when_none_is_given(monkeypatch, alice, dovecot, mail_user):
    # The test Dovecot drops the domain of a login (username_format=%n).
    args = _add_args(dovecot, mail_user, **{"--login": None})
    _run(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert MailAccount.objects.get(user=alice).incoming_login == f"{mail_user.name}@example.org"


def test_it_saves_without_a_check_when_asked(monkeypatch, alice, dovecot):
    # --no-check is for setting up accounts while their server is away: nothing listens here.
    args = [
        "add", "--user", "alice", "--email", "alice@example.org", "--host", "mail.postfach.invalid",
        "--port", "993", "--security", "tls", "--no-check", "--password-stdin",
    ]  # fmt: skip
    _run(monkeypatch, *args, stdin="later-Secret-1\n")
    account = MailAccount.objects.get(user=alice)
    assert account.incoming_host == "mail.postfach.invalid"
    assert account.incoming_password() == "later-Secret-1"


# -- mistakes ------------------------------------------------------------------------------


def test_it_refuses_a_wrong_password(monkeypatch, alice, dovecot, mail_user):
    message = _fails(monkeypatch, *_add_args(dovecot, mail_user), stdin=WRONG_PASSWORD + "\n")
    assert message == (
        "Not added: The mail server refused the login name or password. Check them and try again."
    )
    assert WRONG_PASSWORD not in message
    assert not MailAccount.objects.exists()


def test_it_refuses_a_wrong_smtp_password_and_names_the_outgoing_server(
    monkeypatch, alice, dovecot, mail_user, make_smtp_server
):
    smtp = make_smtp_server(login="alice-smtp", password=SMTP_PASSWORD)
    args = _add_args(dovecot, mail_user, **_smtp_options(smtp, **{"--smtp-login": "alice-smtp"}))
    message = _fails(monkeypatch, *args, stdin=f"{mail_user.password}\n{WRONG_PASSWORD}\n")
    assert message == (
        "Not added: Outgoing server (SMTP): The mail server refused the login name or "
        "password. Check them and try again."
    )
    assert smtp.logins == [("alice-smtp", False)]
    assert WRONG_PASSWORD not in message
    assert not MailAccount.objects.exists()


def test_it_says_when_nothing_listens_on_the_smtp_port(
    monkeypatch, alice, dovecot, mail_user, smtp_nothing_listening
):
    smtp = {
        "--smtp-host": smtp_nothing_listening.host,
        "--smtp-port": str(smtp_nothing_listening.port),
        "--smtp-security": "none",
    }
    args = _add_args(dovecot, mail_user, **smtp)
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == (
        "Not added: Outgoing server (SMTP): The mail server refused the connection. Check the "
        "server name, the port and the security setting."
    )
    assert not MailAccount.objects.exists()


def test_it_refuses_an_unknown_user(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--user": "mallory"})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == "No Postfach user named 'mallory'."
    assert not MailAccount.objects.exists()


def test_it_wants_the_password_on_standard_input(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user)[:-1]  # without --password-stdin
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert "--password-stdin" in message
    assert not MailAccount.objects.exists()


def test_it_refuses_an_empty_password(monkeypatch, alice, dovecot, mail_user):
    message = _fails(monkeypatch, *_add_args(dovecot, mail_user), stdin="")
    assert message == "No password on standard input."
    assert not MailAccount.objects.exists()


def test_it_wants_the_smtp_password_with_an_smtp_login(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--smtp-login": "alice-smtp"})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == "--smtp-login needs the SMTP password on the second line."
    assert not MailAccount.objects.exists()


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-143"])
def test_it_refuses_a_port_that_cannot_be(monkeypatch, alice, dovecot, mail_user, port):
    args = _add_args(dovecot, mail_user, **{"--port": port})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message.startswith("Error: argument --port:")
    assert "a port from 1 to 65535" in message
    assert not MailAccount.objects.exists()


def test_it_refuses_an_impossible_port_even_without_a_check(monkeypatch, alice, dovecot, mail_user):
    args = [*_add_args(dovecot, mail_user, **{"--smtp-port": "70000"}), "--no-check"]
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message.startswith("Error: argument --smtp-port:")
    assert not MailAccount.objects.exists()


def test_it_refuses_an_unknown_security(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--security": "ssl"})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message.startswith("Error: argument --security: invalid choice: 'ssl'")
    assert "'tls', 'starttls', 'none'" in message
    assert not MailAccount.objects.exists()


def test_it_says_when_nothing_listens(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--port": str(_free_port())})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == (
        "Not added: The mail server refused the connection. Check the server name, the port "
        "and the security setting."
    )
    assert not MailAccount.objects.exists()


def test_it_says_when_the_server_name_does_not_exist(monkeypatch, alice, dovecot, mail_user):
    args = _add_args(dovecot, mail_user, **{"--host": "mail.postfach.invalid"})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == ("Not added: The mail server's name could not be found. Check its spelling.")
    assert not MailAccount.objects.exists()


def test_it_refuses_an_address_that_is_not_one(monkeypatch, alice, dovecot, mail_user):
    # The login works (--login is given), so only the address itself is wrong.
    args = _add_args(dovecot, mail_user, **{"--email": "not-an-address"})
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == "Not added: email: Enter a valid email address."
    assert not MailAccount.objects.exists()


def test_it_checks_what_it_stores_before_connecting(monkeypatch, alice, dovecot, mail_user):
    # Nothing listens on the port: the answer is about the address, not the connection.
    args = _add_args(
        dovecot, mail_user, **{"--email": "not-an-address", "--port": str(_free_port())}
    )
    message = _fails(monkeypatch, *args, stdin=mail_user.password + "\n")
    assert message == "Not added: email: Enter a valid email address."


# -- list ----------------------------------------------------------------------------------


def test_it_lists_every_account_without_passwords(monkeypatch, alice, bob, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    out = _run(monkeypatch, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "USER", "EMAIL", "PROTO", "SERVER"]
    assert lines[1].split() == [
        str(account.pk),
        "alice",
        account.email,
        "imap",
        f"{dovecot.host}:{dovecot.imap_port}",
        "(none)",
    ]
    assert len(lines) == 2
    assert mail_user.password not in out
    assert account.incoming_password_encrypted not in out


def test_it_says_when_there_is_nothing_to_list(monkeypatch, alice):
    assert _run(monkeypatch, "list") == "No mail accounts.\n"
