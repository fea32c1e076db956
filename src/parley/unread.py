"""Read pointers and unread counts: ``read`` and ``unread``.

A member's read pointer (``members.read_id``) only moves forward, never past the
chat's newest id; every socket of the user, on every process, is told where it is
(a ``mine`` event). ``unread`` counts, for every chat the user is a member of, the
messages from others after the pointer and those of them that mention the user (see
:mod:`parley.mentions` and :mod:`parley.unread_rows`).
"""

from __future__ import annotations

from . import rules
from .answers import ReadPointer, UnreadChat, UnreadCounts
from .context import Context, Handler
from .errors import ChatMissing, Invalid, NoRight
from .messages import Read, UnreadRequest
from .peer import Peer


async def read(ctx: Context, conn: Peer, r: Read) -> None:
    user = conn.session.need_user()
    problem = rules.chat_name_problem(r.Chat)
    if problem:
        raise Invalid(problem)
    if r.Id is None:
        raise Invalid("Id is required")
    if r.Id < 0:
        raise Invalid("Id must be a message id (0 or more)")
    assert r.Chat is not None
    chat = await ctx.store.find_chat(r.Chat)
    if chat is None:
        raise ChatMissing()
    pointer = await ctx.store.mark_read(chat.id, user.id, r.Id)
    if pointer is None:  # not a member
        raise NoRight()
    ctx.publish("mine", chat.id,
                ReadPointer(Type="chat", Command="read", Chat=chat.name, Id=pointer),
                sender=user.id)


async def unread(ctx: Context, conn: Peer, r: UnreadRequest) -> None:
    user = conn.session.need_user()
    rows = await ctx.store.unread(user.id)
    conn.send(UnreadCounts(Type="chat", Command="unread", Chats={
        row.chat: UnreadChat(row.last, row.read, row.unread, row.mentions) for row in rows}))


HANDLERS: dict[type, Handler] = {
    Read: read,
    UnreadRequest: unread,
}
