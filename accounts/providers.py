"""Server settings of well-known providers, so most people only type address and password.

Checked against each provider's published help pages; a provider not listed here simply
means the user types the servers themselves.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class ProviderSettings:
    imap_host: str
    imap_port: int
    pop3_host: str
    pop3_port: int
    smtp_host: str
    smtp_port: int
    smtp_security: str  # "tls" or "starttls"


def _p(imap, pop3, smtp, smtp_port=587, smtp_security="starttls"):
    return ProviderSettings(imap, 993, pop3, 995, smtp, smtp_port, smtp_security)


_GMAIL = _p("imap.gmail.com", "pop.gmail.com", "smtp.gmail.com", 465, "tls")
_MICROSOFT = _p("outlook.office365.com", "outlook.office365.com", "smtp-mail.outlook.com")
_GMX = _p("imap.gmx.net", "pop.gmx.net", "mail.gmx.net")
_ICLOUD = _p("imap.mail.me.com", "", "smtp.mail.me.com")
_YAHOO = _p("imap.mail.yahoo.com", "pop.mail.yahoo.com", "smtp.mail.yahoo.com", 465, "tls")

PROVIDERS: dict[str, ProviderSettings] = {
    "gmail.com": _GMAIL,
    "googlemail.com": _GMAIL,
    "outlook.com": _MICROSOFT,
    "hotmail.com": _MICROSOFT,
    "live.com": _MICROSOFT,
    "gmx.de": _GMX,
    "gmx.net": _GMX,
    "gmx.at": _GMX,
    "web.de": _p("imap.web.de", "pop3.web.de", "smtp.web.de"),
    "t-online.de": _p("secureimap.t-online.de", "securepop.t-online.de", "securesmtp.t-online.de", 465, "tls"),
    "posteo.de": _p("posteo.de", "posteo.de", "posteo.de"),
    "mailbox.org": _p("imap.mailbox.org", "pop3.mailbox.org", "smtp.mailbox.org", 465, "tls"),
    "freenet.de": _p("mx.freenet.de", "mx.freenet.de", "mx.freenet.de"),
    "yahoo.com": _YAHOO,
    "yahoo.de": _YAHOO,
    "icloud.com": _ICLOUD,
    "me.com": _ICLOUD,
}


def provider_for(email: str) -> ProviderSettings | None:
    domain = email.rpartition("@")[2].strip().lower()
    return PROVIDERS.get(domain)
