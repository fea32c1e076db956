"""Direct chats: ``direct``, the chat of exactly the requester and 1 to 9 other users.

Its name is ``@`` and its members' logins (as registered), sorted by login key
(:func:`parley.rules.login_key`), joined by ``,``: ``@alice,bob``. The same members
always make the same chat: it is found by its member set (:func:`member_key`, kept
in ``chats.direct_key`` under a unique index, so concurrent requests cannot make two),
else created. It has no owner and no password; its members are made with it and never
change: no one else may choose it (``access denied``), nor leave it
(:func:`parley.membership.may_leave`), nor delete it (no owner). It is in its members'
chat lists only (:mod:`parley.chatlist`), and its images are served to its members only
(:func:`parley.app.image`).
"""

from __future__ import annotations

from collections.abc import Iterable

from . import chats, rules
from .answers import DirectAnswer
from .context import Context, Handler
from .errors import Invalid, ParleyError
from .messages import Direct
from .model import ChatSummary, User
from .peer import Peer
from .presenter import messages

#: other members a direct chat may have
MAX_OTHERS = 9


async def direct(ctx: Context, conn: Peer, r: Direct) -> None:
    user = conn.session.need_user()
    others = _others(user, r.With)
    found = await ctx.store.find_users(list(others))
    for key, login in others.items():
        if key not in found:
            raise ParleyError(f"No user {login!r}", status="not found")
    people = sorted([user, *found.values()], key=lambda u: rules.login_key(u.login))
    name = rules.DIRECT_MARK + ",".join(u.login for u in people)
    key = member_key(u.id for u in people)
    chat = await ctx.store.find_direct(key)
    created = False
    if chat is None:
        chats.may_change_chats(ctx, user)
        chat = await ctx.store.create_direct(name, key, [u.id for u in people])
        created = chat is not None
        if chat is None:  # made meanwhile by another request
            chat = await ctx.store.find_direct(key)
        if chat is None:
            raise Invalid(f"The chat {name!r} cannot be made: a chat of that name exists")
    await chats.show(ctx, conn, chat, user, None, _answer, "direct")
    if created:
        summary = ChatSummary(chat.name, True, None, tuple(u.login for u in people))
        ctx.publish_direct(chat.id, summary, [u.id for u in people])
        await ctx.lists.pushed()


def member_key(user_ids: Iterable[int]) -> str:
    """A direct chat's member set, as stored: the user ids, ascending, joined by ``,``."""
    return ",".join(str(i) for i in sorted(user_ids))


def _others(user: User, logins: list[str] | None) -> dict[str, str]:
    """The other members' logins by login key, checked; ``Invalid`` for too few, too
    many, the requester, or one named twice."""
    if not logins or len(logins) > MAX_OTHERS:
        raise Invalid(f"With must name 1 to {MAX_OTHERS} other users")
    mine = rules.login_key(user.login)
    out: dict[str, str] = {}
    for login in logins:
        key = rules.login_key(login)
        if key == mine:
            raise Invalid("With names the other members, not yourself")
        if key in out:
            raise Invalid(f"{login!r} is named twice")
        out[key] = login
    return out


def _answer(command: str, chat: str, shown: chats.Shown) -> DirectAnswer:
    return DirectAnswer(Type="chat", Command=command, Status="success", Chat=chat,
                        Messages=messages(chat, shown.page), Change=shown.change)


HANDLERS: dict[type, Handler] = {
    Direct: direct,
}
