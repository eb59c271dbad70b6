"""Two-step sign-in for local accounts (django-otp): after the password, a six-digit code
from an authenticator app (TOTP), or one of ten single-use backup codes.

Only users with a usable Django password are offered it. Those who sign in with their mail
account (accounts.backends.ImapLoginBackend) have no password here: their mail provider
checks them, with its own second step if it has one.

1. Settings: "Turn on" makes an unconfirmed TOTPDevice; the setup page shows its secret as
   a QR code and as text; a current code from the app confirms it, and only then is it on.
   The backup codes (a StaticDevice) are made then and shown once.
2. Sign-in: after the right password, TwoFactorMiddleware sends a user with a confirmed
   device to the code step from every page until a code is accepted
   (request.user.is_verified(), from django-otp's OTPMiddleware).
3. Wrong codes are audit-logged and counted by django-axes together with wrong passwords,
   so LOGIN_FAILURE_LIMIT of them lock the name out as wrong passwords do; django-otp also
   makes each device wait 1, 2, 4, 8 ... seconds after a wrong code.
4. Turning it off asks for the password only, not a code: the session has passed the
   code step already, and someone who signed in with their last backup code after losing
   the phone must still be able to turn it off and set up the new phone.
"""

import re
from base64 import b32encode
from dataclasses import dataclass

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import RedirectURLMixin, redirect_to_login
from django.db import transaction
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .audit import audit_record
from .lockout import lockout_response
from .models import AuditEvent

BACKUP_CODE_COUNT = 10
_APP_CODE = re.compile(r"\d{6}")


# Reads


def two_factor_offered(user) -> bool:
    """Local accounts only: a user without a usable password signs in through the mail
    provider, which handles a second step itself."""
    return user.is_authenticated and user.has_usable_password()


def two_factor_device(user) -> TOTPDevice | None:
    """The user's confirmed authenticator app, or None when two-step sign-in is off."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def two_factor_on(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def backup_codes_left(user) -> int:
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


def secret_as_text(device: TOTPDevice) -> str:
    """The secret as authenticator apps take it when typed: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def secret_as_qr_code(device: TOTPDevice) -> str:
    """The otpauth: address as a QR code, an SVG in a data: address for an <img> (our CSP
    allows data: images); drawn here, never by an outside service. White around it, so a
    phone reads it on a dark page too."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=5, light="white")


# Writes


def totp_device_start(*, user) -> TOTPDevice:
    """A fresh unconfirmed device with a new secret; one left from an earlier start is
    replaced. Nothing changes for sign-in until it is confirmed."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def totp_device_pending(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()


def backup_codes_make(*, user) -> list[str]:
    """New backup codes, replacing any left: returned in clear this once, to show."""
    with transaction.atomic():
        StaticDevice.objects.filter(user=user).delete()
        device = StaticDevice.objects.create(user=user, name="Backup codes", confirmed=True)
        codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
        StaticToken.objects.bulk_create(StaticToken(device=device, token=c) for c in codes)
    return codes


def two_factor_enable(*, request, device: TOTPDevice, code: str) -> list[str] | None:
    """Switches two-step sign-in on when `code` is a current code of the unconfirmed
    `device`, and returns the new backup codes; None for a wrong code. This session counts
    as having passed the code step."""
    user = request.user
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user)
        if not device.verify_token(normalise_code(code)):
            return None
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        codes = backup_codes_make(user=user)
    otp_login(request, device)
    audit_record(kind=AuditEvent.Kind.TWO_FACTOR_ON, request=request, user=user)
    return codes


def two_factor_disable(*, request) -> None:
    """Removes the authenticator app and the backup codes: the password alone signs in."""
    user = request.user
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    audit_record(kind=AuditEvent.Kind.TWO_FACTOR_OFF, request=request, user=user)


def normalise_code(code: str) -> str:
    """As people type codes: with spaces or dashes, backup codes in capitals."""
    return re.sub(r"[\s-]", "", code or "").lower()


