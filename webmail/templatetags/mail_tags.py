from datetime import datetime

from django import template
from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext

from webmail.mime.headers import name_pretends_address

register = template.Library()


@register.filter
def mail_date(value: datetime | None) -> str:
    """Today's mail shows the time, older mail the date, in the reader's zone and language."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return formats.time_format(local, "TIME_FORMAT")
    return formats.date_format(local, "SHORT_DATE_FORMAT")


@register.filter
def mail_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return formats.date_format(timezone.localtime(value), "DATETIME_FORMAT")


@register.filter
def address_list(addresses) -> str:
    """Display names with their real address always beside them (a name can lie)."""
    return ", ".join(str(a) for a in addresses or [])


@register.filter
def list_sender(sender) -> str:
    """The sender as a list row shows it: the name, or the real address when the name
    pretends to be an address (a row has no room for the message page's warning)."""
    if sender is None:
        return ""
    if not sender.name or name_pretends_address(sender):
        return sender.addr
    return sender.name


@register.simple_tag
def folder_url(account_id: int, folder: str) -> str:
    from django.urls import reverse
    from django.utils.http import urlencode

    return f"{reverse('folder', kwargs={'account_id': account_id})}?{urlencode({'folder': folder})}"


@register.simple_tag
def message_url(account_id: int, uidvalidity: int, uid: int, folder: str, page: int) -> str:
    from django.urls import reverse
    from django.utils.http import urlencode

    url = reverse(
        "message", kwargs={"account_id": account_id, "uidvalidity": uidvalidity, "uid": uid}
    )
    return f"{url}?{urlencode({'folder': folder, 'page': page})}"


@register.simple_tag
def page_url(account_id: int, folder: str, page: int) -> str:
    from django.urls import reverse
    from django.utils.http import urlencode

    url = reverse("folder", kwargs={"account_id": account_id})
    return f"{url}?{urlencode({'folder': folder, 'page': page})}"


@register.filter
def problem_text(problem) -> str:
    """A parser's note (webmail.mime.model.Problem) in the reader's language."""
    template = getattr(problem, "template", None)
    if template is None:
        return problem
    return gettext(template).format(**problem.params)


@register.simple_tag
def live_poll_seconds() -> int:
    """The interval of the unread-count poll (static/js/live.js)."""
    return settings.LIVE_POLL_SECONDS


@register.simple_tag
def inbox_unread_total(user) -> int:
    """Unread messages in the INBOXes of every account of `user`, from the index."""
    from webmail.selectors import unread_counts

    return sum(a.unread_inbox for a in unread_counts(user=user))
