"""The database work of ``parley admin``: each command one transaction, with the events
the running servers must act on written in it (see :mod:`parley.control`).

Nothing here prints; :mod:`parley.admin` turns the results into text or JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from . import control, migrations, presenter, rules
from .accounts import CLOSE_LOGGED_OUT, LOGGED_OUT_REASON
from .answers import ChatAnswer
from .broker import Event, user_event
from .frames import frame
from .model import now_ms
from .schema import chats, images, members, mentions, messages, reactions, tokens, users

#: close code and reason of the sockets of a disabled account
CLOSE_DISABLED = 4003
DISABLED_REASON = b"account disabled"


class Refused(Exception):
    """What the command names does not exist, or may not be done: one line for people."""


class Pending(Exception):
    """The database lacks migrations: ``parley migrate`` first."""


@dataclass(frozen=True, slots=True)
class UserRow:
    login: str
    admin: bool
    disabled: bool
    seen_ms: int | None


@dataclass(frozen=True, slots=True)
class ChatRow:
    name: str
    owner: str | None
    members: int
    messages: int
    direct: bool


@dataclass(frozen=True, slots=True)
class Purged:
    """What ``purge-chat`` deleted; ``images``: the names no message of the chat shows
    any more (their files, if any, are the caller's to delete)."""

    chat_id: int
    messages: int
    reactions: int
    mentions: int
    images: list[str]


def engine_for(url: str) -> AsyncEngine:
    """An engine for one short command: a PostgreSQL that does not answer fails in
    seconds, and SQLite waits for the servers' write locks as they do."""
    if url.startswith("postgresql"):
        return create_async_engine(url, connect_args={"timeout": 10})
    engine = create_async_engine(url)

    @sa.event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: object, _record: object) -> None:
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    return engine


async def check_schema(engine: AsyncEngine) -> None:
    """:class:`Pending` unless the database is at the newest revision (a newer one
    raises :class:`~parley.migrations.NewerSchema`)."""
    todo = await migrations.pending(engine)
    if todo:
        raise Pending(f"the database lacks {len(todo)} migration(s) ({', '.join(todo)}): "
                      "run `parley migrate` first")


