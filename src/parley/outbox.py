"""Per-socket outbound frames, written without waiting and coalesced.

A broadcast encodes its JSON once, frames it once (:func:`text_frame`) and
hands the same bytes to every recipient's :class:`Outbox`. Nothing is written
at that moment: the outbox joins the :class:`Flusher`'s dirty list, and at the
end of the event-loop turn each dirty outbox writes all its frames in one
``transport.write``, one system call for many messages. Nobody ever awaits a
socket: when a socket's unsent bytes pass ``limit`` (its reader is too slow),
the outbox gives up on it and the connection is closed with
:data:`CLOSE_TOO_SLOW`.
"""

from __future__ import annotations

import asyncio
import struct
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

    The limit is on what the socket fails to take: broadcasts that pile up
    because its reader is slow. An answer the client asked for (a history
    page can be 16 MB) is let through whole: its size is added to the
    allowance (``grace``) until the socket has drained below the limit again,
    and :meth:`backlogged` lets the reader loop wait before handling the
    client's next request, so a client cannot pile up answers either.
    """

    __slots__ = ("_asked", "_flusher", "_grace", "_limit", "_on_overflow", "_pending", "closed",
                 "transport")

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
        self._grace = 0  # bytes of answers written since the socket was last under the limit
        self._asked = 0  # bytes of answers queued for the next write
        self._on_overflow = on_overflow
        self._pending: list[bytes] = []
        self.closed = False

    def push(self, frame: bytes) -> None:
        """Queue one ready frame (see :func:`text_frame`)."""
        if self.closed:
            return
        if not self._pending:
            self._flusher.mark(self)
        self._pending.append(frame)

    def push_answer(self, frame: bytes) -> None:
        """Queue an answer to the client's own request: it may exceed the limit."""
        if not self.closed:
            self._asked += len(frame)
        self.push(frame)

    def backlogged(self) -> bool:
        """More than the limit is still waiting for the client to read it."""
        return not self.closed and self.transport.get_write_buffer_size() > self._limit

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
        if transport.get_write_buffer_size() <= self._limit:
            self._grace = 0  # everything asked for before has been taken
        self._grace += self._asked
        self._asked = 0
        transport.write(pending[0] if len(pending) == 1 else b"".join(pending))
        if transport.get_write_buffer_size() > self._limit + self._grace:
            self.closed = True
            self._on_overflow()
