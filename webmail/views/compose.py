"""Writing mail: the compose form, its buttons, and the autosave endpoint.

GET /mail/<account>/compose/ starts a message: a new one, or with
?kind=reply|reply_all|forward|forward_attached|draft&folder=…&uidvalidity=…&uid=… one
that answers, forwards or continues the message named. GET reads and changes nothing on
the mail server. The form POSTs back to the same URL with one of its buttons: send, save
(also what Enter in a field does), upload, or remove=<attachment>. Files chosen in the
file field are attached whichever button was pressed. Everything typed comes back in
the form whenever the answer is not "sent".
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import Identity
from webmail.compose.addresses import InvalidAddresses
from webmail.forms import UID_MAX, ComposeForm, compose_initial
from webmail.services.compose import (
    DRAFT,
    FORWARD,
    FORWARD_ATTACHED,
    KINDS,
    NEW,
    REPLY,
    REPLY_ALL,
    ComposeError,
    SendFailed,
    attachment_limit,
    attachment_remove,
    attachments_add,
    compose_area_open,
    compose_start,
    draft_make,
    draft_save,
    html_clean,
    message_send,
    signatures_of,
)
from webmail.services.identities import identities_for
from webmail.uploads import uploads_refused

from .actions import folder_list_url
from .common import account_for_user, folder_from

HEADINGS = {
    NEW: gettext_lazy("New message"),
    REPLY: gettext_lazy("Reply"),
    REPLY_ALL: gettext_lazy("Reply to all"),
    FORWARD: gettext_lazy("Forward"),
    FORWARD_ATTACHED: gettext_lazy("Forward"),
    DRAFT: gettext_lazy("Draft"),
}


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def compose_view(request, account_id: int):
    account = account_for_user(request, account_id)
    if request.method == "POST":
        return _post(request, account)
    kind = request.GET.get("kind") or NEW
    if kind not in KINDS:
        raise Http404("unknown kind")
    folder = folder_from(request)
    area = compose_area_open(request.user)
    try:
        started = compose_start(account, kind=kind, area=area, **_original(request, kind))
    except ComposeError as exc:
        messages.error(request, str(exc))
        return redirect(folder_list_url(account.pk, folder))
    initial = compose_initial(started, compose_id=area.id, back=folder)
    form = ComposeForm(initial=initial, identities=identities_for(account))
    html = started.draft.html or ""
    mode = "html" if html else "text"
    return _form(request, account, form, area, html=html, start_mode=mode, heading=HEADINGS[kind])


def _original(request, kind: str) -> dict:
    if kind == NEW:
        return {}
    return {
        "folder": folder_from(request),
        "uidvalidity": _uid_param(request.GET.get("uidvalidity")),
        "uid": _uid_param(request.GET.get("uid")),
    }


def _uid_param(value) -> int:
    try:
        number = int(value or "")
    except ValueError:
        raise Http404("bad message reference") from None
    if not 0 < number <= UID_MAX:
        raise Http404("bad message reference")
    return number


def _post(request, account):
    identities = identities_for(account)
    form = ComposeForm(request.POST, identities=identities)
    area = _area(request)
    problems = []
    try:
        attachments_add(
            area, request.FILES.getlist("attachments"), refused=uploads_refused(request)
        )
    except ComposeError as exc:
        problems.append(str(exc))
    action = request.POST.get("action", "")
    if request.POST.get("remove"):
        attachment_remove(area, request.POST["remove"])
        return _form(request, account, form, area, problems=problems)
    if action not in ("send", "save", "upload"):
        raise BadRequest("unknown action")
    if action == "upload" or problems or not form.is_valid():
        if form.is_bound and form.hidden_errors():
            raise BadRequest("malformed compose form")
        return _form(request, account, form, area, problems=problems)
    try:
        draft = draft_make(account, area=area, **form.draft_fields())
    except Identity.DoesNotExist:
        raise BadRequest("not an identity of this account") from None
    replaces = form.cleaned_data["replaces"]
    if action == "save":
        try:
            saved = draft_save(account, draft, replaces=replaces)
        except (ComposeError, InvalidAddresses) as exc:
            return _form(request, account, form, area, problems=[str(exc)])
        messages.success(request, _("Draft saved."))
        return _form(request, account, _with_draft(form, saved, identities), area)
    try:
        sent = message_send(account, draft, replaces=replaces, area=area)
    except SendFailed as exc:
        saved = _with_draft(form, exc.draft, identities) if exc.saved else form
        return _form(request, account, saved, area, problems=[str(exc)])
    except (ComposeError, InvalidAddresses) as exc:
        return _form(request, account, form, area, problems=[str(exc)])
    messages.success(request, _("Message sent."))
    for warning in sent.warnings:
        messages.warning(request, warning)
    return redirect(folder_list_url(account.pk, form.cleaned_data["back"] or "INBOX"))


@never_cache
@login_required
@require_POST
def compose_autosave_view(request, account_id: int):
    """The form's script saves the draft here every 30 seconds while the writer types:
    JSON with the new draft's UID, which the next save replaces. Addresses still being
    typed are left out of the saved draft rather than stopping the save."""
    account = account_for_user(request, account_id)
    form = ComposeForm(request.POST, identities=identities_for(account), lenient=True)
    if not form.is_valid():
        if form.hidden_errors():
            raise BadRequest("malformed compose form")
        return JsonResponse({"error": " ".join(_errors(form))}, status=400)
    area = _area(request)
    try:
        draft = draft_make(account, area=area, **form.draft_fields())
        saved = draft_save(account, draft, replaces=form.cleaned_data["replaces"])
    except Identity.DoesNotExist:
        raise BadRequest("not an identity of this account") from None
    except ComposeError as exc:
        return JsonResponse({"error": str(exc)}, status=502)
    now = timezone.localtime()
    return JsonResponse(
        {
            "draft_uid": saved.uid if saved else None,
            "draft_uidvalidity": saved.uidvalidity if saved else None,
            "saved_at": now.isoformat(),
            "message": _("Draft saved at %(time)s.")
            % {"time": formats.time_format(now, "TIME_FORMAT")},
        }
    )


def _area(request):
    try:
        return compose_area_open(request.user, request.POST.get("compose", ""))
    except ValueError:
        raise BadRequest("not a compose area") from None


def _with_draft(form: ComposeForm, saved, identities) -> ComposeForm:
    """The same form, naming the draft just saved (which the next save replaces)."""
    data = form.data.copy()
    data["draft_uid"] = saved.uid if saved else ""
    data["draft_uidvalidity"] = saved.uidvalidity if saved else ""
    again = ComposeForm(data, identities=identities)
    again.is_valid()
    return again


def _errors(form: ComposeForm) -> list[str]:
    return [str(error) for errors in form.errors.values() for error in errors]


def _form(request, account, form, area, *, problems=(), html=None, start_mode=None, heading=None):
    """The form as it stands, with what is attached, the problems to show, and the HTML
    for the editor (sanitized again: it came from the browser)."""
    if form.is_bound:
        mode = "html" if form.data.get("mode") == "html" else "text"
        html = html_clean(form.data.get("html") or "") if mode == "html" else ""
        start_mode = mode
    return render(
        request,
        "mail/compose.html",
        {
            "account": account,
            "form": form,
            "heading": heading or form.data.get("subject") or _("New message"),
            "problems": list(problems),
            "attachments": area.attachments(),
            "html": html or "",
            "start_mode": start_mode or "text",
            "limit": attachment_limit(),
            "back_url": folder_list_url(account.pk, _back(form)),
            "signatures": signatures_of(account),
        },
    )


def _back(form: ComposeForm) -> str:
    folder = (form.data if form.is_bound else form.initial).get("back") or "INBOX"
    return folder if not any(char in folder for char in "\r\n\0") else "INBOX"
