import logging
from datetime import timedelta
from functools import partial

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.forms.models import BaseInlineFormSet
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from webmail.models import Pop3Keep, Pop3Mailbox, Pop3Policy
from webmail.selectors import quota_usage_cached, sync_status
from webmail.services.accounts import (
    mail_account_delete,
    mail_account_local_storage,
    mail_accounts_sync_set,
    user_delete,
    user_disable,
    user_mail,
)
from webmail.services.sync import account_sync_queue

from .admin_audit import AuditedAdminMixin, admin_action_record
from .audit import account_detail
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


class MailAccountAdminForm(forms.ModelForm):
    """The admin's form for a mail account, alone or inline under its user. Passwords
    are write-only: the stored ones are no form fields (editable=False); a new one typed
    here replaces them, and nothing shows a password back, not even after an error."""

    new_incoming_password = forms.CharField(
        label=_("New password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current one. Stored passwords are never shown."),
    )
    new_smtp_password = forms.CharField(
        label=_("New SMTP password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Only when SMTP has a login of its own. Leave empty to keep it."),
    )

    class Meta:
        model = MailAccount
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk is None and not cleaned.get("new_incoming_password"):
            self.add_error("new_incoming_password", _("A new account needs its password."))
        return cleaned

    def save(self, commit=True):
        if password := self.cleaned_data.get("new_incoming_password"):
            self.instance.set_incoming_password(password)
        if password := self.cleaned_data.get("new_smtp_password"):
            self.instance.set_smtp_password(password)
        return super().save(commit)


class MailAccountFacts:
    """Read-only facts of a mail account for the admin's forms (inline and its own): how
    far its first sync got, what it takes up here and on its server, its POP3 rule. Read
    from the database and the quota cache; nothing connects to a mail server."""

    @admin.display(description=_("sync error"))
    def sync_problem(self, account):
        if not account.sync_failures:
            return ""
        return _("%(error)s (%(count)d in a row)") % {
            "error": account.sync_error,
            "count": account.sync_failures,
        }

    @admin.display(description=_("sync progress"))
    def sync_progress(self, account):
        if account.pk is None:
            return "–"
        status = sync_status(account=account)
        if not status.in_progress:
            return _("complete") if account.last_synced_at else _("not synced yet")
        return _("%(indexed)s of %(total)s messages indexed") % {
            "indexed": intcomma(status.indexed),
            "total": intcomma(status.total),
        }

    @admin.display(description=_("stored here"))
    def local_storage(self, account):
        if account.pk is None:
            return "–"
        storage = mail_account_local_storage(account=account)
        if account.protocol == MailAccount.Protocol.POP3:
            return ngettext(
                "%(count)s message, %(size)s",
                "%(count)s messages, %(size)s",
                storage.stored_messages,
            ) % {
                "count": intcomma(storage.stored_messages),
                "size": filesizeformat(storage.stored_bytes),
            }
        return ngettext(
            "%(count)s message in the index",
            "%(count)s messages in the index",
            storage.indexed_messages,
        ) % {"count": intcomma(storage.indexed_messages)}

    @admin.display(description=_("on the server"))
    def server_storage(self, account):
        if account.pk is None:
            return "–"
        usage = quota_usage_cached(account=account)
        if account.protocol == MailAccount.Protocol.POP3:
            mailbox = Pop3Mailbox.objects.filter(account=account, fetched_at__isnull=False).first()
            if mailbox is None:
                return _("not fetched yet")
            text = ngettext(
                "%(count)s message, %(size)s",
                "%(count)s messages, %(size)s",
                mailbox.messages,
            ) % {"count": intcomma(mailbox.messages), "size": filesizeformat(mailbox.octets)}
        elif usage is None:
            return _("no quota read lately")
        else:
            text = ""
        if usage is not None:
            quota = _("%(used)s of %(limit)s (%(percent)d%%)") % {
                "used": filesizeformat(usage.used_bytes),
                "limit": filesizeformat(usage.limit_bytes),
                "percent": usage.percent,
            }
            text = f"{text}; {quota}" if text else quota
        return text

    @admin.display(description=_("server copies"))
    def retention(self, account):
        if account.pk is None or account.protocol != MailAccount.Protocol.POP3:
            return "–"
        policy = Pop3Policy.objects.filter(account=account).first()
        if policy is None:
            return _("the site's default, once it first fetches")
        if policy.keep == Pop3Keep.KEEP_DAYS:
            return ngettext(
                "Keep on the server for %(days)d day",
                "Keep on the server for %(days)d days",
                policy.keep_days,
            ) % {"days": policy.keep_days}
        return policy.get_keep_display()


