"""Full-text search in one query, for :class:`parley.store.SqlStore` (which takes
:meth:`SearchRows.search` from :class:`SearchRows`).

The index (migration ``0007_search``) follows each message's current text in the
transaction that writes it: SQLite's FTS5 table ``messages_fts`` by triggers,
PostgreSQL's generated column ``messages.search``. A removed message's text is
NULL, so it is in neither. The query matches every word as a word's beginning,
keeps only chats the user may read (in the query, so the limit counts readable
messages only) and reads each found message with the columns history reads
(:data:`parley.message_rows.COLUMNS`), so a result is the message history shows.

Order, newest first: on SQLite, the messages' rowids descending, the order they
were stored in (FTS5 walks its index in rowid order and stops at the limit); on
PostgreSQL, dates descending, then chat id and message id descending (the index
``messages_newest``), and in one chat, ids descending (the primary key).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCONFIG

from . import message_extras, message_rows
from .model import StoredMessage
from .rows import Transactions
from .schema import chats, members, messages

_FTS = sa.table("messages_fts", sa.column("rowid", sa.BigInteger))
_ROWID = sa.literal_column("messages.rowid", sa.BigInteger)
_VECTOR: sa.ColumnClause[Any] = sa.literal_column("messages.search")


def sqlite_match(words: Sequence[str]) -> str:
    """An FTS5 query: each word a quoted string (its ``"`` doubled, so nothing in it is
    FTS syntax) matching a token's beginning, all of them (implicit AND)."""
    return " ".join('"' + word.replace('"', '""') + '"*' for word in words)


def postgresql_query(words: Sequence[str]) -> str:
    """A ``to_tsquery`` text: each word a quoted lexeme (``'`` and ``\\`` escaped, so
    nothing in it is tsquery syntax) matching as a prefix (``:*``), joined by ``&``."""
    def quoted(word: str) -> str:
        return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"
    return " & ".join(quoted(word) + ":*" for word in words)


class SearchRows(Transactions):
    """The search method of the store."""

    dialect: str

    async def search(self, user_id: int, words: Sequence[str], *, chat: str | None = None,
                     before: int | None = None, limit: int) -> list[tuple[str, StoredMessage]]:
        """The newest ``limit`` messages, with their chat's name, whose current text has
        every one of ``words`` (lowercase, letters and digits only) as a word or a word's
        beginning, in chats the user may read: open chats, closed and direct chats the
        user is a member of; only the chat named ``chat`` if given, and there only ids
        below ``before`` if given. One query."""
        readable = _readable(chats, user_id)
        columns = (chats.c.name.label("chat_name"), messages.c.chat_id,
                   *message_rows.COLUMNS)
        if self.dialect == "sqlite":
            query: sa.Select[Any] = (
                sa.select(*columns)
                .select_from(_FTS.join(messages, _FTS.c.rowid == _ROWID)
                             .join(chats, chats.c.id == messages.c.chat_id))
                .where(sa.literal_column("messages_fts").op("MATCH")(sqlite_match(words)))
                .order_by(_FTS.c.rowid.desc()))
        else:
            tsquery = sa.func.to_tsquery(sa.cast("simple", REGCONFIG),
                                         sa.literal(postgresql_query(words), sa.Text))
            query = (
                sa.select(*columns)
                .select_from(messages.join(chats, chats.c.id == messages.c.chat_id))
                .where(_VECTOR.op("@@")(tsquery))
                .order_by(*(() if chat is not None else (messages.c.created_ms.desc(),
                                                         messages.c.chat_id.desc())),
                          messages.c.id.desc()))
        query = query.where(readable).limit(limit)
        if chat is not None:
            if self.dialect == "sqlite":
                # the chat's row (one, by its unique name) is the outer loop, and whether
                # the user may read it is tested there, before any message is read
                query = query.where(chats.c.name == chat)
            else:
                # the chat's id, or NULL when it does not exist or the user may not read
                # it, computed once before any message is read (an InitPlan), then a key
                # of the messages' primary key or of the GIN scan
                wanted = chats.alias("wanted")
                chosen = (sa.select(wanted.c.id)
                          .where(wanted.c.name == chat, _readable(wanted, user_id))
                          .scalar_subquery())
                query = query.where(chosen.is_not(None), messages.c.chat_id == chosen)
            if before is not None:
                query = query.where(messages.c.id < before)
        async with self._tx() as conn:
            if self.dialect != "sqlite":
                # Planned for these words each time: a prepared statement's generic plan
                # knows no word's frequency, and reading every match of a common word
                # from the GIN index and sorting them takes a second at a million.
                await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_custom_plan")
            rows = (await conn.execute(query)).all()
            # with their reactions and reply previews, as history shows them
            found = await conn.run_sync(message_extras.decorate,
                                        [message_rows.stored(row.chat_id, row) for row in rows])
        return [(row.chat_name, message) for row, message in zip(rows, found, strict=True)]


def _readable(chat: sa.FromClause, user_id: int) -> sa.ColumnElement[bool]:
    """Whether the user may read the chat of the row ``chat`` (``chats`` or an alias):
    an open chat, or a closed or direct chat the user is a member of."""
    return sa.or_(
        sa.and_(chat.c.password_hash.is_(None), chat.c.direct_key.is_(None)),
        sa.exists().where(members.c.chat_id == chat.c.id, members.c.user_id == user_id))
