"""A message body as the reader's browser gets it: sanitized once, with our own URLs for
the message's inline images and (after consent) the proxy's for remote ones, and kept in
the database (RenderedBody) while the message is in the index, so that any process, the
worker's pre-render (services.prerender) included, renders for all of them.

A stored rendering is served as long as its message is indexed under the same
UIDVALIDITY and SANITIZER_VERSION has not moved on; the HTML for a given message, part,
remote-image choice and sanitizer is the same whoever renders it, so racing writers
are harmless (the last one wins). A rendering that links the message's own images
carries signed tokens that expire (inline_parts.MAX_AGE_SECONDS): it is served for half
that time only, so every link a reader gets stays valid for hours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from accounts.models import MailAccount
from webmail import clock, sanitize
from webmail.mime.model import ParsedMessage
from webmail.mime.stored import page_data_dump, page_data_load
from webmail.models import IndexedMessage, RenderedBody
from webmail.sanitize import SanitizedHtml, html_sanitize, text_to_html

from .image_proxy import image_proxy_url
from .inline_parts import MAX_AGE_SECONDS, InlinePartRef, inline_part_token

INLINE_LINKS_SERVED = timedelta(seconds=MAX_AGE_SECONDS // 2)


def body_render(
    parsed: ParsedMessage,
    *,
    inline_image_url: Callable[[str], str | None],
    remote_image_url: Callable[[str], str] | None,
) -> SanitizedHtml:
    """The one place a message body becomes HTML: sanitized HTML when the message has it,
    else its plain text made into safe HTML."""
    if parsed.html_body is not None:
        return html_sanitize(
            parsed.html_body, inline_image_url=inline_image_url, remote_image_url=remote_image_url
        )
    return SanitizedHtml(html=text_to_html(parsed.text_body or ""), remote_blocked=0)


def body_sanitize(
    *,
    account: MailAccount,
    folder: str,
    uidvalidity: int,
    uid: int,
    parsed: ParsedMessage,
    images: bool,
) -> tuple[SanitizedHtml, bool]:
    """The body of `parsed` (the message, or the attached one it was parsed as) with our
    URLs in it, and whether it links the message's own images (links that expire)."""
    inline = parsed.inline_images
    linked: list[str] = []

    def inline_image_url(content_id: str) -> str | None:
        part_id = inline.get(content_id)
        if not part_id:
            return None
        linked.append(part_id)
        token = inline_part_token(InlinePartRef(account.pk, folder, uidvalidity, uid, part_id))
        return reverse("inline_part", kwargs={"token": token})

    body = body_render(
        parsed,
        inline_image_url=inline_image_url,
        remote_image_url=image_proxy_url if images else None,
    )
    return body, bool(linked)


def _indexed(account: MailAccount, folder: str, uidvalidity: int, uid: int) -> Q:
    """The message, as its rendering's path to the index sees it."""
    return Q(
        message__folder__account_id=account.pk,
        message__folder__name=folder,
        message__folder__uidvalidity=uidvalidity,
        message__uid=uid,
    )


def body_cached(
    *, account: MailAccount, folder: str, uidvalidity: int, uid: int, part: str | None, images: bool
) -> SanitizedHtml | None:
    """The stored rendering, if the message is indexed and has a current one: one query,
    no mail server."""
    found = (
        RenderedBody.objects.filter(
            _indexed(account, folder, uidvalidity, uid),
            account_id=account.pk,
            part=part or "",
            remote_images=images,
            sanitizer_version=sanitize.SANITIZER_VERSION,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=clock.now()))
        .values_list("html", "remote_blocked")
        .first()
    )
    if found is None:
        return None
    return SanitizedHtml(html=found[0], remote_blocked=found[1])


def body_page_keep(
    *, account: MailAccount, folder: str, uidvalidity: int, uid: int, parsed: ParsedMessage
) -> None:
    """Adds the page data to renderings of the message itself made without it (by an
    older version, before page data existed), so its next open needs no server either."""
    RenderedBody.objects.filter(
        _indexed(account, folder, uidvalidity, uid), part="", page__isnull=True
    ).update(page=page_data_dump(parsed))