@dataclass(frozen=True)
class CodeCheck:
    accepted: bool
    # Seconds until the device takes another try (django-otp's throttling), else 0.
    wait_seconds: int = 0
    # After a backup code: how many are left.
    backup_codes_left: int | None = None


def sign_in_code_check(*, request, code: str) -> CodeCheck:
    """The code step: a six-digit code is checked against the authenticator app, anything
    else against the backup codes (each works once). An accepted code marks the session
    as verified; a wrong one is audit-logged and counted by axes as a failed sign-in."""
    user = request.user
    code = normalise_code(code)
    model = TOTPDevice if _APP_CODE.fullmatch(code) else StaticDevice
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            accepted, wait = False, 0
        else:
            allowed, why = device.verify_is_allowed()
            accepted = allowed and device.verify_token(code)
            wait = _seconds_until(why["locked_until"]) if not allowed and why else 0
    if accepted:
        otp_login(request, device)
        left = backup_codes_left(user) if model is StaticDevice else None
        detail = "authenticator app" if left is None else f"backup code, {left} left"
        audit_record(
            kind=AuditEvent.Kind.TWO_FACTOR_PASSED, request=request, user=user, detail=detail
        )
        return CodeCheck(accepted=True, backup_codes_left=left)
    if not wait:  # a try the throttle refused unchecked is not a guess
        audit_record(kind=AuditEvent.Kind.TWO_FACTOR_FAILED, request=request, user=user)
        AxesProxyHandler.user_login_failed(
            sender=__name__, credentials=_axes_credentials(user), request=request
        )
    return CodeCheck(accepted=False, wait_seconds=wait)


def _seconds_until(moment) -> int:
    return max(1, int((moment - timezone.now()).total_seconds() + 0.999))


def _axes_credentials(user) -> dict:
    return {"username": user.get_username()}


# Middleware


