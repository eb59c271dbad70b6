from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import MailAccount, User


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
