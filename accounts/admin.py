from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.translation import gettext_lazy as _

from .models import Contact, Identity, MailAccount, User


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


@admin.register(MailAccount)
class MailAccountAdmin(admin.ModelAdmin):
    list_display = ["email", "user", "protocol", "incoming_host", "created_at"]
    list_filter = ["protocol", "incoming_security"]
    search_fields = ["email", "user__username", "incoming_host"]
    readonly_fields = ["created_at", "updated_at"]
    exclude = ["incoming_password_encrypted", "smtp_password_encrypted"]
    inlines = [IdentityInline]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ["email", "name", "user", "source", "times_used", "last_used"]
    list_filter = ["source"]
    search_fields = ["email", "name", "user__username"]
    list_select_related = ["user"]
    readonly_fields = ["times_used", "last_used", "created_at"]
    raw_id_fields = ["user"]
