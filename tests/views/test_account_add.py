"""Adding and removing a mail account in the settings, as a browser does it: the add form
is read from the page and posted back with the reader's values, against the real Dovecot
and, for the outgoing server, a real SMTP server (aiosmtpd, tests/smtp_server.py).
Each failure must read as a plain sentence, save nothing and never echo the password."""

import html
import re
import socket
import time
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest

from accounts.models import MailAccount
from tests.personas import account_for
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
    smtp_nothing_listening_fixture,
)

pytestmark = pytest.mark.django_db

ADD_URL = "/settings/accounts/add/"
WRONG_PASSWORD = "Wr0ng-Pa55word-7d1f"  # distinctive, so any echo of it is found

AUTH_FAILED = "The mail server refused the login name or password. Check them and try again."
REFUSED = (
    "The mail server refused the connection. Check the server name, the port and the "
    "security setting."
)
HOST_NOT_FOUND = "The mail server's name could not be found. Check its spelling."
TIMED_OUT = "The mail server did not answer in time. Try again later."
OUTGOING = "Outgoing server (SMTP): "
SMTP_PASSWORD = "smtp-Secret-42"


class _FormReader(HTMLParser):
    """What a browser would submit from the form with id `form_id`, before any typing:
    every named input with its value, every select with its selected (or first) option."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.in_form = False
        self.fields: dict[str, str] = {}
        self.input_types: dict[str, str] = {}
        self._select: str | None = None
        self._select_first: str | None = None
        self._select_chosen: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("id") == self.form_id:
            self.in_form = True
        if not self.in_form:
            return
        if tag == "input" and a.get("name"):
            self.fields[a["name"]] = a.get("value") or ""
            self.input_types[a["name"]] = a.get("type", "text")
        elif tag == "select":
            self._select, self._select_first, self._select_chosen = a["name"], None, None
        elif tag == "option" and self._select is not None:
            if self._select_first is None:
                self._select_first = a.get("value", "")
            if "selected" in a:
                self._select_chosen = a.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form" and self.in_form:
            self.in_form = False
        elif tag == "select" and self._select is not None:
            chosen = self._select_chosen if self._select_chosen is not None else self._select_first
            self.fields[self._select] = chosen or ""
            self._select = None


def _blank_form(client) -> _FormReader:
    response = client.get(ADD_URL)
    assert response.status_code == 200
    reader = _FormReader("account-add-form")
    reader.feed(response.content.decode())
    return reader


def _add(client, **typed: str):
    """Fills in the add form like a person would and submits it."""
    reader = _blank_form(client)
    unknown = set(typed) - set(reader.fields)
    assert not unknown, f"the page has no fields {unknown}"
    return client.post(ADD_URL, {**reader.fields, **typed})


def _dovecot_values(dovecot, mail_user, **overrides: str) -> dict[str, str]:
    values = {
        "email": f"{mail_user.name}@example.org",
        "password": mail_user.password,
        "display_name": "Alice Example",
        "protocol": "imap",
        "host": dovecot.host,
        "port": str(dovecot.imap_port),
        "security": "none",
        "login": mail_user.name,
    }
    return {**values, **overrides}


def _smtp_values(server, **overrides: str) -> dict[str, str]:
    """The outgoing-server fields for a test SMTP server; with no smtp_login, the
    incoming login and password are the ones sent to it."""
    values = {
        "smtp_host": server.host,
        "smtp_port": str(server.port),
        "smtp_security": server.security,
    }
    return {**values, **overrides}


def _alert(response) -> str:
    """The text of the form's error notice, as the reader sees it."""
    match = re.search(
        r'<div class="notice notice-error" role="alert">(.*?)</div>',
        response.content.decode(),
        re.S,
    )
    assert match, "no error notice on the page"
    return html.unescape(match.group(1)).strip()


def _value_attributes(response) -> list[str]:
    return [html.unescape(v) for v in re.findall(r'value="([^"]*)"', response.content.decode())]


def _free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that completes the TCP handshake (the kernel does, from the backlog) but
    never sends an IMAP greeting: nobody ever accepts the connection."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


# -- the form ------------------------------------------------------------------------------


def test_it_shows_the_form_with_an_empty_password_field(alice_client):
    reader = _blank_form(alice_client)
    assert reader.input_types["password"] == "password"
    assert reader.input_types["smtp_password"] == "password"
    assert reader.fields["password"] == ""
    assert "csrfmiddlewaretoken" in reader.fields


