"""Pre-rendering: the worker sanitizes the bodies of an account's newest INBOX messages
after a sync brought new mail, so that opening one costs a database lookup instead of
an IMAP fetch and 70-100 ms of bleach (services.bodies stores what it makes).

1. Renderings no one will serve again (another SANITIZER_VERSION, expired image links)
   are deleted.
2. Of the newest `limit` messages of the INBOX, those without a current rendering of
   the body as first shown (no remote images, the message itself, not an attachment)
   are fetched over ONE connection, BODY.PEEK only (nothing becomes \\Seen), and
   rendered; messages larger than MAIL_MAX_PARSE_BYTES are left to the reader's open
   (their page says they are too large anyway).
3. The account keeps at most PRERENDER_KEEP renderings; the oldest go first.

A message expunged meanwhile is skipped; a server that fails stops the run with what is
done kept (the next sync queues another). Other folders are not pre-rendered: the INBOX
is where new mail lands and what is opened first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Exists, OuterRef, Q

from accounts.models import MailAccount
from webmail import clock, sanitize
from webmail.mime.parse import message_parse
from webmail.models import IndexedFolder, IndexedMessage, RenderedBody
from webmail.protocols.errors import FolderChanged, MailServerError, MessageNotFound

from .bodies import bodies_outdated_delete, bodies_trim, body_keep, body_sanitize
from .stores import store_open

log = logging.getLogger(__name__)

FOLDER = "INBOX"


@dataclass
class PrerenderReport:
    rendered: int = 0
    skipped_large: int = 0  # over MAIL_MAX_PARSE_BYTES
    gone: int = 0  # expunged between the sync and now
    deleted: int = 0  # outdated or over the account's cap
    error_code: str = ""  # the server failed; what was rendered before stays


def bodies_prerender(*, account: MailAccount, limit: int) -> PrerenderReport:
    """Renders the bodies of the newest `limit` INBOX messages that have none yet (see
    the module's docstring); the only connection opened is one, and only if needed."""
    report = PrerenderReport()
    report.deleted += bodies_outdated_delete(account=account)
    folder = IndexedFolder.objects.filter(account=account, name=FOLDER, selectable=True).first()
    wanted = _unrendered(folder, limit) if folder is not None and limit > 0 else []
    fitting = [(pk, uid) for pk, uid, size in wanted if size <= settings.MAIL_MAX_PARSE_BYTES]
    report.skipped_large = len(wanted) - len(fitting)
    if fitting:
        # One time for the run: trimming then keeps the newest mail of it (bodies_trim).
        rendered_at = clock.now()
        try:
            with store_open(account) as store:
                for message_id, uid in fitting:
                    try:
                        raw = store.message_raw(
                            FOLDER, uid, uidvalidity=folder.uidvalidity,
                            max_bytes=settings.MAIL_MAX_PARSE_BYTES,
                        )
                    except MessageNotFound:
                        report.gone += 1
                        continue
                    parsed = message_parse(
                        raw.data, max_bytes=settings.MAIL_MAX_PARSE_BYTES, truncated=raw.truncated
                    )
                    body, links_expire = body_sanitize(
                        account=account, folder=FOLDER, uidvalidity=folder.uidvalidity, uid=uid,
                        parsed=parsed, images=False,
                    )
                    body_keep(
                        account=account, message_id=message_id, part=None, images=False,
                        body=body, links_expire=links_expire, rendered_at=rendered_at,
                        parsed=parsed,
                    )
                    report.rendered += 1
        except FolderChanged:
            report.error_code = "folder_changed"  # the next sync rebuilds the folder first
        except MailServerError as exc:
            report.error_code = exc.code
            log.info("account %s: pre-render stopped: %s", account.pk, exc.code)
    report.deleted += bodies_trim(account=account, keep=max(settings.PRERENDER_KEEP, limit))
    log.info(
        "account %s: pre-rendered %d bodies (%d too large, %d gone, %d deleted)",
        account.pk, report.rendered, report.skipped_large, report.gone, report.deleted,
    )  # fmt: skip
    return report


def _unrendered(folder: IndexedFolder, limit: int) -> list[tuple[int, int, int]]:
    """(pk, uid, size) of the newest `limit` messages (by UID: arrival order) without a
    current rendering of their body as first shown, newest first."""
    rendered = RenderedBody.objects.filter(
        Q(expires_at__isnull=True) | Q(expires_at__gt=clock.now()),
        message=OuterRef("pk"),
        part="",
        remote_images=False,
        sanitizer_version=sanitize.SANITIZER_VERSION,
    )
    newest = IndexedMessage.objects.filter(folder=folder).order_by("-uid")[:limit]
    return list(
        IndexedMessage.objects.filter(pk__in=newest.values("pk"))
        .exclude(Exists(rendered))
        .order_by("-uid")
        .values_list("pk", "uid", "size")
    )
