import re

from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import MailAccount

_PART_ID = re.compile(r"^[0-9]+(\.[0-9]+){0,30}$")


def account_for_user(request, account_id: int) -> MailAccount:
    """The signed-in user's own account, or 404: another user's account does not exist."""
    return get_object_or_404(MailAccount, pk=account_id, user=request.user)


def folder_from(request) -> str:
    folder = request.GET.get("folder") or "INBOX"
    if len(folder) > 1000 or any(ch in folder for ch in "\r\n\0"):
        raise Http404("bad folder name")
    return folder


def page_from(request) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 100_000))
    except ValueError:
        return 1


def part_from(value: str | None) -> str | None:
    if not value:
        return None
    if not _PART_ID.match(value):
        raise Http404("bad part")
    return value