def test_it_sends_strangers_to_the_sign_in_page(client, dovecot, mail_user):
    response = client.post(ADD_URL, _dovecot_values(dovecot, mail_user))
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/settings/accounts/add/"
    assert not MailAccount.objects.exists()


# -- adding --------------------------------------------------------------------------------


def test_it_adds_an_account_that_logs_in(alice_client, alice, dovecot, mail_user):
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user))

    account = MailAccount.objects.get(user=alice)
    assert response.status_code == 302
    assert response["Location"] == f"/mail/{account.pk}/"
    assert account.email == f"{mail_user.name}@example.org"
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
    # No SMTP server given: sending later uses the incoming login and password.
    assert account.smtp_same_credentials
    assert account.smtp_credentials() == (mail_user.name, mail_user.password)


def test_it_says_the_account_was_added_on_the_next_page(alice_client, dovecot, mail_user):
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user))
    page = alice_client.get(response["Location"])
    assert page.status_code == 200
    assert f"The account {mail_user.name}@example.org was added." in html.unescape(
        page.content.decode()
    )


def test_it_adds_a_pop3_account(alice_client, alice, dovecot, mail_user):
    values = _dovecot_values(dovecot, mail_user, protocol="pop3", port=str(dovecot.pop3_port))
    response = _add(alice_client, **values)
    assert response.status_code == 302
    account = MailAccount.objects.get(user=alice)
    assert (account.protocol, account.incoming_port) == ("pop3", dovecot.pop3_port)
    assert account.incoming_password() == mail_user.password


def test_it_refuses_a_wrong_pop3_password(alice_client, dovecot, mail_user):
    values = _dovecot_values(
        dovecot, mail_user, protocol="pop3", port=str(dovecot.pop3_port), password=WRONG_PASSWORD
    )
    response = _add(alice_client, **values)
    assert response.status_code == 200
    assert _alert(response) == AUTH_FAILED
    assert WRONG_PASSWORD not in response.content.decode()
    assert not MailAccount.objects.exists()


def test_it_uses_the_address_as_login_when_left_blank(alice_client, alice, dovecot, mail_user):
    # The test Dovecot drops the domain of a login (username_format=%n), so the whole
    # address logs in as well, as at most providers.
    email = f"{mail_user.name}@example.org"
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, login=""))
    assert response.status_code == 302
    assert MailAccount.objects.get(user=alice).incoming_login == email


def test_it_stores_a_separate_smtp_login(alice_client, alice, dovecot, mail_user, make_smtp_server):
    smtp = make_smtp_server(login="alice-smtp", password=SMTP_PASSWORD)
    values = _dovecot_values(
        dovecot,
        mail_user,
        **_smtp_values(smtp, smtp_login="alice-smtp", smtp_password=SMTP_PASSWORD),
    )
    response = _add(alice_client, **values)
    assert response.status_code == 302
    assert smtp.logins == [("alice-smtp", True)]  # checked before saving
    account = MailAccount.objects.get(user=alice)
    assert (account.smtp_host, account.smtp_port, account.smtp_security) == (
        smtp.host,
        smtp.port,
        "none",
    )
    assert not account.smtp_same_credentials
    assert SMTP_PASSWORD not in account.smtp_password_encrypted
    assert account.smtp_credentials() == ("alice-smtp", SMTP_PASSWORD)


def test_it_logs_in_to_the_smtp_server_with_the_incoming_login(
    alice_client, alice, dovecot, mail_user, make_smtp_server
):
    # "Same credentials as incoming": the SMTP server is asked with the Dovecot login.
    smtp = make_smtp_server(login=mail_user.name, password=mail_user.password)
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, **_smtp_values(smtp)))
    assert response.status_code == 302
    assert smtp.logins == [(mail_user.name, True)]
    account = MailAccount.objects.get(user=alice)
    assert (account.smtp_host, account.smtp_port) == (smtp.host, smtp.port)
    assert account.smtp_same_credentials
    assert account.smtp_credentials() == (mail_user.name, mail_user.password)


def test_it_checks_an_smtp_server_that_wants_starttls(
    alice_client, alice, dovecot, mail_user, make_smtp_server
):
    # The server speaks STARTTLS with a certificate from the test CA, which the fixture
    # makes trusted (SSL_CERT_FILE): verified exactly as in production.
    smtp = make_smtp_server(security="starttls", login=mail_user.name, password=mail_user.password)
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, **_smtp_values(smtp)))
    assert response.status_code == 302
    assert smtp.logins == [(mail_user.name, True)]
    assert MailAccount.objects.get(user=alice).smtp_security == "starttls"


