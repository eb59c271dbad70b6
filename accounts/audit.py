"""The audit log admins read (accounts.models.AuditEvent): one small writer, and the
receivers that feed it from Django's and django-axes' sign-in signals.

The receivers are connected in AccountsConfig.ready(). Services that change what a user
has (webmail.services.accounts) call audit_record themselves.
"""

import ipaddress

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from .models import AuditEvent

_USERNAME_LENGTH = AuditEvent._meta.get_field("username").max_length


def request_address(request) -> str | None:
    """The address a request came from: REMOTE_ADDR, nothing a client could set itself.
    Behind a reverse proxy that is the proxy's address unless the proxy (or a WSGI
    middleware it trusts) rewrites REMOTE_ADDR; X-Forwarded-For is never read here."""
    if request is None:
        return None
    value = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def audit_record(
    *,
    kind: str,
    request=None,
    user=None,
    username: str = "",
    detail: str = "",
) -> AuditEvent:
    """Writes one audit event. `username` is what was typed (a failed sign-in may name
    nobody); with a user and no username, the user's own name is taken. Never pass a
    password or mail content in `detail`."""
    if user is not None and not getattr(user, "pk", None):
        user = None  # AnonymousUser, or a user that was never saved
    if not username and user is not None:
        username = user.get_username()
    return AuditEvent.objects.create(
        kind=kind,
        user=user,
        username=(username or "")[:_USERNAME_LENGTH],
        remote_address=request_address(request),
        detail=detail,
    )


def account_detail(account) -> str:
    """How the audit log names a mail account: address, protocol and server, no more."""
    return f"{account.email} ({account.get_protocol_display()}, {account.incoming_host})"


@receiver(user_logged_in, dispatch_uid="accounts.audit.sign_in")
def _signed_in(sender, request, user, **kwargs) -> None:
    backend = getattr(user, "backend", "") or ""
    audit_record(
        kind=AuditEvent.Kind.SIGN_IN,
        request=request,
        user=user,
        detail=backend.rsplit(".", 1)[-1],  # which way in: ModelBackend or ImapLoginBackend
    )


@receiver(user_login_failed, dispatch_uid="accounts.audit.sign_in_failed")
def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # Django has already masked the password in `credentials`; only the name is kept.
    audit_record(
        kind=AuditEvent.Kind.SIGN_IN_FAILED,
        request=request,
        username=str(credentials.get("username") or ""),
    )


@receiver(user_logged_out, dispatch_uid="accounts.audit.sign_out")
def _signed_out(sender, request, user, **kwargs) -> None:
    if user is None:  # the session had expired already: nobody to name
        return
    audit_record(kind=AuditEvent.Kind.SIGN_OUT, request=request, user=user)


def locked_out_record(sender, request=None, username=None, ip_address=None, **kwargs) -> None:
    """Receiver of django-axes' user_locked_out: sent when the failure that crosses
    LOGIN_FAILURE_LIMIT is recorded, and again for every attempt refused while the
    lock-out lasts."""
    audit_record(kind=AuditEvent.Kind.LOCKED_OUT, request=request, username=username or "")
