"""SMTP: the only code that sends mail (through smtplib).

One connection per call, always closed again. Every failure leaves here as one of the
classes in `errors.py`, or as RecipientsRefused / MessageRefused defined below, without
the password. A send is all or nothing:

1. MAIL FROM with the message size (when the server announces SIZE) and BODY=8BITMIME
   (when the message has 8-bit bytes and the server announces it). No user text ever goes
   into these options (bpo-43124): they are built here from numbers and constants.
2. RCPT TO for every recipient. If the server refuses any of them, the transaction is
   reset and RecipientsRefused names every refused address, so nobody gets the message
   and the user can correct the address and send again to everyone.
3. DATA with the message, its line ends made CRLF first: a bare CR or LF next to a "."
   could end the data early at a lenient server (SMTP smuggling). smtplib dot-stuffs.

Addresses must be ASCII addr-specs (webmail.compose.build.envelope_sender and
envelope_recipients give them); anything else is refused with ValueError before a
connection is made.
"""

from __future__ import annotations

import base64
import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import (
    AuthenticationFailed,
    MailServerError,
    ServerSettings,
    ServerUnavailable,
    TimedOut,
    TlsFailed,
    network_errors_classified,
)
from .hostnames import host_name_check

__all__ = ["MessageRefused", "RecipientsRefused", "smtp_login_check", "smtp_send"]

MAX_REPLY = 300  # characters of a server reply kept for the user
# An addr-spec in ASCII: printable characters without space, brackets, quotes or
# separators that could change the command line.
_ENVELOPE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}")
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")
# Replies to AUTH that are not "wrong password" (RFC 4954 6).
_AUTH_TRANSIENT = frozenset({432, 454})
_AUTH_NEEDS_TLS = frozenset({523, 534, 538})
# SASL mechanisms in the order we pick them, with smtplib's method for each. PLAIN
# first: it carries UTF-8 (RFC 4616), and the connection is encrypted in every setup a
# user should choose.
_MECHANISMS = {"PLAIN": "auth_plain", "LOGIN": "auth_login", "CRAM-MD5": "auth_cram_md5"}


class RecipientsRefused(MailServerError):
    """The server refused some recipients; nothing was sent to anyone.

    `refused` maps each refused address to the server's (code, reply), the reply cut to
    MAX_REPLY characters and stripped of control characters."""

    code = "recipients_refused"

    def __init__(self, refused: dict[str, tuple[int, str]]):
        super().__init__("refused: " + ", ".join(refused))
        self.refused = refused

    @property
    def addresses(self) -> list[str]:
        return list(self.refused)

    @property
    def transient(self) -> bool:
        """True when every refusal is a 4xx reply (try again later)."""
        return all(400 <= code < 500 for code, _ in self.refused.values())


class MessageRefused(MailServerError):
    """The server refused the message itself: at MAIL FROM (the sender address, or the
    announced size) or after DATA (too large, content policy). `smtp_code` and `reply`
    are what the server said."""

    code = "message_refused"

    def __init__(self, detail: str, *, smtp_code: int = 0, reply: str = ""):
        super().__init__(detail)
        self.smtp_code = smtp_code
        self.reply = reply

    @property
    def transient(self) -> bool:
        return 400 <= self.smtp_code < 500


def smtp_send(
    settings: ServerSettings, *, sender: str, recipients: list[str], message: bytes
) -> None:
    """Sends `message` from `sender` to every one of `recipients`, or to nobody.

    Logs in when `settings.login` is set. Raises AuthenticationFailed, HostNotFound,
    ConnectionRefused, TlsFailed, TimedOut, ServerUnavailable, RecipientsRefused or
    MessageRefused; ValueError for an address that is not an ASCII addr-spec or an
    empty list of recipients. After TimedOut or ServerUnavailable the server may or may
    not have taken the message; after any other error it has not."""
    _envelope_check(sender, recipients)
    message = _LINE_ENDS.sub(b"\r\n", message)
    if not message.endswith(b"\r\n"):
        message += b"\r\n"
    with _session(settings) as conn:
        with _classified(settings):
            _transaction(conn, sender, recipients, message)


def smtp_login_check(settings: ServerSettings) -> None:
    """Connects, logs in (when a login is set) and quits; for the "add account" form.
    Raises what smtp_send raises for connecting and logging in."""
    with _session(settings):
        pass


# -- connecting --------------------------------------------------------------------------