def test_it_refuses_a_wrong_smtp_password_and_names_the_outgoing_server(
    alice_client, dovecot, mail_user, make_smtp_server, caplog
):
    caplog.set_level("DEBUG")
    smtp = make_smtp_server(login="alice-smtp", password=SMTP_PASSWORD)
    values = _dovecot_values(
        dovecot,
        mail_user,
        **_smtp_values(smtp, smtp_login="alice-smtp", smtp_password=WRONG_PASSWORD),
    )
    response = _add(alice_client, **values)

    assert response.status_code == 200
    assert _alert(response) == OUTGOING + AUTH_FAILED
    assert smtp.logins == [("alice-smtp", False)]
    assert not MailAccount.objects.exists()
    page = response.content.decode()
    assert WRONG_PASSWORD not in page
    assert mail_user.password not in page
    assert WRONG_PASSWORD not in caplog.text
    # The SMTP settings typed are kept, so only the passwords need typing again.
    assert str(smtp.port) in _value_attributes(response)
    assert "alice-smtp" in _value_attributes(response)


def test_it_refuses_an_smtp_server_that_takes_another_password_than_the_incoming_one(
    alice_client, dovecot, mail_user, make_smtp_server
):
    smtp = make_smtp_server(login=mail_user.name, password=SMTP_PASSWORD)
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, **_smtp_values(smtp)))
    assert response.status_code == 200
    assert _alert(response) == OUTGOING + AUTH_FAILED
    assert mail_user.password not in response.content.decode()
    assert not MailAccount.objects.exists()


def test_it_says_when_nothing_listens_on_the_smtp_port(
    alice_client, dovecot, mail_user, smtp_nothing_listening
):
    values = _dovecot_values(
        dovecot,
        mail_user,
        smtp_host=smtp_nothing_listening.host,
        smtp_port=str(smtp_nothing_listening.port),
        smtp_security="none",
    )
    response = _add(alice_client, **values)
    assert response.status_code == 200
    assert _alert(response) == OUTGOING + REFUSED
    assert not MailAccount.objects.exists()


def test_it_refuses_a_wrong_password_and_does_not_echo_it(alice_client, dovecot, mail_user):
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, password=WRONG_PASSWORD))

    assert response.status_code == 200
    assert _alert(response) == AUTH_FAILED
    assert not MailAccount.objects.exists()
    page = response.content.decode()
    assert WRONG_PASSWORD not in page
    assert WRONG_PASSWORD not in _value_attributes(response)
    # What the reader typed elsewhere is kept, so only the password needs typing again.
    assert f"{mail_user.name}@example.org" in _value_attributes(response)
    assert str(dovecot.imap_port) in _value_attributes(response)


def test_it_logs_no_password_when_the_login_fails(alice_client, dovecot, mail_user, caplog):
    caplog.set_level("DEBUG")
    _add(alice_client, **_dovecot_values(dovecot, mail_user, password=WRONG_PASSWORD))
    assert caplog.records, "the failed check should be logged"
    assert WRONG_PASSWORD not in caplog.text


def test_it_does_not_echo_the_smtp_password_either(
    alice_client, dovecot, mail_user, make_smtp_server
):
    smtp = make_smtp_server(login="alice-smtp", password=SMTP_PASSWORD)
    values = _dovecot_values(
        dovecot,
        mail_user,
        password=WRONG_PASSWORD,
        **_smtp_values(smtp, smtp_login="alice-smtp", smtp_password=SMTP_PASSWORD),
    )
    response = _add(alice_client, **values)
    assert response.status_code == 200
    assert _alert(response) == AUTH_FAILED  # the incoming server, named as before
    assert SMTP_PASSWORD not in response.content.decode()
    assert smtp.logins == []  # the incoming login failed first: SMTP was not asked
    assert not MailAccount.objects.exists()


def test_it_says_when_nothing_listens_on_the_port(alice_client, dovecot, mail_user):
    port = _free_port()
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, port=str(port)))
    assert response.status_code == 200
    assert _alert(response) == REFUSED
    assert not MailAccount.objects.exists()


