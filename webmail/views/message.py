"""One message: the reading page, its body document, its parts and its original bytes.

Every response that carries mail content sets its own strict headers: the body is a
sandboxed document that may only be framed by our pages, and everything else is a
download or inert text, never a page that could run.
"""


from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from accounts.models import MailAccount
from webmail.conversations import conversation_for_message, conversation_page
from webmail.mime.filenames import content_disposition
from webmail.mime.headers import name_pretends_address
from webmail.selectors import (
    mailbox_read,
    message_body,
    message_open,
    message_open_indexed,
    message_original,
    message_part_get,
    quota_usage,
    quota_usage_cached,
    sync_status,
)
from webmail.services.contacts import contacts_collect
from webmail.services.inline_parts import inline_part_ref
from webmail.services.stores import store_open, store_open_lazy

from .common import account_for_user, folder_from, page_from, part_from

BODY_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; font-src 'none'; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)
# Anything we hand out as a file: never rendered, never run, never sniffed.
DOWNLOAD_CSP = "default-src 'none'; sandbox"
# Types a browser would render as a page or run: always sent as opaque bytes.
ACTIVE_TYPES = {
    "text/html", "application/xhtml+xml", "image/svg+xml", "text/xml", "application/xml",
    "text/javascript", "application/javascript", "application/pdf", "text/xsl",
    "multipart/x-mixed-replace",
}
INLINE_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp"}


def download_type(content_type: str | None) -> str:
    """The Content-Type a part is downloaded with: its own, unless a browser could render
    it as a page or run it (HTML, SVG and every other XML type, script), which goes out as
    opaque bytes. Content-Disposition: attachment, nosniff and the sandbox CSP (`_inert`)
    hold in any case; this keeps "open" in the browser from rendering it on our origin."""
    content_type = (content_type or "").strip().lower()
    _major, slash, subtype = content_type.partition("/")
    active = (
        content_type in ACTIVE_TYPES
        or any(word in subtype for word in ("html", "xml", "svg", "script", "xsl"))
        or not slash
        or not subtype
    )
    return "application/octet-stream" if active else content_type


def _inert(response: HttpResponse, csp: str = DOWNLOAD_CSP) -> HttpResponse:
    response["Content-Security-Policy"] = csp
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "private, no-store"
    return response


def _message_url(name: str, account_id: int, uidvalidity: int, uid: int, **query) -> str:
    url = reverse(name, kwargs={"account_id": account_id, "uidvalidity": uidvalidity, "uid": uid})
    query = {key: value for key, value in query.items() if value not in (None, "", False)}
    return f"{url}?{urlencode(query)}" if query else url


@login_required
@require_GET
def message_view(request, account_id: int, uidvalidity: int, uid: int):
    account = account_for_user(request, account_id)
    folder, page = folder_from(request), page_from(request)
    part = part_from(request.GET.get("part"))
    images = request.GET.get("images") == "1"
    list_view = "threads" if request.GET.get("view") == "threads" else None
    # An indexed message with its body rendered opens from the database alone (its \\Seen
    # goes to the server from the worker); anything else is fetched and parsed. The store
    # connects only when a read needs the server.
    opened = None if part else message_open_indexed(
        account=account, folder=folder, uidvalidity=uidvalidity, uid=uid
    )
    with store_open_lazy(account) as store:
        mailbox = mailbox_read(store=store, folder=folder, page=page, account=account)
        if opened is not None:
            message = opened
            quota = quota_usage_cached(account=account)
        else:
            message = message_open(
                store=store, folder=folder, uidvalidity=uidvalidity, uid=uid, part=part,
                account=account,
            )
            quota = quota_usage(account=account, store=store)
    if mailbox.current.kind not in ("junk", "drafts", "sent"):
        # The address book learns who writes to the reader (not spammers, not themselves).
        contacts_collect(account.user, message.parsed.from_, source="read")
    # The list beside the message stays listed by conversation when it was.
    threads = None
    if list_view and mailbox.from_index:
        threads = conversation_page(account=account, folder=folder, page=page)
    links = _MessageLinks(account.pk, folder, uidvalidity, uid, page=page, part=part,
                          list_view="threads" if threads else None)
    listed = [summary.uid for summary in mailbox.page.summaries]
    if opened is not None:
        body = opened.body  # with images asked for, the body frame renders those itself
    else:
        body = _body(account, folder, uidvalidity, uid, part, images, parsed=message.parsed)
    return render(
        request,
        "mail/message.html",
        {
            "account": account,
            "mailbox": mailbox,
            "threads": threads,
            "quota": quota,
            "sync": sync_status(account=account),
            "message": message,
            "parsed": message.parsed,
            "senders": _mailboxes(message.parsed.from_),
            "reply_to": _mailboxes(message.parsed.reply_to),
            "links": links,
            "body_url": links.body(images=images),
            "remote_blocked": body.remote_blocked if not images else 0,
            "images_shown": images,
            "flagged": "\\Flagged" in message.flags,
            # From the index alone: empty while the folder is not indexed, or for a
            # message attached to this one.
            "conversation": [] if part else conversation_for_message(
                account=account, folder=folder, uidvalidity=uidvalidity, uid=uid
            ),
            # Shown after this message is moved away: the next older one, else the newer.
            "next_uid": _neighbour(listed, uid),
            "attachments": [
                {
                    "info": info,
                    "download_url": links.part(info.part_id),
                    "open_url": links.nested(info.part_id) if info.is_message else None,
                }
                for info in message.parsed.attachments
                if not info.inline or info.is_message or not info.content_type.startswith("image/")
            ],
        },
    )


