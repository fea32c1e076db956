"""Storage: the :class:`Store` interface and its SQLAlchemy engine (SQLite or PostgreSQL).

Every method is one transaction. Database failures come out as
:class:`~parley.errors.Unavailable` so that callers answer ``"Status": "error"``
and carry on; the engine's pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, Self

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import message_rows, migrations
from .change_rows import ChangeRows, ChangeStore
from .direct_rows import CHAT, DirectRows, chat_of
from .errors import Unavailable
from .model import Chat, ChatSummary, Draft, Stored, StoredMessage, Unread, User, now_ms
from .moderation_rows import ModerationRows, ModerationStore
from .rules import chat_key
from .schema import chats, images, members, mentions, messages, reactions, tokens, users
from .search_rows import SearchRows
from .seen import SeenRows, SeenStore
from .unread_rows import ReadPointers


class OwnsTooMany(Exception):
    """``create_chat``: the owner already owns ``max_owned`` chats."""


class Store(ChangeStore, ModerationStore, SeenStore, Protocol):
    """What the server needs from a database (changes to messages: :class:`ChangeStore`;
    roles, moderators, bans and mutes: :class:`ModerationStore`; when users were last
    seen: :class:`~parley.seen.SeenStore`)."""

    async def ping(self) -> None: ...
    async def create_user(self, login: str, key: str, password_hash: str) -> User | None: ...
    async def find_user(self, key: str) -> tuple[User, str] | None: ...
    async def logins_starting(self, prefix_key: str, limit: int) -> list[str]: ...
    async def add_token(self, digest: str, user_id: int, expires_ms: int) -> None: ...
    async def user_by_token(self, digest: str) -> User | None: ...
    async def revoke_token(self, digest: str) -> None: ...
    async def revoke_user_tokens(self, user_id: int) -> None: ...
    async def change_password(
        self, user_id: int, password_hash: str, digest: str, expires_ms: int
    ) -> None: ...
    async def list_chats(self) -> list[ChatSummary]: ...
    async def create_chat(
        self, name: str, owner_id: int, password_hash: str | None, *, max_owned: int = 0
    ) -> Chat | None: ...
    async def find_chat(self, name: str) -> Chat | None: ...
    async def find_users(self, keys: Sequence[str]) -> dict[str, User]: ...
    async def find_direct(self, member_key: str) -> Chat | None: ...
    async def create_direct(self, name: str, member_key: str,
                            member_ids: Sequence[int]) -> Chat | None: ...
    async def direct_chats(self, user_id: int) -> list[ChatSummary]: ...
    async def name_taken(self, name: str) -> bool: ...
    async def count_owned(self, user_id: int) -> int: ...
    async def chat_exists(self, chat_id: int) -> bool: ...
    async def is_member(self, chat_id: int, user_id: int) -> bool: ...
    async def add_member(self, chat_id: int, user_id: int) -> None: ...
    async def remove_member(self, chat_id: int, user_id: int) -> None: ...
    async def member_ids(self, chat_id: int) -> list[int]: ...
    async def member_chats(self, user_ids: Sequence[int]) -> dict[int, list[int]]: ...
    async def mark_read(self, chat_id: int, user_id: int, message_id: int) -> int | None: ...
    async def unread(self, user_id: int) -> list[Unread]: ...
    async def delete_chat(self, chat_id: int) -> bool: ...
    async def last_id(self, chat_id: int) -> int | None: ...
    async def history(
        self, chat_id: int, *, before: int | None = None, after: int | None = None, limit: int
    ) -> list[StoredMessage]: ...
    async def insert_messages(self, drafts: Sequence[Draft]) -> list[Stored]: ...
    async def search(self, user_id: int, words: Sequence[str], *, chat: str | None = None,
                     before: int | None = None, limit: int) -> list[tuple[str, StoredMessage]]: ...
    async def has_image(self, chat_id: int, name: str) -> bool: ...
    async def image_data(self, chat_id: int, name: str) -> bytes | None: ...
    async def close(self) -> None: ...


class SqlStore(ReadPointers, DirectRows, ChangeRows, SearchRows, ModerationRows, SeenRows):
    """:class:`Store` on SQLAlchemy's async engine: SQLite (aiosqlite) or PostgreSQL
    (asyncpg); read pointers and unread counts in :class:`~parley.unread_rows.ReadPointers`,
    direct chats in :class:`~parley.direct_rows.DirectRows`, changes to messages in
    :class:`~parley.change_rows.ChangeRows`, search in :class:`~parley.search_rows.SearchRows`,
    moderation in :class:`~parley.moderation_rows.ModerationRows`."""

    def __init__(self, engine: AsyncEngine, sync_engine: sa.Engine | None = None) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._sync_engine = sync_engine
        self._sqlite_writer = (
            ThreadPoolExecutor(1, thread_name_prefix="sqlite-writer") if sync_engine else None
        )

    @classmethod
    async def open(
        cls, url: str, *, sqlite_synchronous: str = "FULL", sqlite_busy_ms: int = 5000
    ) -> Self:
        """Connect, apply migrations, and return the store."""
        kwargs: dict[str, Any] = {}
        if url.startswith("postgresql"):
            kwargs.update(pool_size=10, max_overflow=10, pool_pre_ping=True, pool_timeout=5)
        engine = create_async_engine(url, **kwargs)
        sync_engine = None
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine.sync_engine, sqlite_synchronous, sqlite_busy_ms)
            sync_engine = sa.create_engine(engine.url.set(drivername="sqlite"))
            _sqlite_pragmas(sync_engine, sqlite_synchronous, sqlite_busy_ms)
        await migrations.upgrade(engine)
        store = cls(engine, sync_engine)
        store.start_indexer()
        return store

    async def close(self) -> None:
        await self.stop_indexer()
        if self._sqlite_writer is not None:
            self._sqlite_writer.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()

    async def ping(self) -> None:
        async with self._tx() as conn:
            await conn.execute(sa.text("SELECT 1"))

    # -- users and tokens ----------------------------------------------------------

    async def create_user(self, login: str, key: str, password_hash: str) -> User | None:
        """The new user, or None when the login is taken."""
        try:
            async with self._tx() as conn:
                result = await conn.execute(
                    users.insert()
                    .values(
                        login=login, login_key=key, password_hash=password_hash, created_ms=now_ms()
                    )
                    .returning(users.c.id)
                )
                return User(result.scalar_one(), login)
        except IntegrityError:
            return None

    async def find_user(self, key: str) -> tuple[User, str] | None:
        row = await self._first(
            sa.select(users.c.id, users.c.login, users.c.password_hash, users.c.disabled)
            .where(users.c.login_key == key)
        )
        return None if row is None else (User(row.id, row.login, bool(row.disabled)),
                                         row.password_hash)

    async def logins_starting(self, prefix_key: str, limit: int) -> list[str]:
        """The first ``limit`` logins, by login key, whose key starts with ``prefix_key``:
        one range scan in code point order, whatever the database's collation. SQLite
        compares with ``BINARY``, on the keys' unique index; PostgreSQL compares the keys
        ``COLLATE "C"``, on the index of revision ``0008_users_prefix`` (in a database
        of another collation, ``en_US`` or ICU, ``_``, ``-`` and ``.`` sort otherwise,
        and the range of a prefix would hold other keys)."""
        key: sa.ColumnElement[str] = users.c.login_key
        if self.dialect == "postgresql":
            key = key.collate("C")
        query = sa.select(users.c.login).where(key >= prefix_key)
        upper = _after_prefix(prefix_key)
        if upper is not None:
            query = query.where(key < upper)
        async with self._tx() as conn:
            rows = await conn.execute(query.order_by(key).limit(limit))
            return [row.login for row in rows]

    async def add_token(self, digest: str, user_id: int, expires_ms: int) -> None:
        async with self._tx() as conn:
            await conn.execute(
                tokens.insert().values(digest=digest, user_id=user_id, expires_ms=expires_ms)
            )

    async def user_by_token(self, digest: str) -> User | None:
        found = await self.token_user(digest)
        return None if found is None else found[0]

    async def token_user(self, digest: str) -> tuple[User, int] | None:
        """The user of the live token ``digest``, and the token's expiry (ms)."""
        row = await self._first(
            sa.select(users.c.id, users.c.login, users.c.disabled, tokens.c.expires_ms)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.digest == digest, tokens.c.expires_ms > now_ms())
        )
        return None if row is None else (User(row.id, row.login, bool(row.disabled)),
                                         int(row.expires_ms))

    async def revoke_token(self, digest: str) -> None:
        async with self._tx() as conn:
            await conn.execute(tokens.delete().where(tokens.c.digest == digest))

    async def revoke_user_tokens(self, user_id: int) -> None:
        """Every token of the user stops working (``logout`` with ``Everywhere``)."""
        async with self._tx() as conn:
            await conn.execute(tokens.delete().where(tokens.c.user_id == user_id))

    async def change_password(
        self, user_id: int, password_hash: str, digest: str, expires_ms: int
    ) -> None:
        """In one transaction: the new password hash, every old token revoked, and the
        one new token ``digest``."""
        async with self._tx() as conn:
            await conn.execute(
                users.update().where(users.c.id == user_id).values(password_hash=password_hash))
            await conn.execute(tokens.delete().where(tokens.c.user_id == user_id))
            await conn.execute(
                tokens.insert().values(digest=digest, user_id=user_id, expires_ms=expires_ms))

    # -- chats --------------------------------------------------------------------

    async def list_chats(self) -> list[ChatSummary]:
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    sa.select(chats.c.name, chats.c.password_hash, users.c.login)
                    .select_from(chats.outerjoin(users, users.c.id == chats.c.owner_id))
                    .where(chats.c.direct_key.is_(None))  # (each member's own: direct_chats)
                    .order_by(chats.c.id)
                )
            ).all()
        return [ChatSummary(r.name, r.password_hash is not None, r.login) for r in rows]

    async def create_chat(
        self, name: str, owner_id: int, password_hash: str | None, *, max_owned: int = 0
    ) -> Chat | None:
        """The new chat (its owner a member), or None when the name is taken: by a chat
        of the same name after case folding (:func:`~parley.rules.chat_key`), checked by
        the database's unique index, so that concurrent creates cannot both succeed.

        With ``max_owned``, raises :class:`OwnsTooMany` instead when the owner would own
        more than that. The count is taken in the creating transaction, after its write
        lock (PostgreSQL: the owner's row, locked first; SQLite: the database's, taken by
        the insert), so concurrent creates of one owner are counted one after the other.
        """
        try:
            async with self._tx() as conn:
                if max_owned and self.dialect == "postgresql":
                    await conn.execute(
                        sa.select(users.c.id).where(users.c.id == owner_id)
                        .with_for_update(key_share=True))
                result = await conn.execute(
                    chats.insert()
                    .values(
                        name=name,
                        name_key=chat_key(name),
                        owner_id=owner_id,
                        password_hash=password_hash,
                        last_id=0,
                        created_ms=now_ms(),
                    )
                    .returning(chats.c.id)
                )
                chat_id = result.scalar_one()
                if max_owned and await _owned(conn, owner_id) > max_owned:
                    raise OwnsTooMany()  # rolls the insert back
                await conn.execute(members.insert().values(chat_id=chat_id, user_id=owner_id))
                return Chat(chat_id, name, owner_id, password_hash)
        except IntegrityError:
            return None

    async def find_chat(self, name: str) -> Chat | None:
        return chat_of(await self._first(CHAT.where(chats.c.name == name)))

    async def name_taken(self, name: str) -> bool:
        """A chat of this name, or of one equal to it after case folding, exists."""
        row = await self._first(
            sa.select(chats.c.id).where(chats.c.name_key == chat_key(name)).limit(1))
        return row is not None

    async def chat_exists(self, chat_id: int) -> bool:
        return await self.last_id(chat_id) is not None

    async def count_owned(self, user_id: int) -> int:
        async with self._tx() as conn:
            return await _owned(conn, user_id)

    async def is_member(self, chat_id: int, user_id: int) -> bool:
        row = await self._first(
            sa.select(members.c.chat_id).where(
                members.c.chat_id == chat_id, members.c.user_id == user_id
            )
        )
        return row is not None

    async def add_member(self, chat_id: int, user_id: int) -> None:
        try:
            async with self._tx() as conn:
                await conn.execute(members.insert().values(chat_id=chat_id, user_id=user_id))
        except IntegrityError:
            pass  # already a member, or the chat was deleted meanwhile

    async def remove_member(self, chat_id: int, user_id: int) -> None:
        """The user is no longer a member (nothing happens if they were not one)."""
        async with self._tx() as conn:
            await conn.execute(members.delete().where(
                members.c.chat_id == chat_id, members.c.user_id == user_id))

    async def delete_chat(self, chat_id: int,
                          also: Callable[[AsyncConnection], Awaitable[None]] | None = None,
                          ) -> bool:
        """Delete the chat with its messages, members and images; False if it was gone.
        ``also`` runs in the same transaction once the chat is deleted (``parley admin``
        writes the events that announce it: see parley.control).

        Its name key goes to the oldest look-alike chat kept without one (made before
        names were unique after case folding; see migration 0003), if there is one."""
        async with self._tx() as conn:
            for table in (messages, mentions, reactions, images, members):
                await conn.execute(table.delete().where(table.c.chat_id == chat_id))
            found = (await conn.execute(
                sa.delete(chats).where(chats.c.id == chat_id).returning(chats.c.name_key)
            )).first()
            if found is None:
                return False
            key = found.name_key
            unkeyed = await conn.execute(sa.select(chats.c.id, chats.c.name)
                                         .where(chats.c.name_key.is_(None)).order_by(chats.c.id))
            heir = next((row.id for row in unkeyed if chat_key(row.name) == key), None)
            if heir is not None:
                await conn.execute(chats.update().where(chats.c.id == heir).values(name_key=key))
            if also is not None:
                await also(conn)
            return True

    # -- messages -----------------------------------------------------------------

    async def last_id(self, chat_id: int) -> int | None:
        row = await self._first(sa.select(chats.c.last_id).where(chats.c.id == chat_id))
        return None if row is None else int(row.last_id)

    async def history(
        self, chat_id: int, *, before: int | None = None, after: int | None = None, limit: int
    ) -> list[StoredMessage]:
        """A page of messages, oldest first: the newest ``limit`` before ``before``,
        or the oldest ``limit`` after ``after``."""
        async with self._tx() as conn:
            return await message_rows.page(conn, chat_id, before=before, after=after,
                                           limit=limit)

    async def insert_messages(self, drafts: Sequence[Draft]) -> list[Stored]:
        """Store a batch of messages in one transaction, in order (see
        :func:`~parley.message_rows.insert_batch`).

        On SQLite the whole batch goes to one writer thread in one trip, with
        a plain (synchronous) connection: one hand-over instead of one per
        statement; the search index takes the messages a moment after the
        commit (:mod:`parley.search_index`).
        """
        if self._sqlite_writer is not None:
            loop = asyncio.get_running_loop()
            stored = await loop.run_in_executor(self._sqlite_writer, self._sqlite_batch,
                                                list(drafts))
            self.indexed_soon()
            return stored
        async with self._tx() as conn:
            return await conn.run_sync(message_rows.insert_batch, drafts)

    def _sqlite_batch(self, drafts: list[Draft]) -> list[Stored]:
        assert self._sync_engine is not None
        try:
            with self._sync_engine.begin() as conn:
                return message_rows.insert_batch(conn, drafts)
        except (DBAPIError, SQLAlchemyError, OSError, MemoryError) as exc:
            raise Unavailable() from exc

    async def image_data(self, chat_id: int, name: str) -> bytes | None:
        """The bytes of an image kept in the database (None: no such image, or kept as a file)."""
        async with self._tx() as conn:
            found = await message_rows.image(conn, chat_id, name)
        return None if found is None else found[1]

    async def has_image(self, chat_id: int, name: str) -> bool:
        async with self._tx() as conn:
            return await message_rows.image(conn, chat_id, name) is not None


def _after_prefix(prefix: str) -> str | None:
    """The least string, in code point order, above every string that starts with
    ``prefix`` (None: there is none); never a surrogate, which no database stores."""
    while prefix:
        last = ord(prefix[-1]) + 1
        if 0xD800 <= last <= 0xDFFF:
            last = 0xE000
        if last <= 0x10FFFF:
            return prefix[:-1] + chr(last)
        prefix = prefix[:-1]
    return None


async def _owned(conn: AsyncConnection, user_id: int) -> int:
    count = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(chats).where(chats.c.owner_id == user_id)
        )
    ).scalar_one()
    return int(count)


def _sqlite_pragmas(engine: sa.Engine, synchronous: str, busy_ms: int) -> None:
    if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
        raise ValueError(f"sqlite_synchronous must be FULL, NORMAL or EXTRA, not {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()
