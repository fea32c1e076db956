"""FrameReader in-process: the same events however the bytes are split."""

from __future__ import annotations

import os

import pytest

from parley.wsreader import (
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_TEXT,
    FrameReader,
    Violation,
)


def masked(opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    head = bytes(((0x80 if fin else 0) | opcode,))
    if n < 126:
        head += bytes((0x80 | n,))
    elif n < 65536:
        head += bytes((0x80 | 126,)) + n.to_bytes(2, "big")
    else:
        head += bytes((0x80 | 127,)) + n.to_bytes(8, "big")
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


STREAM = (masked(OP_TEXT, b"hello")
          + masked(OP_TEXT, b"x" * 300, fin=False) + masked(OP_PING, b"p")
          + masked(0x0, b"y" * 70000)
          + masked(OP_BINARY, b"\x00\xff")
          + masked(OP_TEXT, "é".encode()[:1], fin=False) + masked(0x0, "é".encode()[1:])
          + masked(OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")
          + masked(OP_TEXT, b"after the close"))
EVENTS = [(OP_TEXT, b"hello"), (OP_PING, b"p"), (OP_TEXT, b"x" * 300 + b"y" * 70000),
          (OP_BINARY, b"\x00\xff"), (OP_TEXT, "é".encode()),
          (OP_CLOSE, (1000).to_bytes(2, "big") + b"bye")]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 125, 4096, len(STREAM)])
def test_any_split_gives_the_same_events(step: int) -> None:
    reader = FrameReader(max_size=100_000)
    events = []
    for at in range(0, len(STREAM), step):
        events += reader.feed(STREAM[at:at + step])
    assert events == EVENTS
    assert reader.closed


def test_an_idle_reader_holds_no_buffer() -> None:
    reader = FrameReader(max_size=100)
    assert reader.feed(masked(OP_TEXT, b"hi")) == [(OP_TEXT, b"hi")]
    assert reader._buf == b""
    assert reader._parts is None


def test_the_limit_is_checked_on_the_header_alone() -> None:
    reader = FrameReader(max_size=100)
    with pytest.raises(Violation) as caught:
        reader.feed(bytes((0x81, 0x80 | 126)) + (101).to_bytes(2, "big"))
    assert (caught.value.code, caught.value.reason) == (1009, "message over 100 bytes")


def test_a_length_with_its_top_bit_set_is_refused() -> None:
    reader = FrameReader(max_size=100)
    with pytest.raises(Violation) as caught:
        reader.feed(bytes((0x81, 0x80 | 127)) + (1 << 63).to_bytes(8, "big"))
    assert caught.value.code == 1002
