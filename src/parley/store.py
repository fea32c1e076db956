"""Storage: the :class:`Store` interface and its SQLAlchemy engine (SQLite or PostgreSQL).

Every method is one transaction. Database failures come out as
:class:`~parley.errors.Unavailable` so that callers answer ``"Status": "error"``
and carry on; the engine's pool reconnects by itself once the database is back.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import migrations
from .errors import Unavailable
from .messages import ChatInfo, MessageOut
from .schema import chats, images, members, messages, tokens, users


def now_ms() -> int:
    return int(time.time() * 1000)


def iso_date(ms: int) -> str:
    """``2026-11-24T15:37:42.123Z``: ISO-8601, UTC, milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def image_url(chat: str, name: str) -> str:
    return f"/images/{quote(chat, safe='')}/{name}"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    name: str
    owner_id: int | None
    password_hash: str | None

    @property
    def closed(self) -> bool:
        return self.password_hash is not None


@dataclass(slots=True)
class Draft:
    """A message on its way to the database."""

    chat_id: int
    chat: str
    user_id: int
    login: str
    text: str | None
    image: str | None  # "md5.ext" in the chat's image store
    image_size: int
    #: the image's bytes, when the database is the image store
    image_data: bytes | None
    nonce: str | None
    created_ms: int


class OwnsTooMany(Exception):
    """``create_chat``: the owner already owns ``max_owned`` chats."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a draft: the message, or ``None`` when its chat is gone."""

    message: MessageOut | None
    duplicate: bool = False


class Store(Protocol):
    """What the server needs from a database."""

    async def ping(self) -> None: ...
    async def create_user(self, login: str, key: str, password_hash: str) -> User | None: ...
    async def find_user(self, key: str) -> tuple[User, str] | None: ...
    async def add_token(self, digest: str, user_id: int, expires_ms: int) -> None: ...
    async def user_by_token(self, digest: str) -> User | None: ...
    async def revoke_token(self, digest: str) -> None: ...
    async def revoke_user_tokens(self, user_id: int) -> None: ...
    async def change_password(
        self, user_id: int, password_hash: str, digest: str, expires_ms: int
    ) -> None: ...
    async def list_chats(self) -> list[ChatInfo]: ...
    async def create_chat(
        self, name: str, owner_id: int, password_hash: str | None, *, max_owned: int = 0
    ) -> Chat | None: ...
    async def find_chat(self, name: str) -> Chat | None: ...
    async def count_owned(self, user_id: int) -> int: ...
    async def chat_exists(self, chat_id: int) -> bool: ...
    async def is_member(self, chat_id: int, user_id: int) -> bool: ...
    async def add_member(self, chat_id: int, user_id: int) -> None: ...
    async def delete_chat(self, chat_id: int) -> bool: ...
    async def last_id(self, chat_id: int) -> int | None: ...
    async def history(
        self,
        chat_id: int,
        chat: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
    ) -> list[MessageOut]: ...
    async def insert_messages(self, drafts: Sequence[Draft]) -> list[Stored]: ...
    async def has_image(self, chat_id: int, name: str) -> bool: ...
    async def image_data(self, chat_id: int, name: str) -> bytes | None: ...
    async def close(self) -> None: ...