ACCOUNT_FACTS = [
    "last_synced_at", "sync_problem", "sync_progress", "local_storage", "server_storage",
    "retention",
]  # fmt: skip


class MailAccountInline(MailAccountFacts, admin.StackedInline):
    model = MailAccount
    form = MailAccountAdminForm
    extra = 0
    fields = [
        "email", "display_name", "protocol", "incoming_host", "incoming_port",
        "incoming_security", "incoming_login", "new_incoming_password", "smtp_host",
        "smtp_port", "smtp_security", "sync_enabled", *ACCOUNT_FACTS,
    ]  # fmt: skip
    readonly_fields = ACCOUNT_FACTS
    show_change_link = True


@admin.register(User)
class UserAdmin(AuditedAdminMixin, BaseUserAdmin):
    """Users: created with a password that passes the validators, disabled (signed out
    everywhere, their accounts leave the schedulers), deleted with their mail after a
    confirmation that counts what goes (services.accounts.user_delete)."""

    fieldsets = BaseUserAdmin.fieldsets + (
        (_("Preferences"), {"fields": ("language", "time_zone")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("username", "email", "usable_password",
                                                 "password1", "password2")}),
        (_("Preferences"), {"fields": ("language", "time_zone")}),
    )  # fmt: skip
    inlines = [MailAccountInline]
    # Who is using the webmail now: the watcher holds IDLE for them (webmail.services.watch).
    list_display = (*BaseUserAdmin.list_display, "is_active", "last_seen_at")
    actions = ["users_disable", "users_enable"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            user_disable(user=obj)

    @admin.action(description=_("Disable the selected users (signs them out everywhere)"))
    def users_disable(self, request, queryset):
        users = list(queryset.filter(is_active=True).exclude(pk=request.user.pk))
        if queryset.filter(pk=request.user.pk).exists():
            self.message_user(request, _("You cannot disable yourself."), messages.WARNING)
        for user in users:
            ended = user_disable(user=user)
            admin_action_record(request, f"user disabled: {user.username} ({ended} sessions ended)")
        self.message_user(request, ngettext(
            "%(count)d user was disabled and signed out everywhere; their accounts no longer sync.",
            "%(count)d users were disabled and signed out everywhere; their accounts no longer sync.",
            len(users),
        ) % {"count": len(users)})  # fmt: skip

    @admin.action(description=_("Enable the selected users"))
    def users_enable(self, request, queryset):
        users = list(queryset.filter(is_active=False))
        queryset.filter(pk__in=[user.pk for user in users]).update(is_active=True)
        for user in users:
            admin_action_record(request, f"user enabled: {user.username}")
        self.message_user(request, ngettext(
            "%(count)d user was enabled.", "%(count)d users were enabled.", len(users)
        ) % {"count": len(users)})  # fmt: skip

    def get_deleted_objects(self, objs, request):
        def mail_of(user):
            mail = user_mail(user=user)
            return mail.accounts, mail.storage

        return deletion_confirmation(self, request, objs, mail_of)

    def delete_model(self, request, obj):
        self._user_delete(request, obj)

    def delete_queryset(self, request, queryset):
        for user in queryset:
            self._user_delete(request, user)

    def _user_delete(self, request, user) -> None:
        name = user.get_username()
        mail = user_delete(user=user)
        self.message_user(request, ngettext(
            "Deleted with the user %(name)s: %(count)d mail account, %(stored)s messages "
            "stored here (%(size)s). Nothing on a mail server was touched.",
            "Deleted with the user %(name)s: %(count)d mail accounts, %(stored)s messages "
            "stored here (%(size)s). Nothing on a mail server was touched.",
            len(mail.accounts),
        ) % {
            "name": name, "count": len(mail.accounts),
            "stored": intcomma(mail.storage.stored_messages),
            "size": filesizeformat(mail.storage.stored_bytes),
        })  # fmt: skip


def deletion_confirmation(model_admin, request, objs, mail_of):
    """What the admin's delete confirmation lists, for users or mail accounts: per object
    its mail accounts (`mail_of(obj)` gives their names and the LocalStorage of them all),
    the mail stored here and the index, counted. Django's own list names every row that
    cascades, which for a big mailbox is a page of hundreds of thousands of lines.
    Returns get_deleted_objects' (deleted, model_count, perms_needed, protected)."""
    deleted, accounts, stored, size, indexed = [], 0, 0, 0, 0
    for obj in objs:
        names, storage = mail_of(obj)
        meta = obj._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
        deleted.append(
            format_html('{}: <a href="{}">{}</a>', capfirst(meta.verbose_name), url, obj)
        )
        deleted.append(mail_lines(names, storage))
        accounts += len(names)
        stored += storage.stored_messages
        size += storage.stored_bytes
        indexed += storage.indexed_messages
    count = {model_admin.model._meta.verbose_name_plural: len(objs)}
    if model_admin.model is User:
        count[MailAccount._meta.verbose_name_plural] = accounts
    count[_("messages stored here")] = _("%(count)s (%(size)s)") % {
        "count": intcomma(stored),
        "size": filesizeformat(size),
    }
    count[_("messages in the index")] = intcomma(indexed)
    perms_needed = set()
    if not request.user.has_perm("accounts.delete_mailaccount"):
        perms_needed.add(str(MailAccount._meta.verbose_name_plural))
    return deleted, count, perms_needed, []


def mail_lines(accounts: list[str], storage) -> list[str]:
    """The confirmation's lines for one user or account: each account (of a user), then
    what is stored here."""
    lines = [_("Mail account: %(account)s") % {"account": account} for account in accounts]
    lines.append(ngettext(
        "%(count)s message stored here (%(size)s): for POP3 accounts possibly the only copy",
        "%(count)s messages stored here (%(size)s): for POP3 accounts possibly the only copy",
        storage.stored_messages,
    ) % {
        "count": intcomma(storage.stored_messages),
        "size": filesizeformat(storage.stored_bytes),
    })  # fmt: skip
    lines.append(ngettext(
        "%(count)s message in the index (mail on IMAP servers stays there)",
        "%(count)s messages in the index (mail on IMAP servers stays there)",
        storage.indexed_messages,
    ) % {"count": intcomma(storage.indexed_messages)})  # fmt: skip
    return lines


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


class LastSyncFilter(admin.SimpleListFilter):
    title = _("last sync")
    parameter_name = "synced"

    def lookups(self, request, model_admin):
        return [
            ("day", _("in the last day")),
            ("stale", _("not for a day")),
            ("never", _("never")),
        ]

    def queryset(self, request, queryset):
        day_ago = timezone.now() - timedelta(days=1)
        if self.value() == "day":
            return queryset.filter(last_synced_at__gte=day_ago)
        if self.value() == "stale":
            return queryset.filter(Q(last_synced_at__lt=day_ago) | Q(last_synced_at__isnull=True))
        if self.value() == "never":
            return queryset.filter(last_synced_at__isnull=True)
        return queryset


@admin.register(MailAccount)
class MailAccountAdmin(AuditedAdminMixin, MailAccountFacts, admin.ModelAdmin):
    """Mail accounts: servers, sync state, storage here and there, the POP3 rule; the
    passwords can be replaced, never read (MailAccountAdminForm). Actions queue Celery
    tasks once the request's transaction commits and say what they queued."""

    form = MailAccountAdminForm
    list_display = [
        "email", "user", "protocol", "incoming_host", "created_at", "last_synced_at",
        "sync_enabled", "sync_problem",
    ]  # fmt: skip
    list_filter = ["protocol", "sync_enabled", SyncFailingFilter, LastSyncFilter,
                   "incoming_security"]  # fmt: skip
    list_select_related = ["user"]
    search_fields = ["email", "user__username", "incoming_host", "incoming_login"]
    fieldsets = [
        (None, {"fields": ["user", "email", "display_name", "protocol", "sync_enabled"]}),
        (_("Incoming server"), {"fields": [
            "incoming_host", "incoming_port", "incoming_security", "incoming_login",
            "new_incoming_password",
        ]}),
        (_("Outgoing server (SMTP)"), {"fields": [
            "smtp_host", "smtp_port", "smtp_security", "smtp_same_credentials", "smtp_login",
            "new_smtp_password",
        ]}),
        (_("State"), {"fields": [
            "created_at", "sync_started_at", *ACCOUNT_FACTS, "sync_error_at",
        ]}),
    ]  # fmt: skip
    readonly_fields = ["created_at", "sync_started_at", "sync_error_at", *ACCOUNT_FACTS]
    raw_id_fields = ["user"]
    inlines = [IdentityInline]
    actions = ["sync_now", "pop3_cleanup_now", "sync_disable", "sync_enable"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            account_sync_queue([obj])  # its index starts filling at once, as for a user's add

    def get_deleted_objects(self, objs, request):
        def mail_of(account):
            return [], mail_account_local_storage(account=account)

        return deletion_confirmation(self, request, objs, mail_of)

    def delete_model(self, request, obj):
        mail_account_delete(account=obj)

    def delete_queryset(self, request, queryset):
        for account in queryset:
            mail_account_delete(account=account)

    def _audit(self, request, action: str, accounts) -> None:
        for account in accounts:
            admin_action_record(request, f"{action}: {account_detail(account)}")

    @admin.action(description=_("Sync the selected accounts now"))
    def sync_now(self, request, queryset):
        accounts = list(queryset)
        account_sync_queue(accounts)
        self._audit(request, "sync now", accounts)
        self.message_user(request, ngettext(
            "A sync of %(count)d account was queued (POP3: a fetch of new mail).",
            "A sync of %(count)d accounts was queued (POP3: a fetch of new mail).",
            len(accounts),
        ) % {"count": len(accounts)})  # fmt: skip

    @admin.action(description=_("Run the POP3 cleanup of the selected accounts now"))
    def pop3_cleanup_now(self, request, queryset):
        from webmail.tasks import pop3_cleanup_task

        def send(account_id: int) -> None:
            try:
                pop3_cleanup_task.delay(account_id)
            except Exception:  # a broker that is down must not break the admin's page
                log.exception("account %s: cleanup not queued", account_id)

        accounts = list(queryset.filter(protocol=MailAccount.Protocol.POP3))
        for account in accounts:
            transaction.on_commit(partial(send, account.pk))
        if not accounts:
            self.message_user(
                request, _("None of the selected accounts is a POP3 account."), messages.WARNING
            )
            return
        self._audit(request, "POP3 cleanup now", accounts)
        self.message_user(request, ngettext(
            "A cleanup of %(count)d POP3 account was queued: it deletes what its policy allows.",
            "A cleanup of %(count)d POP3 accounts was queued: each deletes what its policy allows.",
            len(accounts),
        ) % {"count": len(accounts)})  # fmt: skip

    @admin.action(description=_("Turn off the background sync of the selected accounts"))
    def sync_disable(self, request, queryset):
        accounts = list(queryset.filter(sync_enabled=True))
        mail_accounts_sync_set(accounts=accounts, enabled=False)
        self._audit(request, "sync disabled", accounts)
        self.message_user(request, ngettext(
            "The background sync of %(count)d account was turned off.",
            "The background sync of %(count)d accounts was turned off.",
            len(accounts),
        ) % {"count": len(accounts)})  # fmt: skip

    @admin.action(description=_("Turn on the background sync of the selected accounts"))
    def sync_enable(self, request, queryset):
        accounts = list(queryset.filter(sync_enabled=False))
        mail_accounts_sync_set(accounts=accounts, enabled=True)
        account_sync_queue(accounts)  # catch up now rather than at the next beat
        self._audit(request, "sync enabled", accounts)
        self.message_user(request, ngettext(
            "The background sync of %(count)d account was turned on, and a sync queued.",
            "The background sync of %(count)d accounts was turned on, and a sync of each queued.",
            len(accounts),
        ) % {"count": len(accounts)})  # fmt: skip


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
