"""An IMAP account's retention rules (issue 7): the rules in plain words, adding, changing
and removing them, the suggested Trash and Junk rules, the preview with the space it
frees, "free space now" (only after the preview's confirmation, in the background), the
server's quota with the warning above the threshold, and the retention log. Nothing on
the server changes by a GET."""

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from accounts.models import MailAccount
from webmail.models import RetentionLogEntry, RetentionRule
from webmail.protocols.errors import MailServerError
from webmail.services.errors import ActionNotAllowed, error_message
from webmail.services.retention import (
    retention_defaults_offer,
    retention_defaults_save,
    retention_plan,
    retention_quota_status,
    retention_rule_save,
    rule_text,
)
from webmail.tasks import retention_run_task

from .common import account_for_user

log = logging.getLogger(__name__)

LOG_ROWS = 50
PREVIEW_ROWS = 200  # per rule; the rest is counted


class RetentionRuleForm(forms.Form):
    folder = forms.CharField(
        label=gettext_lazy("In the folder"),
        required=False,
        max_length=1000,
        help_text=gettext_lazy("Leave empty for every folder except the Trash."),
    )
    older_than_days = forms.IntegerField(
        label=gettext_lazy("Older than (days)"), required=False, min_value=1, max_value=36500
    )
    larger_than_mb = forms.IntegerField(
        label=gettext_lazy("Larger than (MB)"), required=False, min_value=1, max_value=100_000
    )
    action = forms.ChoiceField(label=gettext_lazy("Then"), choices=RetentionRule.Action.choices)
    target_folder = forms.CharField(
        label=gettext_lazy("Move to the folder"), required=False, max_length=1000
    )
    enabled = forms.BooleanField(label=gettext_lazy("On"), required=False)


def _rule_form(rule: RetentionRule) -> RetentionRuleForm:
    return RetentionRuleForm(
        initial={name: getattr(rule, name) for name in RetentionRuleForm.base_fields},
        prefix=f"rule{rule.pk}",
    )


def _imap_account_for_user(request, account_id: int) -> MailAccount:
    account = account_for_user(request, account_id)
    if account.protocol != MailAccount.Protocol.IMAP:
        raise Http404("not an IMAP account")
    return account


def _rule_for(account: MailAccount, rule_id: int) -> RetentionRule:
    return get_object_or_404(RetentionRule, pk=rule_id, account=account)


@login_required
@require_safe
def retention_page(request, account_id: int):
    account = _imap_account_for_user(request, account_id)
    return _page_render(request, account, RetentionRuleForm(initial={"action": "delete"}))


def _page_render(request, account: MailAccount, form: RetentionRuleForm, status=200):
    offered, quota, server_error = [], None, ""
    try:
        offered = retention_defaults_offer(account=account)
        quota = retention_quota_status(account=account)
    except MailServerError as exc:
        server_error = error_message(exc)
    rules = list(account.retention_rules.order_by("pk"))
    return render(
        request,
        "settings/retention.html",
        {
            "account": account,
            "rules": [(rule, rule_text(rule), _rule_form(rule)) for rule in rules],
            "offered": [rule_text(rule) for rule in offered],
            "quota": quota,
            "server_error": server_error,
            "form": form,
            "log": RetentionLogEntry.objects.filter(account=account)[:LOG_ROWS],
        },
        status=status,
    )


@login_required
@require_POST
def retention_rule_add(request, account_id: int):
    return _rule_save(request, _imap_account_for_user(request, account_id), None)


@login_required
@require_POST
def retention_rule_edit(request, account_id: int, rule_id: int):
    account = _imap_account_for_user(request, account_id)
    return _rule_save(request, account, _rule_for(account, rule_id))


def _rule_save(request, account: MailAccount, rule: RetentionRule | None):
    form = RetentionRuleForm(request.POST, prefix=f"rule{rule.pk}" if rule else None)
    if form.is_valid():
        try:
            rule = retention_rule_save(account=account, rule=rule, **form.cleaned_data)
        except ActionNotAllowed as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Saved: %(rule)s") % {"rule": rule_text(rule)})
            return redirect("retention_page", account_id=account.pk)
    return _page_render(request, account, form, status=400)


@login_required
@require_POST
def retention_rule_delete(request, account_id: int, rule_id: int):
    account = _imap_account_for_user(request, account_id)
    _rule_for(account, rule_id).delete()
    messages.success(request, _("The rule was removed."))
    return redirect("retention_page", account_id=account.pk)


@login_required
@require_POST
def retention_defaults_add(request, account_id: int):
    account = _imap_account_for_user(request, account_id)
    saved = retention_defaults_save(account=account)
    for rule in saved:
        messages.success(request, _("Saved: %(rule)s") % {"rule": rule_text(rule)})
    return redirect("retention_page", account_id=account.pk)


@login_required
@require_safe
def retention_preview(request, account_id: int):
    """What the rules would move or delete now, with the form that runs them. Viewing it
    lets the schedule run the rules that are on (their first run waits for a preview)."""
    account = _imap_account_for_user(request, account_id)
    try:
        plan = retention_plan(account=account)
    except MailServerError as exc:
        messages.error(request, error_message(exc))
        return redirect("retention_page", account_id=account.pk)
    return render(
        request,
        "settings/retention_preview.html",
        {
            "account": account,
            "plan": plan,
            "rows": [
                (
                    rule_plan,
                    rule_plan.messages[:PREVIEW_ROWS],
                    max(0, len(rule_plan.messages) - PREVIEW_ROWS) + rule_plan.left,
                )
                for rule_plan in plan.rules
            ],
            "rule_ids": " ".join(str(p.rule.pk) for p in plan.rules if p.messages),
        },
    )


@login_required
@require_POST
def retention_start(request, account_id: int):
    """The "free space now" button: the user confirmed the preview of these rules; they run in the
    background, searching again, so only what still matches goes."""
    account = _imap_account_for_user(request, account_id)
    try:
        ids = [int(part) for part in request.POST.get("rule_ids", "").split()]
    except ValueError:
        raise BadRequest("bad rule ids") from None
    ids = list(account.retention_rules.filter(pk__in=ids).values_list("pk", flat=True))
    if ids:
        transaction.on_commit(lambda: _run_queue(account.pk, ids))
        messages.success(
            request, _("The rules are running: Postfach frees the space in the background.")
        )
    return redirect("retention_page", account_id=account.pk)


def _run_queue(account_id: int, ids: list[int]) -> None:
    try:
        retention_run_task.delay(account_id, ids)
    except Exception:  # a broker that is down must not break the page that asked
        log.exception("account %s: retention not queued", account_id)
