"""The admin's screens for POP3: the site's defaults, each account's policy, and the
audit log of server-side deletions, which nobody edits (issue 5)."""

import ipaddress
import re

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import ModelForm
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from accounts.admin_audit import AuditedAdminMixin
from accounts.models import MailAccount

from .models import (
    Pop3Keep,
    Pop3Migration,
    Pop3Policy,
    RetentionLogEntry,
    RetentionRule,
    ServerDeletion,
    SiteSettings,
)
from .services.mail_hosts import mail_host_entries
from .services.pop3_policy import site_settings


class SiteSettingsForm(ModelForm):
    class Meta:
        model = SiteSettings
        fields = "__all__"
        help_texts = {
            "sync_interval_minutes": _(
                "Empty: every SYNC_INTERVAL_SECONDS (the server's setting). Background syncs "
                "start at that beat, so this can make them rarer, not more frequent."
            ),
            "max_attachment_mb": _("Empty: MAIL_MAX_ATTACHMENT_BYTES (the server's setting)."),
            "users_may_add_accounts": _(
                "Off: only admins add mail accounts, here; users see no “Add a mail account”."
            ),
            "mail_hosts_allowed": _(
                "Mail servers users may name although they are on a private, loopback or "
                "link-local network: one a line, a name, *.example.org for its sub-domains, "
                "an address or a network (10.0.0.0/8). Beside MAIL_HOSTS_ALLOWED."
            ),
            "mail_hosts_forbidden": _(
                "Mail servers no account may reach, whatever they resolve to; written as "
                "above. This list wins over the allowed one."
            ),
        }

    def clean_mail_hosts_allowed(self):
        return _host_lines_check(self.cleaned_data["mail_hosts_allowed"])

    def clean_mail_hosts_forbidden(self):
        return _host_lines_check(self.cleaned_data["mail_hosts_forbidden"])


_HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*\.?$"
)


def _host_lines_check(text: str) -> str:
    """Refuses an entry that is neither a host name (or *.domain) nor an address or a
    network, so a typo does not silently allow or forbid nothing."""
    wrong = []
    for entry in mail_host_entries(text):
        try:
            ipaddress.ip_network(entry.removeprefix("[").removesuffix("]"), strict=False)
        except ValueError:
            if not _HOST_PATTERN.match(entry.lower()):
                wrong.append(entry)
    if wrong:
        raise ValidationError(
            _("Not a host name, address or network: %(entries)s"),
            params={"entries": ", ".join(wrong)},
        )
    return text


@admin.register(SiteSettings)
class SiteSettingsAdmin(AuditedAdminMixin, admin.ModelAdmin):
    """One row: the list opens it, and it is never added or deleted here."""

    form = SiteSettingsForm
    fieldsets = [
        (
            _("New POP3 accounts"),
            {"fields": ["pop3_keep", "pop3_keep_days", "pop3_delete_larger_than_mb"]},
        ),
        (
            _("Users and mail"),
            {"fields": ["sync_interval_minutes", "max_attachment_mb", "users_may_add_accounts"]},
        ),
        (_("Mail servers"), {"fields": ["mail_hosts_allowed", "mail_hosts_forbidden"]}),
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = site_settings()  # made with the model's defaults on first use
        return redirect(reverse("admin:webmail_sitesettings_change", args=[row.pk]))


class Pop3PolicyForm(ModelForm):
    class Meta:
        model = Pop3Policy
        fields = [
            "account", "keep", "keep_days", "delete_larger_than_mb", "quota_mb", "warn_by_mail",
        ]  # fmt: skip

    def clean(self):
        cleaned = super().clean()
        # The same rule as pop3_policy_set: zero days would delete at the next cleanup.
        if cleaned.get("keep") == Pop3Keep.KEEP_DAYS and not cleaned.get("keep_days"):
            raise ValidationError({"keep_days": _("Keep server copies for at least one day.")})
        return cleaned


@admin.register(Pop3Policy)
class Pop3PolicyAdmin(AuditedAdminMixin, admin.ModelAdmin):
    form = Pop3PolicyForm
    list_display = [
        "account", "keep", "keep_days", "quota_mb", "last_cleanup_at", "cleanup_warning",
    ]  # fmt: skip
    list_filter = ["keep"]
    list_select_related = ["account"]
    search_fields = ["account__email"]
    readonly_fields = ["storage_warning_mailed", "last_cleanup_at", "cleanup_warning"]

    @admin.display(description=_("storage warning mailed at"))
    def storage_warning_mailed(self, policy):
        return f"{policy.warned_level}%" if policy.warned_level else "–"

    def get_readonly_fields(self, request, obj=None):
        # The account is the primary key: changing it would copy the policy to another.
        fields = super().get_readonly_fields(request, obj)
        return [*fields, "account"] if obj is not None else fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "account":
            kwargs["queryset"] = MailAccount.objects.filter(protocol=MailAccount.Protocol.POP3)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ReadOnlyLogAdmin(admin.ModelAdmin):
    """A log: readable by admins, changed only by the service that writes it."""

    @admin.display(description=_("size"), ordering="size")
    def size_shown(self, row):
        return filesizeformat(row.size)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ServerDeletion)
class ServerDeletionAdmin(ReadOnlyLogAdmin):
    """The audit log of POP3 cleanups."""

    list_display = [
        "requested_at", "account_email", "subject", "size_shown", "rule", "outcome",
        "confirmed_by_user",
    ]  # fmt: skip
    list_filter = ["rule", "outcome"]
    search_fields = ["account_email", "subject", "message_id", "uidl"]
    date_hierarchy = "requested_at"
    exclude = ["account", "ledger"]  # ids only; the address and UIDL are kept as text


@admin.register(RetentionLogEntry)
class RetentionLogAdmin(ReadOnlyLogAdmin):
    """The audit log of IMAP retention rules: every message they deleted or moved."""

    list_display = [
        "requested_at", "account_email", "folder", "subject", "size_shown", "action",
        "target_folder", "outcome",
    ]  # fmt: skip
    list_filter = ["action", "outcome"]
    search_fields = ["account_email", "subject", "message_id", "folder", "rule_text"]
    date_hierarchy = "requested_at"
    exclude = ["account", "rule"]  # the address and the rule's words are kept as text


@admin.register(RetentionRule)
class RetentionRuleAdmin(admin.ModelAdmin):
    list_display = [
        "account", "folder", "older_than_days", "larger_than_mb", "action", "target_folder",
        "enabled", "last_run_at", "last_error",
    ]  # fmt: skip
    list_filter = ["enabled", "action"]
    search_fields = ["account__email", "folder"]
    readonly_fields = ["previewed_at", "last_run_at", "last_error"]


@admin.register(Pop3Migration)
class Pop3MigrationAdmin(admin.ModelAdmin):
    """Moves of POP3 accounts to IMAP, for watching: the user starts and pauses them."""

    list_display = [
        "account", "state", "imap_host", "total", "copied", "already_there", "failed",
        "started_at", "finished_at",
    ]  # fmt: skip
    list_filter = ["state"]
    search_fields = ["account__email", "imap_host"]
    exclude = ["imap_password_encrypted"]  # never shown

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
