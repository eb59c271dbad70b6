import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from .crypto import secret_decrypt, secret_encrypt


def _time_zone_choices():
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class User(AbstractUser):
    """A person who signs in to the webmail. Language and time zone are their own choice;
    left blank, the browser's language and the server's time zone apply."""

    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=[("", _("As the browser says"))] + list(settings.LANGUAGES),
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, blank=True, choices=_time_zone_choices
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")


class MailAccount(models.Model):
    class Protocol(models.TextChoices):
        IMAP = "imap", "IMAP"
        POP3 = "pop3", "POP3"

    class Security(models.TextChoices):
        TLS = "tls", _("TLS (encrypted from the start)")
        STARTTLS = "starttls", _("STARTTLS (upgraded to encryption)")
        NONE = "none", _("None (unencrypted)")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mail_accounts",
        verbose_name=_("user"),
    )
    display_name = models.CharField(_("your name"), max_length=200, blank=True)
    email = models.EmailField(_("email address"))
    protocol = models.CharField(
        _("protocol"), max_length=4, choices=Protocol.choices, default=Protocol.IMAP
    )

    incoming_host = models.CharField(_("incoming server"), max_length=255)
    incoming_port = models.PositiveIntegerField(_("port"))
    incoming_security = models.CharField(
        _("security"), max_length=8, choices=Security.choices, default=Security.TLS
    )
    incoming_login = models.CharField(_("login"), max_length=255)
    incoming_password_encrypted = models.TextField(editable=False)

    smtp_host = models.CharField(_("outgoing (SMTP) server"), max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), null=True, blank=True)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=8, choices=Security.choices, default=Security.STARTTLS
    )
    smtp_same_credentials = models.BooleanField(
        _("SMTP uses the same login and password"), default=True
    )
    smtp_login = models.CharField(_("SMTP login"), max_length=255, blank=True)
    smtp_password_encrypted = models.TextField(editable=False, blank=True)

    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("mail account")
        verbose_name_plural = _("mail accounts")
        ordering = ["user", "email", "id"]

    def __str__(self):
        return f"{self.email} ({self.get_protocol_display()})"

    # Passwords are write-only from the outside: set through these, read only by the
    # service layer when it connects. Nothing renders them.
    def set_incoming_password(self, password: str) -> None:
        self.incoming_password_encrypted = secret_encrypt(password)

    def incoming_password(self) -> str:
        return secret_decrypt(self.incoming_password_encrypted)

    def set_smtp_password(self, password: str) -> None:
        self.smtp_password_encrypted = secret_encrypt(password) if password else ""

    def smtp_credentials(self) -> tuple[str, str]:
        if self.smtp_same_credentials:
            return self.incoming_login, self.incoming_password()
        password = secret_decrypt(self.smtp_password_encrypted) if self.smtp_password_encrypted else ""
        return self.smtp_login, password

    @property
    def name_for_display(self) -> str:
        return self.display_name or self.email
