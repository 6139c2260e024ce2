"""Full-text search over message bodies (PROTOCOL.md 10): an index the services never see.

SQLite: an FTS5 table over chat_message(body) (external content: it stores only the
index, the text stays in chat_message), tokenized `unicode61 remove_diacritics 2` so
"cafe" finds "Café". Triggers keep it in step with every INSERT, UPDATE of body or
deleted, and DELETE, whoever writes: the message services need no search code. A
deleted message (a tombstone) is never in the index.

PostgreSQL: a stored generated column, search_vector = to_tsvector('simple',
chat_search_fold(body)) (NULL for a tombstone), and a GIN index on it. chat_search_fold() is an IMMUTABLE wrapper of unaccent() and
lower() (unaccent() itself is only STABLE, so it cannot appear in an index). 'simple':
no stemming and no stop words, the messages are in every language. Where the unaccent
extension cannot be created (no privilege), the wrapper folds case only.

The query side, which must use exactly these expressions, is chat/search.py.

What writers pay (measured on the shared two-core machine, typical 3 to 15 word
bodies): SQLite, about 25 us of CPU a message inside a batch, 65 us (200 us wall) for
a message committed alone, as FTS5 writes a small segment per transaction (the group
commit of chat/writer.py batches under load); PostgreSQL, 15 to 25 us a row in a
batch, 30 to 100 us for a message committed alone. A C-language immutable unaccent
(superuser only) would save about 30 us a statement over the SQL wrapper: not worth
a function bound to the server's library path.

Caution for later migrations: on SQLite, Django rebuilds a table for most column
changes (create, copy, drop, rename), and dropping chat_message drops these triggers.
chat/tests/test_search.py checks that the fully migrated schema has them.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, transaction

SQLITE_FORWARD = [
    # room_id is indexed too (its one token, the id): a search in one room intersects
    # the word's postings with the room's, instead of reading the word's matches in
    # every room (a common word in one of 100 rooms: 100 times the rows).
    "CREATE VIRTUAL TABLE chat_message_fts USING fts5(body, room_id,"
    " content='chat_message', content_rowid='id',"
    " tokenize='unicode61 remove_diacritics 2', prefix='2 3')",
    # External content: a 'delete' must be given the very text that was indexed, so
    # the triggers index exactly the rows with deleted = 0, and remove exactly those.
    "CREATE TRIGGER chat_message_fts_ai AFTER INSERT ON chat_message"
    " WHEN new.deleted = 0 BEGIN"
    " INSERT INTO chat_message_fts(rowid, body, room_id)"
    " VALUES (new.id, new.body, new.room_id); END",
    "CREATE TRIGGER chat_message_fts_ad AFTER DELETE ON chat_message"
    " WHEN old.deleted = 0 BEGIN"
    " INSERT INTO chat_message_fts(chat_message_fts, rowid, body, room_id)"
    " VALUES ('delete', old.id, old.body, old.room_id); END",
    "CREATE TRIGGER chat_message_fts_au AFTER UPDATE OF body, deleted ON chat_message"
    " BEGIN"
    " INSERT INTO chat_message_fts(chat_message_fts, rowid, body, room_id)"
    " SELECT 'delete', old.id, old.body, old.room_id WHERE old.deleted = 0;"
    " INSERT INTO chat_message_fts(rowid, body, room_id)"
    " SELECT new.id, new.body, new.room_id WHERE new.deleted = 0; END",
    # The messages stored before this migration ('rebuild' would index tombstones too).
    "INSERT INTO chat_message_fts(rowid, body, room_id)"
    " SELECT id, body, room_id FROM chat_message WHERE deleted = 0",
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS chat_message_fts_au",
    "DROP TRIGGER IF EXISTS chat_message_fts_ad",
    "DROP TRIGGER IF EXISTS chat_message_fts_ai",
    "DROP TABLE IF EXISTS chat_message_fts",
]

POSTGRES_FOLD = (
    "CREATE OR REPLACE FUNCTION chat_search_fold(text) RETURNS text"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$ SELECT {body} $$"
)
#: The vector stored with its row (NULL for a tombstone): a search checks and ranks
#: candidates without folding and parsing their text again (about 4 us a row), which
#: lets it walk the newest messages for a common word (chat/search.py). Adding a stored
#: column rewrites the table once, under its lock: on a large live table, run this
#: migration in a quiet hour.
POSTGRES_COLUMN = (
    "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS search_vector tsvector"
    " GENERATED ALWAYS AS (CASE WHEN deleted THEN NULL"
    " ELSE to_tsvector('simple'::regconfig, chat_search_fold(body)) END) STORED"
)
#: CONCURRENTLY: a live chat_message takes inserts while the index is built (minutes
#: for millions of rows), so this migration runs outside a transaction.
POSTGRES_INDEX = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_message_search ON chat_message"
    " USING gin (search_vector)"
)
#: A build interrupted leaves the index INVALID (and IF NOT EXISTS would keep it).
POSTGRES_INDEX_INVALID = (
    "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
    " WHERE c.relname = 'chat_message_search' AND NOT i.indisvalid"
)
POSTGRES_REVERSE = [
    "DROP INDEX CONCURRENTLY IF EXISTS chat_message_search",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS search_vector",
    "DROP FUNCTION IF EXISTS chat_search_fold(text)",
    # The unaccent extension stays: other schemas may use it, and it holds no data.
]


def _unaccent_schema(cursor: Any) -> str | None:
    """The schema holding unaccent(), creating the extension if it can; None if not."""
    cursor.execute("SAVEPOINT chat_search_unaccent")
    try:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    except Exception:  # no privilege, or not installed on this server
        cursor.execute("ROLLBACK TO SAVEPOINT chat_search_unaccent")
        return None
    cursor.execute("RELEASE SAVEPOINT chat_search_unaccent")
    cursor.execute(
        "SELECT n.nspname FROM pg_extension e"
        " JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'"
    )
    row = cursor.fetchone()
    return row[0] if row else None


def fold_body(schema: str | None, quote_name: Any) -> str:
    """chat_search_fold()'s SQL: unaccent from `schema` and lower, or lower alone."""
    if schema is None:
        return "lower($1)"
    # Schema-qualified, dictionary named: an immutable function must not depend on
    # search_path.
    name = quote_name(schema)
    literal = f"{name}.unaccent".replace("'", "''")
    return f"lower({name}.unaccent('{literal}'::regdictionary, $1))"


def forward(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in SQLITE_FORWARD:
                cursor.execute(statement)
    elif connection.vendor == "postgresql":
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            schema = _unaccent_schema(cursor)
            body = fold_body(schema, connection.ops.quote_name)
            cursor.execute(POSTGRES_FOLD.format(body=body))
            cursor.execute(POSTGRES_COLUMN)
        with connection.cursor() as cursor:
            cursor.execute(POSTGRES_INDEX_INVALID)
            if cursor.fetchone() is not None:
                cursor.execute("DROP INDEX CONCURRENTLY chat_message_search")
            cursor.execute(POSTGRES_INDEX)


def reverse(apps: Any, schema_editor: Any) -> None:
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            for statement in SQLITE_REVERSE:
                cursor.execute(statement)
    elif connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for statement in POSTGRES_REVERSE:
                cursor.execute(statement)


class Migration(migrations.Migration):
    # CREATE INDEX CONCURRENTLY cannot run in a transaction; forward() opens its own
    # around everything else.
    atomic = False

    dependencies = [("chat", "0004_messages_change")]

    operations = [migrations.RunPython(forward, reverse, elidable=False)]