@contextmanager
def _session(settings: ServerSettings) -> Iterator[smtplib.SMTP]:
    if settings.security not in ("tls", "starttls", "none"):
        raise ValueError(f"unknown security {settings.security!r}")
    conn = None
    try:
        with _classified(settings):
            conn = _connect(settings)
            if settings.login:
                _login(conn, settings)
        yield conn
        try:
            conn.quit()
        except (smtplib.SMTPException, OSError):
            pass  # the server has the message already (or there was none): not a failure
    finally:
        if conn is not None:
            conn.close()


def _connect(settings: ServerSettings) -> smtplib.SMTP:
    host_name_check(settings.host)
    # Without local_hostname smtplib asks socket.getfqdn(): a DNS lookup on every send, and
    # EHLO would tell the server this machine's internal name. We greet with the address
    # literal of our end of the connection instead, as Thunderbird does.
    if settings.security == "tls":
        conn: smtplib.SMTP = _SMTP_SSL(
            settings,
            local_hostname="localhost",
            timeout=settings.timeout,
            context=ssl.create_default_context(),
        )
    else:
        conn = _SMTP(settings, local_hostname="localhost", timeout=settings.timeout)
    conn.local_hostname = _address_literal(conn)
    try:
        conn.ehlo_or_helo_if_needed()
        if settings.security == "starttls":
            if not conn.has_extn("starttls"):
                # Never go on in clear: the password and the mail would travel unencrypted.
                raise TlsFailed("the server does not offer STARTTLS")
            # smtplib drops whatever the server sent before the handshake (no STARTTLS
            # response injection) and forgets the old EHLO answer; ask again inside TLS.
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
    except BaseException:
        conn.close()
        raise
    return conn


class _SMTP(smtplib.SMTP):
    """smtplib.SMTP whose socket comes from `ServerSettings.socket_open`, so a user's host
    is checked at every connection and connected to at the checked address. smtplib keeps
    the name (`_host`) for the SNI and certificate check of STARTTLS and SMTP_SSL.
    `_get_socket` is smtplib's own seam for this (SMTP_SSL and LMTP override it too)."""

    def __init__(self, settings: ServerSettings, **kwargs) -> None:
        self._server = settings  # before __init__, which connects
        super().__init__(settings.host, settings.port, **kwargs)

    def _get_socket(self, host, port, timeout):
        return self._server.socket_open(timeout)


class _SMTP_SSL(smtplib.SMTP_SSL, _SMTP):
    """SMTP_SSL's `_get_socket` wraps in TLS what its super() call, `_SMTP._get_socket`,
    opened. (SMTP_SSL.__init__ calls SMTP.__init__ by name, so this sets `_server`
    itself.)"""

    def __init__(self, settings: ServerSettings, **kwargs) -> None:
        self._server = settings
        smtplib.SMTP_SSL.__init__(self, settings.host, settings.port, **kwargs)


def _address_literal(conn: smtplib.SMTP) -> str:
    """RFC 5321 4.1.3: `[192.0.2.1]` or `[IPv6:2001:db8::1]` for our end of the socket."""
    address = conn.sock.getsockname()[0].split("%")[0]
    return f"[IPv6:{address}]" if ":" in address else f"[{address}]"


def _login(conn: smtplib.SMTP, settings: ServerSettings) -> None:
    offered = conn.esmtp_features.get("auth", "").upper().split() if conn.has_extn("auth") else []
    mechanism = next((m for m in _MECHANISMS if m in offered), None)
    if mechanism is None:
        if settings.security == "none":
            # Most servers announce AUTH only inside TLS.
            raise TlsFailed("the server offers no login without TLS")
        raise ServerUnavailable("the server offers no login we know")
    try:
        if mechanism == "PLAIN" and not (settings.login + settings.password).isascii():
            _login_plain_utf8(conn, settings)
        else:
            # One mechanism, one attempt: smtplib.SMTP.login would try every mechanism in
            # turn, and each failure counts against the account at the server.
            conn.user, conn.password = settings.login, settings.password
            conn.auth(mechanism, getattr(conn, _MECHANISMS[mechanism]))
    except smtplib.SMTPAuthenticationError as exc:
        # The reply may echo what we sent; keep only its code, drop the exception chain.
        code = exc.smtp_code
        if code in _AUTH_TRANSIENT:
            raise ServerUnavailable(f"login refused for now [{code}]") from None
        if code in _AUTH_NEEDS_TLS:
            raise TlsFailed(f"the server wants encryption for this login [{code}]") from None
        raise AuthenticationFailed(f"the server refused the login [{code}]") from None
    except UnicodeEncodeError:
        # LOGIN and CRAM-MD5 carry ASCII only in smtplib; UTF-8 needs PLAIN (RFC 4616).
        raise AuthenticationFailed(
            "the server accepts only ASCII user names and passwords"
        ) from None
    finally:
        conn.user = conn.password = ""  # smtplib keeps them on the object otherwise