class TwoFactorMiddleware:
    """A user with two-step sign-in who has given the password but no code yet reaches
    the code step only: every other page (mail, settings, the admin) redirects there,
    except signing out, changing the language and static files."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _code_missing(request.user) and not _open_before_code(request.path_info):
            if request.method != "GET":  # a form sent from a page before the code step
                return redirect("two_factor_verify")
            return redirect_to_login(request.get_full_path(), reverse("two_factor_verify"))
        return self.get_response(request)


def _code_missing(user) -> bool:
    if not user.is_authenticated or user.is_verified():
        return False
    return two_factor_on(user)


def _open_before_code(path: str) -> bool:
    static = "/" + settings.STATIC_URL.lstrip("/")
    open_paths = (reverse("two_factor_verify"), reverse("logout"), reverse("set_language"))
    return path in open_paths or path.startswith(static)


# Forms


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "off",
                "spellcheck": "false",
                "autofocus": True,
            }
        ),
    )


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your Postfach password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not self.user.check_password(password):
            raise forms.ValidationError(_("That is not your password."))
        return password


# Views: the code step at sign-in


@never_cache
def two_factor_verify(request):
    """The second step of signing in: the code from the app, or a backup code."""
    user = request.user
    if not user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    next_url = _safe_next(request)
    if user.is_verified() or not two_factor_on(user):
        return redirect(next_url or settings.LOGIN_REDIRECT_URL)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if AxesProxyHandler.is_locked(request, _axes_credentials(user)):
            return _locked_out(request, user)
        check = sign_in_code_check(request=request, code=form.cleaned_data["code"])
        if check.accepted:
            if check.backup_codes_left is not None:
                messages.warning(request, _backup_code_used_message(check.backup_codes_left))
            return redirect(next_url or settings.LOGIN_REDIRECT_URL)
        if AxesProxyHandler.is_locked(request, _axes_credentials(user)):
            return _locked_out(request, user)
        form.add_error("code", _wrong_code_message(check.wait_seconds))
    context = {"form": form, "next": next_url}
    return render(request, "registration/two_factor.html", context)


def _locked_out(request, user):
    """Too many wrong codes and passwords for this name: the half-finished sign-in ends,
    and the sign-in page says for how long it is locked."""
    credentials = _axes_credentials(user)
    logout(request)
    return lockout_response(request, credentials=credentials)


def _safe_next(request) -> str:
    """The `next=` page if it is one of ours, else "": Django's own check, as LoginView
    makes it."""
    guard = RedirectURLMixin()
    guard.request = request
    return guard.get_redirect_url()


def _wrong_code_message(wait_seconds: int) -> str:
    if wait_seconds:
        return ngettext(
            "Too many wrong codes. Try again in %(seconds)d second.",
            "Too many wrong codes. Try again in %(seconds)d seconds.",
            wait_seconds,
        ) % {"seconds": wait_seconds}
    return str(_("That code is not right. Enter the current code from your app, or a backup code."))


def _backup_code_used_message(left: int) -> str:
    return ngettext(
        "You signed in with a backup code; it cannot be used again. %(count)d backup code is left.",
        "You signed in with a backup code; it cannot be used again. %(count)d backup codes are left.",
        left,
    ) % {"count": left}


# Views: settings


@login_required
def two_factor_settings(request):
    """Settings → Two-step sign-in: whether it is on, and the forms to change that."""
    return _settings_page(request)


def _settings_page(request, *, codes_form=None, off_form=None):
    user = request.user
    device = two_factor_device(user) if two_factor_offered(user) else None
    context = {
        "offered": two_factor_offered(user),
        "device": device,
        "codes_left": backup_codes_left(user) if device else 0,
        "codes_form": codes_form or PasswordConfirmForm(user=user, prefix="codes"),
        "off_form": off_form or PasswordConfirmForm(user=user, prefix="off"),
    }
    return render(request, "settings/two_factor.html", context)


@login_required
@require_POST
def two_factor_start(request):
    if not two_factor_offered(request.user) or two_factor_on(request.user):
        return redirect("two_factor_settings")
    totp_device_start(user=request.user)
    return redirect("two_factor_setup")


@login_required
@never_cache
def two_factor_setup(request):
    """The secret as a QR code and as text, and the code that confirms the app has it."""
    device = totp_device_pending(request.user) if two_factor_offered(request.user) else None
    if device is None:
        return redirect("two_factor_settings")
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = two_factor_enable(request=request, device=device, code=form.cleaned_data["code"])
        if codes is not None:
            return _backup_codes_page(request, codes, first_time=True)
        form.add_error(
            "code",
            _("That code is not right. Check that the app shows Postfach and try the newest code."),
        )
    context = {
        "form": form,
        "qr_code": secret_as_qr_code(device),
        "secret": secret_as_text(device),
    }
    return render(request, "settings/two_factor_setup.html", context)


@login_required
@require_POST
def two_factor_backup_codes(request):
    """New backup codes for the password, the old ones no longer work."""
    form = PasswordConfirmForm(request.POST, user=request.user, prefix="codes")
    if not two_factor_on(request.user):
        return redirect("two_factor_settings")
    if not form.is_valid():
        return _settings_page(request, codes_form=form)
    return _backup_codes_page(request, backup_codes_make(user=request.user), first_time=False)


@login_required
@require_POST
def two_factor_off(request):
    form = PasswordConfirmForm(request.POST, user=request.user, prefix="off")
    if not form.is_valid():
        return _settings_page(request, off_form=form)
    two_factor_disable(request=request)
    messages.success(request, _("Two-step sign-in is off. Your password alone signs you in."))
    return redirect("two_factor_settings")


def _backup_codes_page(request, codes: list[str], *, first_time: bool):
    """The codes are shown once, in the answer to the POST that made them, and by no
    other page: so that answer must not be kept in any cache."""
    response = render(
        request, "settings/two_factor_codes.html", {"codes": codes, "first_time": first_time}
    )
    add_never_cache_headers(response)
    return response
