"""Which mail servers a user may name: the SSRF policy the protocol code applies at every
connection (webmail.protocols.netguard.HostPolicy), built from the operator's settings."""

from django.conf import settings

from webmail.models import SiteSettings
from webmail.protocols.netguard import HostPolicy


def mail_host_policy() -> HostPolicy:
    """The public internet, plus the hosts and networks an operator allowed (the
    environment's MAIL_HOSTS_ALLOWED and the site settings' list), minus those the site
    settings forbid, which win. The sign-in server (IMAP_LOGIN_HOST, and its SMTP server)
    is the operator's own choice, so the accounts made at sign-in may always reach it.

    Read on every call (one small query), so an admin's change holds for the next
    connection without a restart."""
    row = SiteSettings.objects.filter(pk=1).values("mail_hosts_allowed", "mail_hosts_forbidden")
    site = row.first() or {"mail_hosts_allowed": "", "mail_hosts_forbidden": ""}
    operator_hosts = [settings.IMAP_LOGIN_HOST, settings.IMAP_LOGIN_SMTP_HOST]
    allowed = [
        *settings.MAIL_HOSTS_ALLOWED,
        *mail_host_entries(site["mail_hosts_allowed"]),
        *(host for host in operator_hosts if host),
    ]
    return HostPolicy(
        allowed=tuple(allowed), forbidden=tuple(mail_host_entries(site["mail_hosts_forbidden"]))
    )


def mail_host_entries(text: str) -> list[str]:
    """The entries of a site settings host list: one a line; commas and spaces separate
    too, and '#' starts a comment."""
    entries = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        entries.extend(entry for entry in line.replace(",", " ").split() if entry)
    return entries
