"""Mail-server errors in the reader's words. Views show these; logs get the code."""

from django.utils.translation import gettext_lazy as _

from accounts.crypto import CredentialError
from webmail.protocols import errors


class ActionNotAllowed(Exception):
    """One of our own rules refuses what the reader asked for (the Inbox cannot be renamed,
    a stale page, ...). The text is for the reader, already in their language."""

_MESSAGES = {
    errors.AuthenticationFailed: _(
        "The mail server refused the login name or password. Check them and try again."
    ),
    errors.HostNotFound: _("The mail server's name could not be found. Check its spelling."),
    errors.AddressNotAllowed: _(
        "This server's address is on a private network; Postfach does not connect there."
    ),
    errors.HostForbidden: _("An administrator does not allow connections to this mail server."),
    errors.ConnectionRefused: _(
        "The mail server refused the connection. Check the server name, the port and the "
        "security setting."
    ),
    errors.TlsFailed: _(
        "No secure (TLS) connection could be made. Check the port and the security setting."
    ),
    errors.TimedOut: _("The mail server did not answer in time. Try again later."),
    errors.ServerUnavailable: _(
        "The mail server closed the connection or answered in a way we did not expect. "
        "Try again later."
    ),
    errors.FolderNotFound: _("This folder does not exist on the mail server (any more)."),
    errors.MessageNotFound: _(
        "This message is no longer in this folder. It may have been moved or deleted "
        "from another device."
    ),
    errors.NotSupported: _(
        "The mail server lacks a feature this needs to be done safely, so nothing was done."
    ),
    errors.ActionRefused: _("The mail server refused this."),
}
# The RFC 5530 codes a refusal may carry, in the reader's words.
_REFUSALS = {
    "ALREADYEXISTS": _("A folder with this name exists already."),
    "OVERQUOTA": _(
        "Your mailbox on the mail server is full, so it refused. Empty the Trash or delete "
        "some mail, then try again."
    ),
    "NOPERM": _("The mail server does not allow this for your account."),
    "INUSE": _("The mail server is busy with this folder. Try again in a moment."),
    "LIMIT": _("The mail server refused this because one of its limits was reached."),
}


def error_message(exc: Exception) -> str:
    """A plain sentence for the reader; never the server's raw reply or a password."""
    if isinstance(exc, ActionNotAllowed):
        return str(exc)
    if isinstance(exc, errors.ActionRefused) and exc.reason in _REFUSALS:
        return str(_REFUSALS[exc.reason])
    if isinstance(exc, CredentialError):
        return str(
            _(
                "The stored password of this account cannot be read. An administrator "
                "changed the encryption key; enter the password again."
            )
        )
    for cls in type(exc).__mro__:
        if cls in _MESSAGES:
            return str(_MESSAGES[cls])
    return str(_("The mail server could not be reached. Try again later."))
