from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webmail.selectors import all_inboxes_page, unread_counts

from .common import page_from


@require_GET
@login_required
def all_inboxes_view(request):
    """The INBOX of every account as one list, from the index only."""
    inboxes = all_inboxes_page(user=request.user, page=page_from(request))
    accounts = unread_counts(user=request.user)
    return render(
        request,
        "mail/all_inboxes.html",
        {
            "inboxes": inboxes,
            "accounts": accounts,
            "total_unread": sum(a.unread_inbox for a in accounts),
        },
    )
