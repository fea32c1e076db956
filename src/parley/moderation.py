"""The moderation domain: ``moderator``, ``ban``, ``unban``, ``mute``, ``unmute`` and
``moderators``.

Each command names its chat (``Chat``: it need not be chosen) and, but ``moderators``,
its target (``Login``). Rights are :mod:`parley.rights`'; the roles they are decided
by are read from the database at the request (rare operations: an admin granted by
the command line holds at once). The rows are :mod:`parley.moderation_rows`'.

A ban takes the user out of the chat on every process: the ``leave`` event (see
:mod:`parley.membership`) with the ban notice for a frame. Every ban, mute and their
lifting reach every process's map of sanctions (:class:`parley.sanctions.Sanctions`)
as an event of their own, which posting asks at each message without a database query.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from . import chats, rules
from .answers import BanNotice, ModeratorAnswer, SanctionAnswer, Staff
from .broker import Event
from .context import Context, Handler
from .errors import Invalid, Muted, NoRight, NotAllowed, NotFound, ParleyError
from .messages import Ban, Moderator, Moderators, Mute, Unban, Unmute
from .model import Chat, User, now_ms
from .moderation_rows import Kind
from .peer import Peer
from .rights import Roles, may_appoint, may_be_sanctioned, may_moderate

#: the longest ban or mute, in minutes: ten years
MAX_MINUTES = 5_256_000
MINUTES_RULE = f"Minutes must be a whole number from 1 to {MAX_MINUTES}"

#: a request naming a chat and a user in it
Targeted = Moderator | Ban | Unban | Mute | Unmute


async def moderator(ctx: Context, conn: Peer, r: Moderator) -> None:
    user = conn.session.need_user()
    if type(r.Grant) is not bool:
        raise Invalid("Grant must be true or false")
    chat, target = await _target(ctx, user, r, may_appoint)
    if not await ctx.store.set_moderator(chat.id, target.id, r.Grant):
        raise NotFound()
    answer = ModeratorAnswer(Type="chat", Command="moderator", Status="success",
                             Chat=chat.name, Login=target.login, Grant=r.Grant)
    conn.send(answer)
    # the target's sockets, on every process: their client shows or hides its menu
    ctx.publish("mine", chat.id, answer, sender=target.id)


async def ban(ctx: Context, conn: Peer, r: Ban) -> None:
    chat, target = await _sanction(ctx, conn, r, "ban", required=False)
    # those of the user's sockets that have the chat chosen, on every process, leave
    # it and are told (this process's at once: the broker delivers as it publishes)
    ctx.publish("leave", chat.id,
                BanNotice(Type="chat", Command="ban", Chat=chat.name, Status="banned"),
                sender=target.id)


async def unban(ctx: Context, conn: Peer, r: Unban) -> None:
    await _lift(ctx, conn, r, "ban")


async def mute(ctx: Context, conn: Peer, r: Mute) -> None:
    await _sanction(ctx, conn, r, "mute", required=True)


async def unmute(ctx: Context, conn: Peer, r: Unmute) -> None:
    await _lift(ctx, conn, r, "mute")


async def moderators(ctx: Context, conn: Peer, r: Moderators) -> None:
    """Who moderates the chat, and the asker's own role there. A closed or direct chat
    answers its members only; in a closed chat also whoever has a role in it."""
    user = conn.session.need_user()
    chat = await _chat(ctx, r.Chat)
    roles = await ctx.store.roles(chat.id, chat.owner_id, user.id)
    staff = roles.role != "member" and not chat.direct
    if chat.private and not staff and not await ctx.store.is_member(chat.id, user.id):
        raise ParleyError(status="access denied")
    owner, logins = await ctx.store.staff(chat.id)
    conn.send(Staff(Type="chat", Command="moderators", Chat=chat.name, Owner=owner,
                    Moderators=logins, Role=roles.role))


def check_sanctions(ctx: Context, conn: Peer, user_id: int, chat_id: int, *,
                    mute: bool) -> None:
    """Before a message (``mute``: a muted user's is refused too) or a change in the
    chosen chat: a dict look-up in this process's map of sanctions, no query. A banned
    user's socket that still has the chat chosen (the ban's ``leave`` event lost on its
    way here, or the chat chosen while the ban was stored) leaves it now and is answered
    as a socket with no chat chosen."""
    sanctions = ctx.sanctions
    if not len(sanctions):
        return
    if sanctions.banned(chat_id, user_id):
        chats.leave_chat(ctx, conn)
        raise NotAllowed()
    if mute and sanctions.muted(chat_id, user_id):
        raise Muted()


HANDLERS: dict[type, Handler] = {
    Moderator: moderator,
    Ban: ban,
    Unban: unban,
    Mute: mute,
    Unmute: unmute,
    Moderators: moderators,
}


async def _sanction(ctx: Context, conn: Peer, r: Ban | Mute, kind: Kind, *,
                    required: bool) -> tuple[Chat, User]:
    """Stores a ban or a mute (``Minutes``: how long, `required` or else for good), tells
    every process's map of sanctions, and answers; returns the chat and the target."""
    user = conn.session.need_user()
    minutes = _minutes(r.Minutes, required=required)
    chat, target = await _target(ctx, user, r, may_moderate)
    until = _until(minutes)
    store = ctx.store.ban if kind == "ban" else ctx.store.mute
    if not await store(chat.id, target.id, until):
        raise NotFound()
    ctx.broker.publish(Event(kind, chat.id, b"", sender=target.id, until=until))
    conn.send(_done(kind, chat, target))
    return chat, target


