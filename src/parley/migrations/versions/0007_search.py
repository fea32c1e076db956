"""Full-text search over the messages' current text (see :mod:`parley.search_rows`).

SQLite: ``messages_fts``, an FTS5 table whose content is ``messages`` (external
content: the text is not stored twice; its rowid is the message's rowid), with
the ``unicode61`` tokenizer (words are runs of letters and digits, case folded,
diacritics removed), kept in step by triggers on insert, on update of ``text``
(an edit, or a removal setting it to NULL) and on delete, in the writing
transaction. Existing messages are indexed by a ``rebuild``. Every word is a
prefix query, which FTS5 answers by merging the postings of every term with that
prefix before it yields the first row; the prefix indexes of 1, 2 and 3
characters turn the short prefixes, whose merges would be the largest (``t``,
``th``, ``и``), into one term read newest first and stopped at the limit (at a
million messages: 75 ms of CPU for ``t``, 20 ms for ``th`` and 3.4 ms for ``the``
without them, 0.3 ms with them; the index takes 114 MB instead of 42 MB, beside the
155 MB of the messages table).

A migration that rebuilds ``messages`` on SQLite (``batch_alter_table``: a copy,
a drop, a rename) drops these triggers with the old table and may renumber the
rowids: it must create the triggers again and ``rebuild`` the index.

PostgreSQL: ``messages.search``, a stored generated ``tsvector`` of the text,
with a GIN index. The text is lowercased and everything that is not a letter or
digit becomes a space before the ``simple`` configuration reads it, so that words
are runs of letters and digits as on SQLite (the parser's e-mail, URL and file
tokens never form). Lowercasing and the letter classes follow the collation the
expression names: ``und-x-icu`` (Unicode's own rules) when the server has ICU,
since the database's ``LC_CTYPE`` may be ``C``, under which ``lower('Привет')``
stays ``Привет`` and Cyrillic is no letter at all; without ICU, the database's
default collation. Adding the column computes it for every existing row.

``messages_newest`` (date, chat, id) is the search's order: for a word in many
messages the planner walks it newest first, testing each row's vector, and stops
at the limit, instead of reading every match from the GIN index and sorting them
(at a million messages, a word in half of them: 0.2 ms instead of about a second).

Revision ID: 0007_search
Revises: 0008_users_prefix (re-chained after the changes and the users prefix index)
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_search"
down_revision = "0008_users_prefix"
branch_labels = None
depends_on = None

_SQLITE_UP = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "text, content='messages', content_rowid='rowid', "
    "tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')",
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
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)

_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TABLE IF EXISTS messages_fts",
)


def postgresql_vector(collation: str | None) -> str:
    """The expression of ``messages.search`` (``collation``: the one lowercasing and the
    letter classes follow; None: the database's default)."""
    text = "coalesce(text, '')"
    if collation is not None:
        text += f' COLLATE "{collation}"'
    return (f"to_tsvector('simple'::regconfig, "
            f"regexp_replace(lower({text}), '[^[:alnum:]]+', ' ', 'g'))")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_UP:
            bind.exec_driver_sql(statement)
        return
    icu = bind.execute(sa.text(
        "SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu'")).first() is not None
    expression = postgresql_vector("und-x-icu" if icu else None)
    bind.exec_driver_sql(
        f"ALTER TABLE messages ADD COLUMN search tsvector "
        f"GENERATED ALWAYS AS ({expression}) STORED")
    bind.exec_driver_sql("CREATE INDEX messages_search ON messages USING gin (search)")
    bind.exec_driver_sql("CREATE INDEX messages_newest ON messages (created_ms, chat_id, id)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        for statement in _SQLITE_DOWN:
            bind.exec_driver_sql(statement)
        return
    bind.exec_driver_sql("DROP INDEX IF EXISTS messages_newest")
    bind.exec_driver_sql("DROP INDEX IF EXISTS messages_search")
    bind.exec_driver_sql("ALTER TABLE messages DROP COLUMN IF EXISTS search")
