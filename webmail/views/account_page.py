"""One mail account's page: its servers and last check, and for a POP3 account what its
server keeps (the policy), how full the server is, the cleanup with its preview, and the
log of what was deleted there. Nothing is deleted by a GET: a cleanup starts only from
the preview's confirmation, and a policy change that deletes more than before is
confirmed first, with the count (mail-sync.md, POP3 details)."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from accounts.models import MailAccount
from webmail.forms import CleanupConfirmForm, Pop3PolicyForm
from webmail.models import ServerDeletion
from webmail.selectors import quota_usage_cached, sync_status
from webmail.services.pop3_policy import (
    CleanupPlan,
    pop3_cleanup_plan,
    pop3_policy_get,
    pop3_policy_set,
)
from webmail.services.pop3_storage import pop3_storage_status
from webmail.services.retention import retention_threshold
from webmail.services.sync import account_sync_queue
from webmail.tasks import pop3_cleanup_task

from .common import account_for_user

log = logging.getLogger(__name__)

DELETION_LOG_ROWS = 100
PREVIEW_ROWS = 1000  # the oldest ones; the rest is shown once these are gone


@login_required
def account_detail(request, account_id: int):
    account = account_for_user(request, account_id)
    form = None
    if account.protocol == MailAccount.Protocol.POP3:
        form = Pop3PolicyForm.for_policy(pop3_policy_get(account=account))
    return _detail_render(request, account, form)


@login_required
@require_POST
def account_policy(request, account_id: int):
    account = _pop3_account_for_user(request, account_id)
    form = Pop3PolicyForm(request.POST)
    if not form.is_valid():
        return _detail_render(request, account, form)
    data = form.cleaned_data
    if not data["confirmed"]:
        current = pop3_policy_get(account=account)
        proposed = pop3_cleanup_plan(account=account, policy=form.unsaved_policy(current))
        if _deletes_more(proposed, pop3_cleanup_plan(account=account, policy=current)):
            return _policy_confirm_render(request, account, form, proposed)
    pop3_policy_set(
        account=account,
        keep=data["keep"],
        keep_days=data["keep_days"],
        delete_larger_than_mb=data["delete_larger_than_mb"],
        quota_mb=data["quota_mb"] or 0,  # 0: no limit any more
        warn_by_mail=data["warn_by_mail"],
    )
    messages.success(request, _("The settings for the copies on the server were saved."))
    return redirect("account_detail", account_id=account.pk)


@login_required
@require_safe
def account_cleanup(request, account_id: int):
    """The preview of what a cleanup now would delete, with the form that confirms it."""
    account = _pop3_account_for_user(request, account_id)
    plan = pop3_cleanup_plan(account=account)
    shown = plan.items[:PREVIEW_ROWS]
    return render(
        request,
        "settings/account_cleanup.html",
        {
            "account": account,
            "plan": plan,
            "rows": [(item, ServerDeletion.Rule(item.rule).label) for item in shown],
            "shown_octets": sum(item.size for item in shown),
            "more": len(plan.items) - len(shown),
            "form": CleanupConfirmForm(
                initial={"ledger_ids": " ".join(str(item.ledger_id) for item in shown)}
            ),
        },
    )


@login_required
@require_POST
def account_cleanup_start(request, account_id: int):
    """The user confirmed the ledger ids the preview showed: only those are deleted, in
    the background, each verified again against the server and the disk first."""
    account = _pop3_account_for_user(request, account_id)
    form = CleanupConfirmForm(request.POST)
    if not form.is_valid():
        raise BadRequest("bad ledger ids")
    ids = form.cleaned_data["ledger_ids"]
    if ids:
        transaction.on_commit(lambda: _cleanup_queue(account.pk, ids))
        messages.success(
            request,
            ngettext(
                "The cleanup was started: Postfach deletes %(count)d message from the "
                "server in the background.",
                "The cleanup was started: Postfach deletes %(count)d messages from the "
                "server in the background.",
                len(ids),
            )
            % {"count": len(ids)},
        )
    return redirect("account_detail", account_id=account.pk)


@login_required
@require_POST
def account_check(request, account_id: int):
    """The "Check now" button of a POP3 account: the fetch runs in the background (an
    IMAP account's page posts to the mail pages' refresh instead)."""
    account = _pop3_account_for_user(request, account_id)
    account_sync_queue([account])
    messages.success(
        request,
        _("Postfach is checking the server for new mail. New messages appear in a moment."),
    )
    return redirect("account_detail", account_id=account.pk)


def _pop3_account_for_user(request, account_id: int) -> MailAccount:
    account = account_for_user(request, account_id)
    if account.protocol != MailAccount.Protocol.POP3:
        raise Http404("not a POP3 account")
    return account


def _cleanup_queue(account_id: int, ids: list[int]) -> None:
    try:
        pop3_cleanup_task.delay(account_id, ids)  # confirmed: only these
    except Exception:  # a broker that is down must not break the page that asked
        log.exception("account %s: cleanup not queued", account_id)


def _deletes_more(proposed: CleanupPlan, current: CleanupPlan) -> bool:
    """Whether the proposed policy lets the next cleanup delete a server copy the
    current one keeps."""
    kept_now = {item.ledger_id for item in proposed.items} - {
        item.ledger_id for item in current.items
    }
    return bool(kept_now)


def _policy_confirm_render(request, account, form: Pop3PolicyForm, proposed: CleanupPlan):
    count = len(proposed.items)
    text = ngettext(
        "This will delete %(count)d message (%(size)s) from the server at the next cleanup. "
        "The copies here stay.",
        "This will delete %(count)d messages (%(size)s) from the server at the next cleanup. "
        "The copies here stay.",
        count,
    ) % {"count": count, "size": filesizeformat(proposed.octets)}
    return render(
        request,
        "mail/confirm.html",
        {
            "title": _("Delete more from the server?"),
            "text": text,
            "action_url": reverse("account_policy", args=[account.pk]),
            "hidden": form.confirmation_fields(),
            "confirm_label": _("Confirm"),
            "cancel_url": reverse("account_detail", args=[account.pk]),
        },
    )


def _detail_render(request, account: MailAccount, form: Pop3PolicyForm | None):
    context = {"account": account, "sync": sync_status(account=account), "form": form}
    if form is not None:
        deletions = ServerDeletion.objects.filter(account=account)
        context.update(
            policy=pop3_policy_get(account=account),
            storage=pop3_storage_status(account=account),
            deletions=deletions[:DELETION_LOG_ROWS],
            deletions_count=deletions.count(),
        )
    else:
        # IMAP: the usage the mail pages last read (no connection here), and whether it
        # passed the threshold the retention rules' page acts on.
        quota = quota_usage_cached(account=account)
        threshold = retention_threshold(account=account)
        context.update(
            quota=quota,
            retention_threshold=threshold,
            above_threshold=quota is not None and quota.percent >= threshold,
        )
    return render(request, "settings/account_detail.html", context)
