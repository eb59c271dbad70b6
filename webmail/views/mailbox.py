from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from webmail.selectors import mailbox_read, quota_usage
from webmail.services.stores import store_open

from .common import account_for_user, folder_from, page_from


@login_required
def mail_home(request):
    account = request.user.mail_accounts.first()
    if account is None:
        return redirect("account_add")
    return redirect("folder", account_id=account.pk)


@login_required
def folder_view(request, account_id: int):
    account = account_for_user(request, account_id)
    with store_open(account) as store:
        mailbox = mailbox_read(store=store, folder=folder_from(request), page=page_from(request))
        quota = quota_usage(account=account, store=store)
    # "Select all" without script: the same page with every box ticked.
    select_all = request.GET.get("select") == "all"
    return render(
        request,
        "mail/folder.html",
        {"account": account, "mailbox": mailbox, "quota": quota, "select_all": select_all},
    )
