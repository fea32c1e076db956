"""One socket, as every part of the server sees it: the one :class:`Peer` protocol.

:class:`parley.connection.Conn` is the real one; the tests' fake sockets are
others. Both build on :class:`Socket`, which holds what every peer keeps the
same way: its session, and its subscription to live frames. The handlers
answer a peer with :meth:`Peer.send` (answer objects: framing is the peer's
business, see :mod:`parley.frames`), the hub hands it broadcasts with
:meth:`Peer.push` (frames made once for every recipient).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

from .ordering import Position, Subscription
from .session import Session

if TYPE_CHECKING:
    from .frames import Outgoing


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


class Socket:
    """What every :class:`Peer` keeps alike: the session, the messages on their way,
    and the subscription that orders live frames (written out by ``write``).
    Subclasses add :meth:`Peer.send` and :meth:`Peer.close`."""

    __slots__ = ("address", "pending", "session", "subscription")

    def __init__(self, address: str, write: Callable[[bytes], None]) -> None:
        self.address = address
        self.session = Session()
        self.pending: list[asyncio.Future[None]] = []
        #: holds broadcasts back during ``choice``, drops those sent already
        self.subscription = Subscription(write)

    @property
    def login(self) -> str | None:
        user = self.session.user
        return None if user is None else user.login

    def push(self, frame: bytes, position: Position | None = None) -> None:
        """Queue a broadcast frame (see :meth:`Subscription.push`)."""
        self.subscription.push(frame, position)

    def hold(self) -> None:
        """Keep broadcast frames back until :meth:`release`."""
        self.subscription.hold()

    def release(self, covered: Mapping[str, int]) -> None:
        """Send the held frames but those ``covered`` (see :meth:`Subscription.release`)."""
        self.subscription.release(covered)

    def chat_deleted(self, chat_id: int) -> None:
        place = self.session.chat
        if place is not None and place.id == chat_id:
            self.session.chat_gone = True
