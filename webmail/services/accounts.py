"""Adding, checking and removing a user's mail accounts."""

import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext

from accounts.audit import account_detail, audit_record
from accounts.crypto import secret_rotate
from accounts.models import AuditEvent, MailAccount, User
from webmail.protocols.errors import MailServerError, ServerSettings
from webmail.protocols.imap import imap_login_check
from webmail.protocols.pop3 import pop3_login_check
from webmail.protocols.smtp import smtp_login_check

from .errors import error_message

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


def mail_account_delete(*, account: MailAccount) -> None:
    """Forgets the account here; nothing on the mail server is touched."""
    log.info("user %s removed mail account %s", account.user_id, account.pk)
    with transaction.atomic():
        audit_record(
            kind=AuditEvent.Kind.ACCOUNT_REMOVED,
            user=account.user,
            detail=account_detail(account),
        )
        account.delete()


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
