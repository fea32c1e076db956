"""The WebSocket adapter: frames in, :class:`~parley.service.Service` calls, frames out.

:class:`Conn` is the :class:`~parley.peer.Peer` of a real socket: it frames the
answers it is sent (:func:`parley.frames.frame`) and queues broadcasts framed
once for all their recipients.

Requests from one socket are handled one after another, in order. Answers and
broadcasts go through the socket's :class:`~parley.outbox.Outbox`, so nothing
here ever waits on a slow reader.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from aiohttp import WSCloseCode, WSMsgType, web
from yarl import URL

from . import frames, tasks
from .errors import BadRequest
from .frames import Outgoing
from .gate import lean_supported, refusal, request_client
from .outbox import CLOSE_TOO_SLOW, OP_PONG, PING, Flusher, Outbox, control_frame
from .peer import Socket

if TYPE_CHECKING:
    from .service import Service

log = logging.getLogger(__name__)

#: whether ``--ws-engine lean`` can be had with this aiohttp (else /ws runs on aiohttp)
LEAN = lean_supported()

#: seconds a closing socket gets to answer our close frame
CLOSE_TIMEOUT = 2.0


class Closer(Protocol):
    """What carries a socket's frames: aiohttp's WebSocketResponse, or a lean socket."""

    async def close(self, *, code: int = ..., message: bytes = ...) -> bool: ...


class Conn(Socket):
    """One socket: its session, its outbox, and its live frames' subscription."""

    __slots__ = ("_tasks", "last_seen", "outbox", "pinged", "ws")

    def __init__(self, ws: Closer, outbox: Outbox, address: str = "") -> None:
        super().__init__(address, outbox.push)
        self.ws = ws
        #: when a frame last came from the client (any frame: a pong is enough)
        self.last_seen = time.monotonic()
        self.pinged = False
        self.outbox = outbox
        self._tasks: set[asyncio.Task[object]] | None = None

    def send(self, answer: Outgoing) -> None:
        """Queue an answer to this socket alone (never held back)."""
        self.outbox.push_answer(frames.frame(answer))

    def too_slow(self) -> None:
        """The outbox gave up: close the socket with :data:`CLOSE_TOO_SLOW`."""
        self.close(CLOSE_TOO_SLOW, b"too slow")

    def close(self, code: int, reason: bytes) -> None:
        """Start closing the socket with ``code`` and ``reason``."""
        task = asyncio.get_running_loop().create_task(self.ws.close(code=code, message=reason))
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


SERVICE: web.AppKey[Service] = web.AppKey("service")
FLUSHER = web.AppKey("flusher", Flusher)


async def serve_socket(request: web.Request) -> web.StreamResponse:
    """One socket, from the upgrade to the close, in one coroutine (its frame is a
    part of every idle connection's memory, so there is one, not a chain)."""
    service = request.app[SERVICE]
    flusher = request.app[FLUSHER]
    settings = service.ctx.settings
    if not origin_allowed(request, settings.allowed_origins):
        raise refusal(web.HTTPForbidden(text="this Origin may not open a socket here\n"))
    address = request_client(request, settings.trusted_proxy)
    if not service.ctx.sockets.admit(address):
        raise refusal(web.HTTPTooManyRequests(text="too many connections from your address\n"))
    conn: Conn | None = None
    if settings.ws_engine == "lean" and LEAN:
        from .wsengine import hand_over

        try:
            answer = hand_over(request, service, flusher, address)
        except BaseException:
            service.ctx.sockets.let_go(address)
            raise
        if answer is not None:
            return answer  # the lean socket lets the address go when it ends
    try:
        ws: web.WebSocketResponse = web.WebSocketResponse(
            max_msg_size=settings.max_frame,
            timeout=CLOSE_TIMEOUT,
            compress=False,
            autoping=False,  # pings are answered here; see Heartbeat for ours
            decode_text=False,
        )
        await ws.prepare(request)
        transport = request.transport
        if transport is None:
            return ws
        outbox = Outbox(transport, flusher, limit=settings.outbox_limit,
                        on_overflow=lambda: drop(conn, service))
        conn = Conn(ws, outbox, address)
        service.connected_socket(conn)
        async for msg in ws:
            conn.last_seen = time.monotonic()
            kind = msg.type
            if kind is WSMsgType.TEXT:
                # The client has not read its last answers yet: its next request waits.
                # (Polled: the transport tells no one when it drains below our limit.)
                while outbox.backlogged():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                await service.receive(conn, msg.data)
            elif kind is WSMsgType.PING:
                outbox.push(control_frame(OP_PONG, msg.data))
            elif kind is WSMsgType.BINARY:
                conn.send(BadRequest("binary frames are not accepted").answer("error", None))
        return ws
    finally:
        service.ctx.sockets.let_go(address)
        if conn is not None:
            conn.outbox.closed = True
            service.disconnected(conn)


class Heartbeat:
    """Finds dead connections: one sweep over every socket, not a timer per socket.

    A socket that has sent nothing for ``interval`` seconds is pinged; one that
    has sent nothing (not even the pong) for half an interval more is dropped.
    A socket that has had bytes waiting for it for ``interval`` seconds without
    taking any is dropped too, however lively its own frames: a client that
    pings but never reads must not hold its backlog forever.
    """

    def __init__(self, service: Service, interval: float) -> None:
        self._service = service
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="heartbeat")

    async def stop(self) -> None:
        await tasks.stop(self._task)
        self._task = None

    async def _run(self) -> None:
        interval = self._interval
        while True:
            await asyncio.sleep(interval / 4)
            now = time.monotonic()
            for conn in self._service.ctx.sockets:
                if not isinstance(conn, Conn):
                    continue
                silent = now - conn.last_seen
                if conn.outbox.stalled(now) >= interval:
                    log.warning("dropping a socket that reads nothing (user %s)", conn.login)
                    if not conn.outbox.closed:  # not counted already as too slow
                        self._service.ctx.metrics.slow_drops.inc()
                    conn.outbox.closed = True
                    conn.outbox.transport.abort()
                elif silent >= interval * 1.5:
                    log.info("dropping a silent socket (user %s)", conn.login)
                    transport = conn.outbox.transport
                    if transport is not None:
                        transport.abort()
                elif silent >= interval and not conn.pinged:
                    conn.pinged = True
                    conn.outbox.push(PING)
                elif silent < interval:
                    conn.pinged = False


def drop(conn: Conn | None, service: Service) -> None:
    """The outbox gave up on ``conn``: count it and close it as too slow."""
    if conn is None:
        return
    service.ctx.metrics.slow_drops.inc()
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
