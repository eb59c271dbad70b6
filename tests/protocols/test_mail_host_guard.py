"""The SSRF guard on mail servers a user names (issue 6, "Hardening"): a host on loopback,
link-local (cloud metadata), private or reserved addresses is refused, at every connection,
unless an admin allowed it; a forbidden host is refused even then.

Refusals are checked with a listening socket on loopback that must see no connection (it
is non-blocking, so `accept` answers at once), and for the other addresses by the refusal
itself: tests/conftest.py would turn a connection attempt into "connection refused", never
into the refusal asserted here. Names other than localhost come from a stub resolver.
"""

import socket
from collections.abc import Iterator
from dataclasses import replace

import pytest

from accounts.models import MailAccount
from tests.dovecot import new_mail_user
from tests.dovecot_tls import TlsDovecot
from tests.personas import account_for
from tests.smtp_server import (  # noqa: F401  (fixtures)
    make_smtp_server_fixture,
    smtp_certificates_fixture,
)
from webmail.models import SiteSettings
from webmail.protocols.errors import (
    AddressNotAllowed,
    HostForbidden,
    ServerSettings,
    ServerUnavailable,
    TlsFailed,
)
from webmail.protocols.imap import imap_login_check
from webmail.protocols.netguard import HostPolicy
from webmail.protocols.pop3 import Pop3Session, pop3_login_check
from webmail.protocols.smtp import smtp_login_check
from webmail.services.accounts import mail_account_add, mail_account_error_message
from webmail.services.stores import incoming_settings, store_open

PRIVATE_NETWORK = "This server's address is on a private network; Postfach does not connect there."
FORBIDDEN = "An administrator does not allow connections to this mail server."
PUBLIC = "93.184.215.14"
CHECKS = {"imap": imap_login_check, "pop3": pop3_login_check, "smtp": smtp_login_check}

_real_getaddrinfo = socket.getaddrinfo


