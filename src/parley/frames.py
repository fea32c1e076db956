"""Answers become bytes on the wire here, and only here.

An answer object is encoded to JSON (:func:`parley.answers.encode`) and put
in one RFC 6455 text frame (:func:`parley.outbox.text_frame`) by
:func:`frame`, which the sockets (:meth:`parley.peer.Peer.send`) and the
publishers of broadcasts call, never the handlers. A broadcast is framed once
per event, and the same bytes go to every recipient on every process. An
answer sent many times over (the kept chat list) is framed once as a
:class:`Framed`, which :func:`frame` passes through.
"""

from __future__ import annotations

from typing import TypeAlias

from msgspec import Struct

from .answers import encode
from .outbox import text_frame


class Framed:
    """An answer framed already, to send as it is (to any number of sockets)."""

    __slots__ = ("frame",)

    def __init__(self, frame: bytes) -> None:
        self.frame = frame


#: what a socket may be sent: an answer object (a failure's answer is a dict), or one
#: framed already
Outgoing: TypeAlias = Struct | dict[str, str] | Framed


def frame(answer: Outgoing) -> bytes:
    """The text frame of ``answer``, ready for any socket's outbox."""
    if isinstance(answer, Framed):
        return answer.frame
    return text_frame(encode(answer))


def framed(answer: Struct) -> Framed:
    """``answer`` framed once, for many sends."""
    return Framed(frame(answer))
