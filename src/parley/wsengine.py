"""The lean WebSocket engine (``--ws-engine lean``, experimental): ``/ws`` on a bare
asyncio Protocol after aiohttp has read and checked the upgrade request.

Why: aiohttp keeps about 13 KB of objects per open WebSocket (the request, its
HTTP protocol, reader, writer, the handler's task); a bare Protocol with
:class:`~parley.wsreader.FrameReader` keeps about 1.3 KB (see "Memory per idle
connection" in docs/benchmarks.md). aiohttp still serves every HTTP request and
does every check before the upgrade (origin, per-address limits, the head
deadline); :func:`hand_over` then writes the ``101`` itself, moves the socket
to a :class:`LeanSocket` and lets aiohttp's objects for it go.

A socket has no task while it is idle: one is started when a text message
arrives and ends when its messages are handled, one after another, in order,
as with aiohttp. Reading pauses while :data:`INBOX_PAUSE` messages wait.
Frames out go through the same :class:`~parley.outbox.Outbox` (coalescing, the
slow-consumer limit) as with aiohttp.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections import deque
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import BadRequest
from .gate import Gate, GatedHandler
from .outbox import OP_PONG, Flusher, Outbox, control_frame
from .wsreader import (
    CLOSE_NO_STATUS,
    CLOSE_NORMAL,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameReader,
    Violation,
    close_code,
)

if TYPE_CHECKING:
    from .connection import Conn
    from .service import Service

log = logging.getLogger(__name__)

#: text messages waiting for their turn before the socket stops reading
INBOX_PAUSE = 16
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def close_frame(code: int, reason: bytes = b"") -> bytes:
    """A server's close frame (unmasked; the reason cut to fit 125 bytes)."""
    body = code.to_bytes(2, "big") + reason[:123]
    return bytes((0x88, len(body))) + body


