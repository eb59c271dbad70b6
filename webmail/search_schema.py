"""The full-text index over IndexedMessage.search_document, in each database's own way.

SQLite: an FTS5 table with external content (the message table itself holds the text),
kept in step by triggers. Triggers, not calls from services/index.py, because rows also
go by ways no service sees: a folder's or account's cascade delete, Django's bulk
upserts, the admin. One catch: Django rebuilds a SQLite table to alter it (new table,
copy, drop, rename), and dropping the table drops its triggers. So `search_schema_ensure`
runs after every `migrate` (post_migrate, see apps.py) and, finding a trigger missing,
puts it back and rebuilds the FTS table from the content.

PostgreSQL: a stored generated column (PG_COLUMN) holding the tsvector of the folded
text (german stems and simple words, so `grüßen` finds `Grüße` and names are not stemmed
away), and a GIN index over it. Stored, not only an expression index: PostgreSQL took
folding a row's text for cheap and, for a common word, folded every row instead of asking
the index (0.2 to 35 s at 100,000 messages), and a date window's rows (services/search.py)
can only be checked cheaply against a vector already made. Generated, not kept by a
trigger or by services: the database keeps it right for every way a row is written, and
no Django model knows of it (SQLite has no such type). Migration 0007 adds it to indexes
made before; a type change of search_document would have to drop and re-add it.

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
PG_COLUMN = "search_vector"
PG_INDEX = "webmail_message_search"  # before 0007 over PG_VECTOR, now over PG_COLUMN
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
            cursor.execute(
                "SELECT indexdef FROM pg_indexes WHERE indexname = %s", [PG_INDEX]
            )
            index = cursor.fetchone()
            if index and PG_COLUMN in index[0]:
                return False
            cursor.execute(
                "SELECT 1 FROM information_schema.columns"
                " WHERE table_name = 'webmail_indexedmessage' AND column_name = %s",
                [PG_COLUMN],
            )
            if not cursor.fetchone():
                vector = PG_VECTOR.format(column="search_document")
                cursor.execute(
                    f"ALTER TABLE webmail_indexedmessage ADD COLUMN {PG_COLUMN} tsvector"
                    f" GENERATED ALWAYS AS ({vector}) STORED"
                )
            cursor.execute(f"DROP INDEX IF EXISTS {PG_INDEX}")  # the one over PG_VECTOR
            cursor.execute(
                f"CREATE INDEX {PG_INDEX} ON webmail_indexedmessage USING gin ({PG_COLUMN})"
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
            cursor.execute(f"ALTER TABLE webmail_indexedmessage DROP COLUMN IF EXISTS {PG_COLUMN}")