def _mailboxes(addresses) -> list[dict]:
    """Addresses for the header lines, each saying whether its name pretends to be an
    address (mime.headers.name_pretends_address; MailWatch#1007)."""
    return [
        {"address": a, "name": a.name, "addr": a.addr, "suspect": name_pretends_address(a)}
        for a in addresses
    ]


def _neighbour(listed: list[int], uid: int) -> int | None:
    if uid not in listed:
        return None
    index = listed.index(uid)
    rest = listed[index + 1 : index + 2] or listed[max(index - 1, 0) : index]
    return rest[0] if rest else None


class _MessageLinks:
    def __init__(self, account_id, folder, uidvalidity, uid, *, page=1, part=None,
                 list_view=None):
        self.key = (account_id, uidvalidity, uid)
        # `shown_part` (the nested message being read), not `part`: that name is the method.
        self.folder, self.page, self.shown_part = folder, page, part
        self.list_view = list_view  # "threads" while the list shows conversations

    def view(self, **extra):
        return _message_url("message", *self.key, folder=self.folder, page=self.page,
                            part=self.shown_part, view=self.list_view, **extra)

    def body(self, images=False):
        return _message_url("message_body", *self.key, folder=self.folder, part=self.shown_part,
                            images="1" if images else None)

    def show_images(self):
        return self.view(images="1")

    def part(self, part_id):
        url = reverse("message_part", kwargs=dict(zip(("account_id", "uidvalidity", "uid"),
                                                      self.key, strict=True), part_id=part_id))
        return f"{url}?{urlencode({'folder': self.folder})}"

    def nested(self, part_id):
        return _message_url("message", *self.key, folder=self.folder, page=self.page, part=part_id,
                            view=self.list_view)

    def source(self):
        return _message_url("message_source", *self.key, folder=self.folder)

    def original(self):
        return _message_url("message_original", *self.key, folder=self.folder)

    def _compose(self, kind):
        url = reverse("compose", kwargs={"account_id": self.key[0]})
        query = {"kind": kind, "folder": self.folder, "uidvalidity": self.key[1], "uid": self.key[2]}
        return f"{url}?{urlencode(query)}"

    def reply(self):
        return self._compose("reply")

    def reply_all(self):
        return self._compose("reply_all")

    def forward(self):
        return self._compose("forward")

    def forward_attached(self):
        return self._compose("forward_attached")

    def continue_draft(self):
        return self._compose("draft")

    def folder_url(self):
        url = reverse("folder", kwargs={"account_id": self.key[0]})
        query = {"folder": self.folder, "page": self.page, "view": self.list_view}
        return f"{url}?{urlencode({k: v for k, v in query.items() if v})}"


def _body(account, folder, uidvalidity, uid, part, images, parsed=None):
    return message_body(
        account=account,
        folder=folder,
        uidvalidity=uidvalidity,
        uid=uid,
        part=part,
        images=images,
        parsed=parsed,
    )


@login_required
@require_GET
@xframe_options_sameorigin
def message_body_view(request, account_id: int, uidvalidity: int, uid: int):
    account = account_for_user(request, account_id)
    body = _body(
        account,
        folder_from(request),
        uidvalidity,
        uid,
        part_from(request.GET.get("part")),
        request.GET.get("images") == "1",
    )
    response = render(request, "mail/body.html", {"body": body})
    response["Content-Type"] = "text/html; charset=utf-8"
    _inert(response, BODY_CSP)
    return response


@login_required
@require_GET
def message_part_view(request, account_id: int, uidvalidity: int, uid: int, part_id: str):
    account = account_for_user(request, account_id)
    with store_open(account) as store:
        content = message_part_get(
            store=store,
            folder=folder_from(request),
            uidvalidity=uidvalidity,
            uid=uid,
            part_id=part_from(part_id),
        )
    response = HttpResponse(content.data, content_type=download_type(content.content_type))
    response["Content-Disposition"] = content_disposition(content.filename)
    return _inert(response)


@require_GET
def inline_part_view(request, token: str):
    """Images the body shows from the message itself. No session here (see inline_parts);
    the signed token is the permission, and only plain raster images are served."""
    ref = inline_part_ref(token)
    if ref is None:
        raise Http404("unknown part")
    account = get_object_or_404(MailAccount, pk=ref.account_id)
    with store_open(account) as store:
        content = message_part_get(
            store=store, folder=ref.folder, uidvalidity=ref.uidvalidity, uid=ref.uid,
            part_id=ref.part_id,
        )
    if content.content_type not in INLINE_IMAGE_TYPES:
        raise Http404("not an inline image")
    response = HttpResponse(content.data, content_type=content.content_type)
    response["Content-Disposition"] = content_disposition(content.filename, inline=True)
    _inert(response)
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def message_source_view(request, account_id: int, uidvalidity: int, uid: int):
    """The exact bytes as text: shown by the browser as plain text, never as HTML."""
    account = account_for_user(request, account_id)
    with store_open(account) as store:
        data = message_original(
            store=store, folder=folder_from(request), uidvalidity=uidvalidity, uid=uid
        )
    response = HttpResponse(data, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = "inline"
    return _inert(response)


@login_required
@require_GET
def message_original_view(request, account_id: int, uidvalidity: int, uid: int):
    account = account_for_user(request, account_id)
    with store_open(account) as store:
        data = message_original(
            store=store, folder=folder_from(request), uidvalidity=uidvalidity, uid=uid
        )
    response = HttpResponse(data, content_type="message/rfc822")
    response["Content-Disposition"] = content_disposition(f"message-{uid}.eml")
    return _inert(response)
