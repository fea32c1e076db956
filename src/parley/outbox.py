"""Per-socket outbound frames, written without waiting and coalesced.

A broadcast encodes its JSON once, frames it once (:func:`text_frame`) and
hands the same bytes to every recipient's :class:`Outbox`. Nothing is written
at that moment: the outbox joins the :class:`Flusher`'s dirty list, and at the
end of the event-loop turn each dirty outbox writes all its frames in one
``transport.write``, one system call for many messages. Nobody ever awaits a
socket: when a socket's unsent bytes pass ``limit`` (its reader is too slow),
the outbox gives up on it and the connection is closed with
:data:`CLOSE_TOO_SLOW`. :meth:`Outbox.stalled` tells the heartbeat how long
bytes have waited for a socket without the client taking any.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import sys
import termios
from collections.abc import Callable

#: Close code for a socket that fell too far behind (4000-4999: application codes).
CLOSE_TOO_SLOW = 4008

_LEN1 = struct.Struct("!BB").pack
_LEN2 = struct.Struct("!BBH").pack
_LEN3 = struct.Struct("!BBQ").pack


OP_PING = 0x9
OP_PONG = 0xA


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A ping or pong (payloads of control frames are at most 125 bytes)."""
    payload = payload[:125]
    return _LEN1(0x80 | opcode, len(payload)) + payload


PING = control_frame(OP_PING)


#: Linux's ioctl for the bytes of a TCP socket its peer has not acknowledged yet
_OUTQ: int | None = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None


def kernel_queue(transport: asyncio.BaseTransport) -> int:
    """Bytes written to the socket that the peer has not taken yet (0 where unknown)."""
    if _OUTQ is None:
        return 0
    sock = transport.get_extra_info("socket")
    if sock is None:
        return 0
    try:
        answer = fcntl.ioctl(sock.fileno(), _OUTQ, b"\0\0\0\0")
    except (OSError, ValueError):
        return 0
    return max(0, int.from_bytes(answer, sys.byteorder, signed=True))


def text_frame(payload: bytes) -> bytes:
    """One final, unmasked, uncompressed text frame (RFC 6455 section 5.2)."""
    n = len(payload)
    if n < 126:
        header = _LEN1(0x81, n)
    elif n < 65536:
        header = _LEN2(0x81, 126, n)
    else:
        header = _LEN3(0x81, 127, n)
    return header + payload


class Flusher:
    """Writes every outbox that got frames during this loop turn, once, at its end."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[Outbox] = []

    def mark(self, outbox: Outbox) -> None:
        if not self._dirty:
            self._loop.call_soon(self.flush)
        self._dirty.append(outbox)

    def flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        for outbox in dirty:
            outbox.flush()


class Outbox:
    """One socket's frames on their way out.

    The limit is on everything the socket fails to take, answers to its own
    requests included: a client that asks and asks without reading is dropped
    like one that does not keep up with broadcasts. One allowance: an answer
    written to a socket that holds nothing else goes out whole even when it is
    bigger than the limit (``grace``: the size of that write); until the client
    has read the socket down to the limit again, later frames may only fill
    what it took of that answer. A write that would take a socket past that is
    not made. So a socket never holds more than the limit or one answer,
    whichever is larger, and :meth:`backlogged` lets the reader loop wait
    before handling the client's next request.
    """

    __slots__ = ("_asked", "_flusher", "_grace", "_limit", "_on_overflow", "_pending", "_sent",
                 "_since", "_taken", "closed", "transport")

    def __init__(
        self,
        transport: asyncio.Transport,
        flusher: Flusher,
        *,
        limit: int,
        on_overflow: Callable[[], None],
    ) -> None:
        self.transport = transport
        self._flusher = flusher
        self._limit = limit
        self._grace = 0  # the size of an answer written to an empty socket, until read
        self._asked = 0  # bytes of answers queued for the next write
        self._on_overflow = on_overflow
        self._pending: list[bytes] = []
        self._sent = 0  # bytes handed to the transport
        self._taken = 0  # of those, what the client had taken at the last look
        self._since: float | None = None  # when bytes were first seen waiting untaken
        self.closed = False

    def push(self, frame: bytes) -> None:
        """Queue one ready frame (see :func:`text_frame`)."""
        if self.closed:
            return
        if not self._pending:
            self._flusher.mark(self)
        self._pending.append(frame)

    def push_answer(self, frame: bytes) -> None:
        """Queue an answer to the client's own request (see the class's allowance)."""
        if not self.closed:
            self._asked += len(frame)
        self.push(frame)

    def backlogged(self) -> bool:
        """More than the limit is still waiting for the client to read it."""
        return not self.closed and self.transport.get_write_buffer_size() > self._limit

    def waiting(self) -> int:
        """Bytes written for this socket that its client has not taken: in the
        transport's buffer and in the kernel's."""
        transport = self.transport
        return transport.get_write_buffer_size() + kernel_queue(transport)

    def stalled(self, now: float) -> float:
        """Seconds that bytes have waited for this socket without the client taking
        any (0 when nothing waits, or it took some since the last look)."""
        waiting = self.waiting()
        taken = self._sent - waiting
        if waiting == 0:
            self._since = None
        elif taken != self._taken or self._since is None:
            self._since = now
        self._taken = taken
        return 0.0 if self._since is None else now - self._since

    def flush(self) -> None:
        pending = self._pending
        if not pending or self.closed:
            pending.clear()
            return
        self._pending = []
        transport = self.transport
        if transport.is_closing():
            self.closed = True
            return
        before = transport.get_write_buffer_size()
        if before <= self._limit:
            self._grace = 0  # the answer that got the allowance has been read
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        if self._asked and before == 0:
            self._grace = len(data)
        self._asked = 0
        allowed = max(self._limit, self._grace)
        if before and before + len(data) > allowed:
            # Bytes wait already, so the kernel takes none of these now: they would
            # all stay here, past what the socket may hold. Not written.
            self.closed = True
            self._on_overflow()
            return
        transport.write(data)
        self._sent += len(data)
        if transport.get_write_buffer_size() > allowed:
            self.closed = True
            self._on_overflow()
