"""The sockets of this process: who is logged in, who is in which chat.

The hub only delivers: a :class:`~parley.broker.Broker` hands it every event
published anywhere, and it pushes the event's ready frame to the local sockets
it concerns. It also counts, per chat, the sockets each user has here, which
is what local presence is made of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from .broker import Event


class Peer(Protocol):
    """A socket as the hub sees it."""

    login: str | None

    def push(self, frame: bytes, message_id: int | None = None) -> None: ...

    def chat_deleted(self, chat_id: int) -> None: ...


@dataclass
class Room:
    peers: set[Peer] = field(default_factory=set)
    #: login -> number of this process's sockets of that user in the room
    counts: dict[str, int] = field(default_factory=dict)


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[int, Room] = {}
        self.logged_in: set[Peer] = set()
        self.deliveries = 0

    # -- membership (called by the service) ----------------------------------------

    def enter(self, peer: Peer, chat_id: int, login: str) -> bool:
        """Put ``peer`` in the chat; True when it is the user's first socket there."""
        room = self.rooms.setdefault(chat_id, Room())
        if peer in room.peers:
            return False
        room.peers.add(peer)
        count = room.counts.get(login, 0)
        room.counts[login] = count + 1
        return count == 0

    def leave(self, peer: Peer, chat_id: int, login: str) -> bool:
        """Take ``peer`` out of the chat; True when it was the user's last socket there."""
        room = self.rooms.get(chat_id)
        if room is None or peer not in room.peers:
            return False
        room.peers.discard(peer)
        count = room.counts.get(login, 0) - 1
        if count > 0:
            room.counts[login] = count
            return False
        room.counts.pop(login, None)
        if not room.peers:
            del self.rooms[chat_id]
        return True

    def online(self, chat_id: int) -> list[str]:
        room = self.rooms.get(chat_id)
        return sorted(room.counts) if room else []

    def local_logins(self, chat_id: int) -> Iterable[str]:
        room = self.rooms.get(chat_id)
        return list(room.counts) if room else []

    # -- delivery (called by the broker) ----------------------------------------------

    def deliver(self, event: Event) -> None:
        if event.kind == "chat":
            room = self.rooms.get(event.chat_id)
            if room is not None:
                for peer in room.peers:
                    peer.push(event.frame, event.message_id)
                self.deliveries += len(room.peers)
        elif event.kind == "all":
            for peer in self.logged_in:
                peer.push(event.frame)
            self.deliveries += len(self.logged_in)
        elif event.kind == "deleted":
            gone = self.rooms.pop(event.chat_id, None)
            if gone is not None:
                for peer in gone.peers:
                    peer.push(event.frame)
                    peer.chat_deleted(event.chat_id)
                self.deliveries += len(gone.peers)
