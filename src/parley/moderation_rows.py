"""Moderators, bans and mutes, and the roles a right is decided by, for
:class:`parley.store.SqlStore` (which takes these methods from :class:`ModerationRows`).

A sanction is a row of ``sanctions`` (``kind`` "ban" or "mute") with its end
(``until_ms``, NULL: until lifted). A row whose end has passed counts as none and is
never cleaned up by a timer: every reader compares it with the time, so no process has
to be awake when a sanction ends. Server admins are ``users.admin``, written by the
admin command line and only read here, when a right is asked.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from .model import User
from .rights import Roles
from .rows import Transactions
from .schema import chats, members, moderators, sanctions, users

#: the kinds of sanction
Kind = Literal["ban", "mute"]


class ModerationStore(Protocol):
    """The part of :class:`parley.store.Store` that moderation uses."""

    async def roles(self, chat_id: int, owner_id: int | None, user_id: int) -> Roles: ...
    async def target(self, key: str) -> tuple[User, bool] | None: ...
    async def staff(self, chat_id: int) -> tuple[str | None, list[str]]: ...
    async def set_moderator(self, chat_id: int, user_id: int, grant: bool) -> bool: ...
    async def ban(self, chat_id: int, user_id: int, until_ms: int | None) -> bool: ...
    async def mute(self, chat_id: int, user_id: int, until_ms: int | None) -> bool: ...
    async def lift(self, chat_id: int, user_id: int, kind: Kind) -> None: ...
    async def banned(self, chat_id: int, user_id: int, now: int) -> bool: ...
    async def standing(self, chat_id: int, user_id: int, now: int) -> tuple[bool, bool]: ...
    async def sanctions(self, now: int) -> list[tuple[str, int, int, int | None]]: ...


def _roles_query(chat_id: int, user_id: int) -> sa.Select[Any]:
    moderates = sa.exists().where(moderators.c.chat_id == chat_id,
                                  moderators.c.user_id == users.c.id)
    return sa.select(users.c.admin, moderates.label("moderator")).where(users.c.id == user_id)


def _roles(row: sa.Row[Any] | None, owner_id: int | None, user_id: int) -> Roles:
    if row is None:  # (the user was deleted meanwhile: no role)
        return Roles(user_id, False)
    return Roles(user_id, owner_id == user_id, bool(row.moderator), bool(row.admin))


def roles_in(conn: sa.Connection, chat_id: int, owner_id: int | None, user_id: int) -> Roles:
    """The user's roles in the chat, read in the caller's transaction (see
    :mod:`parley.change_rows`)."""
    return _roles(conn.execute(_roles_query(chat_id, user_id)).first(), owner_id, user_id)


def _active(now: int) -> sa.ColumnElement[bool]:
    return sa.or_(sanctions.c.until_ms.is_(None), sanctions.c.until_ms > now)


class ModerationRows(Transactions):
    """Roles, moderators and sanctions."""

    dialect: str

    async def roles(self, chat_id: int, owner_id: int | None, user_id: int) -> Roles:
        """The user's roles in the chat (its owner's id given), read now."""
        return _roles(await self._first(_roles_query(chat_id, user_id)), owner_id, user_id)

    async def target(self, key: str) -> tuple[User, bool] | None:
        """The user of this login key, and whether they are a server admin."""
        row = await self._first(sa.select(users.c.id, users.c.login, users.c.admin)
                                .where(users.c.login_key == key))
        return None if row is None else (User(int(row.id), row.login), bool(row.admin))

    async def staff(self, chat_id: int) -> tuple[str | None, list[str]]:
        """The login of the chat's owner (None: it has none) and those of its moderators,
        sorted case-insensitively."""
        async with self._tx() as conn:
            owner = (await conn.execute(
                sa.select(users.c.login).join(chats, chats.c.owner_id == users.c.id)
                .where(chats.c.id == chat_id))).scalar()
            rows = await conn.execute(
                sa.select(users.c.login).join(moderators, moderators.c.user_id == users.c.id)
                .where(moderators.c.chat_id == chat_id))
            return owner, sorted(rows.scalars(), key=lambda login: (login.casefold(), login))

    async def set_moderator(self, chat_id: int, user_id: int, grant: bool) -> bool:
        """Grant or revoke the role (either twice is no change); False: the chat is gone."""
        try:
            async with self._tx() as conn:
                if grant:
                    await conn.execute(self._insert(moderators).values(
                        chat_id=chat_id, user_id=user_id).on_conflict_do_nothing())
                else:
                    await conn.execute(moderators.delete().where(
                        moderators.c.chat_id == chat_id, moderators.c.user_id == user_id))
        except IntegrityError:
            return False
        return True

    async def ban(self, chat_id: int, user_id: int, until_ms: int | None) -> bool:
        """In one transaction: the ban (replacing one there was), and the user is no
        longer a member of the chat nor one of its moderators. False: the chat is gone."""
        try:
            async with self._tx() as conn:
                await self._sanction(conn, chat_id, user_id, "ban", until_ms)
                await conn.execute(members.delete().where(
                    members.c.chat_id == chat_id, members.c.user_id == user_id))
                await conn.execute(moderators.delete().where(
                    moderators.c.chat_id == chat_id, moderators.c.user_id == user_id))
        except IntegrityError:
            return False
        return True

    async def mute(self, chat_id: int, user_id: int, until_ms: int | None) -> bool:
        """The mute (replacing one there was); False: the chat is gone."""
        try:
            async with self._tx() as conn:
                await self._sanction(conn, chat_id, user_id, "mute", until_ms)
        except IntegrityError:
            return False
        return True

    async def lift(self, chat_id: int, user_id: int, kind: Kind) -> None:
        """The user's ban or mute in the chat ends (nothing happens without one)."""
        async with self._tx() as conn:
            await conn.execute(sanctions.delete().where(
                sanctions.c.chat_id == chat_id, sanctions.c.user_id == user_id,
                sanctions.c.kind == kind))

    async def banned(self, chat_id: int, user_id: int, now: int) -> bool:
        """The user is banned from the chat at ``now``."""
        row = await self._first(sa.select(sanctions.c.user_id).where(
            sanctions.c.chat_id == chat_id, sanctions.c.user_id == user_id,
            sanctions.c.kind == "ban", _active(now)))
        return row is not None

    async def standing(self, chat_id: int, user_id: int, now: int) -> tuple[bool, bool]:
        """Whether the user is a member of the chat, and whether banned from it at
        ``now``: one query (``choice`` asks both)."""
        member = sa.exists().where(members.c.chat_id == chat_id, members.c.user_id == user_id)
        ban = sa.exists().where(
            sanctions.c.chat_id == chat_id, sanctions.c.user_id == user_id,
            sanctions.c.kind == "ban", _active(now))
        async with self._tx() as conn:
            row = (await conn.execute(
                sa.select(member.label("member"), ban.label("banned")))).one()
        return bool(row.member), bool(row.banned)

    async def sanctions(self, now: int) -> list[tuple[str, int, int, int | None]]:
        """Every ban and mute in force at ``now``: (kind, chat id, user id, end or None)."""
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(sanctions.c.kind, sanctions.c.chat_id, sanctions.c.user_id,
                          sanctions.c.until_ms).where(_active(now)))
            return [(str(r.kind), int(r.chat_id), int(r.user_id),
                     None if r.until_ms is None else int(r.until_ms)) for r in rows]

    async def _sanction(self, conn: AsyncConnection, chat_id: int, user_id: int, kind: Kind,
                        until_ms: int | None) -> None:
        await conn.execute(self._insert(sanctions).values(
            chat_id=chat_id, user_id=user_id, kind=kind, until_ms=until_ms,
        ).on_conflict_do_update(index_elements=["chat_id", "user_id", "kind"],
                                set_={"until_ms": until_ms}))

    def _insert(self, table: sa.Table) -> Any:
        """This database's ``INSERT ... ON CONFLICT`` (PostgreSQL and SQLite alike)."""
        return (postgresql.insert(table) if self.dialect == "postgresql"
                else sqlite.insert(table))
