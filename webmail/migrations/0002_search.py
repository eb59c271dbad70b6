"""Full-text search over the index: a folded search document per message, and the
database's own full-text index over it (webmail.search_schema: FTS5 on SQLite, a GIN
index on PostgreSQL). The same migration serves both: the vendor is checked at run time."""

from django.db import migrations, models

from webmail.search_fold import document_fold
from webmail.search_schema import search_schema_drop, search_schema_ensure

BATCH = 1000


def documents_fill(apps, schema_editor):
    IndexedMessage = apps.get_model("webmail", "IndexedMessage")
    rows = IndexedMessage.objects.using(schema_editor.connection.alias).order_by("pk")
    last = 0
    while True:
        batch = list(
            rows.filter(pk__gt=last).only(
                "from_name", "from_addr", "to", "cc", "subject", "search_text"
            )[:BATCH]
        )
        if not batch:
            return
        for row in batch:
            row.search_document = _document(row)
        IndexedMessage.objects.using(schema_editor.connection.alias).bulk_update(
            batch, ["search_document"]
        )
        last = batch[-1].pk


def _document(row) -> str:
    return document_fold(row.from_name, row.from_addr, row.to, row.cc, row.subject, row.search_text)


def schema_create(apps, schema_editor):
    search_schema_ensure(schema_editor.connection)


def schema_drop(apps, schema_editor):
    search_schema_drop(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("webmail", "0001_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="indexedmessage",
            name="search_document",
            field=models.TextField(blank=True, verbose_name="search document"),
        ),
        migrations.RunPython(documents_fill, migrations.RunPython.noop),
        migrations.RunPython(schema_create, schema_drop),
    ]
