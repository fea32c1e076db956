"""The lean WebSocket engine (``--ws-engine lean``) keeps the WebSocket contract.

Raw frames over a plain TCP socket against a real ``parley serve``: masking,
fragmentation with control frames between fragments, the close handshake and
its codes, UTF-8 validation, the size limit checked on the header before the
payload is read, ping and pong, and no compression offered back. The
protocol's own tests run on this engine too with ``PARLEY_WS_ENGINE=lean``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from conftest import FAST, ServerProcess

MAX_FRAME = 4096
PATIENCE = 5.0
KEY = base64.b64encode(b"0123456789abcdef").decode()
ACCEPT = base64.b64encode(hashlib.sha1(  # RFC 6455's accept key
    KEY.encode() + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()).decode()
NOT_UTF8 = (b'{"Type":"error","Status":"error in json file",'
            b'"Detail":"malformed JSON: a text frame must be UTF-8"}')
MISSING_COMMAND = (b'{"Type":"error","Status":"error in json file",'
                   b'"Detail":"Object missing required field `Command`"}')


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(Path(tmp_path_factory.mktemp("lean")), *FAST, "--ws-engine", "lean",
                         "--max-frame", str(MAX_FRAME)).start()
    yield proc
    assert proc.stop() == 0


class Raw:
    """One socket speaking frames byte by byte."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def send(self, opcode: int, payload: bytes, *, fin: bool = True, masked: bool = True,
             rsv: int = 0) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes(((0x80 if fin else 0) | rsv | opcode,))
        bit = 0x80 if masked else 0
        if n < 126:
            head += bytes((bit | n,))
        elif n < 65536:
            head += bytes((bit | 126,)) + n.to_bytes(2, "big")
        else:
            head += bytes((bit | 127,)) + n.to_bytes(8, "big")
        if masked:
            head += mask
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + payload)

    async def frame(self) -> tuple[int, bytes]:
        """The next frame from the server (its opcode with the FIN bit, its payload)."""
        b0, b1 = await asyncio.wait_for(self.reader.readexactly(2), PATIENCE)
        assert not b1 & 0x80, "server frames are never masked"
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(await self.reader.readexactly(2), "big")
        elif n == 127:
            n = int.from_bytes(await self.reader.readexactly(8), "big")
        return b0, await asyncio.wait_for(self.reader.readexactly(n), PATIENCE)

    async def ends(self) -> bool:
        """The server closed the TCP connection."""
        try:
            return await asyncio.wait_for(self.reader.read(1), PATIENCE) == b""
        except ConnectionResetError:
            return True


@pytest.fixture
async def ws(lean: ServerProcess) -> AsyncIterator[Raw]:
    reader, writer = await asyncio.open_connection("127.0.0.1", lean.port)
    writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {KEY}"
                 f"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n".encode())
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    assert head == (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    b"Connection: upgrade\r\nSec-WebSocket-Accept: "
                    + ACCEPT.encode() + b"\r\n\r\n")  # no extension: never compressed
    yield Raw(reader, writer)
    writer.close()


def close(code: int, reason: bytes = b"") -> tuple[int, bytes]:
    return 0x88, code.to_bytes(2, "big") + reason


async def test_a_masked_text_frame_is_answered(ws: Raw) -> None:
    ws.send(0x1, b"{}")
    assert await ws.frame() == (0x81, MISSING_COMMAND)


async def test_an_unmasked_frame_closes_with_1002(ws: Raw) -> None:
    ws.send(0x1, b"{}", masked=False)
    assert await ws.frame() == close(1002, b"client frame not masked")
    assert await ws.ends()


async def test_fragments_with_control_frames_between_make_one_message(ws: Raw) -> None:
    ws.send(0x1, b"{", fin=False)
    ws.send(0x9, b"between")
    ws.send(0x0, b"", fin=False)
    ws.send(0xA, b"unasked pong")
    ws.send(0x0, b"}")
    assert await ws.frame() == (0x8A, b"between")
    assert await ws.frame() == (0x81, MISSING_COMMAND)


async def test_a_character_split_between_fragments_is_valid_utf8(ws: Raw) -> None:
    text = '{"x":"é"}'.encode()
    ws.send(0x1, text[:7], fin=False)
    ws.send(0x0, text[7:])
    assert await ws.frame() == (0x81, MISSING_COMMAND)


@pytest.mark.parametrize(("frames", "expected"), [
    ([(0x0, b"x", True)], b"continuation outside a message"),
    ([(0x1, b"{", False), (0x1, b"}", True)], b"new message inside a fragmented one"),
    ([(0x9, b"x", False)], b"fragmented control frame"),
    ([(0x9, b"x" * 126, True)], b"control frame over 125 bytes"),
    ([(0x3, b"x", True)], b"unknown opcode 3"),
    ([(0xB, b"x", True)], b"unknown opcode 11"),
])
async def test_broken_framing_closes_with_1002(
        ws: Raw, frames: list[tuple[int, bytes, bool]], expected: bytes) -> None:
    for opcode, payload, fin in frames:
        ws.send(opcode, payload, fin=fin)
    assert await ws.frame() == close(1002, expected)
    assert await ws.ends()


