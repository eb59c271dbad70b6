from datetime import date

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webmail.services.search import Scope, SearchQuery, mail_search

from .common import account_for_user, folder_from, page_from


@require_GET
@login_required
def search_view(request):
    """GET only: searching changes nothing (the server is only EXAMINEd)."""
    query = _query_from(request)
    result = mail_search(request.user, query)
    return render(
        request,
        "mail/search.html",
        {
            "result": result,
            "previous_url": _page_url(request, result.page_number - 1),
            "next_url": _page_url(request, result.page_number + 1),
        },
    )


def _page_url(request, page: int) -> str:
    params = request.GET.copy()
    params["page"] = str(page)
    return "?" + params.urlencode()


def _query_from(request) -> SearchQuery:
    params = request.GET
    account_id = params.get("account", "")
    account = account_for_user(request, int(account_id)) if account_id.isdigit() else None
    scope = Scope.FOLDER if params.get("scope") == Scope.FOLDER and account else Scope.ALL
    return SearchQuery(
        text=params.get("q", "")[:500],
        scope=scope,
        account=account,
        folder=folder_from(request),
        unread=params.get("unread") == "1",
        flagged=params.get("flagged") == "1",
        attachments=params.get("attachments") == "1",
        date_from=_date(params.get("from")),
        date_to=_date(params.get("to")),
        page=page_from(request),
    )


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None  # the form's date field sends ISO dates; anything else is no filter
