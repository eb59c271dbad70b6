"""Acting on messages: marks, moves, Archive, Junk, Trash, and emptying Trash and Junk.

Every change is a POST (CSRF-checked) that goes to the mail server first and answers with
a redirect to a page that says what the server did. Removing mail for good shows a
confirmation page first. When the server refuses, or the page was stale, the reader is
sent back to the list with the reason; when the server cannot be reached at all, the
error page (MailServerErrorMiddleware) says so.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from webmail.forms import EmptyFolderForm, SelectionForm
from webmail.protocols.errors import (
    ActionRefused,
    FolderNotFound,
    MessageNotFound,
    NotSupported,
)
from webmail.selectors import SPECIAL_LABELS
from webmail.services.errors import ActionNotAllowed, error_message
from webmail.services.organise import (
    ConfirmationRequired,
    Outcome,
    folder_empty,
    folder_empty_preview,
    messages_archive,
    messages_delete,
    messages_mark_flagged,
    messages_mark_read,
    messages_move,
    messages_report_junk,
)

from .common import account_for_user, folder_from

# Answers about this request the reader can act on; anything else (server down, login
# refused) is the error page's job.
SHOWN_ERRORS = (ActionNotAllowed, ActionRefused, NotSupported, MessageNotFound, FolderNotFound)
# Actions after which the message being read is no longer in its folder.
AWAY = ("move", "archive", "junk", "delete")


def folder_list_url(account_id: int, folder: str, page: int | None = None) -> str:
    query = {"folder": folder, **({"page": page} if page and page > 1 else {})}
    return f"{reverse('folder', kwargs={'account_id': account_id})}?{urlencode(query)}"


def message_page_url(account_id: int, folder: str, uidvalidity: int, uid: int, page) -> str:
    url = reverse(
        "message", kwargs={"account_id": account_id, "uidvalidity": uidvalidity, "uid": uid}
    )
    return f"{url}?{urlencode({'folder': folder, 'page': page or 1})}"


def folder_label(name: str | None, role: str | None) -> str:
    return str(SPECIAL_LABELS[role]) if role in SPECIAL_LABELS else (name or "")


@login_required
@require_POST
def messages_action(request, account_id: int):
    account = account_for_user(request, account_id)
    form = SelectionForm(request.POST)
    if not form.is_valid():
        raise BadRequest("malformed selection")
    data = form.cleaned_data
    try:
        outcome = _perform(account, data)
    except ConfirmationRequired as asked:
        return _confirm_expunge(request, account, data, asked.count)
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
        return redirect(folder_list_url(account.pk, data["folder"], data["page"]))
    messages.success(request, _outcome_text(data["action"], outcome))
    return redirect(_after(account.pk, data))


def _perform(account, data) -> Outcome:
    action = data["action"]
    selection = {
        "account": account,
        "folder": data["folder"],
        "uidvalidity": data["uidvalidity"],
        "uids": data["uid"],
    }
    if action in ("read", "unread"):
        return messages_mark_read(**selection, read=action == "read")
    if action in ("flag", "unflag"):
        return messages_mark_flagged(**selection, flagged=action == "flag")
    if action == "move":
        return messages_move(**selection, target=data["target"])
    if action == "archive":
        return messages_archive(**selection)
    if action == "junk":
        return messages_report_junk(**selection)
    if action == "delete":
        return messages_delete(**selection, confirmed=data["confirmed"])
    raise BadRequest("unknown action")  # the form's choices make this unreachable


def _outcome_text(action: str, outcome: Outcome) -> str:
    count = outcome.count
    if outcome.expunged:
        text = ngettext(
            "%(count)d message deleted for good.", "%(count)d messages deleted for good.", count
        )
    elif outcome.target is not None:
        text = ngettext(
            "%(count)d message moved to %(folder)s.", "%(count)d messages moved to %(folder)s.",
            count,
        )
    elif action == "read":
        text = ngettext(
            "%(count)d message marked as read.", "%(count)d messages marked as read.", count
        )
    elif action == "unread":
        text = ngettext(
            "%(count)d message marked as unread.", "%(count)d messages marked as unread.", count
        )
    elif action == "flag":
        text = ngettext("%(count)d message flagged.", "%(count)d messages flagged.", count)
    else:
        text = ngettext("%(count)d message unflagged.", "%(count)d messages unflagged.", count)
    return text % {"count": count, "folder": folder_label(outcome.target, outcome.target_role)}


def _after(account_id: int, data) -> str:
    """Where the reader goes next: the list they acted on, or, from the message page, the
    same message (flags), the next one (it went away), or the list (marked unread: showing
    it again would mark it read)."""
    folder, page, shown = data["folder"], data["page"], data["shown"]
    if shown is None:
        return folder_list_url(account_id, folder, page)
    if data["action"] in AWAY:
        if data["next"]:
            return message_page_url(account_id, folder, data["uidvalidity"], data["next"], page)
        return folder_list_url(account_id, folder, page)
    if data["action"] == "unread":
        return folder_list_url(account_id, folder, page)
    return message_page_url(account_id, folder, data["uidvalidity"], shown, page)


def _confirm_expunge(request, account, data, count: int):
    hidden = [
        ("action", "delete"),
        ("folder", data["folder"]),
        ("uidvalidity", data["uidvalidity"]),
        ("confirmed", "1"),
        *[("uid", uid) for uid in data["uid"]],
        *[(name, data[name]) for name in ("page", "shown", "next") if data[name]],
    ]
    cancel = (
        message_page_url(account.pk, data["folder"], data["uidvalidity"], data["shown"], data["page"])
        if data["shown"]
        else folder_list_url(account.pk, data["folder"], data["page"])
    )
    return render(
        request,
        "mail/confirm.html",
        {
            "account": account,
            "title": _("Delete for good?"),
            "text": ngettext(
                "%(count)d message will be deleted for good. This cannot be undone.",
                "%(count)d messages will be deleted for good. This cannot be undone.",
                count,
            )
            % {"count": count},
            "action_url": reverse("messages_action", kwargs={"account_id": account.pk}),
            "hidden": hidden,
            "confirm_label": _("Delete for good"),
            "cancel_url": cancel,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def folder_empty_view(request, account_id: int):
    """GET: how many messages "Empty Trash" (or Junk) would delete; POST: delete them."""
    account = account_for_user(request, account_id)
    if request.method == "POST":
        return _empty(request, account)
    folder = folder_from(request)
    try:
        preview = folder_empty_preview(account=account, folder=folder)
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
        return redirect(folder_list_url(account.pk, folder))
    label = folder_label(folder, preview.role)
    if preview.count:
        text = ngettext(
            "%(count)d message in %(folder)s will be deleted for good. This cannot be undone.",
            "%(count)d messages in %(folder)s will be deleted for good. This cannot be undone.",
            preview.count,
        ) % {"count": preview.count, "folder": label}
    else:
        text = _("%(folder)s is empty already.") % {"folder": label}
    return render(
        request,
        "mail/confirm.html",
        {
            "account": account,
            "title": _("Empty %(folder)s?") % {"folder": label},
            "text": text,
            "action_url": reverse("folder_empty", kwargs={"account_id": account.pk}),
            "hidden": [
                ("folder", folder),
                ("uidvalidity", preview.uidvalidity),
                ("uidnext", preview.uidnext),
            ],
            "confirm_label": _("Empty %(folder)s") % {"folder": label} if preview.count else "",
            "cancel_url": folder_list_url(account.pk, folder),
        },
    )


def _empty(request, account):
    form = EmptyFolderForm(request.POST)
    if not form.is_valid():
        raise BadRequest("malformed request")
    folder = form.cleaned_data["folder"]
    try:
        outcome = folder_empty(
            account=account,
            folder=folder,
            uidvalidity=form.cleaned_data["uidvalidity"],
            below_uid=form.cleaned_data["uidnext"],
        )
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
        return redirect(folder_list_url(account.pk, folder))
    messages.success(
        request,
        ngettext(
            "%(count)d message deleted for good.",
            "%(count)d messages deleted for good.",
            outcome.count,
        )
        % {"count": outcome.count},
    )
    if outcome.left:
        messages.warning(
            request,
            ngettext(
                "%(count)d more message is left; empty the folder again to delete it.",
                "%(count)d more messages are left; empty the folder again to delete them.",
                outcome.left,
            )
            % {"count": outcome.left},
        )
    return redirect(folder_list_url(account.pk, folder))
