from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebmailConfig(AppConfig):
    name = "webmail"
    verbose_name = _("Mail")

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import signals  # noqa: F401  (connects the receivers)

        post_migrate.connect(_search_schema_check, sender=self, dispatch_uid="search_schema")


def _search_schema_check(sender, using, **kwargs) -> None:
    """Puts back the SQLite search triggers a table rebuild by a later migration dropped
    (see webmail.search_schema); nothing to do before migration 0002 ran."""
    from django.db import connections

    from .search_schema import search_schema_ensure

    connection = connections[using]
    with connection.cursor() as cursor:
        if "webmail_indexedmessage" not in connection.introspection.table_names(cursor):
            return
        columns = connection.introspection.get_table_description(cursor, "webmail_indexedmessage")
    if any(column.name == "search_document" for column in columns):
        search_schema_ensure(connection)
