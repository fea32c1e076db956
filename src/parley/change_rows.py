"""Changes to stored messages (edits, removals, reactions) and resuming them, for
:class:`parley.store.SqlStore` (which takes these methods from :class:`ChangeRows`).

Each change is one transaction that first raises the chat's ``last_change``: that
takes the chat's row lock (as a new message's ``last_id`` does), so change numbers
are gap-free and in commit order on every process; a refused change rolls back, and
its number with it. The message's ``change`` column keeps the newest change that
touched it, which is what resuming (:meth:`ChangeRows.changed`) reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import message_extras
from .errors import Invalid, NoRight, NotFound
from .message_rows import COLUMNS, stored
from .model import Change, StoredMessage
from .rights import Roles, may_edit, may_remove
from .rows import Transactions
from .schema import chats, images, mentions, messages, reactions

#: distinct emoji one message may carry
MAX_REACTIONS = 20


class ChangeStore(Protocol):
    """The part of :class:`parley.store.Store` that changes messages."""

    async def positions(self, chat_id: int) -> tuple[int, int] | None: ...
    async def edit(self, chat_id: int, user_id: int, message_id: int, text: str,
                   now: int) -> Change | None: ...
    async def remove(self, chat_id: int, user_id: int, message_id: int) -> Change | None: ...
    async def react(self, chat_id: int, user_id: int, message_id: int,
                    emoji: str) -> Change | None: ...
    async def changed(self, chat_id: int, *, upto: int, after: int,
                      limit: int) -> list[StoredMessage]: ...
    async def drop_unused_image(self, chat_id: int, name: str,
                                delete: Callable[[], Awaitable[None]]) -> bool: ...
    async def image_names(self) -> set[tuple[int, str]]: ...


class ChangeRows(Transactions):
    """Edits, removals, reactions and the changes since a number."""

    async def positions(self, chat_id: int) -> tuple[int, int] | None:
        """The chat's newest message id and newest change number (None: no such chat)."""
        row = await self._first(
            sa.select(chats.c.last_id, chats.c.last_change).where(chats.c.id == chat_id))
        return None if row is None else (int(row.last_id), int(row.last_change))

    async def edit(self, chat_id: int, user_id: int, message_id: int, text: str,
                   now: int) -> Change | None:
        """The message's new text (empty: only for a message with an image); None when
        the chat is gone. :class:`NotFound`, :class:`NoRight`, :class:`Invalid`."""
        async with self._tx() as conn:
            taken = await _take(conn, chat_id)
            if taken is None:
                return None
            number, roles = taken[0], Roles(user_id, taken[1] == user_id)
            message = await _live(conn, chat_id, message_id)
            if not may_edit(roles, message.user_id):
                raise NoRight()
            if not text and message.image is None:
                raise Invalid("Text may be empty only for a message with an image")
            await conn.execute(messages.update().where(_key(chat_id, message_id)).values(
                text=text or None, edited_ms=now, change=number))
            changed = dataclasses.replace(message, text=text or None, edited_ms=now,
                                          change=number)
            [shown] = await conn.run_sync(message_extras.decorate, [changed])
            return Change(number, shown, "edit")

    async def remove(self, chat_id: int, user_id: int, message_id: int) -> Change | None:
        """The message becomes a tombstone: no text, image, reactions, mentions. Its
        image's row goes too when no other message of the chat shows it (the change's
        ``freed_image``: the caller deletes the file after the commit)."""
        async with self._tx() as conn:
            taken = await _take(conn, chat_id)
            if taken is None:
                return None
            number, roles = taken[0], Roles(user_id, taken[1] == user_id)
            message = await _live(conn, chat_id, message_id)
            if not may_remove(roles, message.user_id):
                raise NoRight()
            await conn.execute(messages.update().where(_key(chat_id, message_id)).values(
                removed=True, text=None, image=None, change=number))
            await conn.execute(mentions.delete().where(
                mentions.c.chat_id == chat_id, mentions.c.message_id == message_id))
            await conn.execute(reactions.delete().where(
                reactions.c.chat_id == chat_id, reactions.c.message_id == message_id))
            freed = None
            if message.image is not None:
                other = (await conn.execute(sa.select(messages.c.id).where(
                    messages.c.chat_id == chat_id, messages.c.image == message.image)
                    .limit(1))).first()
                if other is None:
                    freed = message.image
                    await conn.execute(images.delete().where(
                        images.c.chat_id == chat_id, images.c.name == freed))
            tombstone = StoredMessage(chat_id, message_id, message.user_id, message.login,
                                      None, None, None, message.created_ms,
                                      message.edited_ms, True, None, number)
            return Change(number, tombstone, "remove", freed)

    async def react(self, chat_id: int, user_id: int, message_id: int,
                    emoji: str) -> Change | None:
        """Toggle the user's reaction ``emoji`` on the message; the change carries the
        message with its whole reaction map. :class:`Invalid` past
        :data:`MAX_REACTIONS` distinct emoji."""
        async with self._tx() as conn:
            taken = await _take(conn, chat_id)
            if taken is None:
                return None
            number = taken[0]
            message = await _live(conn, chat_id, message_id)
            on_message = sa.and_(reactions.c.chat_id == chat_id,
                                 reactions.c.message_id == message_id)
            mine = sa.and_(on_message, reactions.c.emoji == emoji,
                           reactions.c.user_id == user_id)
            gone = (await conn.execute(reactions.delete().where(mine)
                                       .returning(reactions.c.user_id))).first()
            if gone is None:
                kinds = set((await conn.execute(
                    sa.select(reactions.c.emoji).where(on_message).distinct())).scalars())
                if emoji not in kinds and len(kinds) >= MAX_REACTIONS:
                    raise Invalid(f"A message may carry at most {MAX_REACTIONS} reactions")
                await conn.execute(reactions.insert().values(
                    chat_id=chat_id, message_id=message_id, emoji=emoji, user_id=user_id,
                    change=number))
            await conn.execute(messages.update().where(_key(chat_id, message_id))
                               .values(change=number))
            changed = dataclasses.replace(message, change=number)
            [shown] = await conn.run_sync(message_extras.decorate, [changed])
            return Change(number, shown, "react")

    async def changed(self, chat_id: int, *, upto: int, after: int,
                      limit: int) -> list[StoredMessage]:
        """The messages with id ``upto`` or lower whose newest change is above ``after``,
        in change order, at most ``limit``, each in its current state."""
        query = (sa.select(*COLUMNS)
                 .where(messages.c.chat_id == chat_id, messages.c.change > after,
                        messages.c.id <= upto)
                 .order_by(messages.c.change).limit(limit))
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
            return await conn.run_sync(
                message_extras.decorate, [stored(chat_id, r) for r in rows])


    async def drop_unused_image(self, chat_id: int, name: str,
                                delete: Callable[[], Awaitable[None]]) -> bool:
        """Run ``delete`` (the image's bytes) unless the chat's ``images`` row of ``name``
        exists again; under the chat's row lock, which storing a message takes first, so
        no message showing it is stored meanwhile. True when it ran."""
        async with self._tx() as conn:
            locked = (await conn.execute(
                chats.update().where(chats.c.id == chat_id)
                .values(last_change=chats.c.last_change).returning(chats.c.id))).first()
            row = (await conn.execute(sa.select(images.c.name).where(
                images.c.chat_id == chat_id, images.c.name == name))).first()
            if locked is not None and row is not None:
                return False
            await delete()
            return True

    async def image_names(self) -> set[tuple[int, str]]:
        """Every (chat id, image name) the ``images`` table holds."""
        async with self._tx() as conn:
            rows = await conn.execute(sa.select(images.c.chat_id, images.c.name))
            return {(int(r.chat_id), str(r.name)) for r in rows}


async def _take(conn: AsyncConnection, chat_id: int) -> tuple[int, int | None] | None:
    """The chat's next change number, taken (with the chat's row lock), and its owner's id;
    None when the chat is gone."""
    row = (await conn.execute(
        chats.update().where(chats.c.id == chat_id)
        .values(last_change=chats.c.last_change + 1)
        .returning(chats.c.last_change, chats.c.owner_id))).first()
    return None if row is None else (int(row.last_change), row.owner_id)


async def _live(conn: AsyncConnection, chat_id: int, message_id: int) -> StoredMessage:
    """The message, not removed; :class:`NotFound` otherwise."""
    row = (await conn.execute(sa.select(*COLUMNS).where(_key(chat_id, message_id)))).first()
    if row is None or row.removed:
        raise NotFound()
    return stored(chat_id, row)


def _key(chat_id: int, message_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(messages.c.chat_id == chat_id, messages.c.id == message_id)
