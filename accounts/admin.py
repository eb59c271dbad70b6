import logging
from functools import partial

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import AuditEvent, Contact, Identity, MailAccount, User

log = logging.getLogger(__name__)


class IdentityFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        defaults = [
            form
            for form in self.forms
            if form.cleaned_data.get("is_default") and not form.cleaned_data.get("DELETE")
        ]
        if len(defaults) > 1:
            raise ValidationError(_("Only one identity of an account can be the default."))


class IdentityInline(admin.TabularInline):
    model = Identity
    formset = IdentityFormSet
    extra = 0
    fields = ["name", "email", "reply_to", "signature", "is_default", "position"]


class MailAccountInline(admin.StackedInline):
    model = MailAccount
    extra = 0
    # Passwords are not model fields the admin can see (editable=False): write-only by design.
    fields = ["email", "display_name", "protocol", "incoming_host", "incoming_port",
              "incoming_security", "incoming_login", "smtp_host", "smtp_port", "smtp_security"]
    show_change_link = True


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    fieldsets = BaseUserAdmin.fieldsets + ((_("Preferences"), {"fields": ("language", "time_zone")}),)
    inlines = [MailAccountInline]
    # Who is using the webmail now: the watcher holds IDLE for them (webmail.services.watch).
    list_display = (*BaseUserAdmin.list_display, "last_seen_at")


class SyncFailingFilter(admin.SimpleListFilter):
    title = _("sync")
    parameter_name = "sync"

    def lookups(self, request, model_admin):
        return [("failing", _("failing")), ("ok", _("working"))]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(sync_failures__gt=0)
        if self.value() == "ok":
            return queryset.filter(sync_failures=0)
        return queryset


@admin.register(MailAccount)
class MailAccountAdmin(admin.ModelAdmin):
    list_display = [
        "email", "user", "protocol", "incoming_host", "created_at", "last_synced_at",
        "sync_problem",
    ]  # fmt: skip
    list_filter = ["protocol", "incoming_security", SyncFailingFilter]
    search_fields = ["email", "user__username", "incoming_host"]
    readonly_fields = [
        "created_at", "updated_at", "sync_started_at", "last_synced_at", "sync_error",
        "sync_error_at", "sync_failures",
    ]  # fmt: skip
    exclude = ["incoming_password_encrypted", "smtp_password_encrypted"]
    inlines = [IdentityInline]
    actions = ["sync_now", "pop3_cleanup_now"]

    @admin.display(description=_("sync error"))
    def sync_problem(self, account):
        if not account.sync_failures:
            return ""
        return _("%(error)s (%(count)d in a row)") % {
            "error": account.sync_error,
            "count": account.sync_failures,
        }

    @admin.action(description=_("Sync the selected accounts now"))
    def sync_now(self, request, queryset):
        from webmail.services.sync import account_sync_queue

        account_sync_queue(queryset)
        self.message_user(request, _("A sync of the selected IMAP accounts was queued."))

    @admin.action(description=_("Run the POP3 cleanup of the selected accounts now"))
    def pop3_cleanup_now(self, request, queryset):
        from webmail.tasks import pop3_cleanup_task

        def send(account_id: int) -> None:
            try:
                pop3_cleanup_task.delay(account_id)
            except Exception:  # a broker that is down must not break the admin's page
                log.exception("account %s: cleanup not queued", account_id)

        account_ids = list(
            queryset.filter(protocol=MailAccount.Protocol.POP3).values_list("pk", flat=True)
        )
        for account_id in account_ids:
            transaction.on_commit(partial(send, account_id))
        if not account_ids:
            self.message_user(
                request, _("None of the selected accounts is a POP3 account."), messages.WARNING
            )
            return
        self.message_user(request, ngettext(
            "A cleanup of %(count)d POP3 account was queued: it deletes what its policy allows.",
            "A cleanup of %(count)d POP3 accounts was queued: each deletes what its policy allows.",
            len(account_ids),
        ) % {"count": len(account_ids)})  # fmt: skip


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "user", "source", "times_used", "last_used"]
    list_filter = ["source"]
    search_fields = ["email", "name", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["times_used", "last_used", "created_at"]
    raw_id_fields = ["user"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The audit log: read by admins, written only by accounts.audit.audit_record."""

    list_display = ["when", "kind", "user", "username", "remote_address", "detail"]
    list_filter = ["kind", ("when", admin.DateFieldListFilter)]
    search_fields = ["username", "remote_address", "detail"]
    list_select_related = ["user"]
    date_hierarchy = "when"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
