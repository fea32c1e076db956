"""SQLite's search index fills after the commit, from a backlog.

Not in the writer's transaction any more (see :mod:`parley.search_index`).

Under ``0007_search`` every stored message was tokenized into ``messages_fts`` by a
trigger inside the writer's transaction: about 60 µs of CPU per message out of 90, so
the index alone halved the rate at which one SQLite writer stores messages. Now:

- ``search_backlog``: the rowids of messages stored with a text and not yet indexed.
  The insert trigger (still named ``messages_fts_insert``, the name a restore drops
  and makes again) only adds the rowid there: one small B-tree insert.
- The indexer moves the backlog into ``messages_fts`` after the commit, many batches
  in one transaction, from the messages' *current* text, and deletes those rowids from
  the backlog in the same transaction: a crash loses nothing, and the next start reads
  what is left.
- The invariant the update and delete triggers keep: a message in the backlog has
  nothing in the index; any other message has exactly its current text there (nothing
  if it has none). So an edit or removal of a message still in the backlog touches
  only its row (the indexer will read its current text, or NULL), and one of an
  indexed message replaces its entry in the same transaction, as before: never a
  stale match. A deleted message leaves the backlog too, so a rowid SQLite reuses
  later is never mistaken for it.

Messages already stored were all indexed by ``0007``'s trigger: the backlog starts
empty. PostgreSQL is unchanged: its generated column costs about 35 µs of CPU per
message, nearly all in the database server's processes rather than Parley's (see
``docs/benchmarks.md``, "Cost per stored message").

A migration that rebuilds ``messages`` on SQLite must now also empty the backlog
after its ``rebuild`` of the index.

Revision ID: 0010_search_backlog
Revises: 0009_moderation
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0010_search_backlog"
down_revision = "0009_moderation"
branch_labels = None
depends_on = None

#: not indexed yet: no entry in ``messages_fts``
_PENDING = "EXISTS (SELECT 1 FROM search_backlog WHERE message_rowid = old.rowid)"

_SQLITE_UP = (
    "CREATE TABLE search_backlog (message_rowid INTEGER PRIMARY KEY)",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO search_backlog(message_rowid) VALUES (new.rowid); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages "
    f"WHEN NOT {_PENDING} BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) "
    "SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL; "
    "INSERT INTO messages_fts(rowid, text) "
    "SELECT new.rowid, new.text WHERE new.text IS NOT NULL; END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) "
    f"SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL AND NOT {_PENDING}; "
    "DELETE FROM search_backlog WHERE message_rowid = old.rowid; END",
)

_SQLITE_DOWN = (
    # index what waits, then the triggers of 0007
    "INSERT INTO messages_fts(rowid, text) SELECT m.rowid, m.text FROM search_backlog b "
    "JOIN messages m ON m.rowid = b.message_rowid WHERE m.text IS NOT NULL",
    "DROP TRIGGER messages_fts_insert",
    "DROP TRIGGER messages_fts_update",
    "DROP TRIGGER messages_fts_delete",
    "DROP TABLE search_backlog",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages "
    "WHEN new.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) "
    "SELECT 'delete', old.rowid, old.text WHERE old.text IS NOT NULL; "
    "INSERT INTO messages_fts(rowid, text) "
    "SELECT new.rowid, new.text WHERE new.text IS NOT NULL; END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages "
    "WHEN old.text IS NOT NULL BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) "
    "VALUES ('delete', old.rowid, old.text); END",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in _SQLITE_UP:
        bind.exec_driver_sql(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for statement in _SQLITE_DOWN:
        bind.exec_driver_sql(statement)
