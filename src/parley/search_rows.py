"""Full-text search in one query, for :class:`parley.store.SqlStore` (which takes
:meth:`SearchRows.search` and the SQLite index's upkeep from :class:`SearchRows`).

The index follows each message's current text: PostgreSQL's generated column
``messages.search`` in the transaction that writes it (migration ``0007_search``);
SQLite's FTS5 table ``messages_fts`` for edits and removals in that transaction, and
for new messages a moment after their commit, from a backlog
(:mod:`parley.search_index`), which a search first empties, so that it finds every
message stored before it. A removed message's text is NULL, so it is in neither.

The query matches every word as a word's beginning, keeps only chats the user may
read (in the query, so the limit counts readable messages only) and reads each found
message with the columns history reads (:data:`parley.message_rows.COLUMNS`), so a
result is the message history shows.

Order, newest first: on SQLite, the messages' rowids descending, the order they
were stored in (FTS5 walks its index in rowid order and stops at the limit); on
PostgreSQL, dates descending, then chat id and message id descending (the index
``messages_newest``), and in one chat, ids descending (the primary key).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCONFIG

from . import message_extras, message_rows, search_index
from .errors import Unavailable
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
    """The search method of the store, and the upkeep of SQLite's index."""

    dialect: str
    #: SQLite: the plain engine and the one thread that write (see SqlStore)
    _sync_engine: sa.Engine | None
    _sqlite_writer: ThreadPoolExecutor | None
    _indexer: search_index.Indexer | None = None

    def start_indexer(self) -> None:
        """SQLite: start indexing the backlog (what a previous run left, at once)."""
        if self._sqlite_writer is not None:
            self._indexer = search_index.Indexer(self.index_backlog)
            self._indexer.start()

    async def stop_indexer(self) -> None:
        if self._indexer is not None:
            await self._indexer.close()
            self._indexer = None

    def indexed_soon(self) -> None:
        """Messages were stored: the indexer takes them in a moment."""
        if self._indexer is not None:
            self._indexer.nudge()

    async def index_backlog(self) -> int:
        """SQLite: one transaction indexing the oldest waiting messages, on the writer's
        thread (between two of its batches: the two never wait for each other's lock);
        how many it took. PostgreSQL: 0, nothing ever waits."""
        if self._sqlite_writer is None:
            return 0
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._sqlite_writer, self._sqlite_index)

    def _sqlite_index(self) -> int:
        assert self._sync_engine is not None
        try:
            with self._sync_engine.begin() as conn:
                return search_index.index_backlog(conn)
        except (sa.exc.DBAPIError, sa.exc.SQLAlchemyError, OSError, MemoryError) as exc:
            raise Unavailable() from exc

    async def search(self, user_id: int, words: Sequence[str], *, chat: str | None = None,
                     before: int | None = None, limit: int) -> list[tuple[str, StoredMessage]]:
        """The newest ``limit`` messages, with their chat's name, whose current text has
        every one of ``words`` (lowercase, letters and digits only) as a word or a word's
        beginning, in chats the user may read: open chats, closed and direct chats the
        user is a member of; only the chat named ``chat`` if given, and there only ids
        below ``before`` if given. One query."""
        while await self.index_backlog() >= search_index.CHUNK:
            pass
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
        # (a removed message has no text, so the index holds nothing of it: a second guard)
        query = query.where(readable, messages.c.removed.is_(False)).limit(limit)
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
            shown = await conn.run_sync(
                message_extras.decorate, [message_rows.stored(row.chat_id, row) for row in rows])
        return [(row.chat_name, message) for row, message in zip(rows, shown, strict=True)]


def _readable(chat: sa.FromClause, user_id: int) -> sa.ColumnElement[bool]:
    """Whether the user may read the chat of the row ``chat`` (``chats`` or an alias):
    an open chat, or a closed or direct chat the user is a member of."""
    return sa.or_(
        sa.and_(chat.c.password_hash.is_(None), chat.c.direct_key.is_(None)),
        sa.exists().where(members.c.chat_id == chat.c.id, members.c.user_id == user_id))
