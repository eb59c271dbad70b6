"""What can go wrong when talking to a mail server, in words a user can act on.

Protocol code raises these and nothing else for connection and login trouble; the service
layer and the views show `user_message` (a plain sentence, never a password or a stack
trace). Each carries a stable `code` for tests and logs.
"""

import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .netguard import BlockedAddress, ForbiddenHost, HostPolicy


@dataclass(frozen=True)
class ServerSettings:
    """Where and how to reach one mail server. `password` is plaintext only in memory."""

    host: str
    port: int
    security: str  # "tls", "starttls" or "none"
    login: str
    password: str
    timeout: float = 10.0
    # The SSRF guard for a host a user typed: set by the services for every account's
    # servers. None only where an operator named the host (IMAP_LOGIN_HOST, a test's own
    # server): then the name is connected to unchecked.
    host_policy: HostPolicy | None = None

    def socket_open(self, timeout: float | None = None) -> socket.socket:
        """A TCP connection to the server (`timeout` defaults to the settings' own). Under
        a host policy it goes to an address the policy checked just now, so every
        connection is checked, and a name that changed its address since (DNS rebinding)
        is refused. TLS on top names `host`, for SNI and the certificate check."""
        timeout = self.timeout if timeout is None else timeout
        if self.host_policy is None:
            return socket.create_connection((self.host, self.port), timeout)
        return self.host_policy.connect(self.host, self.port, timeout)

    def __repr__(self) -> str:  # never let a password reach a log through repr()
        return (
            f"ServerSettings(host={self.host!r}, port={self.port}, "
            f"security={self.security!r}, login=<redacted>)"
        )


class MailServerError(Exception):
    code = "server_error"

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail


class AuthenticationFailed(MailServerError):
    code = "auth_failed"


class HostNotFound(MailServerError):
    code = "host_not_found"


class AddressNotAllowed(MailServerError):
    """The host a user typed is on a private, loopback, link-local or reserved address that
    no administrator allowed: nothing was sent to it."""

    code = "address_not_allowed"


class HostForbidden(AddressNotAllowed):
    """An administrator forbade this mail server (or its network)."""

    code = "host_forbidden"


class ConnectionRefused(MailServerError):
    code = "connection_refused"


class TlsFailed(MailServerError):
    code = "tls_failed"


class TimedOut(MailServerError):
    code = "timeout"


class ServerUnavailable(MailServerError):
    """Reached, but the server would not talk (closed the connection, unexpected reply)."""

    code = "unavailable"


class FolderNotFound(MailServerError):
    code = "folder_not_found"


class MessageNotFound(MailServerError):
    """No such UID in the folder, or the folder's UIDVALIDITY changed since the link was made."""

    code = "message_not_found"


class FolderChanged(MessageNotFound):
    """The folder's UIDVALIDITY is not the one the caller's UIDs came from: the same UID may
    now name another message, so nothing was done."""

    code = "folder_changed"


class ActionRefused(MailServerError):
    """The server answered NO to a change (create, rename, move, ...). `reason` is its RFC
    5530 response code in upper case ("ALREADYEXISTS", "OVERQUOTA", ...) or ""; the
    server's free text is never kept."""

    code = "refused"

    def __init__(self, detail: str = "", *, reason: str = ""):
        super().__init__(detail)
        self.reason = reason


class NotSupported(MailServerError):
    """The server lacks an extension this needs to be done safely (UIDPLUS, for example)."""

    code = "not_supported"


@contextmanager
def network_errors_classified(settings: ServerSettings) -> Iterator[None]:
    """Turns what the network does (no such name, refused, TLS, time-out) into the classes
    above, the same for every protocol. Each protocol wraps this in its own handler for
    what is left (its library's errors, a reset connection): those come out here as they
    went in. The details name the host only: never a password, never server text."""
    where = f"{settings.host}:{settings.port}"
    try:
        yield
    except MailServerError:
        raise
    except ForbiddenHost as exc:
        raise HostForbidden(settings.host) from exc
    except BlockedAddress as exc:
        raise AddressNotAllowed(settings.host) from exc
    except socket.gaierror as exc:
        raise HostNotFound(settings.host) from exc
    except ConnectionRefusedError as exc:
        raise ConnectionRefused(where) from exc
    except (ssl.SSLError, ssl.CertificateError) as exc:
        # Also what TLS against a plaintext port looks like (WRONG_VERSION_NUMBER).
        raise TlsFailed(f"{where}: {getattr(exc, 'reason', None) or type(exc).__name__}") from exc
    except TimeoutError as exc:  # socket.timeout is the same class since Python 3.10
        raise TimedOut(where) from exc
