"""The changes domain: ``edit``, ``remove`` and ``react`` on a message of the chosen chat.

Each change is stored by the :class:`~parley.change_writer.ChangeWriter` (in a batch,
one transaction) with the chat's next change number (:mod:`parley.change_rows`); only
after the commit is it published, to every socket in
the chat on every process, ordered there by its number (the ``changes`` stream of
:mod:`parley.ordering`). The broadcast is also the requester's success answer. A
refused change is answered to the requester alone, and nothing is stored.

A removal's image, when no other message of the chat shows it any more, is deleted
after the commit (:func:`free_image`); a crash in between leaves at most a file no row
names, which :func:`parley.image_sweep.sweep` deletes at the next start.
"""

from __future__ import annotations

import asyncio

from . import moderation, presenter, rules
from .context import Context, Handler
from .errors import ChatMissing, Invalid, RateLimited
from .messages import Edit, React, Remove
from .model import Change, ChangeOp, User, now_ms
from .peer import Peer
from .session import Place


async def edit(ctx: Context, conn: Peer, r: Edit) -> None:
    user, place = _acting(ctx, conn)
    message_id = _id(r.Id)
    if r.Text is None:
        raise Invalid("Text is required (empty only for a message with an image)")
    if len(r.Text) > rules.MAX_TEXT:
        raise Invalid(f"Text must be at most {rules.MAX_TEXT} characters")
    _published(ctx, conn, place, await ctx.changes.change(
        ChangeOp("edit", place.id, user.id, message_id, r.Text, at=now_ms())))


async def remove(ctx: Context, conn: Peer, r: Remove) -> None:
    user, place = _acting(ctx, conn)
    change = await ctx.changes.change(ChangeOp("remove", place.id, user.id, _id(r.Id)))
    _published(ctx, conn, place, change)
    if change is not None and change.freed_image is not None:
        ctx.background(free_image(ctx, place.id, change.freed_image))


async def react(ctx: Context, conn: Peer, r: React) -> None:
    user, place = _acting(ctx, conn)
    message_id = _id(r.Id)
    problem = rules.emoji_problem(r.Emoji)
    if problem:
        raise Invalid(problem)
    assert r.Emoji is not None
    _published(ctx, conn, place, await ctx.changes.change(
        ChangeOp("react", place.id, user.id, message_id, emoji=r.Emoji)))


HANDLERS: dict[type, Handler] = {
    Edit: edit,
    Remove: remove,
    React: react,
}


async def free_image(ctx: Context, chat_id: int, name: str) -> None:
    """Delete the image a removal left unused, unless a message stored since shows it
    again (checked under the chat's lock, which storing a message takes too)."""
    await ctx.store.drop_unused_image(
        chat_id, name, lambda: asyncio.to_thread(ctx.images.discard, chat_id, name))


def _acting(ctx: Context, conn: Peer) -> tuple[User, Place]:
    """Who and where, then how fast: changes count against the user's message rate."""
    user, place = conn.session.need_chat()
    moderation.check_sanctions(ctx, conn, user.id, place.id, mute=False)
    if not ctx.send_rate.take(user.id):
        raise RateLimited()
    return user, place


def _id(value: int | None) -> int:
    if value is None:
        raise Invalid("Id is required")
    return value


def _published(ctx: Context, conn: Peer, place: Place, change: Change | None) -> None:
    """Publish the committed change to the chat (the requester's answer among them)."""
    if change is None:
        conn.chat_deleted(place.id)
        raise ChatMissing()
    ctx.publish("chat", place.id, presenter.changed(place.name, change), change=change.number)
    ctx.metrics.changes_stored.inc()
