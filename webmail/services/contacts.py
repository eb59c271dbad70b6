"""The address book: addresses collected from mail the user sends and reads, and the ones
they enter by hand, offered back while they type a recipient.

Collected entries only ever gain: a use is counted and an empty name is filled in, but a
name already there stays, and one the user typed (source "manual") is theirs alone.
"""

import logging
import unicodedata
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Lower, NullIf
from django.utils.translation import gettext as _

from accounts.models import Contact, User, contact_name_key
from accounts.validators import line_breaking
from webmail import clock
from webmail.protocols.store import Address

from .identities import identity_addresses

log = logging.getLogger(__name__)

CONTACTS_MAX = 5000  # per user; beyond it the least used "read" entries are dropped
COLLECT_MAX = 500  # addresses taken from one call (one message's recipients, say)
SUGGEST_MAX = 8
_EMAIL_MAX = Contact._meta.get_field("email").max_length
_NAME_MAX = Contact._meta.get_field("name").max_length


def contacts_collect(user: User, addresses: Iterable[Address], *, source: str) -> int:
    """Records that the user wrote to (source "sent") or received mail from ("read")
    these addresses; returns how many were recorded.

    1. Left out: the user's own addresses, anything without "@" or not an address, and
       anything whose address or name holds a line break or control character.
    2. Known addresses: one more use, last used now; an empty name is filled in unless
       the user entered the contact by hand; a "read" entry becomes "sent".
    3. New addresses are added; a concurrent request adding the same one is no error.
    4. Beyond CONTACTS_MAX entries the least used "read" entries go, oldest first."""
    if source not in (Contact.Source.SENT, Contact.Source.READ):
        raise ValueError(f"contacts are collected from sent or read mail, not {source!r}")
    own = identity_addresses(user)
    wanted: dict[str, str] = {}
    for address in addresses:
        email = (address.addr or "").strip(" ").lower()
        name = (address.name or "").strip(" ")
        if email in own or not _collectable(email, name):
            continue
        if not wanted.get(email):
            wanted[email] = name[:_NAME_MAX].strip(" ")
        if len(wanted) >= COLLECT_MAX:
            break
    if not wanted:
        return 0
    now = clock.now()
    with transaction.atomic():
        known = Contact.objects.filter(user=user, email__in=list(wanted))
        known.update(times_used=F("times_used") + 1, last_used=now)
        if source == Contact.Source.SENT:
            known.filter(source=Contact.Source.READ).update(source=Contact.Source.SENT)
        found = set()
        for contact in known.only("pk", "email", "name", "source"):
            found.add(contact.email)
            if (
                not contact.name
                and wanted[contact.email]
                and contact.source != Contact.Source.MANUAL
            ):
                contact.name = wanted[contact.email]
                contact.save(update_fields=["name"])
        Contact.objects.bulk_create(
            [
                Contact(
                    user=user,
                    email=email,
                    name=name,
                    name_key=contact_name_key(name),
                    times_used=1,
                    last_used=now,
                    source=source,
                )
                for email, name in wanted.items()
                if email not in found
            ],
            ignore_conflicts=True,
        )
        _cap(user)
    return len(wanted)


def contacts_matching(user: User, query: str) -> QuerySet[Contact]:
    """The user's contacts whose address, name, or a word of whose name starts with
    `query`, in any case (umlauts too: "jü" finds "Jürgen"); all of them for an empty
    query. Unordered."""
    contacts = Contact.objects.filter(user=user)
    query = (query or "").strip()
    if not query:
        return contacts
    if line_breaking(query) or len(query) > _EMAIL_MAX:
        return contacts.none()
    # Both sides are folded in Python, so the database compares exactly (no LOWER()
    # that SQLite would apply to ASCII only) and an index can serve the prefix.
    words = " ".join(unicodedata.normalize("NFC", query).casefold().split())
    return contacts.filter(Q(email__startswith=query.lower()) | Q(name_key__contains=" " + words))


def contacts_suggest(user: User, query: str, limit: int = SUGGEST_MAX) -> list[Contact]:
    """At most `limit` contacts for what the user has typed so far, most used first."""
    if not (query or "").strip() or limit < 1:
        return []
    return list(
        contacts_matching(user, query).order_by(
            "-times_used", F("last_used").desc(nulls_last=True), "email"
        )[:limit]
    )


def contacts_alphabetical(user: User, query: str = "") -> QuerySet[Contact]:
    """The address book as a page lists it: by name, or by address where there is none."""
    return contacts_matching(user, query).order_by(
        Lower(Coalesce(NullIf("name", Value("")), "email")), "email"
    )


def contact_save(user: User, *, contact_id: int | None = None, name: str, email: str) -> Contact:
    """Adds a contact by hand (contact_id None) or changes one of the user's. Adding an
    address the book has collected already takes that entry over. Either way the name is
    the user's from now on: collecting never changes it again.

    Raises ValidationError naming the fields (a line break in a name or address is
    refused), Contact.DoesNotExist for an id that is not this user's."""
    email = (email or "").strip(" ").lower()
    name = (name or "").strip(" ")
    try:
        with transaction.atomic():
            if contact_id is None:
                contact = Contact.objects.filter(user=user, email=email).first()
                contact = contact or Contact(user=user)
            else:
                contact = Contact.objects.get(pk=contact_id, user=user)
                taken = Contact.objects.filter(user=user, email=email).exclude(pk=contact.pk)
                if taken.exists():
                    raise _already_there()
            contact.name = name
            contact.email = email
            contact.source = Contact.Source.MANUAL
            contact.full_clean(validate_constraints=False)
            contact.save()
    except IntegrityError:
        raise _already_there() from None  # added by another request just now
    return contact


def contact_delete(user: User, contact_id: int) -> None:
    """Forgets one of the user's contacts (mail to or from it later collects it again).
    Contact.DoesNotExist for an id that is not this user's."""
    Contact.objects.get(pk=contact_id, user=user).delete()


def contact_label(contact: Contact) -> str:
    """The contact as it is typed into an address field: `Name <addr>`, the name quoted
    when it holds a character that would split or end the entry."""
    if not contact.name:
        return contact.email
    name = contact.name
    if any(char in name for char in ',;:"<>()[]\\@'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{contact.email}>"


def _collectable(email: str, name: str) -> bool:
    if "@" not in email or len(email) > _EMAIL_MAX or line_breaking(email) or line_breaking(name):
        return False
    try:
        validate_email(email)
    except ValidationError:
        return False
    return True


def _cap(user: User) -> None:
    excess = Contact.objects.filter(user=user).count() - CONTACTS_MAX
    if excess <= 0:
        return
    drop = list(
        Contact.objects.filter(user=user, source=Contact.Source.READ)
        .order_by("times_used", F("last_used").asc(nulls_first=True), "pk")
        .values_list("pk", flat=True)[:excess]
    )
    Contact.objects.filter(pk__in=drop).delete()
    log.info("user %s: address book full, %s collected entries dropped", user.pk, len(drop))


def _already_there() -> ValidationError:
    return ValidationError(
        {"email": _("This address is in your address book already.")}, code="duplicate"
    )
