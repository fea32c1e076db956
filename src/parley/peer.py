"""One socket, as every part of the server sees it: the one :class:`Peer` protocol.

:class:`parley.connection.Conn` is the real one; the tests' fake sockets are
others. The handlers answer a peer with :meth:`Peer.send` (answer objects:
framing is the peer's business, see :mod:`parley.frames`), the hub hands it
broadcasts with :meth:`Peer.push` (frames made once for every recipient).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .frames import Outgoing
    from .ordering import Position
    from .session import Session


class Peer(Protocol):
    """A socket: its session, its address, its messages on their way to the database."""

    session: Session
    #: the client's address, for the per-address limits
    address: str
    #: text messages of this socket still being stored, oldest first
    pending: list[asyncio.Future[None]]

    @property
    def login(self) -> str | None: ...

    def send(self, answer: Outgoing) -> None:
        """Queue an answer to this socket alone (never held back)."""
        ...

    def push(self, frame: bytes, position: Position | None = None) -> None:
        """Queue a broadcast frame (held back between :meth:`hold` and :meth:`release`;
        see :class:`parley.ordering.Subscription`)."""
        ...

    def hold(self) -> None: ...

    def release(self, covered: Mapping[str, int]) -> None:
        """Send the held frames but those ``covered`` (the history page sent)."""
        ...

    def chat_deleted(self, chat_id: int) -> None: ...

    def close(self, code: int, reason: bytes) -> None: ...