async def test_a_compressed_frame_is_refused(ws: Raw) -> None:
    ws.send(0x1, b"{}", rsv=0x40)
    assert await ws.frame() == close(1002, b"reserved bits set")
    assert await ws.ends()


async def test_invalid_utf8_is_answered_like_malformed_json(ws: Raw) -> None:
    # docs/protocol.md: the socket stays open, the frame gets the JSON error
    ws.send(0x1, b'{"Type": "chat", "Command": "\xff\xfe"}')
    assert await ws.frame() == (0x81, NOT_UTF8)
    ws.send(0x1, b"{}")
    assert await ws.frame() == (0x81, MISSING_COMMAND)


async def test_the_size_limit_is_checked_before_the_payload(ws: Raw) -> None:
    # Only the header of a frame one byte over the limit: the answer comes at once.
    ws.writer.write(bytes((0x81, 0x80 | 126)) + (MAX_FRAME + 1).to_bytes(2, "big"))
    assert await ws.frame() == close(1009, f"message over {MAX_FRAME} bytes".encode())
    assert await ws.ends()


async def test_the_size_limit_counts_every_fragment(ws: Raw) -> None:
    ws.send(0x1, b"x" * (MAX_FRAME - 10), fin=False)
    ws.send(0x0, b"x" * 11)
    assert await ws.frame() == close(1009, f"message over {MAX_FRAME} bytes".encode())
    assert await ws.ends()


async def test_a_message_at_the_limit_is_read(ws: Raw) -> None:
    ws.send(0x1, b"{" + b" " * (MAX_FRAME - 2) + b"}")
    assert await ws.frame() == (0x81, MISSING_COMMAND)


async def test_ping_is_answered_with_its_payload(ws: Raw) -> None:
    ws.send(0x9, b"are you there")
    assert await ws.frame() == (0x8A, b"are you there")


async def test_binary_frames_get_an_error(ws: Raw) -> None:
    ws.send(0x2, b"\x00\x01")
    assert await ws.frame() == (0x81, b'{"Type":"error","Status":"error in json file",'
                                      b'"Detail":"binary frames are not accepted"}')


async def test_the_close_handshake_echoes_the_code(ws: Raw) -> None:
    ws.send(0x8, (4000).to_bytes(2, "big") + b"bye")
    assert await ws.frame() == close(4000)
    assert await ws.ends()


async def test_a_close_without_code_is_answered_1000(ws: Raw) -> None:
    ws.send(0x8, b"")
    assert await ws.frame() == close(1000)
    assert await ws.ends()


async def test_answers_queued_before_a_close_go_out_first(ws: Raw) -> None:
    ws.send(0x9, b"first")
    ws.send(0x8, (1000).to_bytes(2, "big"))
    assert await ws.frame() == (0x8A, b"first")
    assert await ws.frame() == close(1000)
    assert await ws.ends()


@pytest.mark.parametrize(("payload", "expected"), [
    (b"\x03", close(1002, b"close frame of one byte")),
    ((1005).to_bytes(2, "big"), close(1002, b"close code 1005 may not be sent")),
    ((999).to_bytes(2, "big"), close(1002, b"close code 999 may not be sent")),
    ((2000).to_bytes(2, "big"), close(1002, b"close code 2000 may not be sent")),
    ((1000).to_bytes(2, "big") + b"\xff", close(1007, b"close reason is not UTF-8")),
])
async def test_a_bad_close_frame_is_refused(
        ws: Raw, payload: bytes, expected: tuple[int, bytes]) -> None:
    ws.send(0x8, payload)
    assert await ws.frame() == expected
    assert await ws.ends()


async def test_a_bad_upgrade_gets_aiohttps_answer(lean: ServerProcess) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", lean.port)
    writer.write(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
    writer.close()
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_the_server_closes_with_1001_on_shutdown(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path, *FAST, "--ws-engine", "lean").start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", proc.port)
        writer.write(f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                     f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     f"Sec-WebSocket-Key: {KEY}\r\n\r\n".encode())
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), PATIENCE)
        raw = Raw(reader, writer)
        raw.send(0x1, b"{}")
        assert await raw.frame() == (0x81, MISSING_COMMAND)
        stopping = asyncio.get_running_loop().run_in_executor(None, proc.stop)
        assert await raw.frame() == close(1001, b"server shutdown")
        raw.send(0x8, (1001).to_bytes(2, "big"))
        assert await raw.ends()
        assert await stopping == 0
        writer.close()
    finally:
        if proc.alive():
            proc.kill()
