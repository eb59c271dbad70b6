"""The full-text index over IndexedMessage.search_document, in each database's own way.

SQLite: an FTS5 table with external content (the message table itself holds the text),
kept in step by triggers. Triggers, not calls from services/index.py, because rows also
go by ways no service sees: a folder's or account's cascade delete, Django's bulk
upserts, the admin. One catch: Django rebuilds a SQLite table to alter it (new table,
copy, drop, rename), and dropping the table drops its triggers. So `search_schema_ensure`
runs after every `migrate` (post_migrate, see apps.py) and, finding a trigger missing,
puts it back and rebuilds the FTS table from the content.

PostgreSQL: a GIN index over the expression selectors use (german stems and simple
words of the same folded text, so `grüßen` finds `Grüße` and names are not stemmed away).

Both: a small partial index of the messages without body text (TEXTLESS), which a search
in one folder asks about first (services/search.py sends such folders' searches to the
server too). Without it that question read every message of the folder: 0.1 to 0.3 s
for a folder of 40,000 on SQLite. It goes by the same ways as the triggers, and comes
back the same way.
"""

from __future__ import annotations

FTS_TABLE = "webmail_message_fts"
PG_VECTOR = (
    "(to_tsvector('german'::regconfig, {column}) || to_tsvector('simple'::regconfig, {column}))"
)
PG_INDEX = "webmail_message_search"
# Literal SQL: a database uses a partial index only for a query naming its condition, and
# with the '' as a parameter the query would not (for all the database knows beforehand).
TEXTLESS = "search_text = ''"
_TEXTLESS_INDEX = "webmail_message_textless"

_SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON webmail_indexedmessage
        BEGIN
            INSERT INTO {FTS_TABLE}(rowid, search_document) VALUES (new.id, new.search_document);
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON webmail_indexedmessage
        BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_document)
            VALUES ('delete', old.id, old.search_document);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update
        AFTER UPDATE OF search_document ON webmail_indexedmessage
        BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, search_document)
            VALUES ('delete', old.id, old.search_document);
            INSERT INTO {FTS_TABLE}(rowid, search_document) VALUES (new.id, new.search_document);
        END""",
}


def search_schema_ensure(connection) -> bool:
    """Creates what is missing; returns True if it had to (and so rebuilt the index)."""
    with connection.cursor() as cursor:
        if connection.vendor in ("sqlite", "postgresql"):
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {_TEXTLESS_INDEX} ON webmail_indexedmessage"
                f" (folder_id) WHERE {TEXTLESS}"
            )
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger') AND name LIKE %s",
                [FTS_TABLE + "%"],
            )
            present = {row[0] for row in cursor.fetchall()}
            wanted = {FTS_TABLE, *_SQLITE_TRIGGERS}
            if wanted <= present:
                return False
            # unicode61 sees text search_fold has folded already; prefix indexes of 2 and
            # 3 characters keep the short prefixes typed first fast.
            cursor.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(search_document,"
                " content='webmail_indexedmessage', content_rowid='id',"
                " tokenize='unicode61', prefix='2 3')"
            )
            for sql in _SQLITE_TRIGGERS.values():
                cursor.execute(sql)
            cursor.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")
            return True
        if connection.vendor == "postgresql":
            cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [PG_INDEX])
            if cursor.fetchone():
                return False
            vector = PG_VECTOR.format(column="search_document")
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON webmail_indexedmessage"
                f" USING gin ({vector})"
            )
            return True
    return False  # other databases: search falls back to LIKE (see services/search.py)


def search_schema_drop(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor in ("sqlite", "postgresql"):
            cursor.execute(f"DROP INDEX IF EXISTS {_TEXTLESS_INDEX}")
        if connection.vendor == "sqlite":
            for name in _SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
        elif connection.vendor == "postgresql":
            cursor.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")
