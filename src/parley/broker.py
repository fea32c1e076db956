"""Fan-out: the :class:`Broker` interface and its in-process engine.

Every event that reaches sockets is published once to the broker, which
hands it to the hub of every server process (with one process, just its own).
Events carry the frame ready to write, so a process never re-encodes what
another one encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, Protocol

import msgspec


class Event(msgspec.Struct, array_like=True, frozen=True):
    """``chat``: to the chat's sockets; ``all``: the chat list, to every logged-in
    socket; ``deleted``: to the chat's sockets, which then leave it; ``joined``,
    ``left``: ``login``'s presence in the chat, to its sockets (coalesced by the hub)."""

    kind: Literal["chat", "all", "deleted", "joined", "left"]
    chat_id: int
    frame: bytes
    message_id: int | None = None
    login: str | None = None


Deliver = Callable[[Event], None]


class Broker(Protocol):
    async def start(self, deliver: Deliver) -> None: ...

    def publish(self, event: Event) -> None:
        """Send the event to every process; never blocks."""
        ...

    async def close(self) -> None: ...


class MemoryBroker:
    """One process: publishing is delivering, at once and in order."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, event: Event) -> None:
        if self._deliver is not None:
            self._deliver(event)

    async def close(self) -> None:
        self._deliver = None
