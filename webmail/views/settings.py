from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import MailAccountAddForm, PreferencesForm
from accounts.providers import PROVIDERS
from accounts.sessions import user_sessions_end
from webmail.protocols.errors import MailServerError
from webmail.selectors import quota_usage_cached, sync_status
from webmail.services.accounts import (
    accounts_may_add,
    mail_account_add,
    mail_account_delete,
    mail_account_error_message,
)

from .common import account_for_user


@login_required
def account_list(request):
    # Storage use as the mail pages last read it: this page opens no connection for it.
    accounts = [
        (account, quota_usage_cached(account=account), sync_status(account=account))
        for account in request.user.mail_accounts.all()
    ]
    return render(
        request,
        "settings/accounts.html",
        {"accounts": accounts, "may_add": accounts_may_add(user=request.user)},
    )


@login_required
def account_add(request):
    if not accounts_may_add(user=request.user):
        messages.info(request, _("Only your administrator can add mail accounts here."))
        return redirect("account_list")
    form = MailAccountAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            account = mail_account_add(
                user=request.user,
                email=data["email"],
                display_name=data["display_name"],
                protocol=data["protocol"],
                host=data["host"],
                port=data["port"],
                security=data["security"],
                login=data["login"],
                password=data["password"],
                smtp_host=data["smtp_host"],
                smtp_port=data["smtp_port"],
                smtp_security=data["smtp_security"],
                smtp_login=data["smtp_login"],
                smtp_password=data["smtp_password"],
            )
        except MailServerError as exc:
            form.add_error(None, mail_account_error_message(exc))
        else:
            messages.success(
                request, _("The account %(email)s was added.") % {"email": account.email}
            )
            return redirect("folder", account_id=account.pk)
    providers = {
        domain: {
            "imap": [p.imap_host, p.imap_port],
            "pop3": [p.pop3_host, p.pop3_port],
            "smtp": [p.smtp_host, p.smtp_port, p.smtp_security],
        }
        for domain, p in PROVIDERS.items()
    }
    return render(
        request,
        "settings/account_add.html",
        {"form": form, "providers": providers},
    )


@login_required
@require_POST
def account_delete(request, account_id: int):
    account = account_for_user(request, account_id)
    mail_account_delete(account=account)
    messages.success(
        request,
        _(
            "The account %(email)s was removed from Postfach. Nothing was deleted on its mail server."
        )
        % {"email": account.email},
    )
    return redirect("account_list")


@login_required
def preferences(request):
    form = PreferencesForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Your settings were saved."))
        return redirect("preferences")
    return render(request, "settings/preferences.html", {"form": form})


@login_required
@require_POST
def sign_out_everywhere(request):
    """Ends every session of this user, on every device, this one last."""
    user_sessions_end(user=request.user, request=request)
    logout(request)
    messages.success(request, _("You were signed out on every device."))
    return redirect("login")
