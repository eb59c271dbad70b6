"""The admin's own changes in the audit log (AuditEvent ADMIN_ACTION): every add, change
and delete the admin's forms log for Django's history, and every action, with the admin
as the row's user and the object and what changed in the detail.

The detail is written in English whatever the admin's language, like the rest of the
audit log, so the log reads the same for every admin who reads it later."""

from django.contrib.admin.models import LogEntry
from django.utils import translation

from .audit import audit_record
from .models import AuditEvent


def admin_action_record(request, detail: str) -> AuditEvent:
    """One ADMIN_ACTION row: `request.user` did `detail` (never a password in it)."""
    return audit_record(
        kind=AuditEvent.Kind.ADMIN_ACTION, request=request, user=request.user, detail=detail
    )


class AuditedAdminMixin:
    """For a ModelAdmin: what Django writes to its LogEntry history goes to the audit
    log too. Passwords typed into a form appear only as the field's name ("Changed
    New password.")."""

    def _entries_record(self, request, entries) -> None:
        if isinstance(entries, LogEntry):
            entries = [entries]
        name = self.model._meta.verbose_name
        with translation.override("en"):
            for entry in entries:
                admin_action_record(request, f"{name}: {entry}")

    def log_addition(self, request, obj, message):
        entry = super().log_addition(request, obj, message)
        self._entries_record(request, entry)
        return entry

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        self._entries_record(request, entry)
        return entry

    def log_deletions(self, request, queryset):
        entries = super().log_deletions(request, queryset)
        self._entries_record(request, entries)
        return entries