class SqlStore:
    """:class:`Store` on SQLAlchemy's async engine: SQLite (aiosqlite) or PostgreSQL (asyncpg)."""

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
    ) -> SqlStore:
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
        return cls(engine, sync_engine)

    async def close(self) -> None:
        if self._sqlite_writer is not None:
            self._sqlite_writer.shutdown(wait=True)
        if self._sync_engine is not None:
            self._sync_engine.dispose()
        await self.engine.dispose()

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, SQLAlchemyError, OSError, MemoryError) as exc:
            raise Unavailable() from exc

    async def _first(self, query: sa.Select[Any]) -> sa.Row[Any] | None:
        """The first row of a read-only query, in a transaction of its own."""
        async with self._tx() as conn:
            row: sa.Row[Any] | None = (await conn.execute(query)).first()
            return row

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
            sa.select(users.c.id, users.c.login, users.c.password_hash).where(
                users.c.login_key == key
            )
        )
        return None if row is None else (User(row.id, row.login), row.password_hash)

    async def add_token(self, digest: str, user_id: int, expires_ms: int) -> None:
        async with self._tx() as conn:
            await conn.execute(
                tokens.insert().values(digest=digest, user_id=user_id, expires_ms=expires_ms)
            )

    async def user_by_token(self, digest: str) -> User | None:
        row = await self._first(
            sa.select(users.c.id, users.c.login)
            .join(tokens, tokens.c.user_id == users.c.id)
            .where(tokens.c.digest == digest, tokens.c.expires_ms > now_ms())
        )
        return None if row is None else User(row.id, row.login)

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

    async def list_chats(self) -> list[ChatInfo]:
        async with self._tx() as conn:
            rows = (
                await conn.execute(
                    sa.select(chats.c.name, chats.c.password_hash, users.c.login)
                    .select_from(chats.outerjoin(users, users.c.id == chats.c.owner_id))
                    .order_by(chats.c.id)
                )
            ).all()
        return [ChatInfo(r.name, r.password_hash is not None, r.login) for r in rows]

    async def create_chat(
        self, name: str, owner_id: int, password_hash: str | None, *, max_owned: int = 0
    ) -> Chat | None:
        """The new chat (its owner a member), or None when the name is taken.

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
        row = await self._first(
            sa.select(chats.c.id, chats.c.name, chats.c.owner_id, chats.c.password_hash).where(
                chats.c.name == name
            )
        )
        return None if row is None else Chat(row.id, row.name, row.owner_id, row.password_hash)

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

    async def delete_chat(self, chat_id: int) -> bool:
        """Delete the chat with its messages, members and images; False if it was gone."""
        async with self._tx() as conn:
            for table in (messages, images, members):
                await conn.execute(table.delete().where(table.c.chat_id == chat_id))
            result = await conn.execute(chats.delete().where(chats.c.id == chat_id))
            return bool(result.rowcount)

    # -- messages -----------------------------------------------------------------

    async def last_id(self, chat_id: int) -> int | None:
        row = await self._first(sa.select(chats.c.last_id).where(chats.c.id == chat_id))
        return None if row is None else int(row.last_id)

    async def history(
        self,
        chat_id: int,
        chat: str,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int,
    ) -> list[MessageOut]:
        """A page of messages, oldest first: the newest ``limit`` before ``before``,
        or the oldest ``limit`` after ``after``."""
        query = sa.select(
            messages.c.id,
            messages.c.login,
            messages.c.text,
            messages.c.image,
            messages.c.created_ms,
        ).where(messages.c.chat_id == chat_id)
        if after is not None:
            query = query.where(messages.c.id > after).order_by(messages.c.id).limit(limit)
        else:
            if before is not None:
                query = query.where(messages.c.id < before)
            query = query.order_by(messages.c.id.desc()).limit(limit)
        async with self._tx() as conn:
            rows = list((await conn.execute(query)).all())
        if after is None:
            rows.reverse()
        return [_message(chat, r.id, r.login, r.text, r.image, r.created_ms) for r in rows]

    async def insert_messages(self, drafts: Sequence[Draft]) -> list[Stored]:
        """Store a batch of messages in one transaction, in order (see :func:`_insert_batch`).

        On SQLite the whole batch goes to one writer thread in one trip, with
        a plain (synchronous) connection: one hand-over instead of one per
        statement.
        """
        if self._sqlite_writer is not None:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._sqlite_writer, self._sqlite_batch, list(drafts))
        async with self._tx() as conn:
            return await conn.run_sync(_insert_batch, drafts)

    def _sqlite_batch(self, drafts: list[Draft]) -> list[Stored]:
        assert self._sync_engine is not None
        try:
            with self._sync_engine.begin() as conn:
                return _insert_batch(conn, drafts)
        except (DBAPIError, SQLAlchemyError, OSError, MemoryError) as exc:
            raise Unavailable() from exc

    async def image_data(self, chat_id: int, name: str) -> bytes | None:
        """The bytes of an image kept in the database (None: no such image, or kept as a file)."""
        row = await self._first(
            sa.select(images.c.data).where(images.c.chat_id == chat_id, images.c.name == name)
        )
        return None if row is None or row.data is None else bytes(row.data)

    async def has_image(self, chat_id: int, name: str) -> bool:
        row = await self._first(
            sa.select(images.c.size).where(images.c.chat_id == chat_id, images.c.name == name)
        )
        return row is not None


async def _owned(conn: AsyncConnection, user_id: int) -> int:
    count = (
        await conn.execute(
            sa.select(sa.func.count()).select_from(chats).where(chats.c.owner_id == user_id)
        )
    ).scalar_one()
    return int(count)


def _insert_batch(conn: sa.Connection, drafts: Sequence[Draft]) -> list[Stored]:
    """Store a batch of messages in one transaction, in order.

    Ids come from each chat's ``last_id``, raised first thing in the
    transaction (so the write lock is taken before anything is read). A
    draft whose ``nonce`` was stored before (or earlier in the batch) is
    not stored again: its result is the stored message, ``duplicate``.
    """
    if not drafts:
        return []
    by_chat: dict[int, list[int]] = {}
    for index, draft in enumerate(drafts):
        by_chat.setdefault(draft.chat_id, []).append(index)
    results: list[Stored | None] = [None] * len(drafts)
    rows: list[tuple[Any, ...]] = []
    image_rows: list[dict[str, Any]] = []
    # One statement raises every chat's last id (in id order, the same order in
    # every process, so concurrent writers on PostgreSQL never deadlock).
    ids = sorted(by_chat)
    mark = _marks(conn.dialect.paramstyle)
    n = itertools.count(1)
    cases = " ".join(f"WHEN {mark(next(n))} THEN CAST({mark(next(n))} AS BIGINT)" for _ in ids)
    members_ = ", ".join(mark(next(n)) for _ in ids)
    params: list[int] = [v for chat_id in ids for v in (chat_id, len(by_chat[chat_id]))] + ids
    tops: dict[int, int] = dict(
        conn.exec_driver_sql(
            f"UPDATE chats SET last_id = last_id + CASE id {cases} END "
            f"WHERE id IN ({members_}) RETURNING id, last_id",
            tuple(params),
        ).all()
    )
    for chat_id in ids:
        indexes = by_chat[chat_id]
        top = tops.get(chat_id)
        if top is None:
            for index in indexes:
                results[index] = Stored(None)
            continue
        base = int(top) - len(indexes)
        seen = _known_nonces(conn, chat_id, [drafts[i] for i in indexes])
        fresh = 0
        for index in indexes:
            draft = drafts[index]
            key = (draft.user_id, draft.nonce)
            if draft.nonce is not None and key in seen:
                results[index] = Stored(seen[key], duplicate=True)
                continue
            fresh += 1
            message = _message(
                draft.chat, base + fresh, draft.login, draft.text, draft.image, draft.created_ms
            )
            results[index] = Stored(message)
            if draft.nonce is not None:
                seen[key] = message
            rows.append((chat_id, base + fresh, draft.user_id, draft.login, draft.text,
                         draft.image, draft.nonce, draft.created_ms))
            if draft.image is not None:
                image_rows.append(
                    {
                        "chat_id": chat_id,
                        "name": draft.image,
                        "size": draft.image_size,
                        "data": draft.image_data,
                    }
                )
        if fresh != len(indexes):
            conn.execute(chats.update().where(chats.c.id == chat_id).values(last_id=base + fresh))
    if rows:
        # The hot statement, in the driver's own SQL: no compiling, no dicts.
        conn.exec_driver_sql(_insert_messages_sql(conn.dialect.paramstyle), rows)
    if image_rows:
        _add_images(conn, image_rows)
    return [r if r is not None else Stored(None) for r in results]


def _marks(paramstyle: str) -> Callable[[int], str]:
    """The driver's placeholder for the n-th parameter (1-based)."""
    if paramstyle == "qmark":
        return lambda n: "?"
    if paramstyle in ("numeric_dollar", "numeric"):
        prefix = "$" if paramstyle == "numeric_dollar" else ":"
        return lambda n: f"{prefix}{n}"
    if paramstyle == "format":
        return lambda n: "%s"
    raise ValueError(f"unsupported paramstyle {paramstyle!r}")


