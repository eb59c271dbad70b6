"""Adding, checking and removing a user's mail accounts, and what the admin does to a
user as a whole: disabling, deleting with all their mail kept here."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext

from accounts.audit import account_detail, audit_record
from accounts.crypto import secret_rotate
from accounts.models import AuditEvent, MailAccount, User
from accounts.sessions import user_sessions_end
from webmail.models import IndexedMessage, Pop3Uidl, StoredMessage
from webmail.protocols.errors import MailServerError, ServerSettings
from webmail.protocols.imap import imap_login_check
from webmail.protocols.pop3 import pop3_login_check
from webmail.protocols.smtp import smtp_login_check

from .errors import error_message
from .mail_hosts import mail_host_policy

log = logging.getLogger(__name__)

SMTP_DEFAULT_PORTS = {
    MailAccount.Security.TLS: 465,
    MailAccount.Security.STARTTLS: 587,
    MailAccount.Security.NONE: 25,
}


class OutgoingServerFailed(MailServerError):
    """The incoming server let us in, the outgoing (SMTP) one did not. `cause` is the
    MailServerError that says how; mail_account_error_message names the server."""

    def __init__(self, cause: MailServerError):
        super().__init__(f"outgoing server: {cause.code}")
        self.cause = cause

    @property
    def code(self) -> str:
        return f"smtp_{self.cause.code}"


def mail_account_check(
    *, protocol: str, host: str, port: int, security: str, login: str, password: str
) -> None:
    """Connects and logs in once (time-out from MAIL_CONNECT_TIMEOUT). Raises the
    MailServerError that says what went wrong; returns quietly when all is well.
    `protocol` is "imap", "pop3" or "smtp"."""
    server = ServerSettings(
        host=host,
        port=port,
        security=security,
        login=login,
        password=password,
        timeout=settings.MAIL_CONNECT_TIMEOUT,
        # A host a user typed: refused on a private network unless an admin allowed it.
        host_policy=mail_host_policy(),
    )
    checks = {
        MailAccount.Protocol.IMAP: imap_login_check,
        MailAccount.Protocol.POP3: pop3_login_check,
        "smtp": smtp_login_check,
    }
    checks[protocol](server)


def mail_account_error_message(exc: MailServerError) -> str:
    """What went wrong when adding an account, in the reader's words; a failure of the
    outgoing server says so, since the reader would otherwise look at the incoming one."""
    if isinstance(exc, OutgoingServerFailed):
        return gettext("Outgoing server (SMTP): %(problem)s") % {
            "problem": error_message(exc.cause)
        }
    return error_message(exc)


def mail_account_add(
    *,
    user: User,
    email: str,
    protocol: str,
    host: str,
    port: int,
    security: str,
    login: str,
    password: str,
    display_name: str = "",
    smtp_host: str = "",
    smtp_port: int | None = None,
    smtp_security: str = MailAccount.Security.STARTTLS,
    smtp_login: str = "",
    smtp_password: str = "",
    check: bool = True,
) -> MailAccount:
    """Saves a mail account, after a real login succeeded at the incoming server and, when
    one is given, at the outgoing (SMTP) server too, as Thunderbird checks them (unless
    check=False, for scripts that set up accounts while the server is away). SMTP shares
    the incoming login and password unless an SMTP login is given; an SMTP server without
    a port gets the usual one for its security. Without an SMTP server there is nothing
    to check: sending says it is not set up.

    Raises ValidationError for values that cannot be stored (checked before connecting,
    so nothing is sent to a server for an account that would not be saved), the
    MailServerError of the incoming check, and OutgoingServerFailed for the SMTP check.
    Nothing is saved unless every check passed."""
    if smtp_host and not smtp_port:
        smtp_port = SMTP_DEFAULT_PORTS[smtp_security]
    account = MailAccount(
        user=user,
        email=email,
        display_name=display_name,
        protocol=protocol,
        incoming_host=host,
        incoming_port=port,
        incoming_security=security,
        incoming_login=login,
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        smtp_security=smtp_security,
        smtp_same_credentials=not smtp_login,
        smtp_login=smtp_login,
    )
    account.set_incoming_password(password)
    account.set_smtp_password(smtp_password if smtp_login else "")
    account.full_clean()
    if check:
        try:
            mail_account_check(
                protocol=protocol,
                host=host,
                port=port,
                security=security,
                login=login,
                password=password,
            )
            if smtp_host:
                # The very login sending will use: the incoming one unless SMTP has its own.
                smtp_login_name, smtp_secret = account.smtp_credentials()
                try:
                    mail_account_check(
                        protocol="smtp",
                        host=smtp_host,
                        port=smtp_port,
                        security=smtp_security,
                        login=smtp_login_name,
                        password=smtp_secret,
                    )
                except MailServerError as exc:
                    raise OutgoingServerFailed(exc) from exc
        except Exception as exc:
            log.info("account check for user %s failed: %s", user.pk, getattr(exc, "code", exc))
            raise
    account.save()
    log.info("user %s added mail account %s (%s)", user.pk, account.pk, protocol)
    audit_record(
        kind=AuditEvent.Kind.ACCOUNT_ADDED,
        user=user,
        detail=account_detail(account),
    )
    from .sync import account_sync_queue  # sync imports stores, which imports this module

    account_sync_queue([account])  # its local index starts filling at once
    return account


def accounts_may_add(*, user: User) -> bool:
    """Whether the user may add mail accounts themselves: staff always (they add them for
    others in the admin too), everyone else unless the admin turned that off."""
    from .pop3_policy import site_settings  # via local_store it imports sync, which imports us

    return user.is_staff or site_settings().users_may_add_accounts


def mail_account_delete(*, account: MailAccount) -> None:
    """Forgets the account here, with the mail it stored here (POP3); nothing on the mail
    server is touched."""
    log.info("user %s removed mail account %s", account.user_id, account.pk)
    with transaction.atomic():
        digests = _stored_digests([account])
        audit_record(
            kind=AuditEvent.Kind.ACCOUNT_REMOVED,
            user=account.user,
            detail=account_detail(account),
        )
        _ledger_forget([account])
        account.delete()
        transaction.on_commit(lambda: blobs_unreferenced_remove(digests=digests))


def mail_accounts_sync_set(*, accounts: Iterable[MailAccount], enabled: bool) -> int:
    """Turns the background sync of these accounts on or off (the beat's syncs and
    fetches, the IDLE watcher, the daily POP3 cleanup); returns how many changed."""
    ids = [account.pk for account in accounts]
    changed = MailAccount.objects.filter(pk__in=ids).exclude(sync_enabled=enabled)
    return changed.update(sync_enabled=enabled)


@dataclass(frozen=True)
class LocalStorage:
    """What an account takes up here: the raw mail kept (POP3) and the index rows."""

    stored_messages: int
    stored_bytes: int
    indexed_messages: int


def mail_account_local_storage(*, account: MailAccount) -> LocalStorage:
    return _local_storage(MailAccount.objects.filter(pk=account.pk))


def _local_storage(accounts) -> LocalStorage:
    stored = StoredMessage.objects.filter(account__in=accounts).aggregate(
        count=Count("pk"), size=Sum("size")
    )
    return LocalStorage(
        stored_messages=stored["count"],
        stored_bytes=stored["size"] or 0,
        indexed_messages=IndexedMessage.objects.filter(folder__account__in=accounts).count(),
    )


# -- users as a whole --------------------------------------------------------------------------


@dataclass(frozen=True)
class UserMail:
    """What a user has here, for the admin's confirmation before deleting them."""

    accounts: list[str]  # how the audit log names each (address, protocol, server)
    # POP3 mail kept here (the only copy once the server's went), and the index rows of
    # every folder (IMAP summaries, POP3 local folders).
    storage: LocalStorage


