"""The folders page: create, rename, delete (after a confirmation with the message count)
and subscribe. The rules (which folders are protected) are the service's; this page only
hides the buttons the service would refuse anyway."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webmail.forms import (
    FolderCreateForm,
    FolderDeleteForm,
    FolderRenameForm,
    FolderSubscribeForm,
)
from webmail.selectors import folder_entries
from webmail.services.errors import error_message
from webmail.services.folders import (
    folder_create,
    folder_delete,
    folder_delete_preview,
    folder_overview,
    folder_rename,
    folder_subscribe,
)

from .actions import SHOWN_ERRORS, folder_list_url
from .common import account_for_user, folder_from


def _back(account):
    return redirect("folder_list", account_id=account.pk)


def _valid(form):
    if not form.is_valid():
        raise BadRequest("malformed request")
    return form.cleaned_data


@login_required
@require_GET
def folder_list(request, account_id: int):
    account = account_for_user(request, account_id)
    overview = folder_overview(account=account)
    entries = folder_entries(overview.folders)
    rows = [
        {
            "entry": entry,
            "protected": entry.info.name in overview.protected,
            "deletable": entry.info.name not in overview.parents,
            "subscribed": entry.info.name in overview.subscribed,
            "url": folder_list_url(account.pk, entry.info.name),
        }
        for entry in entries
    ]
    return render(
        request,
        "mail/folders.html",
        {"account": account, "rows": rows, "nested": overview.delimiter is not None},
    )


@login_required
@require_POST
def folder_create_view(request, account_id: int):
    account = account_for_user(request, account_id)
    data = _valid(FolderCreateForm(request.POST))
    try:
        name = folder_create(account=account, name=data["name"], parent=data["parent"])
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(request, _("The folder %(folder)s was created.") % {"folder": name})
    return _back(account)


@login_required
@require_POST
def folder_rename_view(request, account_id: int):
    account = account_for_user(request, account_id)
    data = _valid(FolderRenameForm(request.POST))
    try:
        name = folder_rename(account=account, folder=data["folder"], new_name=data["name"])
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
    else:
        messages.success(
            request,
            _("The folder %(old)s is now called %(new)s.") % {"old": data["folder"], "new": name},
        )
    return _back(account)


@login_required
@require_http_methods(["GET", "POST"])
def folder_delete_view(request, account_id: int):
    """GET: what would go (the folder and how many messages); POST: delete it."""
    account = account_for_user(request, account_id)
    if request.method == "POST":
        data = _valid(FolderDeleteForm(request.POST))
        try:
            folder_delete(account=account, folder=data["folder"], uidvalidity=data["uidvalidity"])
        except SHOWN_ERRORS as exc:
            messages.error(request, error_message(exc))
        else:
            messages.success(
                request, _("The folder %(folder)s was deleted.") % {"folder": data["folder"]}
            )
        return _back(account)
    folder = folder_from(request)
    try:
        status = folder_delete_preview(account=account, folder=folder)
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
        return _back(account)
    return render(
        request,
        "mail/confirm.html",
        {
            "account": account,
            "title": _("Delete the folder %(folder)s?") % {"folder": folder},
            "text": ngettext(
                "It holds %(count)d message, which will be deleted with it. This cannot be "
                "undone.",
                "It holds %(count)d messages, which will be deleted with it. This cannot be "
                "undone.",
                status.messages,
            )
            % {"count": status.messages}
            if status.messages
            else _("It holds no messages."),
            "action_url": reverse("folder_delete", kwargs={"account_id": account.pk}),
            "hidden": [("folder", folder), ("uidvalidity", status.uidvalidity)],
            "confirm_label": _("Delete the folder"),
            "cancel_url": reverse("folder_list", kwargs={"account_id": account.pk}),
        },
    )


@login_required
@require_POST
def folder_subscribe_view(request, account_id: int):
    account = account_for_user(request, account_id)
    data = _valid(FolderSubscribeForm(request.POST))
    try:
        folder_subscribe(account=account, folder=data["folder"], subscribed=data["subscribed"])
    except SHOWN_ERRORS as exc:
        messages.error(request, error_message(exc))
    else:
        text = (
            _("You subscribed to %(folder)s.")
            if data["subscribed"]
            else _("You unsubscribed from %(folder)s.")
        )
        messages.success(request, text % {"folder": data["folder"]})
    return _back(account)
