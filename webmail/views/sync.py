"""The "Refresh" button: sync the account now, then back to the folder the reader was in."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from webmail.services.sync import account_refresh

from .actions import folder_list_url
from .common import account_for_user


@login_required
@require_POST
def account_refresh_view(request, account_id: int):
    account = account_for_user(request, account_id)
    folder = request.POST.get("folder") or "INBOX"
    if len(folder) > 1000 or any(ch in folder for ch in "\r\n\0"):
        raise BadRequest("bad folder name")
    report = account_refresh(account=account)
    if report.already_running:
        messages.info(request, _("Your mail is being brought up to date already."))
    elif report.error:
        messages.error(request, report.error)
    elif not report.complete:
        messages.info(request, _("Part of your mail is here; the rest follows in the background."))
    elif report.new:
        messages.success(
            request,
            ngettext("%(count)d new message.", "%(count)d new messages.", report.new)
            % {"count": report.new},
        )
    else:
        messages.success(request, _("Your mail is up to date."))
    return redirect(folder_list_url(account.pk, folder))
