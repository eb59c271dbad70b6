from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from webmail.conversations import conversation_page
from webmail.selectors import mailbox_read, quota_usage, sync_status
from webmail.services.stores import store_open_lazy

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
    # Lazy: a folder the index serves (and a quota read lately) needs no connection.
    with store_open_lazy(account) as store:
        mailbox = mailbox_read(
            store=store, folder=folder_from(request), page=page_from(request), account=account
        )
        quota = quota_usage(account=account, store=store)
    # "Select all" without script: the same page with every box ticked.
    select_all = request.GET.get("select") == "all"
    # Listed by conversation from the index; None (the message list) until it is indexed.
    threads = None
    if request.GET.get("view") == "threads" and mailbox.from_index:
        threads = conversation_page(
            account=account, folder=mailbox.current.info.name, page=page_from(request)
        )
    return render(
        request,
        "mail/folder.html",
        {
            "account": account,
            "mailbox": mailbox,
            "quota": quota,
            "sync": sync_status(account=account),
            "select_all": select_all,
            "threads": threads,
        },
    )