class LeanSocket(asyncio.Protocol):
    """One WebSocket after the upgrade: frames in, the service's calls, the close."""

    __slots__ = ("_closed", "_closing", "_done", "_inbox", "_paused", "_worker", "address",
                 "conn", "peer", "reader", "service", "transport")

    def __init__(self, transport: asyncio.Transport, service: Service, address: str,
                 peer: tuple[Gate, str] | None, max_frame: int) -> None:
        self.transport = transport
        self.service = service
        self.address = address
        self.peer = peer  # the gate's count of this TCP connection, released at the end
        self.reader = FrameReader(max_frame)
        self.conn: Conn | None = None
        self._inbox: deque[bytes] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._paused = False
        self._closing = False  # our close frame is sent
        self._closed: asyncio.Future[None] | None = None  # set when the socket is gone
        self._done = False

    # -- frames in ---------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        assert conn is not None
        conn.last_seen = time.monotonic()
        try:
            events = self.reader.feed(data)
        except Violation as exc:
            log.info("closing a socket with %s: %s", exc.code, exc.reason)
            self._fail(exc.code, exc.reason.encode())
            return
        for opcode, payload in events:
            if opcode == OP_TEXT:
                if not self._closing:
                    self._queue(payload)
            elif opcode == OP_PING:
                conn.outbox.push(control_frame(OP_PONG, payload))
            elif opcode == OP_BINARY:
                if not self._closing:
                    conn.send(BadRequest("binary frames are not accepted").answer("error", None))
            elif opcode == OP_CLOSE:
                self._close_received(close_code(payload))

    def _close_received(self, code: int) -> None:
        """The client's close: answered with its code, or it answers ours."""
        conn = self.conn
        assert conn is not None
        if not self._closing:
            self._closing = True
            if not conn.outbox.closed:
                conn.outbox.flush()  # what was queued before it still goes out
            conn.outbox.closed = True
            self.transport.write(close_frame(CLOSE_NORMAL if code == CLOSE_NO_STATUS else code))
        self.transport.close()

    def _fail(self, code: int, reason: bytes) -> None:
        self._closing = True
        self.reader.closed = True
        if self.conn is not None:
            self.conn.outbox.closed = True
        self.transport.write(close_frame(code, reason))
        self.transport.close()

    def _queue(self, payload: bytes) -> None:
        conn = self.conn
        assert conn is not None
        if self._worker is None and not conn.outbox.backlogged():
            # Nothing of this socket waits: the frame is handled at once, and a text
            # message that joins the pipeline needs no task of the reader's.
            first = self.service.start(conn, payload)
            if first is None:
                return
            self._inbox = deque()
            self._worker = asyncio.get_running_loop().create_task(self._work(first))
            return
        if self._inbox is None:
            self._inbox = deque()
        self._inbox.append(payload)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())
        elif len(self._inbox) >= INBOX_PAUSE and not self._paused:
            self._paused = True
            self.transport.pause_reading()

    async def _work(self, first: Coroutine[Any, Any, None] | None = None) -> None:
        """This socket's messages, one after another (``first``: the rest of one
        started already), then the task ends."""
        conn = self.conn
        inbox = self._inbox
        assert conn is not None
        assert inbox is not None
        try:
            if first is not None:
                if self._done:  # gone before its turn, as a frame of the inbox would be
                    first.close()
                else:
                    await first
            while inbox and not self._done:
                # The client has not read its last answers yet: its next request waits.
                while conn.outbox.backlogged():  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                await self.service.receive(conn, inbox.popleft())
                if self._paused and len(inbox) < INBOX_PAUSE // 2 and not self._done:
                    self._paused = False
                    self.transport.resume_reading()
        finally:
            self._worker = None
            self._inbox = None
            if self._done:
                self._finish()

    # -- the end -----------------------------------------------------------

    async def close(self, *, code: int = CLOSE_NORMAL, message: bytes = b"") -> bool:
        """Send our close frame (after what is queued) and wait, at most
        ``CLOSE_TIMEOUT``, for the client's; then the connection is dropped."""
        from .connection import CLOSE_TIMEOUT

        if self._closing or self._done:
            return False
        self._closing = True
        conn = self.conn
        if conn is not None:
            if not conn.outbox.closed:
                conn.outbox.flush()
            conn.outbox.closed = True
        self.transport.write(close_frame(code, message))
        if self._paused:
            self._paused = False
            self.transport.resume_reading()  # the client's close frame must be read
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._closed), CLOSE_TIMEOUT)
        except TimeoutError:
            self.transport.abort()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._done = True
        self.reader.closed = True
        if self._closed is not None and not self._closed.done():
            self._closed.set_result(None)
        if self.conn is not None:
            self.conn.outbox.closed = True
        if self._worker is None:  # else the message being handled finishes first
            self._finish()

    def _finish(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        self.service.ctx.sockets.let_go(self.address)
        self.service.disconnected(conn)
        if self.peer is not None:
            gate, peer = self.peer
            gate.release(peer)
            self.peer = None


def accept(key: str) -> str:
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def hand_over(request: web.Request, service: Service, flusher: Flusher,
              address: str) -> web.StreamResponse | None:
    """Answer the upgrade with ``101`` and move the socket to a :class:`LeanSocket`.

    None when the request is not a valid upgrade (the caller answers it as aiohttp
    does). On success the socket's admission (``address``) belongs to the lean
    socket, which lets it go when the connection ends.
    """
    from .connection import Conn, drop

    settings = service.ctx.settings
    probe = web.WebSocketResponse(compress=False)
    transport = request.transport
    handler = request.protocol
    if (not probe.can_prepare(request).ok or transport is None
            or not isinstance(handler, GatedHandler)):
        return None
    tail, counted = handler.hand_over()
    transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\nSec-WebSocket-Accept: "
                    + accept(request.headers["Sec-WebSocket-Key"]).encode() + b"\r\n\r\n")
    lean = LeanSocket(transport, service, address, counted, settings.max_frame)
    conn: Conn | None = None
    outbox = Outbox(transport, flusher, limit=settings.outbox_limit,
                    on_overflow=lambda: drop(conn, service))
    conn = Conn(lean, outbox, address)
    lean.conn = conn
    transport.set_protocol(lean)
    service.connected_socket(conn)
    if tail:
        lean.data_received(tail)
    # aiohttp writes nothing more to this socket: its transport is gone from its view.
    return web.Response(status=101)
