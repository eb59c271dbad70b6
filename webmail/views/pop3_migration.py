"""Moving a POP3 account to IMAP (issue 7): the form with the IMAP server (prefilled for
known providers), then the progress of the copy, pause and resume, and the summary with
the messages the server refused. The copying runs in the background
(webmail.tasks.pop3_migration_task); while it runs the page reloads itself (a Refresh
header: no script needed)."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import MailAccount
from accounts.providers import provider_for
from webmail.models import Pop3Migration, Pop3MigrationItem
from webmail.protocols.errors import MailServerError
from webmail.services.accounts import mail_account_error_message
from webmail.services.pop3_migration import (
    pop3_migration_failed,
    pop3_migration_local_copies_remove,
    pop3_migration_pause,
    pop3_migration_queue,
    pop3_migration_resume,
    pop3_migration_start,
)

from .common import account_for_user

FAILED_ROWS = 500  # refused messages listed on the page; the command lists them all
REFRESH_SECONDS = 5


class MoveToImapForm(forms.Form):
    host = forms.CharField(label=gettext_lazy("IMAP server"), max_length=255)
    port = forms.IntegerField(label=gettext_lazy("Port"), min_value=1, max_value=65535)
    security = forms.ChoiceField(
        label=gettext_lazy("Security"), choices=MailAccount.Security.choices
    )
    login = forms.CharField(label=gettext_lazy("Login"), max_length=255)
    password = forms.CharField(
        label=gettext_lazy("Password"), max_length=1000, widget=forms.PasswordInput
    )

    @classmethod
    def prefilled(cls, account: MailAccount) -> "MoveToImapForm":
        known = provider_for(account.email)
        initial = {"login": account.incoming_login, "security": "tls", "port": 993}
        if known is not None and known.imap_host:
            initial |= {"host": known.imap_host, "port": known.imap_port}
        return cls(initial=initial)


def _migration(account: MailAccount) -> Pop3Migration | None:
    return Pop3Migration.objects.filter(account=account).first()


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def pop3_migration_page(request, account_id: int):
    """GET: the form, or where the move stands. POST: check the server and start (or
    start again after a stop, with new settings)."""
    account = account_for_user(request, account_id)
    migration = _migration(account)
    if account.protocol != MailAccount.Protocol.POP3 and migration is None:
        raise Http404("not a POP3 account")
    form = None
    if account.protocol == MailAccount.Protocol.POP3 and (
        migration is None or migration.state == Pop3Migration.State.FAILED
    ):
        form = MoveToImapForm.prefilled(account)
    if request.method == "POST":
        if account.protocol != MailAccount.Protocol.POP3:
            raise Http404("moved already")
        form = MoveToImapForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                pop3_migration_start(
                    account=account,
                    host=data["host"],
                    port=data["port"],
                    security=data["security"],
                    login=data["login"],
                    password=data["password"],
                )
            except MailServerError as exc:
                form.add_error(None, mail_account_error_message(exc))
            else:
                pop3_migration_queue(account=account)
                messages.success(
                    request, _("The move to IMAP has started. It runs in the background.")
                )
                return redirect("pop3_migration_page", account_id=account.pk)
    return _render(request, account, migration, form)


def _render(request, account, migration, form):
    failed = []
    if migration is not None:
        failed = pop3_migration_failed(migration=migration, limit=FAILED_ROWS)
    done = migration.copied + migration.already_there + migration.failed if migration else 0
    response = render(
        request,
        "settings/pop3_migration.html",
        {
            "account": account,
            "migration": migration,
            "form": form,
            "done": done,
            "failed": failed,
            "removable": _removable(migration),
        },
    )
    if migration is not None and migration.state == Pop3Migration.State.RUNNING:
        response["Refresh"] = str(REFRESH_SECONDS)
    return response


def _removable(migration: Pop3Migration | None) -> int:
    """Local copies of messages now on the IMAP server, once the move is done."""
    if migration is None or migration.state != Pop3Migration.State.DONE:
        return 0
    on_server = [Pop3MigrationItem.State.COPIED, Pop3MigrationItem.State.ALREADY_THERE]
    return migration.items.filter(state__in=on_server).count()


@login_required
@require_POST
def pop3_migration_local_remove_view(request, account_id: int):
    account = account_for_user(request, account_id)
    if _removable(_migration(account)):
        removed = pop3_migration_local_copies_remove(account=account)
        messages.success(
            request,
            ngettext(
                "The local copy of %(count)d message was removed.",
                "The local copies of %(count)d messages were removed.",
                removed,
            )
            % {"count": removed},
        )
    return redirect("pop3_migration_page", account_id=account.pk)


@login_required
@require_POST
def pop3_migration_pause_view(request, account_id: int):
    account = account_for_user(request, account_id)
    if pop3_migration_pause(account=account):
        messages.success(request, _("The move to IMAP is paused."))
    return redirect("pop3_migration_page", account_id=account.pk)


@login_required
@require_POST
def pop3_migration_resume_view(request, account_id: int):
    account = account_for_user(request, account_id)
    if pop3_migration_resume(account=account):
        pop3_migration_queue(account=account)
        messages.success(request, _("The move to IMAP goes on."))
    return redirect("pop3_migration_page", account_id=account.pk)
