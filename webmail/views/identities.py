"""An account's identities in the settings: list, add, change, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import IdentityForm
from accounts.models import Identity
from webmail.services.identities import identities_for, identity_delete, identity_save

from .common import account_for_user


@login_required
def identities_view(request, account_id: int):
    account = account_for_user(request, account_id)
    identities = identities_for(account)
    return render(
        request,
        "settings/identities.html",
        {"account": account, "identities": identities, "can_delete": len(identities) > 1},
    )


@login_required
def identity_form_view(request, account_id: int, identity_id: int | None = None):
    """Adds an identity (no identity_id) or changes one."""
    account = account_for_user(request, account_id)
    identity = _identity_for(account, identity_id)
    initial = {}
    if identity is not None:
        initial = {
            field: getattr(identity, field)
            for field in ("name", "email", "reply_to", "signature", "is_default")
        }
    form = IdentityForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = identity_save(
                account, identity_id=identity and identity.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(
                request, _("The identity %(email)s was saved.") % {"email": saved.email}
            )
            return redirect("identity_list", account_id=account.pk)
    return render(
        request,
        "settings/identity_form.html",
        {"account": account, "identity": identity, "form": form},
    )


@login_required
@require_POST
def identity_delete_view(request, account_id: int, identity_id: int):
    account = account_for_user(request, account_id)
    identity = _identity_for(account, identity_id)
    try:
        identity_delete(account, identity.pk)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(
            request, _("The identity %(email)s was deleted.") % {"email": identity.email}
        )
    return redirect("identity_list", account_id=account.pk)


def _identity_for(account, identity_id: int | None) -> Identity | None:
    """One of the account's own identities, or 404; None when there is no id (adding)."""
    if identity_id is None:
        return None
    return get_object_or_404(Identity, pk=identity_id, account=account)