class StubResolver:
    """getaddrinfo for made-up names: each name answers from its list of answers, one per
    lookup (the last one repeats), so a test can change a name's address between lookups.
    Numeric hosts and localhost go to the real resolver, which answers them locally."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        self.lookups.append(host)
        if host in self.answers:
            queue = self.answers[host]
            address = queue.pop(0) if len(queue) > 1 else queue[0]
            kind = socket.AF_INET6 if ":" in address else socket.AF_INET
            sockaddr = (address, port, 0, 0) if kind == socket.AF_INET6 else (address, port)
            return [(kind, socket.SOCK_STREAM, 6, "", sockaddr)]
        return _real_getaddrinfo(host, port, family, type, proto, flags)


@pytest.fixture
def resolver(monkeypatch) -> StubResolver:
    stub = StubResolver()
    monkeypatch.setattr(socket, "getaddrinfo", stub)
    return stub


class Listener:
    """A port on loopback that counts the connections made to it."""

    def __init__(self, family: int, address: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((address, 0))
        self.sock.listen(8)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listeners() -> Iterator[dict[int, Listener]]:
    made = {
        socket.AF_INET: Listener(socket.AF_INET, "127.0.0.1"),
        socket.AF_INET6: Listener(socket.AF_INET6, "::1"),
    }
    yield made
    for listener in made.values():
        listener.sock.close()


def _server(host: str, port: int, policy: HostPolicy | None, **values) -> ServerSettings:
    fields = {"security": "none", "login": "user", "password": "password", **values}
    return ServerSettings(host, port, timeout=5, host_policy=policy, **fields)


# -- refused, and nothing is sent --------------------------------------------------------


@pytest.mark.parametrize("protocol", sorted(CHECKS))
@pytest.mark.parametrize(
    "host, family",
    [
        ("127.0.0.1", socket.AF_INET),
        ("localhost", socket.AF_INET),
        ("0x7f.1", socket.AF_INET),
        ("[::1]", socket.AF_INET6),
        ("::ffff:127.0.0.1", socket.AF_INET6),
    ],
)
def test_a_loopback_host_is_refused_before_any_connection(listeners, protocol, host, family):
    listener = listeners[family]
    with pytest.raises(AddressNotAllowed):
        CHECKS[protocol](_server(host, listener.port, HostPolicy()))
    assert sum(each.connections() for each in listeners.values()) == 0


@pytest.mark.parametrize("protocol", sorted(CHECKS))
@pytest.mark.parametrize(
    "host", ["169.254.169.254", "10.0.0.1", "192.168.1.20", "100.64.0.1", "0.0.0.0", "fd00::25"]
)
def test_private_link_local_and_reserved_addresses_are_refused(protocol, host):
    with pytest.raises(AddressNotAllowed) as refused:
        CHECKS[protocol](_server(host, 993, HostPolicy()))
    assert not isinstance(refused.value, HostForbidden)


def test_a_name_that_points_at_cloud_metadata_is_refused(resolver):
    resolver.answers["metadata.example.com"] = ["169.254.169.254"]
    with pytest.raises(AddressNotAllowed):
        imap_login_check(_server("metadata.example.com", 80, HostPolicy()))


# -- allowed by an admin -----------------------------------------------------------------


@pytest.mark.parametrize(
    "host, allowed",
    [("127.0.0.1", "127.0.0.1"), ("127.0.0.1", "127.0.0.0/8"), ("localhost", "localhost")],
)
def test_an_allowed_loopback_server_is_reached(dovecot, mail_user, host, allowed):
    policy = HostPolicy(allowed=(allowed,))
    imap_login_check(replace(mail_user.settings(), host=host, host_policy=policy))


def test_a_sub_domain_wildcard_allows_the_names_under_it(resolver, dovecot, mail_user):
    resolver.answers["imap.office.example.org"] = ["127.0.0.1"]
    policy = HostPolicy(allowed=("*.office.example.org",))
    imap_login_check(
        replace(mail_user.settings(), host="imap.office.example.org", host_policy=policy)
    )
    resolver.answers["office.example.org"] = ["127.0.0.1"]
    with pytest.raises(AddressNotAllowed):  # the domain itself is not under it
        imap_login_check(
            replace(mail_user.settings(), host="office.example.org", host_policy=policy)
        )


@pytest.mark.parametrize(
    "forbidden", ["127.0.0.1", "127.0.0.0/8", "LOCALHOST.", "*.example.org", "::ffff:127.0.0.0/104"]
)
def test_the_forbidden_list_wins_over_the_allowed_one(resolver, listeners, forbidden):
    resolver.answers["imap.example.org"] = ["127.0.0.1"]
    policy = HostPolicy(
        allowed=("127.0.0.1", "localhost", "imap.example.org"), forbidden=(forbidden,)
    )
    host = "imap.example.org" if forbidden.startswith("*") else "localhost"
    if forbidden == "127.0.0.1" or "/" in forbidden:
        host = "127.0.0.1"
    with pytest.raises(HostForbidden):
        pop3_login_check(_server(host, listeners[socket.AF_INET].port, policy))
    assert listeners[socket.AF_INET].connections() == 0


def test_a_forbidden_public_network_is_refused(resolver):
    resolver.answers["mail.example.net"] = [PUBLIC]
    with pytest.raises(HostForbidden):
        smtp_login_check(_server("mail.example.net", 587, HostPolicy(forbidden=("93.184.0.0/16",))))


# -- at connect time: the address checked is the address connected to ---------------------


def test_a_name_that_changed_to_loopback_after_the_form_was_saved_is_refused(
    resolver, listeners, alice, settings
):
    """DNS rebinding: the name was public when the account was saved and points at
    127.0.0.1 when the sync connects; the check at connect time refuses it."""
    settings.MAIL_HOSTS_ALLOWED = []
    listener = listeners[socket.AF_INET]
    resolver.answers["mail.rebind.example"] = [PUBLIC, "127.0.0.1"]
    account = MailAccount(
        user=alice, email="alice@rebind.example", protocol=MailAccount.Protocol.IMAP,
        incoming_host="mail.rebind.example", incoming_port=listener.port,
        incoming_security=MailAccount.Security.NONE, incoming_login="alice",
    )  # fmt: skip
    account.set_incoming_password("secret-1")
    account.save()
    # The look-up the form made: public then.
    assert socket.getaddrinfo("mail.rebind.example", 143)[0][4][0] == PUBLIC
    with pytest.raises(AddressNotAllowed), store_open(account):
        pass
    assert listener.connections() == 0


def test_each_connection_looks_the_name_up_once_and_connects_to_that_address(
    resolver, dovecot, mail_user
):
    """The second answer would be refused; the name is never looked up again after the
    check, so the connection goes where the checked answer said."""
    resolver.answers["imap.pinned.example"] = ["127.0.0.1", "10.66.0.1"]
    policy = HostPolicy(allowed=("127.0.0.0/8",))
    imap_login_check(replace(mail_user.settings(), host="imap.pinned.example", host_policy=policy))
    assert resolver.lookups.count("imap.pinned.example") == 1


@pytest.fixture(scope="module")
def tls_dovecot() -> Iterator[TlsDovecot]:
    with TlsDovecot() as server:
        yield server


def test_tls_checks_the_certificate_against_the_name_typed_not_the_address(resolver, tls_dovecot):
    """The certificate names localhost and 127.0.0.1. Connected to 127.0.0.1 under the name
    localhost it is accepted; under another name that resolves to 127.0.0.1 it is not, so
    the name (not the pinned address) is what TLS verifies."""
    user = new_mail_user(tls_dovecot)
    policy = HostPolicy(allowed=("127.0.0.0/8",))
    pop3s = replace(
        user.pop3_settings(), port=tls_dovecot.pop3s_port, security="tls", host_policy=policy
    )
    with Pop3Session(replace(pop3s, host="localhost"), tls_context=tls_dovecot.client_context()):
        pass
    resolver.answers["mail.elsewhere.example"] = ["127.0.0.1"]
    with pytest.raises(TlsFailed):
        with Pop3Session(
            replace(pop3s, host="mail.elsewhere.example"), tls_context=tls_dovecot.client_context()
        ):
            pass


def test_imap_tls_and_starttls_check_the_certificate_against_the_name_typed(
    resolver, tls_dovecot, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_dovecot.cert_path))  # trusted, for this test
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    user = new_mail_user(tls_dovecot)
    policy = HostPolicy(allowed=("127.0.0.0/8",))
    imap = replace(user.settings(), security="starttls", host_policy=policy)
    imap_login_check(replace(imap, host="localhost"))
    resolver.answers["imap.elsewhere.example"] = ["127.0.0.1"]
    with pytest.raises(TlsFailed):
        imap_login_check(replace(imap, host="imap.elsewhere.example"))
    # Implicit TLS, against the one TLS port this Dovecot has (POP3S): under the right name
    # the handshake succeeds and only the POP3 greeting is wrong; under another it fails.
    imaps = replace(imap, security="tls", port=tls_dovecot.pop3s_port)
    with pytest.raises(ServerUnavailable):
        imap_login_check(replace(imaps, host="localhost"))
    with pytest.raises(TlsFailed):
        imap_login_check(replace(imaps, host="imap.elsewhere.example"))


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_smtp_tls_checks_the_certificate_against_the_name_typed(
    resolver, make_smtp_server, security
):
    server = make_smtp_server(security=security)  # a certificate for localhost, trusted
    policy = HostPolicy(allowed=("127.0.0.0/8",))
    smtp = _server("localhost", server.port, policy, security=security)
    smtp_login_check(replace(smtp, login=""))
    resolver.answers["smtp.elsewhere.example"] = ["127.0.0.1"]
    with pytest.raises(TlsFailed):
        smtp_login_check(replace(smtp, host="smtp.elsewhere.example", login=""))


# -- the services: the policy from the settings and the admin's site settings ------------


@pytest.fixture
def site(db) -> SiteSettings:
    return SiteSettings.objects.create(pk=1)


def test_without_an_allowance_adding_an_account_on_loopback_says_why(
    settings, site, alice, dovecot, mail_user, listeners
):
    settings.MAIL_HOSTS_ALLOWED = []
    for host, port in (("127.0.0.1", dovecot.imap_port), ("localhost", dovecot.imap_port)):
        with pytest.raises(AddressNotAllowed) as refused:
            mail_account_add(
                user=alice, email="alice@example.org", protocol="imap", host=host, port=port,
                security="none", login=mail_user.name, password=mail_user.password,
            )  # fmt: skip
        assert mail_account_error_message(refused.value) == PRIVATE_NETWORK
    assert not MailAccount.objects.filter(user=alice).exists()


def test_the_admins_allowance_in_the_site_settings_lets_it_connect(
    settings, site, alice, dovecot, mail_user
):
    settings.MAIL_HOSTS_ALLOWED = []
    site.mail_hosts_allowed = "# the office server\n10.1.0.0/16\n127.0.0.0/8\n"
    site.save()
    account = mail_account_add(
        user=alice, email="alice@example.org", protocol="imap", host=dovecot.host,
        port=dovecot.imap_port, security="none", login=mail_user.name,
        password=mail_user.password,
    )  # fmt: skip
    with store_open(account) as store:
        assert "INBOX" in [folder.name for folder in store.folders()]


def test_the_admins_forbidden_list_wins_over_the_environments_allowance(
    site, alice, dovecot, mail_user
):
    site.mail_hosts_forbidden = "127.0.0.1"
    site.save()
    account = account_for(alice, dovecot, mail_user)  # saved while it was allowed
    with pytest.raises(HostForbidden) as refused, store_open(account):
        pass
    assert mail_account_error_message(refused.value) == FORBIDDEN


def test_the_sign_in_server_is_always_allowed(settings, site, alice, dovecot, mail_user):
    """IMAP_LOGIN_HOST is the operator's choice: the accounts made at sign-in reach it
    (and smtp, when given) although it is on loopback and nothing else is allowed."""
    settings.MAIL_HOSTS_ALLOWED = []
    settings.IMAP_LOGIN_HOST = "localhost"
    account = account_for(alice, dovecot, mail_user)
    account.incoming_host = "localhost"
    account.save()
    assert incoming_settings(account).host_policy.allowed == ("localhost",)
    with store_open(account) as store:
        assert store.folders()


def test_the_add_form_shows_the_refusal_as_a_plain_sentence(
    settings, site, alice_client, dovecot, mail_user
):
    settings.MAIL_HOSTS_ALLOWED = []
    form = alice_client.get("/settings/accounts/add/")
    assert form.status_code == 200
    response = alice_client.post(
        "/settings/accounts/add/",
        {
            "email": "alice@example.org", "password": mail_user.password,
            "display_name": "Alice", "protocol": "imap", "host": "169.254.169.254",
            "port": "143", "security": "none", "login": mail_user.name,
            "smtp_security": "starttls",
        },
    )  # fmt: skip
    assert response.status_code == 200
    assert PRIVATE_NETWORK in response.content.decode().replace("&#x27;", "'")
    assert not MailAccount.objects.exists()
