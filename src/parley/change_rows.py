"""Changes to stored messages (edits, removals, reactions) and resuming them, for
:class:`parley.store.SqlStore` (which takes these methods from :class:`ChangeRows`).

Changes are stored in batches (see :mod:`parley.change_writer`), in one transaction
that first locks the rows of the batch's chats, as storing new messages does, so a
chat's changes are stored one after the other on every process. Each change is
checked (the message exists and is not removed, the user's right, the value) against
the state the changes before it left, and only then written, with the chat's next
change number: a refused change writes nothing and takes no number, so the numbers
are gap-free and in commit order. The message's ``change`` column keeps the newest
change that touched it, which is what resuming (:meth:`ChangeRows.changed`) reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from . import message_extras
from .errors import Invalid, NoRight, NotFound, ParleyError
from .message_rows import COLUMNS, stored
from .model import Change, ChangeOp, StoredMessage
from .moderation_rows import roles_in
from .rights import Roles, may_edit, may_remove
from .rows import Transactions
from .schema import chats, images, mentions, messages, reactions

#: distinct emoji one message may carry
MAX_REACTIONS = 20

#: what became of a change: stored, refused (the answer), or None: the chat is gone
Outcome = Change | ParleyError | None


class ChangeStore(Protocol):
    """The part of :class:`parley.store.Store` that changes messages."""

    async def positions(self, chat_id: int) -> tuple[int, int] | None: ...
    async def apply_changes(self, ops: Sequence[ChangeOp]) -> list[Outcome]: ...
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

    async def apply_changes(self, ops: Sequence[ChangeOp]) -> list[Outcome]:
        """Store a batch of changes in one transaction, in order (see :func:`apply`)."""
        if not ops:
            return []
        async with self._tx() as conn:
            return await conn.run_sync(apply, list(ops))

    async def edit(self, chat_id: int, user_id: int, message_id: int, text: str,
                   now: int) -> Change | None:
        """One edit, alone (see :func:`apply`); a refusal is raised."""
        return await self._one(ChangeOp("edit", chat_id, user_id, message_id, text, at=now))

    async def remove(self, chat_id: int, user_id: int, message_id: int) -> Change | None:
        return await self._one(ChangeOp("remove", chat_id, user_id, message_id))

    async def react(self, chat_id: int, user_id: int, message_id: int,
                    emoji: str) -> Change | None:
        return await self._one(ChangeOp("react", chat_id, user_id, message_id, emoji=emoji))

    async def _one(self, op: ChangeOp) -> Change | None:
        [outcome] = await self.apply_changes([op])
        if isinstance(outcome, ParleyError):
            raise outcome
        return outcome

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
            await conn.execute(chats.update().where(chats.c.id == chat_id)
                               .values(last_change=chats.c.last_change))
            row = (await conn.execute(sa.select(images.c.name).where(
                images.c.chat_id == chat_id, images.c.name == name))).first()
            if row is not None:
                return False
            await delete()
            return True

    async def image_names(self) -> set[tuple[int, str]]:
        """Every (chat id, image name) the ``images`` table holds."""
        async with self._tx() as conn:
            rows = await conn.execute(sa.select(images.c.chat_id, images.c.name))
            return {(int(r.chat_id), str(r.name)) for r in rows}


@dataclasses.dataclass
class _Chat:
    last_change: int
    owner_id: int | None


def apply(conn: sa.Connection, ops: list[ChangeOp]) -> list[Outcome]:
    """Check and store ``ops`` in order, in the caller's transaction: each one's outcome.

    The batch's chats' rows are locked first, in id order (as the message writer locks
    them, so the two never deadlock); their ``last_change`` is raised once at the end.
    """
    ids = sorted({op.chat_id for op in ops})
    locked = conn.execute(
        chats.update().where(chats.c.id.in_(ids)).values(last_change=chats.c.last_change)
        .returning(chats.c.id, chats.c.last_change, chats.c.owner_id)).all()
    state = {int(r.id): _Chat(int(r.last_change), r.owner_id) for r in locked}
    before = {chat_id: place.last_change for chat_id, place in state.items()}
    out: list[Outcome] = []
    for op in ops:
        place = state.get(op.chat_id)
        if place is None:
            out.append(None)
            continue
        try:
            out.append(_one(conn, op, place))
        except ParleyError as refused:
            out.append(refused)
    raised = [{"cid": chat_id, "n": place.last_change} for chat_id, place in state.items()
              if place.last_change != before[chat_id]]
    if raised:
        conn.execute(chats.update().where(chats.c.id == sa.bindparam("cid"))
                     .values(last_change=sa.bindparam("n")), raised)
    return out


def _one(conn: sa.Connection, op: ChangeOp, place: _Chat) -> Change:
    """Check one change against the state so far, then write it (nothing when refused)."""
    message = _live(conn, op.chat_id, op.message_id)
    roles = Roles(op.user_id, place.owner_id == op.user_id)
    if op.kind == "edit":
        text = op.text or ""
        if not may_edit(roles, message.user_id):
            raise NoRight()
        if not text and message.image is None:
            raise Invalid("Text may be empty only for a message with an image")
        number = _next(place)
        _write(conn, op, text=text or None, edited_ms=op.at, change=number)
        changed = dataclasses.replace(message, text=text or None, edited_ms=op.at,
                                      change=number)
    elif op.kind == "remove":
        if not may_remove(roles, message.user_id):
            # another's message: the user's other roles, read now (a role granted or
            # revoked a moment ago, on any process or by the admin command line, holds)
            roles = roles_in(conn, op.chat_id, place.owner_id, op.user_id)
        if not may_remove(roles, message.user_id):
            raise NoRight()
        return _remove(conn, op, message, _next(place))
    else:
        assert op.emoji is not None
        number = _react(conn, op, place)
        changed = dataclasses.replace(message, change=number)
    [shown] = message_extras.decorate(conn, [changed])
    return Change(number, shown, op.kind)


def _next(place: _Chat) -> int:
    place.last_change += 1
    return place.last_change


def _write(conn: sa.Connection, op: ChangeOp, **values: Any) -> None:
    conn.execute(messages.update().where(_key(op.chat_id, op.message_id)).values(**values))


def _remove(conn: sa.Connection, op: ChangeOp, message: StoredMessage, number: int) -> Change:
    """The message becomes a tombstone: no text, image, reactions, mentions. Its image's
    row goes too when no other message of the chat shows it (the change's
    ``freed_image``: the caller deletes the bytes after the commit)."""
    chat_id, message_id = op.chat_id, op.message_id
    _write(conn, op, removed=True, text=None, image=None, change=number)
    conn.execute(mentions.delete().where(
        mentions.c.chat_id == chat_id, mentions.c.message_id == message_id))
    conn.execute(reactions.delete().where(
        reactions.c.chat_id == chat_id, reactions.c.message_id == message_id))
    freed = None
    if message.image is not None:
        other = conn.execute(sa.select(messages.c.id).where(
            messages.c.chat_id == chat_id, messages.c.image == message.image).limit(1)).first()
        if other is None:
            freed = message.image
            conn.execute(images.delete().where(
                images.c.chat_id == chat_id, images.c.name == freed))
    tombstone = StoredMessage(chat_id, message_id, message.user_id, message.login, None, None,
                              None, message.created_ms, message.edited_ms, True, None, number)
    return Change(number, tombstone, "remove", freed)


def _react(conn: sa.Connection, op: ChangeOp, place: _Chat) -> int:
    """Toggle the user's reaction; :class:`Invalid` past :data:`MAX_REACTIONS` distinct
    emoji. The change's number."""
    on_message = sa.and_(reactions.c.chat_id == op.chat_id,
                         reactions.c.message_id == op.message_id)
    mine = sa.and_(on_message, reactions.c.emoji == op.emoji, reactions.c.user_id == op.user_id)
    if conn.execute(sa.select(reactions.c.user_id).where(mine)).first() is not None:
        number = _next(place)
        conn.execute(reactions.delete().where(mine))
    else:
        kinds = set(conn.execute(sa.select(reactions.c.emoji).where(on_message).distinct())
                    .scalars())
        if op.emoji not in kinds and len(kinds) >= MAX_REACTIONS:
            raise Invalid(f"A message may carry at most {MAX_REACTIONS} reactions")
        number = _next(place)
        conn.execute(reactions.insert().values(
            chat_id=op.chat_id, message_id=op.message_id, emoji=op.emoji, user_id=op.user_id,
            change=number))
    _write(conn, op, change=number)
    return number


def _live(conn: sa.Connection, chat_id: int, message_id: int) -> StoredMessage:
    """The message, not removed; :class:`NotFound` otherwise."""
    row = conn.execute(sa.select(*COLUMNS).where(_key(chat_id, message_id))).first()
    if row is None or row.removed:
        raise NotFound()
    return stored(chat_id, row)


def _key(chat_id: int, message_id: int) -> sa.ColumnElement[bool]:
    return sa.and_(messages.c.chat_id == chat_id, messages.c.id == message_id)
