"""Brute-force protection: the settings django-axes calls back into.

Axes counts failed sign-ins per typed user name and per address separately
(AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]): LOGIN_FAILURE_LIMIT failures of
either within LOGIN_LOCKOUT_MINUTES lock that name, or that address, for
LOGIN_LOCKOUT_MINUTES after the last counted failure. Attempts refused during a lock-out
do not extend it (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False), so the time the
page names is the time it takes.
"""

import math
from datetime import timedelta

from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import REDIRECT_FIELD_NAME
from django.db.models import Max, Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext

from .audit import request_address
from .backends import imap_login_name


def login_failure_limit(request, credentials) -> int:
    return settings.LOGIN_FAILURE_LIMIT


def lockout_period(request=None) -> timedelta:
    return timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)


def client_address(request) -> str | None:
    """The address failures are counted for: REMOTE_ADDR, as in the audit log. Never a
    header a client could write (X-Forwarded-For), which would let anyone pick a fresh
    address for every guess."""
    return request_address(request)


def client_description(username, ip_address, user_agent, path_info, request) -> str:
    """How axes names a client in its log lines: without the name or the address, which
    are personal data; the audit log holds both for admins."""
    return f"a client on {path_info}"


def lockout_minutes_left(request, credentials) -> int:
    """Whole minutes (rounded up, at least one) until the newest failure that counts for
    this name or address is older than the lock-out period."""
    now = getattr(request, "axes_attempt_time", None) or timezone.now()
    period = lockout_period(request)
    username = get_client_username(request, credentials)
    latest = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=client_address(request)),
        attempt_time__gte=now - period,
    ).aggregate(latest=Max("attempt_time"))["latest"]
    if latest is None:
        return 1
    return max(1, math.ceil((latest + period - now).total_seconds() / 60))


def lockout_message(minutes: int) -> str:
    return ngettext(
        "Too many failed sign-ins. Try again in %(minutes)d minute.",
        "Too many failed sign-ins. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


def lockout_response(request, original_response=None, credentials=None):
    """The sign-in page again, with the lock-out said plainly, as 429 Too Many Requests.
    The password typed is not checked at all while the lock-out lasts."""
    minutes = lockout_minutes_left(request, credentials)
    form = AuthenticationForm(
        request, initial={"username": get_client_username(request, credentials)}
    )
    next_url = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    context = {"form": form, "next": next_url, "lockout_message": lockout_message(minutes)}
    return render(request, "registration/login.html", context, status=429)


def login_name_typed(request, credentials) -> str:
    """AXES_USERNAME_CALLABLE: failures are counted for the name a sign-in is for, so
    "Anna", "anna " and "anna@IMAP_LOGIN_DOMAIN" share one count."""
    typed = (credentials or {}).get("username")
    if typed is None and request is not None:
        typed = request.POST.get("username", "")
    return imap_login_name(typed or "")
