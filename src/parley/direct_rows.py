"""The direct chats' rows: the chat of a member set, its members, a user's direct chats.

A direct chat is a row of ``chats`` with ``direct_key`` set (its member set, see
:func:`parley.direct.member_key`), no owner and no password, and one ``members`` row
per member, written in the same transaction. The unique index on ``direct_key`` makes
concurrent creates of one member set end with one chat. :class:`DirectRows` is the
part of :class:`parley.store.SqlStore` that reads and writes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from .model import Chat, ChatSummary, User, now_ms
from .rows import Transactions
from .rules import chat_key
from .schema import chats, members, users

#: a chat's columns, as :func:`chat_of` reads them
CHAT = sa.select(chats.c.id, chats.c.name, chats.c.owner_id, chats.c.password_hash,
                 chats.c.direct_key)


def chat_of(row: sa.Row[Any] | None) -> Chat | None:
    if row is None:
        return None
    return Chat(row.id, row.name, row.owner_id, row.password_hash, row.direct_key is not None)


class DirectRows(Transactions):
    """The direct chats' methods of the store (each one transaction)."""

    async def find_users(self, keys: Sequence[str]) -> dict[str, User]:
        """The users of these login keys that exist, by key."""
        async with self._tx() as conn:
            rows = await conn.execute(sa.select(users.c.id, users.c.login, users.c.login_key)
                                      .where(users.c.login_key.in_(list(keys))))
            return {row.login_key: User(row.id, row.login) for row in rows}

    async def find_direct(self, member_key: str) -> Chat | None:
        return chat_of(await self._first(CHAT.where(chats.c.direct_key == member_key)))

    async def create_direct(self, name: str, member_key: str,
                            member_ids: Sequence[int]) -> Chat | None:
        """The new direct chat and its members, or None when a chat of this member set
        (or of this name) exists."""
        try:
            async with self._tx() as conn:
                chat_id = (await conn.execute(
                    chats.insert().values(name=name, name_key=chat_key(name), owner_id=None,
                                          password_hash=None, last_id=0, created_ms=now_ms(),
                                          direct_key=member_key)
                    .returning(chats.c.id))).scalar_one()
                await conn.execute(members.insert(), [
                    {"chat_id": chat_id, "user_id": user_id} for user_id in member_ids])
                return Chat(chat_id, name, None, None, direct=True)
        except IntegrityError:
            return None

    async def direct_chats(self, user_id: int) -> list[ChatSummary]:
        """The user's direct chats, in creation order, each with its members' logins in
        the order of its name (by login key): one query."""
        async with self._tx() as conn:
            rows = (await conn.execute(_DIRECT_CHATS, {"user_id": user_id})).all()
        found: dict[int, tuple[str, list[str]]] = {}
        for row in rows:
            found.setdefault(row.id, (row.name, []))[1].append(row.login)
        return [ChatSummary(name, True, None, tuple(logins)) for name, logins in found.values()]


def _direct_chats() -> sa.Select[tuple[int, str, str]]:
    """The query of :meth:`DirectRows.direct_chats`, built once (a login asks it: its
    aliases cost more to build than the query costs to run)."""
    mine, every = members.alias("mine"), members.alias("every")
    return (sa.select(chats.c.id, chats.c.name, users.c.login)
            .select_from(mine.join(chats, chats.c.id == mine.c.chat_id)
                         .join(every, every.c.chat_id == chats.c.id)
                         .join(users, users.c.id == every.c.user_id))
            .where(mine.c.user_id == sa.bindparam("user_id"), chats.c.direct_key.is_not(None))
            .order_by(chats.c.id, users.c.login_key))


_DIRECT_CHATS = _direct_chats()
