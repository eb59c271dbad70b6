"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, on a free port, in a thread.

It records every message it accepts (envelope sender, recipients, MAIL options and the
exact bytes of DATA), and can:

* require AUTH with one login and password (PLAIN and LOGIN, as aiosmtpd offers them),
* speak STARTTLS or implicit TLS with a certificate made at test time by `cryptography`
  (a throwaway CA signs a certificate for 127.0.0.1 and localhost),
* refuse recipients whose address contains a given text ("reject" by default),
* refuse messages above a size (aiosmtpd announces it as SIZE).

The client under test verifies certificates exactly as in production
(ssl.create_default_context()); the fixtures make it trust the test CA by pointing
OpenSSL's SSL_CERT_FILE at it for the length of the test, so no code path exists only
for tests. `smtp_nothing_listening` gives settings for a port where nothing listens.

Fixtures are declared with `name=` so that test modules can import them without the
import and the test argument clashing (ruff F811).
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from webmail.protocols.errors import ServerSettings

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]
    data: bytes  # DATA as the server got it, dot-unstuffed, CRLF line ends
    helo: str = ""  # the name the client greeted with (EHLO/HELO)


@dataclass(frozen=True)
class Certificates:
    ca_file: Path  # what clients must trust
    cert_file: Path  # the server's certificate
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass
class SmtpServer:
    """One running server. `received` fills as messages arrive; `logins` lists every
    login name that tried to authenticate, with whether it succeeded."""

    port: int
    security: str  # "none", "starttls" or "tls": what clients must use
    login: str
    password: str
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, bool]] = field(default_factory=list)
    host: str = HOST

    def settings(self, **changes) -> ServerSettings:
        """ServerSettings that reach this server (with its login, if it has one)."""
        values = dict(
            host=self.host,
            port=self.port,
            security=self.security,
            login=self.login,
            password=self.password,
            timeout=5.0,
        )
        values.update(changes)
        return ServerSettings(**values)


class _Handler:
    def __init__(self, server: SmtpServer, refuse: str | None) -> None:
        self.server = server
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse and self.refuse in address:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.server.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                mail_options=list(envelope.mail_options),
                data=envelope.original_content,
                helo=session.host_name or "",
            )
        )
        return "250 2.0.0 OK: queued"


class _Controller(Controller):
    def factory(self):
        # aiosmtpd warns that AUTH without TLS is unsafe; the plain test servers want
        # exactly that, and the warning would repeat for every connection.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return super().factory()


def _authenticator(server: SmtpServer) -> Callable:
    def authenticate(smtp, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        ok = auth_data.login == server.login.encode("utf-8") and (
            auth_data.password == server.password.encode("utf-8")
        )
        server.logins.append((login, ok))
        return AuthResult(success=ok, handled=False)

    return authenticate


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def certificates_make(directory: Path) -> Certificates:
    """A CA and a server certificate for 127.0.0.1 and localhost, valid for a day."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Postfach test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def smtp_server_start(
    *,
    security: str = "none",
    login: str = "",
    password: str = "",
    refuse: str | None = "reject",
    size_limit: int = 32 * 1024 * 1024,
    certificates: Certificates | None = None,
) -> tuple[SmtpServer, Controller]:
    """Starts a server; the caller must call `controller.stop()`. With a `login`, AUTH
    is required before MAIL. `security` other than "none" needs `certificates`."""
    server = SmtpServer(port=free_port(), security=security, login=login, password=password)
    options: dict = {
        "data_size_limit": size_limit,
        "auth_required": bool(login),
        "auth_require_tls": security == "starttls",
    }
    if login:
        options["authenticator"] = _authenticator(server)
    if security == "starttls":
        options["tls_context"] = certificates.server_context()
        options["require_starttls"] = True
    elif security == "tls":
        options["ssl_context"] = certificates.server_context()
    controller = _Controller(_Handler(server, refuse), hostname=HOST, port=server.port, **options)
    controller.start()
    return server, controller


# --- Fixtures ----------------------------------------------------------------------------


@pytest.fixture(name="smtp_certificates", scope="session")
def smtp_certificates_fixture(tmp_path_factory) -> Certificates:
    return certificates_make(tmp_path_factory.mktemp("smtp-tls"))


@pytest.fixture(name="make_smtp_server")
def make_smtp_server_fixture(request, monkeypatch) -> Iterator[Callable[..., SmtpServer]]:
    """A factory: `make_smtp_server(security=..., login=..., password=..., refuse=...,
    size_limit=...)` starts a server that is stopped after the test. For TLS it makes
    the client trust the test CA (SSL_CERT_FILE) for the rest of the test."""
    controllers: list[Controller] = []

    def make(**options) -> SmtpServer:
        if options.get("security", "none") != "none":
            certificates = request.getfixturevalue("smtp_certificates")
            options["certificates"] = certificates
            monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
            monkeypatch.delenv("SSL_CERT_DIR", raising=False)
        server, controller = smtp_server_start(**options)
        controllers.append(controller)
        return server

    yield make
    for controller in controllers:
        controller.stop()


@pytest.fixture(name="smtp_server")
def smtp_server_fixture(make_smtp_server) -> SmtpServer:
    """A plain SMTP server without AUTH that refuses recipients containing "reject"."""
    return make_smtp_server()


@pytest.fixture(name="smtp_nothing_listening")
def smtp_nothing_listening_fixture() -> ServerSettings:
    """Settings for a port on 127.0.0.1 where nothing listens."""
    return ServerSettings(HOST, free_port(), "none", "", "", timeout=5.0)