def _login_plain_utf8(conn: smtplib.SMTP, settings: ServerSettings) -> None:
    """AUTH PLAIN with UTF-8 credentials: smtplib would encode them as ASCII."""
    token = b"\0" + settings.login.encode("utf-8") + b"\0" + settings.password.encode("utf-8")
    code, _ = conn.docmd("AUTH", "PLAIN " + base64.b64encode(token).decode("ascii"))
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, b"")


# -- sending -----------------------------------------------------------------------------


def _transaction(conn: smtplib.SMTP, sender: str, recipients: list[str], message: bytes) -> None:
    options = []
    if conn.has_extn("size"):
        limit = conn.esmtp_features.get("size", "").strip()
        if limit.isdigit() and int(limit) > 0 and len(message) > int(limit):
            raise MessageRefused(
                f"the message has {len(message)} bytes, the server takes {limit}",
                smtp_code=552,
            )
        options.append(f"SIZE={len(message)}")
    if not message.isascii() and conn.has_extn("8bitmime"):
        options.append("BODY=8BITMIME")

    code, reply = conn.mail(sender, options)
    _closing_check(code)
    if code == 530:  # RFC 4954 6: "Authentication required"
        _reset(conn)
        raise AuthenticationFailed("the server wants a login before it takes mail [530]")
    if code != 250:
        _reset(conn)
        raise MessageRefused(
            f"MAIL FROM refused [{code}]", smtp_code=code, reply=_reply_text(reply)
        )
    refused = {}
    for recipient in recipients:
        code, reply = conn.rcpt(recipient)
        _closing_check(code)
        if code not in (250, 251):
            refused[recipient] = (code, _reply_text(reply))
    if refused:
        _reset(conn)
        raise RecipientsRefused(refused)
    try:
        code, reply = conn.data(message)
    except smtplib.SMTPDataError as exc:  # DATA itself refused, before the message
        code, reply = exc.smtp_code, exc.smtp_error
    _closing_check(code)
    if code != 250:
        raise MessageRefused(f"DATA refused [{code}]", smtp_code=code, reply=_reply_text(reply))


def _closing_check(code: int) -> None:
    if code == 421:  # RFC 5321 3.8: the server is shutting this connection down
        raise ServerUnavailable("the server closed the transmission channel [421]")


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _envelope_check(sender: str, recipients: list[str]) -> None:
    if not recipients:
        raise ValueError("no recipients")
    for addr in [sender, *recipients]:
        if not isinstance(addr, str) or not _ENVELOPE_ADDRESS.fullmatch(addr):
            raise ValueError("an envelope address must be an ASCII addr-spec")


def _reply_text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return _CONTROLS.sub(" ", reply).strip()[:MAX_REPLY]


# -- error classification ----------------------------------------------------------------


@contextmanager
def _classified(settings: ServerSettings) -> Iterator[None]:
    """Turns socket, TLS and smtplib errors into errors.py classes. The details name the
    host and the kind of failure only: never a password, never the server's greeting."""
    where = f"{settings.host}:{settings.port}"
    try:
        with network_errors_classified(settings):
            yield
    except MailServerError:
        raise
    except smtplib.SMTPServerDisconnected as exc:
        if isinstance(exc.__context__, TimeoutError):  # smtplib hides a time-out this way
            raise TimedOut(where) from exc
        # smtplib reports a plain-text greeting to an SMTP_SSL client this way, and any
        # connection the server closed on us.
        raise ServerUnavailable(f"{where}: the server closed the connection") from exc
    except (smtplib.SMTPException, OSError, UnicodeError, ValueError) as exc:
        # SMTPConnectError (no 220 greeting), SMTPHeloError, SMTPResponseException from a
        # server that answers something unexpected, a reset connection.
        raise ServerUnavailable(f"{where}: {type(exc).__name__}") from exc
