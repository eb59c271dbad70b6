"""POP3: only the login check for now; fetching arrives with the POP3 issue."""

import poplib
import ssl

from .errors import (
    AuthenticationFailed,
    MailServerError,
    ServerSettings,
    ServerUnavailable,
    TimedOut,
    network_errors_classified,
)
from .hostnames import host_name_check


def pop3_login_check(settings: ServerSettings) -> None:
    """Connects, logs in and quits without touching a message (no DELE is ever sent here)."""
    host_name_check(settings.host)
    try:
        with network_errors_classified(settings):
            if settings.security == "tls":
                context = ssl.create_default_context()
                conn = poplib.POP3_SSL(
                    settings.host, settings.port, timeout=settings.timeout, context=context
                )
            else:
                conn = poplib.POP3(settings.host, settings.port, timeout=settings.timeout)
                if settings.security == "starttls":
                    conn.stls(ssl.create_default_context())
    except MailServerError:
        raise
    except (OSError, poplib.error_proto) as exc:
        raise ServerUnavailable(type(exc).__name__) from exc
    try:
        try:
            conn.user(settings.login)
            conn.pass_(settings.password)
        except poplib.error_proto as exc:
            # The reply text may echo what we sent; keep only the class of failure.
            raise AuthenticationFailed("the server refused the login") from exc
        except TimeoutError as exc:
            raise TimedOut(f"{settings.host}:{settings.port}") from exc
        except OSError as exc:
            raise ServerUnavailable(type(exc).__name__) from exc
    finally:
        try:
            conn.quit()
        except (OSError, poplib.error_proto):
            conn.close()
