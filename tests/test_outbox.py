"""parley.outbox: WebSocket text frames, and coalesced writes without waiting."""

from __future__ import annotations

import asyncio
import struct

import pytest

from parley.outbox import Flusher, Outbox, text_frame

# --------------------------------------------------------------------------- text_frame


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (0, b"\x81\x00"),
        (1, b"\x81\x01"),
        (125, b"\x81\x7d"),
        (126, b"\x81\x7e\x00\x7e"),
        (65535, b"\x81\x7e\xff\xff"),
        (65536, b"\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00"),
        (70000, b"\x81\x7f" + struct.pack("!Q", 70000)),
    ],
)
def test_text_frame_header(size: int, header: bytes) -> None:
    payload = bytes(i % 251 for i in range(size))
    assert text_frame(payload) == header + payload


# --------------------------------------------------------------------------- Outbox


class FakeTransport(asyncio.Transport):
    """Records every write; its buffer size and closing state are set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.buffered = 0
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return self.buffered


class Socket:
    """An outbox on a fake transport, and a count of its overflows."""

    def __init__(self, flusher: Flusher, limit: int = 1000) -> None:
        self.transport = FakeTransport()
        self.overflows = 0
        self.outbox = Outbox(self.transport, flusher, limit=limit, on_overflow=self.overflow)

    def overflow(self) -> None:
        self.overflows += 1


async def next_turn() -> None:
    await asyncio.sleep(0)


@pytest.fixture
async def flusher() -> Flusher:
    return Flusher(asyncio.get_running_loop())


async def test_nothing_is_written_during_the_turn(flusher: Flusher) -> None:
    socket = Socket(flusher)
    socket.outbox.push(b"one")
    socket.outbox.push(b"two")
    assert socket.transport.writes == []


async def test_frames_of_one_turn_in_one_write_in_order(flusher: Flusher) -> None:
    socket = Socket(flusher)
    for frame in (b"one", b"two", b"three"):
        socket.outbox.push(frame)
    await next_turn()
    assert socket.transport.writes == [b"onetwothree"]


async def test_single_frame(flusher: Flusher) -> None:
    socket = Socket(flusher)
    frame = text_frame(b'{"Type":"chat"}')
    socket.outbox.push(frame)
    await next_turn()
    assert socket.transport.writes == [frame]


async def test_each_turn_its_own_write(flusher: Flusher) -> None:
    socket = Socket(flusher)
    socket.outbox.push(b"a")
    await next_turn()
    socket.outbox.push(b"b")
    socket.outbox.push(b"c")
    await next_turn()
    assert socket.transport.writes == [b"a", b"bc"]


async def test_nothing_pushed_nothing_written(flusher: Flusher) -> None:
    socket = Socket(flusher)
    await next_turn()
    socket.outbox.flush()
    assert socket.transport.writes == []


async def test_several_outboxes_one_write_each(flusher: Flusher) -> None:
    sockets = [Socket(flusher) for _ in range(3)]
    shared = text_frame(b"broadcast")
    for socket in sockets:
        socket.outbox.push(shared)
    sockets[1].outbox.push(b"private")
    await next_turn()
    assert [s.transport.writes for s in sockets] == [
        [shared], [shared + b"private"], [shared]]


async def test_closing_transport_is_not_written(flusher: Flusher) -> None:
    socket = Socket(flusher)
    socket.outbox.push(b"a")
    socket.transport.closing = True
    await next_turn()
    assert socket.transport.writes == []
    assert socket.outbox.closed is True
    assert socket.overflows == 0


async def test_closed_outbox_takes_no_frames(flusher: Flusher) -> None:
    socket = Socket(flusher)
    socket.outbox.closed = True
    socket.outbox.push(b"a")
    await next_turn()
    assert socket.transport.writes == []


async def test_outbox_closed_before_the_flush(flusher: Flusher) -> None:
    socket = Socket(flusher)
    socket.outbox.push(b"a")
    socket.outbox.closed = True
    await next_turn()
    assert socket.transport.writes == []


async def test_buffer_at_the_limit_is_fine(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push(b"a" * 60)
    await next_turn()
    socket.outbox.push(b"b" * 40)
    await next_turn()
    assert socket.transport.writes == [b"a" * 60, b"b" * 40]
    assert socket.transport.buffered == 100
    assert socket.overflows == 0
    assert socket.outbox.closed is False


async def test_overflow_once_then_no_more_writes(flusher: Flusher) -> None:
    socket = Socket(flusher, limit=100)
    socket.outbox.push(b"a")
    await next_turn()
    socket.transport.buffered = 100
    socket.outbox.push(b"b")  # would make 101 waiting: not written
    await next_turn()
    assert socket.overflows == 1
    assert socket.outbox.closed is True
    socket.outbox.push(b"c")
    await next_turn()
    socket.outbox.push(b"d")
    socket.outbox.flush()
    assert socket.transport.writes == [b"a"]
    assert socket.overflows == 1


async def test_overflow_of_one_socket_spares_the_others(flusher: Flusher) -> None:
    slow, fast = Socket(flusher, limit=10), Socket(flusher, limit=10)
    slow.transport.buffered = 10
    for socket in (slow, fast):
        socket.outbox.push(b"x")
    await next_turn()
    for socket in (slow, fast):
        socket.outbox.push(b"y")
    await next_turn()
    assert (slow.overflows, fast.overflows) == (1, 0)
    assert slow.transport.writes == []
    assert fast.transport.writes == [b"x", b"y"]


class Backlog(FakeTransport):
    """A transport whose reader reads nothing: every write stays buffered."""

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        self.buffered += len(data)


def backlogged_socket(flusher: Flusher, limit: int) -> Socket:
    socket = Socket(flusher, limit=limit)
    socket.transport = Backlog()
    socket.outbox = Outbox(socket.transport, flusher, limit=limit, on_overflow=socket.overflow)
    return socket


async def test_an_answer_bigger_than_the_limit_goes_out_whole(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push_answer(b"p" * 500)  # e.g. a history page, to a socket holding nothing
    await next_turn()
    assert socket.overflows == 0
    assert socket.transport.writes == [b"p" * 500]


async def test_an_answer_counts_against_the_limit(flusher: Flusher) -> None:
    """What the socket holds, answers included, may not pass the limit, or the size of the
    one answer it was sent while holding nothing: a broadcast behind an unread answer
    gets no room of its own."""
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push_answer(b"p" * 500)
    await next_turn()
    socket.outbox.push(b"b")  # the client has read nothing: 501 bytes wait
    await next_turn()
    assert socket.overflows == 1
    assert socket.outbox.closed is True


async def test_a_broadcast_fills_what_the_client_took_of_an_answer(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push_answer(b"p" * 500)
    await next_turn()
    socket.transport.buffered = 400  # the client took 100 bytes of the page
    socket.outbox.push(b"b" * 100)
    await next_turn()
    assert socket.overflows == 0
    assert socket.transport.buffered == 500
    socket.outbox.push(b"c")
    await next_turn()
    assert socket.overflows == 1


async def test_answers_to_a_socket_holding_something_do_not_add_up(flusher: Flusher) -> None:
    """Each answer may not add its own size on top of what waits: a client that asks
    and asks without reading is dropped, whatever it asks for."""
    socket = backlogged_socket(flusher, limit=1000)
    socket.outbox.push_answer(b"p" * 600)
    await next_turn()
    socket.outbox.push_answer(b"q" * 300)  # 900: within the limit
    await next_turn()
    assert socket.overflows == 0
    socket.outbox.push_answer(b"r" * 300)  # 1200: past it, answer or not: not written
    await next_turn()
    assert socket.overflows == 1
    assert socket.transport.writes == [b"p" * 600, b"q" * 300]


async def test_a_big_answer_behind_unread_frames_is_too_much(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push(b"b" * 10)
    await next_turn()
    socket.outbox.push_answer(b"p" * 500)
    await next_turn()
    assert socket.overflows == 1


async def test_the_allowance_ends_once_the_client_has_read(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    socket.outbox.push_answer(b"p" * 500)
    await next_turn()
    socket.transport.buffered = 50  # the client read the page
    socket.outbox.push(b"b" * 200)
    await next_turn()
    assert socket.overflows == 1  # broadcasts alone may not pass the limit


async def test_backlogged_until_read(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=100)
    assert not socket.outbox.backlogged()
    socket.outbox.push_answer(b"p" * 500)
    await next_turn()
    assert socket.outbox.backlogged()
    socket.transport.buffered = 100
    assert not socket.outbox.backlogged()


# --------------------------------------------------------------------------- stalled


async def test_nothing_waiting_is_never_stalled(flusher: Flusher) -> None:
    socket = Socket(flusher)
    assert socket.outbox.stalled(10.0) == 0.0
    socket.outbox.push(b"a")
    await next_turn()  # written, and the kernel took it all
    assert socket.outbox.stalled(20.0) == 0.0
    assert socket.outbox.stalled(90.0) == 0.0


async def test_waiting_bytes_nobody_takes_are_stalled_since_first_seen(
        flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=1000)
    assert socket.outbox.stalled(5.0) == 0.0
    socket.outbox.push(b"a" * 10)
    await next_turn()
    assert socket.outbox.stalled(10.0) == 0.0  # first seen waiting
    assert socket.outbox.stalled(12.5) == 2.5
    socket.outbox.push(b"b" * 10)  # more frames pile up: still nothing taken
    await next_turn()
    assert socket.outbox.stalled(14.0) == 4.0


async def test_taking_anything_ends_the_stall(flusher: Flusher) -> None:
    socket = backlogged_socket(flusher, limit=1000)
    socket.outbox.push(b"a" * 10)
    await next_turn()
    assert socket.outbox.stalled(10.0) == 0.0
    assert socket.outbox.stalled(11.0) == 1.0
    socket.transport.buffered = 9  # the client read one byte
    assert socket.outbox.stalled(12.0) == 0.0
    assert socket.outbox.stalled(13.0) == 1.0
    socket.outbox.push(b"b" * 5)  # a write while it reads a little: 10 + 5 - 2 taken
    await next_turn()
    socket.transport.buffered = 12
    assert socket.outbox.stalled(14.0) == 0.0
    socket.transport.buffered = 0  # all read
    assert socket.outbox.stalled(30.0) == 0.0
    assert socket.outbox.stalled(40.0) == 0.0
