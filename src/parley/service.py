"""The chokepoint: every frame a socket sends comes in through :meth:`Service.receive`.

It decodes the frame, pipelines text messages (the next frame is read while one
is stored), runs the request's handler from :data:`HANDLERS`, and is the one
place where a failure becomes an answer: a handler either sends its answers
or raises a :class:`~parley.errors.ParleyError`, answered here; anything else
is logged and answered with a bare ``"Status": "error"``.

The handlers live in their domain's module, with its table; a new domain is a
new module and one more line in :data:`HANDLERS`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from . import (
    accounts,
    activity,
    changes,
    chats,
    direct,
    membership,
    moderation,
    posting,
    search,
    typists,
    unread,
)
from .answers import Answer
from .broker import Event
from .context import Context, Handler
from .errors import BadRequest, Invalid, ParleyError
from .messages import ACCOUNT_FRAME, AnyRequest, Refused, Send, account_command, decode_request
from .peer import Peer

log = logging.getLogger(__name__)

#: text messages one socket may have on their way to the database at once
PIPELINE = 32

#: every command's handler, by request type: one table per domain
HANDLERS: dict[type, Handler] = {
    **accounts.HANDLERS,
    **changes.HANDLERS,
    **chats.HANDLERS,
    **direct.HANDLERS,
    **membership.HANDLERS,
    **moderation.HANDLERS,
    **posting.HANDLERS,
    **search.HANDLERS,
    **typists.HANDLERS,
    **unread.HANDLERS,
}


class Service:
    """The service of one process: its :class:`~parley.context.Context` and the chokepoint."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        ctx.hub.on_user = lambda peer, event: accounts.user_event(ctx, peer, event)
        ctx.hub.on_leave = lambda peer, event: membership.left_elsewhere(ctx, peer, event)
        ctx.hub.on_sanction = ctx.sanctions.delivered
        ctx.hub.on_vacated = ctx.subscriptions.vacated
        ctx.hub.on_gone = lambda chat_id, chat, login: ctx.background(
            chats.departed(ctx, chat_id, chat, login))
        #: this process's activity pushes
        self.activity = activity.ActivityPusher(ctx.hub, ctx.store.member_ids, ctx.background)
        ctx.hub.on_activity = self._members_event

    def _members_event(self, event: Event) -> None:
        """``activity``, or an event that may change a chat's members."""
        self.activity.deliver(event)
        self.ctx.subscriptions.delivered(event)

    async def receive(self, conn: Peer, frame: bytes | str) -> None:
        """Handle one frame from ``conn``: every outcome is an answer, never an exception."""
        if len(frame) > ACCOUNT_FRAME:
            command = account_command(frame)
            if command is not None:
                self._fail(conn, Invalid(
                    f"An account request must be at most {ACCOUNT_FRAME} characters"),
                    "account", command)
                return
        try:
            request = decode_request(frame)
        except Refused as exc:  # answered as its request, in its turn
            if conn.pending:
                await asyncio.gather(*conn.pending)
            self._fail(conn, exc, exc.type, exc.command)
            return
        except BadRequest as exc:
            self._fail(conn, exc, "error", None)
            return
        except Exception:
            log.exception("decoding a frame failed")
            self._fail(conn, BadRequest("the frame could not be read"), "error", None)
            return
        pending = conn.pending
        if type(request) is Send and not request.Image:
            # Text messages are pipelined: the next frame is read while this one is
            # being stored. They reach the writer, and are answered, in arrival order.
            if len(pending) >= PIPELINE:
                await pending[0]
            self._pipeline(conn, request)
            return
        await self._in_turn(conn, request)

    def start(self, conn: Peer, frame: bytes | str) -> Coroutine[Any, Any, None] | None:
        """:meth:`receive`, as far as it goes without waiting: a text message that joins
        the socket's pipeline at once is started here and None returned (no task, no
        coroutine of its own: the common case of a socket's reader); for anything else,
        what is left to await."""
        if len(frame) > ACCOUNT_FRAME or len(conn.pending) >= PIPELINE:
            return self.receive(conn, frame)
        try:
            request = decode_request(frame)
        except Exception:  # answered by receive, which decodes it again
            return self.receive(conn, frame)
        if type(request) is Send and not request.Image:
            self._pipeline(conn, request)
            return None
        return self._in_turn(conn, request)

    def _pipeline(self, conn: Peer, request: Send) -> None:
        pending = conn.pending
        task = asyncio.ensure_future(self._answer(conn, request, after=list(pending)))
        pending.append(task)
        task.add_done_callback(pending.remove)

    async def _in_turn(self, conn: Peer, request: AnyRequest) -> None:
        if conn.pending:  # anything else waits for the messages sent before it
            await asyncio.gather(*conn.pending)
        await self._answer(conn, request)

    async def _answer(self, conn: Peer, request: AnyRequest,
                      after: Sequence[asyncio.Future[None]] = ()) -> None:
        """Run the request's handler; a failure is answered once the requests ``after``
        (earlier pipelined messages of the socket) are, so answers keep their order."""
        command = _command(request)
        try:
            await HANDLERS[type(request)](self.ctx, conn, request)
        except ParleyError as exc:
            await _done(after)
            self._fail(conn, exc, request.Type, command)
        except Exception:
            log.exception("request %s/%s failed", request.Type, command)
            await _done(after)
            self.ctx.metrics.errors.labels("error").inc()
            conn.send(Answer(Type=request.Type, Command=command, Status="error"))

    def _fail(self, conn: Peer, exc: ParleyError, type_: str, command: str | None) -> None:
        self.ctx.metrics.errors.labels(exc.answer_status).inc()
        conn.send(exc.answer(type_, command))

    def connected_socket(self, conn: Peer) -> None:
        self.ctx.sockets.opened(conn)

    def disconnected(self, conn: Peer) -> None:
        """The socket is gone: it leaves its chat and the logged-in set."""
        self.ctx.sockets.closed(conn)
        accounts.gone(self.ctx, conn)

    def user_gone(self, chat_id: int, chat: str, login: str) -> None:
        """Push ``Left``: the user's last socket in the chat, on any process, is gone."""
        chats.user_gone(self.ctx, chat_id, chat, login)

    async def drain(self) -> None:
        """Wait for the background work (presence updates, list pushes) still under way."""
        await self.ctx.drain()


async def _done(futures: Sequence[asyncio.Future[None]]) -> None:
    if futures:
        await asyncio.gather(*futures, return_exceptions=True)


def _command(request: AnyRequest) -> str:
    command = type(request).__struct_config__.tag
    assert isinstance(command, str)  # every request class is tagged with its command
    return command
