"""Opening the store that holds an account's mail: the one door views and jobs go through."""

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from django.conf import settings

from accounts.models import MailAccount
from webmail.protocols.errors import ServerSettings
from webmail.protocols.imap import imap_store
from webmail.protocols.store import MailStore

from .accounts import SMTP_DEFAULT_PORTS
from .mail_hosts import mail_host_policy


def incoming_settings(account: MailAccount, *, password: str | None = None) -> ServerSettings:
    return ServerSettings(
        host=account.incoming_host,
        port=account.incoming_port,
        security=account.incoming_security,
        login=account.incoming_login,
        password=password if password is not None else account.incoming_password(),
        timeout=settings.MAIL_CONNECT_TIMEOUT,
        host_policy=mail_host_policy(),  # checked at every connection (DNS rebinding)
    )


def outgoing_settings(account: MailAccount) -> ServerSettings:
    """Where the account's mail is sent: its SMTP server, with the incoming login unless
    it has one of its own; without a port, the usual one for its security."""
    login, password = account.smtp_credentials()
    return ServerSettings(
        host=account.smtp_host,
        port=account.smtp_port or SMTP_DEFAULT_PORTS[account.smtp_security],
        security=account.smtp_security,
        login=login,
        password=password,
        timeout=settings.MAIL_CONNECT_TIMEOUT,
        host_policy=mail_host_policy(),
    )


@contextmanager
def store_open(account: MailAccount) -> Iterator[MailStore]:
    """One connection for the caller's whole request or job, closed on the way out. A
    POP3 account's mail is in the local store (services.local_mail): no connection."""
    if account.protocol == MailAccount.Protocol.POP3:
        from .local_mail import LocalStore  # local_store imports sync, which imports this

        yield LocalStore(account)
        return
    with imap_store(incoming_settings(account)) as store:
        yield store


class _LazyStore:
    """Stands in for the account's store and opens it on first use."""

    def __init__(self, account: MailAccount, stack: ExitStack) -> None:
        self._account = account
        self._stack = stack
        self._store: MailStore | None = None

    def __getattr__(self, name: str):
        if self._store is None:
            self._store = self._stack.enter_context(store_open(self._account))
        return getattr(self._store, name)


@contextmanager
def store_open_lazy(account: MailAccount) -> Iterator[MailStore]:
    """Like store_open, but connects only when a read first needs the server: a page the
    local index serves opens no connection at all. Closed on the way out, if opened."""
    with ExitStack() as stack:
        yield _LazyStore(account, stack)
