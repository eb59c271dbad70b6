import re
import unicodedata
import zoneinfo

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from .crypto import secret_decrypt, secret_encrypt
from .validators import validate_one_line, validate_text


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
    # Stamped at most once a minute by webmail.middleware.UserActivityMiddleware; the
    # watcher process (webmail.services.watch) holds IDLE for recently active users only.
    last_seen_at = models.DateTimeField(
        _("last seen"), null=True, blank=True, editable=False, db_index=True
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

    # Background sync (webmail.services.sync): when it last ran and how it last failed.
    # sync_failures counts failures in a row; the scheduler waits 2**n minutes (capped)
    # after the last one. A success clears the error.
    sync_started_at = models.DateTimeField(_("sync started"), null=True, blank=True)
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    sync_error = models.TextField(_("sync error"), blank=True)
    sync_error_at = models.DateTimeField(_("sync failed at"), null=True, blank=True)
    sync_failures = models.PositiveIntegerField(_("sync failures in a row"), default=0)
    # Off: the schedulers (background sync, POP3 fetch, IDLE watcher, daily cleanup) leave
    # the account alone; an admin turns it off and on in the admin.
    sync_enabled = models.BooleanField(_("sync enabled"), default=True)

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


class Identity(models.Model):
    """Who a message from this account says it is from: the From name and address, where
    replies should go, and the signature. Every account has at least one, and exactly one
    is its default (webmail.services.identities keeps both true)."""

    account = models.ForeignKey(
        MailAccount,
        on_delete=models.CASCADE,
        related_name="identities",
        verbose_name=_("mail account"),
    )
    name = models.CharField(_("name"), max_length=200, blank=True, validators=[validate_one_line])
    email = models.EmailField(_("email address"), validators=[validate_one_line])
    reply_to = models.EmailField(_("replies to"), blank=True, validators=[validate_one_line])
    signature = models.TextField(_("signature"), blank=True, validators=[validate_text])
    is_default = models.BooleanField(_("default"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        ordering = ["-is_default", "position", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=models.Q(is_default=True),
                name="identity_one_default_per_account",
                violation_error_message=_("An account has exactly one default identity."),
            )
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email


_NAME_WORD_SEPARATORS = re.compile(r"[^\w]+")
CONTACT_NAME_KEY_LENGTH = 512


def contact_name_key(name: str) -> str:
    """What the address book searches names by: the name in one case (NFC, casefolded),
    each word preceded by a space, so that " " + query is a prefix of a word exactly when
    the key contains it. Words are cut at spaces, and again at hyphens, commas and the like,
    so "Müller-Lüdenscheidt, Jürgen" is found by "mü", "lü" and "jü"."""
    folded = unicodedata.normalize("NFC", name or "").casefold()
    words = folded.split()
    parts = [part for word in words for part in _NAME_WORD_SEPARATORS.split(word) if part]
    extra = [part for part in dict.fromkeys(parts) if part not in words]
    key = " ".join(["", *words, *extra])
    return key[:CONTACT_NAME_KEY_LENGTH]


class Contact(models.Model):
    """One address in a user's address book, collected from mail they sent or read, or
    entered by hand. The address is stored lower-cased, once per user."""

    class Source(models.TextChoices):
        SENT = "sent", _("written to")
        READ = "read", _("received from")
        MANUAL = "manual", _("entered by hand")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="contacts",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=200, blank=True, validators=[validate_one_line])
    email = models.EmailField(_("email address"), validators=[validate_one_line])
    name_key = models.CharField(max_length=CONTACT_NAME_KEY_LENGTH, blank=True, editable=False)
    times_used = models.PositiveIntegerField(_("times used"), default=0)
    last_used = models.DateTimeField(_("last used"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=6, choices=Source.choices, default=Source.MANUAL
    )
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["user", "email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "email"], name="contact_unique_email_per_user")
        ]
        # Prefix searches (LIKE 'abc%'): on PostgreSQL only an index with the pattern
        # operator class serves them whatever the collation; other databases ignore
        # opclasses. Word matches inside names (LIKE '% abc%') scan one user's rows,
        # which the address-book cap keeps small.
        indexes = [
            models.Index(
                fields=["user", "email"],
                name="contact_email_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["user", "name_key"],
                name="contact_name_prefix",
                opclasses=["int8_ops", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args, **kwargs):
        self.email = self.email.lower()
        self.name_key = contact_name_key(self.name)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "name" in update_fields:
            kwargs["update_fields"] = {*update_fields, "name_key"}
        super().save(*args, **kwargs)


class AuditEvent(models.Model):
    """One line of the audit log admins read: who signed in or failed to, from where, and
    what changed about their mail accounts. Written by accounts.audit.audit_record only;
    nobody edits it. Server-side deletions by the POP3 cleanup have their own log
    (webmail.models.ServerDeletion)."""

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", _("signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("sign-in failed")
        LOCKED_OUT = "locked_out", _("locked out")
        SIGN_OUT = "sign_out", _("signed out")
        SIGN_OUT_EVERYWHERE = "sign_out_everywhere", _("signed out everywhere")
        ACCOUNT_ADDED = "account_added", _("mail account added")
        ACCOUNT_REMOVED = "account_removed", _("mail account removed")
        ADMIN_ACTION = "admin_action", _("admin action")
        TWO_FACTOR_ON = "two_factor_on", _("two-step sign-in turned on")
        TWO_FACTOR_OFF = "two_factor_off", _("two-step sign-in turned off")
        TWO_FACTOR_PASSED = "two_factor_passed", _("sign-in code accepted")
        TWO_FACTOR_FAILED = "two_factor_failed", _("wrong sign-in code")

    when = models.DateTimeField(_("when"), db_default=Now(), db_index=True, editable=False)
    kind = models.CharField(_("what"), max_length=32, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    # As typed on the sign-in form: a failed sign-in may name nobody who exists.
    username = models.CharField(_("user name"), max_length=255, blank=True)
    remote_address = models.GenericIPAddressField(_("address"), null=True, blank=True)
    detail = models.TextField(_("detail"), blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit log")
        ordering = ["-when", "-id"]

    def __str__(self):
        return f"{self.when:%Y-%m-%d %H:%M:%S} {self.get_kind_display()} {self.username}"
