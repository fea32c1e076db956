"""The WebSocket adapter: frames in, :class:`~parley.service.Service` calls, frames out.

Requests from one socket are handled one after another, in order. Answers and
broadcasts go through the socket's :class:`~parley.outbox.Outbox`, so nothing
here ever waits on a slow reader.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from .errors import BadRequest
from .messages import encode
from .outbox import CLOSE_TOO_SLOW, Flusher, Outbox, text_frame
from .session import Session

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

#: seconds a closing socket gets to answer our close frame
CLOSE_TIMEOUT = 2.0


class Conn:
    """One socket: its session, its outbox, and frames held back during ``choice``."""

    __slots__ = ("_held", "_newest", "_tasks", "address", "outbox", "session", "ws")

    def __init__(self, ws: web.WebSocketResponse, outbox: Outbox, address: str = "") -> None:
        self.ws = ws
        self.address = address
        self.outbox = outbox
        self.session = Session()
        self._held: list[tuple[bytes, int | None]] | None = None
        #: the newest message id of the current chat this socket was sent: an older one
        #: arriving late (a retried publish after a Redis outage) is not sent again
        self._newest = 0
        self._tasks: set[asyncio.Task[object]] = set()

    @property
    def login(self) -> str | None:
        user = self.session.user
        return None if user is None else user.login

    def send(self, answer: object) -> None:
        """Queue an answer to this socket alone (never held back)."""
        self.outbox.push(text_frame(encode(answer)))  # type: ignore[arg-type]

    def push(self, frame: bytes, message_id: int | None = None) -> None:
        """Queue a broadcast frame."""
        if self._held is not None:
            self._held.append((frame, message_id))
        elif message_id is None:
            self.outbox.push(frame)
        elif message_id > self._newest:
            self._newest = message_id
            self.outbox.push(frame)

    def hold(self) -> None:
        """Keep broadcast frames back until :meth:`release`."""
        if self._held is None:
            self._held = []

    def release(self, newest_sent: int | None) -> None:
        """Send the held frames, but not messages up to ``newest_sent`` (already sent)."""
        held, self._held = self._held or [], None
        self._newest = newest_sent or 0
        for frame, message_id in held:
            self.push(frame, message_id)

    def chat_deleted(self, chat_id: int) -> None:
        place = self.session.chat
        if place is not None and place.id == chat_id:
            self.session.chat_gone = True

    def too_slow(self) -> None:
        """The outbox gave up: close the socket with :data:`CLOSE_TOO_SLOW`."""
        task = asyncio.get_running_loop().create_task(
            self.ws.close(code=CLOSE_TOO_SLOW, message=b"too slow")
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def serve_socket(
    request: web.Request, service: Service, flusher: Flusher
) -> web.StreamResponse:
    settings = service.settings
    if not origin_allowed(request, settings.allowed_origins):
        raise web.HTTPForbidden(text="this Origin may not open a socket here\n")
    address = request.remote or ""
    if not service.connections.open(address):
        raise web.HTTPTooManyRequests(text="too many connections from your address\n")
    try:
        return await _serve(request, service, flusher, address)
    finally:
        service.connections.close(address)


async def _serve(
    request: web.Request, service: Service, flusher: Flusher, address: str
) -> web.StreamResponse:
    settings = service.settings
    ws: web.WebSocketResponse = web.WebSocketResponse(
        max_msg_size=settings.max_frame,
        timeout=CLOSE_TIMEOUT,
        compress=False,
        heartbeat=settings.heartbeat if settings.heartbeat > 0 else None,
        decode_text=False,
    )
    await ws.prepare(request)
    transport = request.transport
    if transport is None:
        return ws
    conn: Conn
    outbox = Outbox(transport, flusher, limit=settings.outbox_limit,
                    on_overflow=lambda: _drop(conn, service))
    conn = Conn(ws, outbox, address)
    service.connected_socket(conn)
    try:
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await service.receive(conn, msg.data)
            elif msg.type is WSMsgType.BINARY:
                conn.send(BadRequest("binary frames are not accepted").answer("error", None))
    finally:
        outbox.closed = True
        service.disconnected(conn)
    return ws


def _drop(conn: Conn, service: Service) -> None:
    service.metrics.slow_drops.inc()
    log.warning("dropping a socket that fell behind (user %s)", conn.login)
    conn.too_slow()


GOING_AWAY = WSCloseCode.GOING_AWAY


_LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}


def origin_allowed(request: web.Request, allowed: str) -> bool:
    """Browsers send ``Origin``: allow this server's own, localhost's, and the configured
    ones. A request without one (not from a browser page) is allowed."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    extra = {o.strip().rstrip("/") for o in allowed.split(",") if o.strip()}
    if "*" in extra or origin.rstrip("/") in extra:
        return True
    try:
        parsed = URL(origin)
    except ValueError:
        return False
    host = (parsed.host or "").lower()
    if not host:
        return False
    if host in _LOCAL_HOSTS:
        return True
    port = parsed.explicit_port
    own = {f"{host}:{port}"} if port is not None else {host, f"{host}:{parsed.port}"}
    return request.headers.get("Host", "").lower() in own
