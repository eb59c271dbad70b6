"""Sign in with your mail account: the IMAP server named by IMAP_LOGIN_HOST checks the
password, and the first success creates the Postfach user and its mail account.

The backend follows ModelBackend's contract (django/contrib/auth/backends.py): None for
every credential it cannot vouch for, so Django tries the next backend and finally says
"wrong password"; `get_user` and `user_can_authenticate` as ModelBackend has them. It
talks to the server only through webmail.protocols, which imports nothing of ours
(an import-linter contract holds that), so this module adds no cycle. It deliberately
does not use webmail.services: services import accounts, not the other way round, and
the sign-in signal (webmail.signals) queues the new account's first sync.

The admin names IMAP_LOGIN_HOST, so it is trusted like any setting: the checks a
host typed by a user goes through do not apply to it.
"""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db import transaction

from webmail.protocols.errors import AuthenticationFailed, MailServerError, ServerSettings
from webmail.protocols.imap import imap_login_check

from .audit import account_detail, audit_record
from .models import AuditEvent, MailAccount

log = logging.getLogger(__name__)

# The usual SMTP port for each kind of security, when IMAP_LOGIN_SMTP_PORT is not set
# (the same as webmail.services.accounts uses for accounts added by hand).
_SMTP_PORTS = {"tls": 465, "starttls": 587, "none": 25}


def imap_login_name(typed: str) -> str:
    """The user name a sign-in is for: what was typed, trimmed and in lower case, with
    "@IMAP_LOGIN_DOMAIN" added to a bare name. It is the Postfach user name, the mail
    address and the IMAP login at once."""
    name = (typed or "").strip().lower()
    if name and "@" not in name and settings.IMAP_LOGIN_DOMAIN:
        name = f"{name}@{settings.IMAP_LOGIN_DOMAIN}"
    return name


class ImapLoginBackend(ModelBackend):
    """Signs in users whose password the IMAP_LOGIN_HOST server accepts. A local user
    (one with a usable Django password) is never signed in this way, so a mailbox of the
    same name cannot take over an admin's or anyone's local account."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if not settings.IMAP_LOGIN_HOST:
            return None
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        login = imap_login_name(username)
        if "@" not in login or not password:
            # A bare name without IMAP_LOGIN_DOMAIN cannot be a mail address.
            return None
        user = self._user(login)
        if user is not None and (
            user.has_usable_password() or not self.user_can_authenticate(user)
        ):
            return None
        if not self._password_accepted(login, password):
            return None
        return self._signed_in(login, password)

    # -- steps ---------------------------------------------------------------------------

    def _user(self, login: str):
        model = get_user_model()
        try:
            return model._default_manager.get_by_natural_key(login)
        except model.DoesNotExist:
            return None

    def _password_accepted(self, login: str, password: str) -> bool:
        server = ServerSettings(
            host=settings.IMAP_LOGIN_HOST,
            port=settings.IMAP_LOGIN_PORT,
            security=settings.IMAP_LOGIN_SECURITY,
            login=login,
            password=password,
            timeout=settings.MAIL_CONNECT_TIMEOUT,
        )
        try:
            imap_login_check(server)
        except AuthenticationFailed:
            return False  # the user's mistake: the form says so, axes counts it
        except MailServerError as exc:
            # The server's trouble or ours, not the user's: worth an admin's look.
            log.warning(
                "sign-in server %s: %s (%s)", settings.IMAP_LOGIN_HOST, exc.code, exc.detail
            )
            return False
        return True

    def _signed_in(self, login: str, password: str):
        model = get_user_model()
        with transaction.atomic():
            # get_or_create: of two first sign-ins at once, one makes the user, both use it.
            user, created = model._default_manager.get_or_create(
                **{model.USERNAME_FIELD: login}, defaults={"email": login}
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
                log.info("user %s created at first sign-in with a mail account", user.pk)
            elif user.has_usable_password():
                return None  # became a local user between the look-up and now
            self._account_update(user, login, password)
        return user

    def _account_update(self, user, login: str, password: str) -> None:
        """The user's mail account on the sign-in server: made at the first sign-in, its
        stored password replaced when the server accepted a different one."""
        account = (
            MailAccount.objects.filter(
                user=user,
                protocol=MailAccount.Protocol.IMAP,
                incoming_host=settings.IMAP_LOGIN_HOST,
                incoming_login=login,
            )
            .order_by("pk")
            .first()
        )
        if account is None:
            account = self._account_new(user, login)
            account.set_incoming_password(password)
            account.full_clean()
            account.save()
            audit_record(
                kind=AuditEvent.Kind.ACCOUNT_ADDED,
                user=user,
                detail=account_detail(account) + " at sign-in",
            )
            log.info("user %s: mail account %s made at sign-in", user.pk, account.pk)
        elif account.incoming_password() != password:
            account.set_incoming_password(password)
            account.save(update_fields=["incoming_password_encrypted", "updated_at"])
            log.info("user %s: stored mail password of account %s updated", user.pk, account.pk)

    def _account_new(self, user, login: str) -> MailAccount:
        smtp_host = settings.IMAP_LOGIN_SMTP_HOST
        smtp_security = settings.IMAP_LOGIN_SMTP_SECURITY
        return MailAccount(
            user=user,
            email=login,
            protocol=MailAccount.Protocol.IMAP,
            incoming_host=settings.IMAP_LOGIN_HOST,
            incoming_port=settings.IMAP_LOGIN_PORT,
            incoming_security=settings.IMAP_LOGIN_SECURITY,
            incoming_login=login,
            smtp_host=smtp_host,
            smtp_port=(settings.IMAP_LOGIN_SMTP_PORT or _SMTP_PORTS[smtp_security])
            if smtp_host
            else None,
            smtp_security=smtp_security,
            smtp_same_credentials=True,
        )
