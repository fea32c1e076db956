"""The chats domain: ``list``, ``create``, ``choice``, ``earlier``, ``connected``, ``delete``,
and who is in which chat.

A connection choosing a chat is put in the chat *before* its history is read,
with live frames held back (``conn.hold()``) until the history answer is sent
(``hub.covered``), so no message falls between the page and the live stream,
and none comes twice (the rules themselves: :mod:`parley.ordering`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass

from msgspec import Struct

from . import presenter, rules
from .answers import ChatAnswer, ChatChanges, Online, joined, left
from .broker import Event
from .context import Context, Handler
from .errors import (
    AccessDenied,
    ChatMissing,
    Conflict,
    Invalid,
    NotAllowed,
    ParleyError,
    RateLimited,
)
from .messages import Choice, Connected, Create, Delete, Earlier, ListChats
from .model import Chat, ChatSummary, StoredMessage, User, now_ms
from .ordering import CHANGES, MESSAGES
from .peer import Peer
from .store import OwnsTooMany

PAGE = 30
#: ``choice`` with ``After`` sends at most this many; the client asks again from the last
#: while a page is full. 100 texts of 4,000 control characters (6 bytes each in JSON) are
#: about 2.4 MB: one answer stays under the default ``--outbox-limit`` (4 MiB), which
#: counts answers too, and catching up on 10,000 messages is still only 100 round trips.
AFTER_PAGE = 100
#: ``choice`` with ``Around`` sends at most this many messages before the id, and as many after
AROUND = 50
#: ``choice`` with ``Changes`` sends at most this many changed messages (``More``: ask again)
CHANGES_PAGE = 1000
#: ... and fewer when they would make an answer of more than about this many bytes (a
#: text counted at its worst, 6 bytes a character): one answer stays under the outbox limit
CHANGES_BYTES = 2_500_000


async def list_chats(ctx: Context, conn: Peer, r: ListChats) -> None:
    conn.session.need_user()
    await send_list(ctx, conn)


async def create(ctx: Context, conn: Peer, r: Create) -> None:
    user = conn.session.need_user()
    may_change_chats(ctx, user)
    if r.Chat and r.Chat.startswith(rules.DIRECT_MARK):
        raise Invalid(f"Chat names starting with '{rules.DIRECT_MARK}' are direct chats'")
    problem = rules.chat_name_problem(r.Chat) or rules.new_name_problem(r.Chat, "Chat name")
    if problem:
        raise Invalid(problem)
    assert r.Chat is not None
    if r.Password:  # (an empty one makes an open chat)
        problem = rules.password_problem(r.Password)
        if problem:
            raise Invalid(problem)
    if await ctx.store.name_taken(r.Chat):  # (the same after case folding: see rules.chat_key)
        raise Conflict(status="chat exist")
    most = ctx.settings.max_chats_per_user
    if most and await ctx.store.count_owned(user.id) >= most:
        raise Invalid(f"You may own at most {most} chats")
    password_hash = (
        await ctx.hashing.run(ctx.hasher.hash, r.Password) if r.Password else None
    )
    try:
        chat = await ctx.store.create_chat(r.Chat, user.id, password_hash, max_owned=most)
    except OwnsTooMany:
        raise Invalid(f"You may own at most {most} chats") from None
    if chat is None:
        raise Conflict(status="chat exist")
    # the owner is a member: the processes with the owner's other sockets listen to it
    ctx.broker.publish(Event("members", chat.id, b"", sender=user.id))
    leave_chat(ctx, conn)
    conn.hold()
    conn.session.chose(chat, None, 0)
    first = await _enter(ctx, conn, chat, user)
    conn.send(ChatAnswer(Type="chat", Command="create", Status="success", Chat=chat.name))
    ctx.hub.expect(chat.id, 1, CHANGES)
    ctx.hub.covered(conn, chat.id, {MESSAGES: 0, CHANGES: 0})
    await _publish_list(
        ctx, presenter.chats_changed([ChatSummary(chat.name, chat.closed, user.login)], []))
    if first:
        _publish_presence(ctx, chat.id, joined(chat.name, user.login))


async def choice(ctx: Context, conn: Peer, r: Choice) -> None:
    user = conn.session.need_user()
    if r.Around is not None and r.Around < 1:
        raise Invalid("Around must be a positive message id")
    if r.Around is not None and r.After is not None:
        raise Invalid("Around and After cannot be used together")
    chat = await ctx.store.find_chat(r.Chat) if r.Chat else None
    if chat is None:
        raise ChatMissing()
    current = conn.session.chat
    if current is not None and current.id == chat.id and not conn.session.chat_gone:
        # Paging on in the chat this socket has chosen (a client catching up from the
        # page's last id): its membership was read when it chose it, and a `leave` or
        # a ban takes the socket out; a ban stored meanwhile is in the map of sanctions.
        member, banned = True, ctx.sanctions.banned(chat.id, user.id)
    else:
        member, banned = await ctx.store.standing(chat.id, user.id, now_ms())
    if banned and not chat.direct:
        raise AccessDenied()  # (as a closed chat refuses: see parley.moderation)
    if not member:
        if chat.direct:  # its members never change
            raise AccessDenied()
        if chat.closed and chat.owner_id != user.id:
            await _check_password(ctx, chat, user, r.Password)
        await ctx.store.add_member(chat.id, user.id)
        # (see parley.activity and parley.subscriptions)
        ctx.broker.publish(Event("members", chat.id, b"", sender=user.id))
    await show(ctx, conn, chat, user, r.After, _chosen, changes=r.Changes, around=r.Around)


@dataclass(frozen=True, slots=True)
class Shown:
    """What a socket that chose a chat is sent: the page of messages, the chat's change
    number (or, when ``more`` changes remain, the last one ``changed`` covers) and, when
    asked, the messages changed since."""

    page: list[StoredMessage]
    change: int
    changed: list[StoredMessage] | None = None
    more: bool = False


async def show(ctx: Context, conn: Peer, chat: Chat, user: User, after: int | None,
               answer: Callable[[str, str, Shown], Struct],
               command: str = "choice", changes: int | None = None,
               around: int | None = None) -> None:
    """``conn`` has now chosen ``chat`` (``user`` a member): the page of its messages
    (the newest, those around ``around``, or those after ``after``, with those up to it
    changed after ``changes``)
    goes out as ``answer(command, name, shown)``, then the live frames held meanwhile
    (``choice``, ``direct``)."""
    current = conn.session.chat
    if current is None or current.id != chat.id or conn.session.chat_gone:
        leave_chat(ctx, conn)
        conn.hold()
        conn.session.chose(chat, None, 0)
        first = await _enter(ctx, conn, chat, user)
    else:
        first = False
    conn.hold()
    try:
        # The chat's last id and change number, read before the page: a message or change
        # committed after this read is in the page or (above it) in the held live frames.
        last, change = await ctx.store.positions(chat.id) or (0, 0)
        if after is not None:
            page = await ctx.store.history(chat.id, after=after, limit=AFTER_PAGE)
            complete = len(page) < AFTER_PAGE
        elif around is not None:
            # Up to AROUND before the id; the id itself (if it exists) and up to AROUND after.
            page = await ctx.store.history(chat.id, before=around, limit=AROUND)
            later = await ctx.store.history(chat.id, after=around - 1, limit=AROUND + 1)
            page += later
            complete = len(later) < AROUND + 1
        else:
            page = await ctx.store.history(chat.id, limit=PAGE)
            complete = True
        shown = Shown(page, change)
        if after is not None and changes is not None:
            shown = _since(change, page, await ctx.store.changed(
                chat.id, upto=after, after=changes, limit=CHANGES_PAGE + 1))
        newest = page[-1].id if page else last
    except BaseException:
        conn.release({})
        leave_chat(ctx, conn)
        raise
    oldest = page[0].id if page else None
    conn.session.chose(chat, oldest, after if after is not None else newest)
    conn.send(answer(command, chat.name, shown))
    ctx.hub.expect(chat.id, change + 1, CHANGES)
    ctx.hub.covered(conn, chat.id, {MESSAGES: newest, CHANGES: change}, complete=complete)
    if first:
        _publish_presence(ctx, chat.id, joined(chat.name, user.login))


def _since(change: int, page: list[StoredMessage], changed: list[StoredMessage]) -> Shown:
    """The page with the changes read (one more than a page: whether more remain), cut
    short where the answer would outgrow :data:`CHANGES_BYTES`."""
    size = 0
    for count, message in enumerate(changed):
        size += 300 + 6 * len(message.text or "")
        if count == CHANGES_PAGE or (size > CHANGES_BYTES and count > 0):
            kept = changed[:count]
            return Shown(page, kept[-1].change or 0, kept, more=True)
    return Shown(page, change, changed)


def _chosen(command: str, chat: str, shown: Shown) -> Struct:
    return presenter.chosen(command, chat, shown.page, shown.change, shown.changed, shown.more)


async def earlier(ctx: Context, conn: Peer, r: Earlier) -> None:
    _, place = conn.session.need_chat()
    before = r.Before if r.Before is not None else conn.session.cursor
    page = await ctx.store.history(place.id, before=before, limit=PAGE)
    if page and (conn.session.cursor is None or page[0].id < conn.session.cursor):
        conn.session.cursor = page[0].id
    conn.send(presenter.history("earlier", place.name, page))


async def connected(ctx: Context, conn: Peer, r: Connected) -> None:
    _, place = conn.session.need_chat()
    online = await ctx.presence.online(place.id, ctx.hub.online(place.id))
    conn.send(Online(Type="chat", Command="connected", Chat=place.name, Online=online))


async def delete(ctx: Context, conn: Peer, r: Delete) -> None:
    user = conn.session.need_user()
    may_change_chats(ctx, user)
    name = r.Chat
    chosen = conn.session.chat
    if name is None:
        if chosen is None:
            raise NotAllowed()
        name = chosen.name
    chat = await ctx.store.find_chat(name)
    if chat is None or chat.name == rules.GENERAL or chat.owner_id != user.id:
        raise ParleyError()
    if r.Chat is None and chosen is not None and chosen.id != chat.id:
        raise ParleyError()  # the chosen chat is gone; this is a new one of the same name
    if not await ctx.store.delete_chat(chat.id):
        raise ParleyError()
    await asyncio.to_thread(ctx.images.drop_chat, chat.id)
    await ctx.presence.forget_chat(chat.id)
    place = conn.session.chat
    if place is not None and place.id == chat.id:
        ctx.hub.leave(conn, chat.id, user.login)
        conn.session.left_chat()
    conn.send(ChatAnswer(Type="chat", Command="delete", Status="success", Chat=chat.name))
    ctx.publish("deleted", chat.id,
                ChatAnswer(Type="chat", Command="delete", Status="deleted", Chat=chat.name))
    await _publish_list(ctx, presenter.chats_changed([], [chat.name]))


HANDLERS: dict[type, Handler] = {
    ListChats: list_chats,
    Create: create,
    Choice: choice,
    Earlier: earlier,
    Connected: connected,
    Delete: delete,
}


# -- the chat list ------------------------------------------------------------------------


async def send_list(ctx: Context, conn: Peer, changes: bool = False) -> None:
    """The whole list to ``conn`` (the public chats, then its user's direct chats, read
    again); with ``changes``, deltas follow from then on: no change delivered after the
    list was read is missed."""
    user = conn.session.need_user()
    listing = await ctx.lists.for_user(user.id, fresh=True)
    if changes and conn in ctx.sockets:  # still open
        ctx.lists.take_deltas(conn)
    conn.send(listing)


async def _publish_list(ctx: Context, change: ChatChanges) -> None:
    """Tell every process the list changed: the delta goes to the sockets that take
    deltas, and each process pushes the whole list to its other sockets (see
    :class:`~parley.chatlist.ChatList`). Waits for this process's push when one is under
    way, so the requester gets the list before what follows it."""
    ctx.publish("list", 0, change)
    await ctx.lists.pushed()


def may_change_chats(ctx: Context, user: User) -> None:
    """The per-user limit on creates and deletes together."""
    if not ctx.chat_rate.take(user.id):
        raise RateLimited()


async def _check_password(ctx: Context, chat: Chat, user: User, password: str | None) -> None:
    """Let ``user``, not a member, into the closed ``chat``: the right password, or
    :class:`AccessDenied`."""
    if not password or len(password) > rules.MAX_PASSWORD:
        raise AccessDenied()
    # (chats made before the 8-character minimum may have shorter passwords)
    if not await ctx.password_attempt(
            ctx.chat_throttle, f"user {user.id}", str(chat.id),
            functools.partial(ctx.hasher.verify, chat.password_hash, password)):
        raise AccessDenied()


# -- who is where ----------------------------------------------------------------------


async def _enter(ctx: Context, conn: Peer, chat: Chat, user: User) -> bool:
    """Put ``conn`` in the chat; True when it is its user's first socket there on any
    process (the caller then pushes ``Joined``). Returns once this process receives the
    chat's events (see :meth:`parley.broker.Broker.subscribe`): the history read after
    it meets the live events with nothing lost between them."""
    first = ctx.hub.enter(conn, chat.id, chat.name, user.login)
    await ctx.broker.subscribe(chat.id)
    if not first:
        return False
    return await ctx.presence.arrived(chat.id, chat.name, user.login)


def leave_chat(ctx: Context, conn: Peer, *, closed: bool = False) -> None:
    """Take ``conn`` out of its chat, telling the others if its user is gone from it.
    A ``closed`` socket leaves its user lingering for ``--presence-linger`` seconds
    first (see :mod:`parley.hub`): a client that reconnects within it costs nobody a
    ``Left`` or a ``Joined``."""
    session = conn.session
    place = session.chat
    if place is None or session.user is None:
        session.left_chat()
        return
    linger = ctx.settings.presence_linger if closed else 0.0
    last = ctx.hub.leave(conn, place.id, session.user.login, linger=linger)
    session.left_chat()
    if last:
        ctx.background(departed(ctx, place.id, place.name, session.user.login))


async def departed(ctx: Context, chat_id: int, chat: str, login: str) -> None:
    """This process no longer has ``login`` in the chat: ``Left`` if no process has."""
    if await ctx.presence.departed(chat_id, chat, login):
        user_gone(ctx, chat_id, chat, login)


def user_gone(ctx: Context, chat_id: int, chat: str, login: str) -> None:
    """Push ``Left``: the user's last socket in the chat, on any process, is gone."""
    _publish_presence(ctx, chat_id, left(chat, login))


def _publish_presence(ctx: Context, chat_id: int, delta: Online) -> None:
    """``Joined`` or ``Left``: the hubs coalesce them per user (see :mod:`parley.hub`)."""
    if delta.Joined:
        ctx.publish("joined", chat_id, delta, login=delta.Joined)
    elif delta.Left:
        ctx.publish("left", chat_id, delta, login=delta.Left)
