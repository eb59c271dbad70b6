"""The identities a user sends as: every mail account has at least one, exactly one of
them its default.

Compose reads them through `identities_for` (which makes the first one when an account
has none yet) and `identity_addresses` (the user's own addresses, left out of reply-all).
"""

import logging

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext as _

from accounts.models import Identity, MailAccount, User

log = logging.getLogger(__name__)


def identities_for(account: MailAccount) -> list[Identity]:
    """The account's identities, the default first. An account without any gets its
    default now, made from the account's own name and address."""
    identities = list(account.identities.all())
    if identities:
        return identities
    try:
        with transaction.atomic():
            Identity.objects.create(
                account=account,
                name=account.display_name,
                email=account.email,
                is_default=True,
                position=0,
            )
    except IntegrityError:
        pass  # another request made the default at the same moment: use that one
    return list(account.identities.all())


def identity_save(
    account: MailAccount,
    *,
    identity_id: int | None = None,
    name: str,
    email: str,
    reply_to: str = "",
    signature: str = "",
    is_default: bool = False,
) -> Identity:
    """Adds an identity to the account (identity_id None) or changes one of its own.

    Spaces around names and addresses are dropped; any other control character in them,
    a line break above all (it could add header fields to sent mail), is refused; the signature may have lines but no other control characters. Raises
    ValidationError naming the fields, and Identity.DoesNotExist for an id that is not
    this account's.

    Exactly one identity stays the default: making this one the default unmarks the
    others; unmarking it while no other is the default keeps it the default (another one
    has to be chosen instead)."""
    with transaction.atomic():
        _lock(account)
        if identity_id is None:
            identity = Identity(account=account, position=_next_position(account))
        else:
            identity = Identity.objects.get(pk=identity_id, account=account)
        identity.name = (name or "").strip(" ")
        identity.email = (email or "").strip(" ")
        identity.reply_to = (reply_to or "").strip(" ")
        # One kind of line ending: browsers send CRLF, the message builder wants lines.
        identity.signature = (signature or "").replace("\r\n", "\n").rstrip()
        others = account.identities.exclude(pk=identity.pk)
        identity.is_default = bool(is_default) or not others.filter(is_default=True).exists()
        # Constraints are checked by the database, after the other default is unmarked.
        identity.full_clean(validate_constraints=False)
        if identity.is_default:
            others.filter(is_default=True).update(is_default=False)
        identity.save()
    log.info("account %s: identity %s saved", account.pk, identity.pk)
    return identity


def identity_delete(account: MailAccount, identity_id: int) -> None:
    """Deletes one of the account's identities; the default passes to the first of the
    others. The last identity stays: ValidationError. Identity.DoesNotExist for an id that
    is not this account's."""
    with transaction.atomic():
        _lock(account)
        identity = Identity.objects.get(pk=identity_id, account=account)
        others = account.identities.exclude(pk=identity.pk).order_by("position", "pk")
        successor = others.first()
        if successor is None:
            raise ValidationError(
                _("An account needs at least one identity, so its last one cannot be deleted."),
                code="last_identity",
            )
        identity.delete()
        if identity.is_default:
            others.filter(pk=successor.pk).update(is_default=True)
    log.info("account %s: identity %s deleted", account.pk, identity_id)


def identity_addresses(user: User) -> set[str]:
    """Every address that is the user's own, lower-cased: each account's address and each
    identity's address and reply address."""
    addresses: set[str] = set()
    for email in MailAccount.objects.filter(user=user).values_list("email", flat=True):
        addresses.add(email.lower())
    for email, reply_to in Identity.objects.filter(account__user=user).values_list(
        "email", "reply_to"
    ):
        addresses.add(email.lower())
        if reply_to:
            addresses.add(reply_to.lower())
    return addresses


def _lock(account: MailAccount) -> None:
    """Serialises changes to one account's identities (PostgreSQL holds the row lock until
    the transaction ends; SQLite has one writer anyway)."""
    list(MailAccount.objects.select_for_update().filter(pk=account.pk).values_list("pk"))


def _next_position(account: MailAccount) -> int:
    highest = account.identities.aggregate(highest=Max("position"))["highest"]
    return 0 if highest is None else highest + 1
