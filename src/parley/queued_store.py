"""The store as the server uses it: reads in one fair queue, token logins from memory.

:class:`QueuedStore` is :class:`~parley.store.SqlStore` with the reads of a
socket's return (token login, chat list, ``choice``) put through a
:class:`~parley.read_queue.ReadQueue` (fair, no timeout, identical waiting reads
answered by one query, a started read never cancelled) and token logins
answered from a :class:`~parley.token_cache.TokenCache` (kept right by the
revocations here and by the ``user`` events of every process: see
:meth:`forget_user`). The admin command line and the migrations use the plain
store.
"""

from __future__ import annotations

from collections.abc import Hashable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from .model import Chat, ChatSummary, StoredMessage, User
from .read_queue import ReadQueue
from .store import SqlStore
from .token_cache import TokenCache

#: ``choice`` with ``After``: the most messages one read takes for the pages asked together
MERGED_ROWS = 1000
#: reads under way at once: SQLite's pool holds 5 connections (and 10 more for a
#: while), PostgreSQL's 10 (and 10 more); the rest of each is left to the writes
READS = {"sqlite": 4, "postgresql": 8}


class QueuedStore(SqlStore):
    """:class:`SqlStore` with its hot reads queued and its token logins kept."""

    def __init__(self, engine: AsyncEngine, sync_engine: sa.Engine | None = None) -> None:
        super().__init__(engine, sync_engine)
        self.reads = ReadQueue(READS.get(self.dialect, 4))
        self.tokens = TokenCache()

    # -- tokens -----------------------------------------------------------------------

    async def user_by_token(self, digest: str) -> User | None:
        return await self.tokens.user(digest, self.token_user)

    async def token_user(self, digest: str) -> tuple[User, int] | None:
        return await self.reads.run(("token", digest), lambda: super(QueuedStore, self)
                                    .token_user(digest))

    def forget_user(self, user_id: int) -> None:
        """The user's tokens may have been revoked (a ``user`` event reached this
        process): the next login with any of them reads the database."""
        self.tokens.forget_user(user_id)

    async def revoke_token(self, digest: str) -> None:
        try:
            await super().revoke_token(digest)
        finally:
            self.tokens.forget(digest)

    async def revoke_user_tokens(self, user_id: int) -> None:
        try:
            await super().revoke_user_tokens(user_id)
        finally:
            self.tokens.forget_user(user_id)

    async def change_password(
        self, user_id: int, password_hash: str, digest: str, expires_ms: int
    ) -> None:
        try:
            await super().change_password(user_id, password_hash, digest, expires_ms)
        finally:
            self.tokens.forget_user(user_id)

    # -- reads ------------------------------------------------------------------------

    async def list_chats(self) -> list[ChatSummary]:
        return list(await self.reads.run(("list",), super().list_chats))

    async def direct_chats(self, user_id: int) -> list[ChatSummary]:
        return list(await self.reads.run(("direct", user_id),
                                         lambda: super(QueuedStore, self).direct_chats(user_id)))

    async def find_chat(self, name: str) -> Chat | None:
        return await self.reads.run(("chat", name),
                                    lambda: super(QueuedStore, self).find_chat(name))

    async def is_member(self, chat_id: int, user_id: int) -> bool:
        return await self.reads.run(("member", chat_id, user_id),
                                    lambda: super(QueuedStore, self).is_member(chat_id, user_id))

    async def banned(self, chat_id: int, user_id: int, now: int) -> bool:
        return await self.reads.run(("banned", chat_id, user_id, now),
                                    lambda: super(QueuedStore, self).banned(chat_id, user_id, now))

    async def standing(self, chat_id: int, user_id: int, now: int) -> tuple[bool, bool]:
        return await self.reads.run(
            ("standing", chat_id, user_id, now),
            lambda: super(QueuedStore, self).standing(chat_id, user_id, now))

    async def positions(self, chat_id: int) -> tuple[int, int] | None:
        return await self.reads.run(("positions", chat_id),
                                    lambda: super(QueuedStore, self).positions(chat_id))

    async def history(
        self, chat_id: int, *, before: int | None = None, after: int | None = None, limit: int
    ) -> list[StoredMessage]:
        if after is not None and before is None:
            page = await self._after(chat_id, after, limit)
            if page is not None:
                return page
        page = await self.reads.run(
            ("history", chat_id, before, after, limit),
            lambda: super(QueuedStore, self).history(chat_id, before=before, after=after,
                                                     limit=limit))
        return list(page)  # (the askers' own lists: a caller may extend its page)

    async def _after(self, chat_id: int, after: int, limit: int) -> list[StoredMessage] | None:
        """The page of ``limit`` messages after ``after``, cut from one read that answers
        every such page of the chat asked while it waited: the messages after the least
        of their ids, ``limit`` for each page asked, :data:`MERGED_ROWS` at most. None
        when that read stopped short of this page (the caller reads it alone)."""
        rows, span = await self.reads.merged(
            ("after", chat_id, limit), after,
            lambda afters: self._after_rows(chat_id, afters, limit))
        page = [message for message in rows if message.id > after][:limit]
        if len(page) < limit and len(rows) == span:
            return None  # (the read was cut before this page's end)
        return page

    async def _after_rows(self, chat_id: int, afters: list[Hashable],
                          limit: int) -> tuple[list[StoredMessage], int]:
        ids = [int(after) for after in afters if isinstance(after, int)]
        span = max(limit, min(MERGED_ROWS, limit * len(set(ids))))
        return await super().history(chat_id, after=min(ids), limit=span), span

    async def changed(self, chat_id: int, *, upto: int, after: int,
                      limit: int) -> list[StoredMessage]:
        return list(await self.reads.run(
            ("changed", chat_id, upto, after, limit),
            lambda: super(QueuedStore, self).changed(chat_id, upto=upto, after=after,
                                                     limit=limit)))

    async def last_id(self, chat_id: int) -> int | None:
        return await self.reads.run(("last", chat_id),
                                    lambda: super(QueuedStore, self).last_id(chat_id))

