"""The address book in the settings, and the suggestions the compose form asks for."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.forms import ContactForm
from accounts.models import Contact
from webmail.services.contacts import (
    contact_delete,
    contact_label,
    contact_save,
    contacts_alphabetical,
    contacts_suggest,
)

from .common import page_from

CONTACTS_PER_PAGE = 50
QUERY_MAX = 254


@login_required
def contacts_view(request):
    query = request.GET.get("q", "")[:QUERY_MAX].strip()
    page = Paginator(contacts_alphabetical(request.user, query), CONTACTS_PER_PAGE).get_page(
        page_from(request)
    )
    return render(request, "settings/contacts.html", {"page": page, "query": query})


@login_required
def contact_form_view(request, contact_id: int | None = None):
    """Adds a contact (no contact_id) or changes one."""
    contact = _contact_for(request, contact_id)
    initial = {"name": contact.name, "email": contact.email} if contact else {}
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = contact_save(
                request.user, contact_id=contact and contact.pk, **form.cleaned_data
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(contact)s was saved.") % {"contact": saved})
            return redirect("contact_list")
    return render(request, "settings/contact_form.html", {"contact": contact, "form": form})


@login_required
@require_POST
def contact_delete_view(request, contact_id: int):
    contact = _contact_for(request, contact_id)
    contact_delete(request.user, contact.pk)
    messages.success(
        request, _("%(contact)s was removed from your address book.") % {"contact": contact}
    )
    return redirect("contact_list")


@never_cache
@login_required
@require_GET
def contacts_suggest_view(request):
    """JSON for the compose form's address fields: at most eight contacts for what has
    been typed, most used first."""
    query = request.GET.get("q", "")[:QUERY_MAX]
    results = [
        {"name": contact.name, "email": contact.email, "label": contact_label(contact)}
        for contact in contacts_suggest(request.user, query)
    ]
    return JsonResponse({"results": results})


def _contact_for(request, contact_id: int | None) -> Contact | None:
    """The signed-in user's own contact, or 404; None when there is no id (adding)."""
    if contact_id is None:
        return None
    return get_object_or_404(Contact, pk=contact_id, user=request.user)
