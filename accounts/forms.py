from django import forms
from django.utils.translation import gettext_lazy as _

from .models import MailAccount, User
from .providers import provider_for

_DEFAULT_PORTS = {
    (MailAccount.Protocol.IMAP, MailAccount.Security.TLS): 993,
    (MailAccount.Protocol.IMAP, MailAccount.Security.STARTTLS): 143,
    (MailAccount.Protocol.IMAP, MailAccount.Security.NONE): 143,
    (MailAccount.Protocol.POP3, MailAccount.Security.TLS): 995,
    (MailAccount.Protocol.POP3, MailAccount.Security.STARTTLS): 110,
    (MailAccount.Protocol.POP3, MailAccount.Security.NONE): 110,
}


class MailAccountAddForm(forms.Form):
    """Address and password are enough for known providers; everyone else fills in the
    servers (a small script fills them in as you type, and the server fills any left blank)."""

    # Django's address check allows up to 320 characters; the column holds 254, and a
    # longer address would pass the login check only to fail on saving.
    email = forms.EmailField(
        label=_("Email address"), max_length=MailAccount._meta.get_field("email").max_length
    )
    display_name = forms.CharField(label=_("Your name"), required=False, max_length=200)
    password = forms.CharField(
        label=_("Password"), widget=forms.PasswordInput(render_value=False), strip=False
    )
    protocol = forms.ChoiceField(
        label=_("Protocol"), choices=MailAccount.Protocol.choices, initial="imap"
    )
    host = forms.CharField(
        label=_("Incoming server"),
        required=False,
        max_length=255,
        help_text=_("Left blank, the known settings for your address are used."),
    )
    port = forms.IntegerField(label=_("Port"), required=False, min_value=1, max_value=65535)
    security = forms.ChoiceField(
        label=_("Security"), choices=MailAccount.Security.choices, initial="tls"
    )
    login = forms.CharField(
        label=_("Login name"),
        required=False,
        max_length=255,
        help_text=_("Left blank, your email address is used."),
    )
    smtp_host = forms.CharField(label=_("Outgoing (SMTP) server"), required=False, max_length=255)
    smtp_port = forms.IntegerField(
        label=_("SMTP port"), required=False, min_value=1, max_value=65535
    )
    smtp_security = forms.ChoiceField(
        label=_("SMTP security"), choices=MailAccount.Security.choices, initial="starttls"
    )
    smtp_login = forms.CharField(
        label=_("SMTP login name"),
        required=False,
        max_length=255,
        help_text=_("Left blank, the incoming login and password are used for sending too."),
    )
    smtp_password = forms.CharField(
        label=_("SMTP password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        strip=False,
    )

    def clean(self):
        data = super().clean()
        email = data.get("email")
        if not email:
            return data
        known = provider_for(email)
        protocol = data.get("protocol") or MailAccount.Protocol.IMAP
        if not data.get("host"):
            if known is None or not (known.imap_host if protocol == "imap" else known.pop3_host):
                self.add_error(
                    "host",
                    _("We do not know the servers for %(domain)s: please enter them.")
                    % {"domain": email.rpartition("@")[2]},
                )
                return data
            data["host"] = known.imap_host if protocol == "imap" else known.pop3_host
            data["port"] = data.get("port") or (
                known.imap_port if protocol == "imap" else known.pop3_port
            )
            data["security"] = MailAccount.Security.TLS
            if not data.get("smtp_host"):
                data["smtp_host"] = known.smtp_host
                data["smtp_port"] = data.get("smtp_port") or known.smtp_port
                data["smtp_security"] = known.smtp_security
        if not data.get("port"):
            data["port"] = _DEFAULT_PORTS[(protocol, data.get("security") or "tls")]
        if data.get("smtp_host") and not data.get("smtp_port"):
            data["smtp_port"] = {"tls": 465, "starttls": 587, "none": 25}[
                data.get("smtp_security") or "starttls"
            ]
        data["login"] = data.get("login") or email
        if data.get("smtp_login") and not data.get("smtp_password"):
            self.add_error("smtp_password", _("Enter the password for the SMTP login."))
        return data


class PreferencesForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["language", "time_zone"]


class IdentityForm(forms.Form):
    """What the reader types for one identity; webmail.services.identities checks it again
    (line breaks, one default) and saves it."""

    name = forms.CharField(
        label=_("Your name"),
        required=False,
        max_length=200,
        help_text=_("Shown to recipients next to the address."),
    )
    email = forms.EmailField(label=_("Email address"), max_length=254)
    reply_to = forms.EmailField(
        label=_("Replies go to"),
        required=False,
        max_length=254,
        help_text=_("Left blank, replies come back to the address above."),
    )
    signature = forms.CharField(
        label=_("Signature"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("Added below new messages and replies sent as this identity."),
    )
    is_default = forms.BooleanField(
        label=_("Use this identity unless I choose another"),
        required=False,
        help_text=_("One identity of each account is the default."),
    )


class ContactForm(forms.Form):
    name = forms.CharField(label=_("Name"), required=False, max_length=200)
    email = forms.EmailField(label=_("Email address"), max_length=254)
