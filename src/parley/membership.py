"""Membership: ``leave``, and the ``leave`` events that take a user's sockets out of the
chat on every process.

A user is a member of a chat after creating it or choosing it (a closed chat with
its password once): :func:`parley.chats.create` and :func:`parley.chats.choice` make
members, in the ``members`` table. ``leave`` ends it: a closed chat then needs its
password again, and every socket of the user that has the chat chosen leaves it.
"""

from __future__ import annotations

from . import chats, rules
from .answers import ChatAnswer
from .broker import Event
from .context import Context, Handler
from .errors import ChatMissing, Invalid, NoRight
from .messages import Leave
from .model import Chat
from .peer import Peer


async def leave(ctx: Context, conn: Peer, r: Leave) -> None:
    user = conn.session.need_user()
    problem = rules.chat_name_problem(r.Chat)
    if problem:
        raise Invalid(problem)
    assert r.Chat is not None
    chat = await ctx.store.find_chat(r.Chat)
    if chat is None:
        raise ChatMissing()
    if not may_leave(chat):
        raise NoRight()
    await ctx.store.remove_member(chat.id, user.id)
    place = conn.session.chat
    if place is not None and place.id == chat.id:
        chats.leave_chat(ctx, conn)
    conn.send(ChatAnswer(Type="chat", Command="leave", Status="success", Chat=chat.name))
    # the user's other sockets in the chat, on every process (this one's at once: the
    # in-process broker delivers as it publishes)
    ctx.publish("leave", chat.id,
                ChatAnswer(Type="chat", Command="leave", Status="left", Chat=chat.name),
                sender=user.id)


def may_leave(chat: Chat) -> bool:
    """Whether a member may leave ``chat``: any chat, ``general`` included, but a direct
    chat, whose members never change (``NoRight``: ``"Status":"not allowed"``)."""
    return not chat.direct


HANDLERS: dict[type, Handler] = {
    Leave: leave,
}


def left_elsewhere(ctx: Context, conn: Peer, event: Event) -> None:
    """A ``leave`` event reached one of the user's sockets here: if it has the chat
    chosen, it leaves it (``Left`` as usual) and is told so."""
    session = conn.session
    place = session.chat
    if session.user is None or session.user.id != event.sender:
        return
    if place is None or place.id != event.chat_id:
        return
    chats.leave_chat(ctx, conn)
    conn.push(event.frame)
    ctx.hub.count(1)