@dataclass(frozen=True)
class IndexedOpen:
    """An indexed message whose page can be shown from the database alone."""

    message_id: int
    flags: frozenset[str]
    size: int
    parsed: ParsedMessage  # without bodies (webmail.mime.stored)
    body: SanitizedHtml  # as first shown: remote images blocked


def body_page_cached(
    *, account: MailAccount, folder: str, uidvalidity: int, uid: int
) -> IndexedOpen | None:
    """The message's page from the index and its current rendering (one query), if its
    folder is fully indexed under this UIDVALIDITY and the rendering has page data."""
    found = (
        RenderedBody.objects.filter(
            _indexed(account, folder, uidvalidity, uid),
            message__folder__fully_indexed=True,
            account_id=account.pk,
            part="",
            remote_images=False,
            sanitizer_version=sanitize.SANITIZER_VERSION,
            page__isnull=False,
        )
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=clock.now()))
        .values_list("message_id", "message__flags", "message__size", "page", "html",
                     "remote_blocked")
        .first()
    )  # fmt: skip
    if found is None:
        return None
    message_id, flags, size, page, html, remote_blocked = found
    parsed = page_data_load(page)
    if parsed is None:
        return None
    return IndexedOpen(
        message_id=message_id,
        flags=frozenset(flags.split()),
        size=size,
        parsed=parsed,
        body=SanitizedHtml(html=html, remote_blocked=remote_blocked),
    )


def body_message_id(*, account: MailAccount, folder: str, uidvalidity: int, uid: int) -> int | None:
    """The index row a rendering of this message hangs on; None when it is not indexed."""
    return (
        IndexedMessage.objects.filter(
            folder__account_id=account.pk,
            folder__name=folder,
            folder__uidvalidity=uidvalidity,
            uid=uid,
        )
        .values_list("pk", flat=True)
        .first()
    )


def body_keep(
    *,
    account: MailAccount,
    message_id: int,
    part: str | None,
    images: bool,
    body: SanitizedHtml,
    links_expire: bool,
    rendered_at: datetime | None = None,
    parsed: ParsedMessage | None = None,
) -> None:
    """Stores the rendering of an indexed message, replacing an older one of the same
    variant and dropping the message's renderings by other sanitizer versions. A batch
    passes one `rendered_at` for all its renderings (see bodies_trim). With `parsed`, a
    rendering of the message itself also keeps what its page shows (page_data_dump)."""
    now = rendered_at or clock.now()
    values = {
        "page": page_data_dump(parsed) if parsed is not None and not part else None,
        "account_id": account.pk,
        "html": body.html,
        "remote_blocked": body.remote_blocked,
        "created_at": now,
        "expires_at": now + INLINE_LINKS_SERVED if links_expire else None,
    }
    try:
        with transaction.atomic():
            RenderedBody.objects.filter(message_id=message_id).exclude(
                sanitizer_version=sanitize.SANITIZER_VERSION
            ).delete()
            RenderedBody.objects.update_or_create(
                message_id=message_id,
                part=part or "",
                remote_images=images,
                sanitizer_version=sanitize.SANITIZER_VERSION,
                defaults=values,
            )
    except IntegrityError:
        # Another process stored the same rendering meanwhile, or the message left the
        # index: either way there is nothing for us to keep.
        pass


def bodies_outdated_delete(*, account: MailAccount) -> int:
    """Drops the account's renderings no one will serve again: by another sanitizer
    version, or with image links that expired."""
    current = sanitize.SANITIZER_VERSION
    outdated = Q(expires_at__lte=clock.now()) | ~Q(sanitizer_version=current)
    return RenderedBody.objects.filter(outdated, account_id=account.pk).delete()[0]


def bodies_trim(*, account: MailAccount, keep: int) -> int:
    """Keeps the account's `keep` newest renderings and deletes the rest, oldest first;
    of renderings made at the same time (one pre-render run) the newer mail stays."""
    newest = (
        RenderedBody.objects.filter(account_id=account.pk)
        .order_by("-created_at", "-message__uid", "-pk")
        .values("pk")[: max(keep, 0)]
    )
    return RenderedBody.objects.filter(account_id=account.pk).exclude(pk__in=newest).delete()[0]