@asynccontextmanager
async def _tx(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.begin() as conn:
        yield conn


async def _user_id(conn: AsyncConnection, login: str) -> tuple[int, str]:
    row = (await conn.execute(sa.select(users.c.id, users.c.login)
                              .where(users.c.login_key == rules.login_key(login)))).first()
    if row is None:
        raise Refused(f"no user {login!r}")
    return int(row.id), str(row.login)


async def _chat(conn: AsyncConnection, name: str) -> tuple[int, bool]:
    row = (await conn.execute(sa.select(chats.c.id, chats.c.direct_key)
                              .where(chats.c.name == name))).first()
    if row is None:
        raise Refused(f"no chat {name!r}")
    return int(row.id), row.direct_key is not None


# -- users ------------------------------------------------------------------------------


async def list_users(engine: AsyncEngine) -> list[UserRow]:
    async with _tx(engine) as conn:
        rows = await conn.execute(
            sa.select(users.c.login, users.c.admin, users.c.disabled, users.c.seen_ms)
            .order_by(users.c.login_key))
        return [UserRow(r.login, bool(r.admin), bool(r.disabled),
                        None if r.seen_ms is None else int(r.seen_ms)) for r in rows]


async def set_flag(engine: AsyncEngine, login: str, column: str, value: bool) -> str:
    """``users.admin`` or ``users.disabled`` of the user set; the login as stored.
    Disabling also revokes every token and closes the user's sockets on every process
    (code :data:`CLOSE_DISABLED`); enabling revokes the tokens issued meanwhile."""
    async with _tx(engine) as conn:
        user_id, stored = await _user_id(conn, login)
        await conn.execute(users.update().where(users.c.id == user_id).values({column: value}))
        events: list[Event] = []
        if column == "disabled":
            # (enabling too: a token a login issued while the account was being
            # disabled must not come back to life)
            await conn.execute(tokens.delete().where(tokens.c.user_id == user_id))
        if column == "disabled" and value:
            events.append(user_event(user_id, DISABLED_REASON, close=CLOSE_DISABLED))
        await control.write(conn, events, now_ms())
        return stored


async def reset_password(engine: AsyncEngine, login: str, password_hash: str) -> str:
    """The new password hash stored, every token revoked, and the user's sockets logged
    out as a password change does (close code 4001); the login as stored."""
    async with _tx(engine) as conn:
        user_id, stored = await _user_id(conn, login)
        await conn.execute(users.update().where(users.c.id == user_id)
                           .values(password_hash=password_hash))
        await conn.execute(tokens.delete().where(tokens.c.user_id == user_id))
        await control.write(conn, [user_event(user_id, LOGGED_OUT_REASON,
                                              close=CLOSE_LOGGED_OUT)], now_ms())
        return stored


async def user_exists(engine: AsyncEngine, login: str) -> None:
    async with _tx(engine) as conn:
        await _user_id(conn, login)


# -- chats ------------------------------------------------------------------------------


async def list_chats(engine: AsyncEngine) -> list[ChatRow]:
    member_count = (sa.select(sa.func.count()).select_from(members)
                    .where(members.c.chat_id == chats.c.id).scalar_subquery())
    message_count = (sa.select(sa.func.count()).select_from(messages)
                     .where(messages.c.chat_id == chats.c.id).scalar_subquery())
    async with _tx(engine) as conn:
        rows = await conn.execute(
            sa.select(chats.c.name, users.c.login, member_count.label("members"),
                      message_count.label("messages"), chats.c.direct_key)
            .select_from(chats.outerjoin(users, users.c.id == chats.c.owner_id))
            .order_by(chats.c.id))
        return [ChatRow(r.name, r.login, int(r.members), int(r.messages),
                        r.direct_key is not None) for r in rows]


async def deletable_chat(engine: AsyncEngine, name: str) -> int:
    """The id of the chat ``delete-chat`` may delete: not ``general``, not a direct chat."""
    async with _tx(engine) as conn:
        chat_id, direct = await _chat(conn, name)
    if name == rules.GENERAL:
        raise Refused(f"the chat {name!r} is never deleted")
    if direct:
        raise Refused(f"{name!r} is a direct chat, which is not deleted")
    return chat_id


def announce_deleted(chat_id: int, name: str) -> Callable[[AsyncConnection], Awaitable[None]]:
    """What the owner's ``delete`` publishes, for every process: the ``deleted`` notice
    to the chat's sockets, and the chat list's change; written in the transaction that
    deletes the chat (``SqlStore.delete_chat``'s ``also``)."""
    events = [
        Event("deleted", chat_id, frame(
            ChatAnswer(Type="chat", Command="delete", Status="deleted", Chat=name))),
        Event("list", 0, frame(presenter.chats_changed([], [name]))),
    ]

    async def write(conn: AsyncConnection) -> None:
        await control.write(conn, events, now_ms())

    return write


async def purge(engine: AsyncEngine, name: str, before_ms: int) -> Purged:
    """Delete the chat's messages created before ``before_ms`` with their reactions and
    mentions, and the ``images`` rows no remaining message of the chat shows, in one
    transaction that holds the chat's row lock (as storing a message does)."""
    async with _tx(engine) as conn:
        chat_id, _ = await _chat(conn, name)
        await conn.execute(chats.update().where(chats.c.id == chat_id)
                           .values(last_change=chats.c.last_change))
        old = (sa.select(messages.c.id)
               .where(messages.c.chat_id == chat_id, messages.c.created_ms < before_ms))
        counts = []
        for table, column in ((reactions, reactions.c.message_id),
                              (mentions, mentions.c.message_id)):
            result = await conn.execute(table.delete().where(
                table.c.chat_id == chat_id, column.in_(old.scalar_subquery())))
            counts.append(result.rowcount)
        gone = await conn.execute(messages.delete().where(
            messages.c.chat_id == chat_id, messages.c.created_ms < before_ms))
        shown = (sa.select(messages.c.image).where(
            messages.c.chat_id == chat_id, messages.c.image.is_not(None)))
        freed = await conn.execute(
            images.delete().where(images.c.chat_id == chat_id,
                                  images.c.name.not_in(shown.scalar_subquery()))
            .returning(images.c.name))
        names = sorted(str(n) for n in freed.scalars())
        return Purged(chat_id, gone.rowcount, counts[0], counts[1], names)


async def vacuum_sqlite(engine: AsyncEngine) -> None:
    """The search index merged (FTS5 keeps a deleted row's entries as deletion markers
    until its segments are merged: without it the index would keep most of its size),
    ``VACUUM``, then a checkpoint that empties the write-ahead log into the file and
    truncates it, so that the file's size is the database's."""
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(sa.text("INSERT INTO messages_fts(messages_fts) VALUES ('optimize')"))
        await auto.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        await auto.execute(sa.text("VACUUM"))
        await auto.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))


async def checkpoint_sqlite(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