def test_it_says_when_the_server_name_does_not_exist(alice_client, dovecot, mail_user):
    # .invalid never resolves (RFC 6761); the resolver answers at once, without a server.
    started = time.monotonic()
    response = _add(
        alice_client, **_dovecot_values(dovecot, mail_user, host="mail.postfach.invalid")
    )
    assert response.status_code == 200
    assert _alert(response) == HOST_NOT_FOUND
    assert not MailAccount.objects.exists()
    assert time.monotonic() - started < 5, "name resolution should fail fast"


@pytest.mark.parametrize("protocol", ["imap", "pop3"])
@pytest.mark.parametrize("host", ["mail..postfach.invalid", "m" * 64 + ".postfach.invalid"])
def test_it_says_when_the_server_name_is_mistyped(alice_client, dovecot, mail_user, protocol, host):
    # An empty label or one over 63 characters cannot even be looked up.
    values = _dovecot_values(dovecot, mail_user, host=host, protocol=protocol)
    response = _add(alice_client, **values)
    assert response.status_code == 200
    assert _alert(response) == HOST_NOT_FOUND
    assert not MailAccount.objects.exists()


def test_it_says_when_the_server_does_not_answer(
    alice_client, dovecot, mail_user, silent_server, settings
):
    settings.MAIL_CONNECT_TIMEOUT = 1
    started = time.monotonic()
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, port=str(silent_server)))
    assert response.status_code == 200
    assert _alert(response) == TIMED_OUT
    assert not MailAccount.objects.exists()
    assert time.monotonic() - started < 5, "MAIL_CONNECT_TIMEOUT bounds the wait"


def test_it_asks_for_the_servers_of_an_unknown_provider(alice_client, dovecot, mail_user):
    response = _add(alice_client, email="alice@postfach.invalid", password=mail_user.password)
    assert response.status_code == 200
    assert "We do not know the servers for postfach.invalid: please enter them." in html.unescape(
        response.content.decode()
    )
    assert mail_user.password not in response.content.decode()
    assert not MailAccount.objects.exists()


def test_it_refuses_an_address_longer_than_can_be_stored(alice_client, dovecot, mail_user):
    # 255 characters pass Django's address check (up to 320) but not the 254 of the column.
    long_email = "a" * 60 + "@" + ".".join(["b" * 60] * 3) + ".example.org"
    assert 254 < len(long_email) <= 320
    response = _add(alice_client, **_dovecot_values(dovecot, mail_user, email=long_email))
    assert response.status_code == 200
    assert "Ensure this value has at most 254 characters" in html.unescape(
        response.content.decode()
    )
    assert not MailAccount.objects.exists()


# -- listing and removing ------------------------------------------------------------------


def test_the_list_never_shows_a_password(alice_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    response = alice_client.get("/settings/accounts/")
    page = response.content.decode()
    assert response.status_code == 200
    assert account.email in page
    assert f"{dovecot.host}:{dovecot.imap_port}" in page
    assert mail_user.password not in page
    assert account.incoming_password_encrypted not in page


def test_the_list_shows_only_ones_own_accounts(bob_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    page = bob_client.get("/settings/accounts/").content.decode()
    assert account.email not in page
    assert "You have no mail account yet." in page


def test_it_removes_an_account(alice_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    response = alice_client.post(f"/settings/accounts/{account.pk}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/settings/accounts/"
    assert not MailAccount.objects.filter(pk=account.pk).exists()
    page = html.unescape(alice_client.get("/settings/accounts/").content.decode())
    assert (
        f"The account {account.email} was removed from Postfach. "
        "Nothing was deleted on its mail server."
    ) in page


def test_it_leaves_the_mailbox_alone_when_removing(alice_client, alice, dovecot, mail_user):
    uid = mail_user.append("INBOX", b"From: a@example.org\r\nSubject: Keep me\r\n\r\nhi\r\n")
    account = account_for(alice, dovecot, mail_user)
    alice_client.post(f"/settings/accounts/{account.pk}/delete/")
    with mail_user.client() as imap:
        imap.select_folder("INBOX", readonly=True)
        assert imap.search(["UNDELETED"]) == [uid]


def test_a_get_does_not_remove(alice_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    response = alice_client.get(f"/settings/accounts/{account.pk}/delete/")
    assert response.status_code == 405
    assert MailAccount.objects.filter(pk=account.pk).exists()


def test_bob_cannot_remove_alices_account(bob_client, alice, dovecot, mail_user):
    account = account_for(alice, dovecot, mail_user)
    response = bob_client.post(f"/settings/accounts/{account.pk}/delete/")
    assert response.status_code == 404
    assert MailAccount.objects.filter(pk=account.pk, user=alice).exists()