@functools.cache
def _insert_messages_sql(paramstyle: str) -> str:
    mark = _marks(paramstyle)
    columns = "chat_id, id, user_id, login, text, image, nonce, created_ms"
    return (f"INSERT INTO messages ({columns}) "
            f"VALUES ({', '.join(mark(n) for n in range(1, 9))})")


def _known_nonces(
    conn: sa.Connection, chat_id: int, drafts: list[Draft]
) -> dict[tuple[int, str | None], MessageOut]:
    wanted = {(d.user_id, d.nonce) for d in drafts if d.nonce is not None}
    if not wanted:
        return {}
    chat = drafts[0].chat
    rows = (
        conn.execute(
            sa.select(
                messages.c.id,
                messages.c.user_id,
                messages.c.login,
                messages.c.text,
                messages.c.image,
                messages.c.nonce,
                messages.c.created_ms,
            ).where(
                messages.c.chat_id == chat_id,
                sa.tuple_(messages.c.user_id, messages.c.nonce).in_(list(wanted)),
            )
        )
    ).all()
    return {
        (r.user_id, r.nonce): _message(chat, r.id, r.login, r.text, r.image, r.created_ms)
        for r in rows
    }


def _add_images(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    unique = {(r["chat_id"], r["name"]): r for r in rows}
    existing = (
        conn.execute(
            sa.select(images.c.chat_id, images.c.name).where(
                sa.tuple_(images.c.chat_id, images.c.name).in_(list(unique))
            )
        )
    ).all()
    for row in existing:
        unique.pop((row.chat_id, row.name), None)
    if unique:
        conn.execute(images.insert(), list(unique.values()))


def _message(
    chat: str, id_: int, login: str, text: str | None, image: str | None, created_ms: int
) -> MessageOut:
    return MessageOut(
        id=id_,
        user=login,
        date=iso_date(created_ms),
        text=text,
        image=None if image is None else image_url(chat, image),
    )


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
