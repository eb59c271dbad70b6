from dataclasses import asdict

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webmail.selectors import unread_counts


@never_cache
@require_GET
@login_required
def unread_counts_view(request):
    """Unread counts for the page's poll (static/js/live.js): from the index only."""
    accounts = unread_counts(user=request.user)
    return JsonResponse(
        {
            "accounts": [asdict(a) for a in accounts],
            "total_unread": sum(a.unread_inbox for a in accounts),
        }
    )
