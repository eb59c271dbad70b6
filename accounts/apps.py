from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Users and mail accounts")

    def ready(self):
        from axes.signals import user_locked_out

        from . import audit, checks  # noqa: F401  (registers the checks and audit receivers)

        user_locked_out.connect(audit.locked_out_record, dispatch_uid="accounts.audit.locked_out")
