"""A client's WebSocket frames, parsed without I/O (RFC 6455), for the lean engine.

:class:`FrameReader` is fed the bytes a socket received and returns whole
messages and control frames. It keeps the protocol's rules as a server must:
every client frame masked; no reserved bits (no extension is ever
negotiated, so no compression); no unknown opcodes; control frames final and
at most 125 bytes, allowed between the fragments of a message; a continuation
only inside a fragmented message and a new message only outside one; a close
frame's code one a peer may send and its reason UTF-8. A text message that is
not UTF-8 is handed on as it is: Parley's protocol answers it like malformed
JSON, on a socket that stays open (its JSON decoder checks the encoding), as
it always has on aiohttp. A message's size is checked against the limit from the frame header,
before its payload is waited for, so a client never makes the server buffer
more than the limit. A broken rule raises :class:`Violation` with the close
code to send.

Per socket it holds nothing but a reference to an empty ``bytes`` while no
frame is half-received: an idle socket's reader costs its object alone.
"""

from __future__ import annotations

from aiohttp._websocket.helpers import websocket_mask

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

CLOSE_NORMAL = 1000
CLOSE_NO_STATUS = 1005
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_TEXT = 1007
CLOSE_TOO_BIG = 1009

#: close codes a peer may put in a close frame (RFC 6455 7.4, IANA registry)
_SENDABLE = frozenset((1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014))

Event = tuple[int, bytes]


class Violation(Exception):
    """The client broke the protocol: close the socket with ``code``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def close_code(payload: bytes) -> int:
    """The code of a client's close frame (:data:`CLOSE_NO_STATUS` when it has none),
    after checking the frame's payload."""
    if not payload:
        return CLOSE_NO_STATUS
    if len(payload) == 1:
        raise Violation(CLOSE_PROTOCOL_ERROR, "close frame of one byte")
    code = int.from_bytes(payload[:2], "big")
    if code not in _SENDABLE and not 3000 <= code <= 4999:
        raise Violation(CLOSE_PROTOCOL_ERROR, f"close code {code} may not be sent")
    try:
        payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise Violation(CLOSE_INVALID_TEXT, "close reason is not UTF-8") from None
    return code


class FrameReader:
    """Messages (text, binary) and control frames out of a client's byte stream."""

    __slots__ = ("_buf", "_kind", "_parts", "_size", "closed", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._buf: bytes | bytearray = b""
        self._parts: list[bytes] | None = None  # fragments of a message not yet final
        self._kind = 0  # its opcode
        self._size = 0  # its bytes so far
        self.closed = False  # a close frame came: nothing after it is read

    def feed(self, data: bytes) -> list[Event]:
        """The whole events in ``data`` and what came before it; raises :class:`Violation`."""
        if self.closed:
            return []
        if self._buf:
            buf = self._buf
            if isinstance(buf, bytes):
                buf = bytearray(buf)
            buf += data
        else:
            buf = data
        events: list[Event] = []
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            if b0 & 0x70:
                raise Violation(CLOSE_PROTOCOL_ERROR, "reserved bits set")
            if not b1 & 0x80:
                raise Violation(CLOSE_PROTOCOL_ERROR, "client frame not masked")
            opcode = b0 & 0x0F
            final = b0 & 0x80
            n = b1 & 0x7F
            at = pos + 2
            if n == 126:
                if end - at < 2:
                    break
                n = int.from_bytes(buf[at:at + 2], "big")
                at += 2
            elif n == 127:
                if end - at < 8:
                    break
                n = int.from_bytes(buf[at:at + 8], "big")
                if n >> 63:
                    raise Violation(CLOSE_PROTOCOL_ERROR, "frame length's top bit set")
                at += 8
            self._check(opcode, bool(final), n)
            if end - at < 4 + n:
                break
            payload = bytearray(buf[at + 4:at + 4 + n])
            if n:
                websocket_mask(bytes(buf[at:at + 4]), payload)
            pos = at + 4 + n
            event = self._frame(opcode, bool(final), bytes(payload))
            if event is not None:
                events.append(event)
                if event[0] == OP_CLOSE:
                    self.closed = True
                    pos = end
                    break
        self._buf = buf[pos:] if pos < end else b""
        return events

    def _check(self, opcode: int, final: bool, n: int) -> None:
        """The header's rules, before the payload is waited for."""
        if opcode >= 0x8:
            if opcode not in (OP_CLOSE, OP_PING, OP_PONG):
                raise Violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
            if not final:
                raise Violation(CLOSE_PROTOCOL_ERROR, "fragmented control frame")
            if n > 125:
                raise Violation(CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes")
            return
        if opcode == OP_CONTINUATION:
            if self._parts is None:
                raise Violation(CLOSE_PROTOCOL_ERROR, "continuation outside a message")
            total = self._size + n
        elif opcode in (OP_TEXT, OP_BINARY):
            if self._parts is not None:
                raise Violation(CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one")
            total = n
        else:
            raise Violation(CLOSE_PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if total > self.max_size:
            raise Violation(CLOSE_TOO_BIG, f"message over {self.max_size} bytes")

    def _frame(self, opcode: int, final: bool, payload: bytes) -> Event | None:
        if opcode >= 0x8:
            if opcode == OP_CLOSE:
                close_code(payload)
            return opcode, payload
        if opcode == OP_CONTINUATION:
            assert self._parts is not None
            self._parts.append(payload)
            self._size += len(payload)
            if not final:
                return None
            opcode, payload = self._kind, b"".join(self._parts)
            self._parts = None
            self._size = 0
        elif not final:
            self._parts = [payload]
            self._kind = opcode
            self._size = len(payload)
            return None
        return opcode, payload