async def _lift(ctx: Context, conn: Peer, r: Unban | Unmute, kind: Kind) -> None:
    """Ends the target's ban or mute in the chat, on every process, and answers."""
    user = conn.session.need_user()
    chat, target = await _target(ctx, user, r, may_moderate)
    await ctx.store.lift(chat.id, target.id, kind)
    lifted: Literal["unban", "unmute"] = "unban" if kind == "ban" else "unmute"
    ctx.broker.publish(Event(lifted, chat.id, b"", sender=target.id))
    conn.send(_done(lifted, chat, target))


async def _chat(ctx: Context, name: str | None) -> Chat:
    problem = rules.chat_name_problem(name)
    if problem:
        raise Invalid(problem)
    assert name is not None
    chat = await ctx.store.find_chat(name)
    if chat is None:
        raise NotFound()
    return chat


async def _target(ctx: Context, user: User, r: Targeted,
                  right: Callable[[Roles], bool]) -> tuple[Chat, User]:
    """The chat and the target user of a request by ``user``, who must have ``right``
    there; in this order: the chat (``not found``), a direct chat or no right (``not
    allowed``), the target (``not found``), the owner or an admin (``not allowed``)."""
    if not r.Login:
        raise Invalid("Login is required")
    chat = await _chat(ctx, r.Chat)
    if chat.direct:  # its members are fixed, and it has no owner
        raise NoRight()
    if not right(await ctx.store.roles(chat.id, chat.owner_id, user.id)):
        raise NoRight()
    found = await ctx.store.target(rules.login_key(r.Login))
    if found is None:
        raise NotFound()
    target, admin = found
    if not may_be_sanctioned(Roles(target.id, chat.owner_id == target.id, admin=admin)):
        raise NoRight()
    return chat, target


def _minutes(value: object, *, required: bool) -> int | None:
    if value is None and not required:
        return None
    if type(value) is not int or not 1 <= value <= MAX_MINUTES:
        raise Invalid(MINUTES_RULE)
    return value


def _until(minutes: int | None) -> int | None:
    return None if minutes is None else now_ms() + minutes * 60_000


def _done(command: str, chat: Chat, target: User) -> SanctionAnswer:
    return SanctionAnswer(Type="chat", Command=command, Status="success", Chat=chat.name,
                          Login=target.login)