def user_mail(*, user: User) -> UserMail:
    accounts = MailAccount.objects.filter(user=user).order_by("email", "pk")
    return UserMail(
        accounts=[account_detail(account) for account in accounts],
        storage=_local_storage(accounts),
    )


def user_disable(*, user: User) -> int:
    """Stops the user: no sign-in, every session ended (signed out on every device), and
    their accounts leave the schedulers (accounts_scheduled skips inactive users).
    Returns how many sessions ended."""
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.is_active = False
    log.info("user %s disabled", user.pk)
    return user_sessions_end(user=user)


def user_delete(*, user: User) -> UserMail:
    """Deletes the user with their mail accounts, index, identities, contacts and the mail
    stored here; nothing on any mail server is touched. Returns what went.

    1. Every session ends first, so no page acts for the user while they go.
    2. One transaction notes the blobs of the user's stored messages, writes an
       ACCOUNT_REMOVED audit row per account (kept, naming the user by name), and
       deletes the user; the database cascades to everything else.
    3. Once that commits, each noted blob goes unless another account still stores the
       same bytes (blobs are named by their digest and shared). A blob another user's
       fetch is storing at this very moment could be taken too; the fetch's verify
       (stored_messages_verify) then reports it."""
    what = user_mail(user=user)
    user_sessions_end(user=user)
    with transaction.atomic():
        accounts = list(MailAccount.objects.filter(user=user))
        digests = _stored_digests(accounts)
        for account in accounts:
            audit_record(
                kind=AuditEvent.Kind.ACCOUNT_REMOVED, user=user, detail=account_detail(account)
            )
        log.info("user %s deleted with %d mail accounts", user.pk, len(accounts))
        _ledger_forget(accounts)
        user.delete()
        transaction.on_commit(lambda: blobs_unreferenced_remove(digests=digests))
    return what


def _ledger_forget(accounts: list[MailAccount]) -> None:
    """Deletes the POP3 ledger rows of these accounts, which the cascade cannot: each
    protects its stored message (a ledger row must never lose the copy it vouches for),
    and Django refuses PROTECT even when both would go in the same delete."""
    Pop3Uidl.objects.filter(account__in=[account.pk for account in accounts]).delete()


def _stored_digests(accounts: Iterable[MailAccount]) -> set[str]:
    rows = StoredMessage.objects.filter(account__in=[account.pk for account in accounts])
    return set(rows.values_list("digest", flat=True))


def blobs_unreferenced_remove(*, digests: Iterable[str]) -> int:
    """Removes the blobs of these digests that no stored message names any more; returns
    how many went (one already gone counts as done)."""
    from .local_store import blob_store  # local_store imports sync, which imports us

    digests = set(digests)
    still = set(StoredMessage.objects.filter(digest__in=digests).values_list("digest", flat=True))
    store = blob_store()
    return sum(1 for digest in sorted(digests - still) if store.remove(digest))


def mail_credentials_rotate() -> int:
    """Re-encrypts every stored password under the newest MAIL_CREDENTIALS_KEY; returns how
    many accounts were rewritten."""
    count = 0
    with transaction.atomic():
        for account in MailAccount.objects.select_for_update().only(
            "id", "incoming_password_encrypted", "smtp_password_encrypted"
        ):
            account.incoming_password_encrypted = secret_rotate(account.incoming_password_encrypted)
            if account.smtp_password_encrypted:
                account.smtp_password_encrypted = secret_rotate(account.smtp_password_encrypted)
            account.save(update_fields=["incoming_password_encrypted", "smtp_password_encrypted"])
            count += 1
    return count
