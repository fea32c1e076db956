"""The typing domain: ``typing`` notices, forwarded to the other sockets in the chat.

Nothing is stored or answered. A user's notices in a chat are forwarded at most
once per :data:`~parley.context.TYPING_INTERVAL` (the throttle is this process's,
``ctx.typing``), the others dropped; the hub of every process pushes a notice to
the chat's sockets but the typist's own (see :meth:`parley.hub.Hub.deliver`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .answers import TypingNotice
from .context import Context, Handler
from .messages import Typing
from .peer import Peer

#: the throttle's clock (a test may put its own in)
clock: Callable[[], float] = time.monotonic


async def typing(ctx: Context, conn: Peer, r: Typing) -> None:
    user, place = conn.session.need_chat()
    if not ctx.typing.take((user.id, place.id), clock()):
        return
    ctx.publish("typing", place.id,
                TypingNotice(Type="chat", Command="typing", Chat=place.name, User=user.login),
                sender=user.id)


HANDLERS: dict[type, Handler] = {
    Typing: typing,
}
