"""The sockets of this process: who is logged in, who is in which chat.

The hub only delivers: a :class:`~parley.broker.Broker` hands it every event
published anywhere, and it pushes the event's ready frame to the local sockets
it concerns. It also counts, per chat, the sockets each user has here, which
is what local presence is made of. A chat's numbered events go through the
chat's :class:`~parley.ordering.Sequencer` on their way to its sockets.

Presence deltas (``Joined``/``Left``) are coalesced here, where the events of
every process meet: in a quiet chat the first one goes out at once, and for
:data:`PRESENCE_WINDOW` after it the chat's deltas are held; then, per user,
only the last one is sent, and none when it undoes the first (a user who left
and came back, or came and went). While anything was sent the chat stays held
for another window. So a socket switching chats as fast as it can costs each
chat at most one delta per user per window, whichever processes the sockets
are on, and the last delta of each user is always the true one.

A socket that closes (rather than choosing another chat or logging out) may
leave its user *lingering* in the chat (``--presence-linger``): the user stays
in the chat's online list, and ``Left`` waits until the linger is over. A
socket of the user entering the chat meanwhile ends the linger with nothing
pushed at all. This is what keeps a reconnect storm linear: when every socket
of a room drops and comes back within the linger, nobody is owed a ``Joined``
or a ``Left``, where without it each of N users would be announced to the up
to N sockets already back (N²/2 frames).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field

from . import ordering
from .broker import Event
from .ordering import CHANGES, MESSAGES, Position, Sequencer
from .peer import Peer

__all__ = ["PRESENCE_WINDOW", "REORDER_WAIT", "Hub", "Peer", "Room"]

#: how long a message that overtook its predecessor waits for it (see parley.ordering)
REORDER_WAIT = ordering.REORDER_WAIT
#: presence deltas of a chat are sent at most once per this many seconds (per user)
PRESENCE_WINDOW = 0.25
#: a linger that ends while :attr:`Hub.busy` says the server is behind (the returns of a
#: reconnect storm still waiting for the database) is extended by this many seconds at a
#: time, LINGER_EXTENSIONS times at most: a user whose socket is on its way back is not
#: announced as gone, then as back
LINGER_EXTENSION = 1.0
LINGER_EXTENSIONS = 60
#: the events :attr:`Hub.on_activity` is told
_ACTIVITY = frozenset(("activity", "members", "leave", "deleted", "direct"))
#: the events :attr:`Hub.on_sanction` is told
_SANCTIONS = frozenset(("ban", "unban", "mute", "unmute"))


@dataclass
class Room:
    name: str
    peers: set[Peer] = field(default_factory=set)
    #: login -> number of this process's sockets of that user in the room
    counts: dict[str, int] = field(default_factory=dict)
    #: presence held in this window: login -> (kind of its first delta, its last delta)
    held: dict[str, tuple[str, Event]] = field(default_factory=dict)
    #: users whose last socket here closed, until their linger ends: login -> its end
    lingering: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    #: the window's end, while deltas are being held
    window: asyncio.TimerHandle | None = None
    #: when the chat's whole online list was last read for a socket (monotonic)
    listed: float = -1e9
    #: puts the chat's ordered events in order, then pushes them (see parley.ordering)
    sequencer: Sequencer[Event] = field(init=False)


class Hub:
    def __init__(self, *, presence_window: float = PRESENCE_WINDOW,
                 held_start: bool = False) -> None:
        self.presence_window = presence_window
        #: several processes: a new room's ordered streams wait for the history read to
        #: say where they start (see :class:`parley.ordering.Sequencer`)
        self.held_start = held_start
        self.rooms: dict[int, Room] = {}
        self.logged_in: set[Peer] = set()
        #: user id -> this process's sockets logged in as that user
        self.users: dict[int, set[Peer]] = {}
        #: called for each socket of the user a ``user`` event names (set by the service)
        self.on_user: Callable[[Peer, Event], None] | None = None
        #: called with the user id of every ``user`` event, sockets here or not (set by
        #: the app: the store forgets the user's tokens kept in memory)
        self.on_revoked: Callable[[int], None] | None = None
        #: called for each socket of the user a ``leave`` event names (set by the service)
        self.on_leave: Callable[[Peer, Event], None] | None = None
        #: told ``activity`` events and those that may change a chat's members
        #: (``members``, ``leave``, ``deleted``, ``direct``): see parley.activity and
        #: parley.subscriptions (set by the service)
        self.on_activity: Callable[[Event], None] = lambda event: None
        #: ``all`` and ``list`` events are told to the chat list's owner (set by the
        #: service: :meth:`parley.chatlist.ChatList.delivered`), which says how many
        #: sockets it pushed them to (the hub pushes ``all`` itself)
        self.on_list: Callable[[Event], int] = lambda event: 0
        #: ``direct`` events are told to the chat list's owner too (set by the service:
        #: :meth:`parley.chatlist.ChatList.direct_created`), which pushes each member's
        #: sockets here (found in :attr:`users`) their new list
        self.on_direct: Callable[[Event], int] = lambda event: 0
        #: ``ban``, ``unban``, ``mute`` and ``unmute`` events are told to this process's
        #: map of sanctions (set by the service: :meth:`parley.sanctions.Sanctions.delivered`)
        self.on_sanction: Callable[[Event], None] = lambda event: None
        #: told the id of a chat this process no longer has a socket in (set by the
        #: service: :meth:`parley.subscriptions.Subscriptions.vacated`)
        self.on_vacated: Callable[[int], None] = lambda chat_id: None
        #: (chat id, chat name, login): a lingering user's linger ended with no socket of
        #: theirs back in the chat here (set by the service, which then pushes ``Left``
        #: unless another process has the user there)
        self.on_gone: Callable[[int, str, str], None] = lambda chat_id, chat, login: None
        #: True while the server is behind with the requests of returning sockets (set by
        #: the app: reads waiting in the store's queue); lingers end later meanwhile
        self.busy: Callable[[], bool] = lambda: False
        self.deliveries = 0

    # -- membership (called by the service) ----------------------------------------

    def enter(self, peer: Peer, chat_id: int, chat: str, login: str) -> bool:
        """Put ``peer`` in the chat; True when it is the user's first socket there."""
        room = self.rooms.get(chat_id)
        if room is None:
            room = self.rooms[chat_id] = self._room(chat)
        if peer in room.peers:
            return False
        room.peers.add(peer)
        count = room.counts.get(login, 0)
        room.counts[login] = count + 1
        if count == 0:
            lingering = room.lingering.pop(login, None)
            if lingering is not None:  # back within the linger: never gone
                lingering.cancel()
                return False
        return count == 0

    def leave(self, peer: Peer, chat_id: int, login: str, *, linger: float = 0.0) -> bool:
        """Take ``peer`` out of the chat; True when it was the user's last socket there.
        With ``linger`` (seconds), the user's last socket leaves the user lingering
        instead: False now, and :attr:`on_gone` when the linger ends unless a socket of
        the user entered the chat meanwhile."""
        room = self.rooms.get(chat_id)
        if room is None or peer not in room.peers:
            return False
        room.peers.discard(peer)
        count = room.counts.get(login, 0) - 1
        if count > 0:
            room.counts[login] = count
            return False
        room.counts.pop(login, None)
        if linger > 0:
            room.lingering[login] = asyncio.get_running_loop().call_later(
                linger, self._linger_over, chat_id, login, LINGER_EXTENSIONS)
            return False
        self._close_if_empty(chat_id, room)
        return True

    def _linger_over(self, chat_id: int, login: str, extensions: int) -> None:
        room = self.rooms.get(chat_id)
        if room is None or login not in room.lingering:
            return
        if extensions > 0 and self.busy():
            room.lingering[login] = asyncio.get_running_loop().call_later(
                LINGER_EXTENSION, self._linger_over, chat_id, login, extensions - 1)
            return
        del room.lingering[login]
        self._close_if_empty(chat_id, room)
        self.on_gone(chat_id, room.name, login)

    def _close_if_empty(self, chat_id: int, room: Room) -> None:
        if not room.peers and not room.lingering:
            _stop(room)
            del self.rooms[chat_id]
            self.on_vacated(chat_id)

    def signed_in(self, peer: Peer, user_id: int) -> None:
        self.logged_in.add(peer)
        self.users.setdefault(user_id, set()).add(peer)

    def signed_out(self, peer: Peer, user_id: int | None) -> None:
        self.logged_in.discard(peer)
        peers = None if user_id is None else self.users.get(user_id)
        if user_id is not None and peers is not None:
            peers.discard(peer)
            if not peers:
                del self.users[user_id]

    def online(self, chat_id: int) -> list[str]:
        """This process's users in the chat, for a ``connected`` answer. The deltas held
        meanwhile are then all sent, even those that undo each other (the list may
        have shown the state between them)."""
        room = self.rooms.get(chat_id)
        if room is None:
            return []
        room.listed = time.monotonic()
        return sorted([*room.counts, *room.lingering])

    def presence(self) -> Iterable[tuple[int, str, str]]:
        """Every (chat id, chat name, login) this process has a socket (or a lingering
        user) for."""
        return [(chat_id, room.name, login)
                for chat_id, room in self.rooms.items()
                for login in [*room.counts, *room.lingering]]

    # -- delivery (called by the broker) ----------------------------------------------

    def expect(self, chat_id: int, next_id: int, stream: str = MESSAGES) -> None:
        """Keys of the chat's ``stream`` up to ``next_id - 1`` were read from the
        database: live delivery starts at ``next_id`` unless it already started."""
        room = self.rooms.get(chat_id)
        if room is not None:
            room.sequencer.start(stream, next_id)

    def covered(self, peer: Peer, chat_id: int, page: Mapping[str, int], *,
                complete: bool = True) -> None:
        """``peer``'s history page of the chat is sent: it covered each stream of
        ``page`` up to its key (and, when ``complete``, everything before in the
        database). The chat's live delivery starts after it unless it already started;
        the peer's held frames go out, minus what the page covered."""
        if complete:
            for stream, key in page.items():
                self.expect(chat_id, key + 1, stream)
        peer.release(page)

    def deliver(self, event: Event) -> None:
        if event.kind in _ACTIVITY:
            self.on_activity(event)
        if event.kind == "chat":
            room = self.rooms.get(event.chat_id)
            if room is not None:
                room.sequencer.offer(position(event), event)
        elif event.kind in ("joined", "left"):
            self._presence(event)
        elif event.kind == "all":
            for peer in self.logged_in:
                peer.push(event.frame)
            self.deliveries += len(self.logged_in) + self.on_list(event)
        elif event.kind == "list":
            self.deliveries += self.on_list(event)
        elif event.kind == "direct":
            self.deliveries += self.on_direct(event)
        elif event.kind == "deleted":
            gone = self.rooms.pop(event.chat_id, None)
            if gone is not None:
                _stop(gone)
                self.on_vacated(event.chat_id)
                for peer in gone.peers:
                    peer.push(event.frame)
                    peer.chat_deleted(event.chat_id)
                self.deliveries += len(gone.peers)
        elif event.kind == "typing":
            self._typing(event)
        elif event.kind == "mine":
            mine = () if event.sender is None else self.users.get(event.sender, ())
            for peer in mine:
                peer.push(event.frame)
            self.deliveries += len(mine)
        elif event.kind == "user":
            if self.on_revoked is not None:
                self.on_revoked(event.chat_id)
            peers = self.users.get(event.chat_id)
            if peers and self.on_user is not None:
                for peer in list(peers):  # the callback signs them out
                    self.on_user(peer, event)
        elif event.kind in _SANCTIONS:
            self.on_sanction(event)
        elif event.kind == "leave":
            peers = None if event.sender is None else self.users.get(event.sender)
            if peers and self.on_leave is not None:
                for peer in list(peers):
                    self.on_leave(peer, event)

    def _typing(self, event: Event) -> None:
        """To the chat's sockets here but the typist's (unordered: never waits)."""
        room = self.rooms.get(event.chat_id)
        if room is None:
            return
        typist = self.users.get(event.sender, ()) if event.sender is not None else ()
        for peer in room.peers:
            if peer not in typist:
                peer.push(event.frame)
                self.deliveries += 1

    def count(self, deliveries: int) -> None:
        """Frames pushed to this process's sockets by others (the chat list's pushes)."""
        self.deliveries += deliveries

    def _presence(self, event: Event) -> None:
        room = self.rooms.get(event.chat_id)
        if room is None or event.login is None:
            return
        if room.window is None:  # a quiet chat: at once, then hold what follows
            self._push(room, event)
            self._hold(event.chat_id, room)
            return
        first = room.held.get(event.login)
        room.held[event.login] = (first[0] if first else event.kind, event)

    def _hold(self, chat_id: int, room: Room) -> None:
        room.window = asyncio.get_running_loop().call_later(
            self.presence_window, self.flush_presence, chat_id)

    def flush_presence(self, chat_id: int) -> None:
        """The chat's window ends: send each user's last delta unless it undoes the first."""
        room = self.rooms.get(chat_id)
        if room is None:
            return
        if room.window is not None:
            room.window.cancel()
            room.window = None
        listed = time.monotonic() - room.listed < 2 * self.presence_window
        held, room.held = room.held, {}
        sent = False
        for first, last in held.values():
            if last.kind == first or listed:
                self._push(room, last)
                sent = True
        if sent:
            self._hold(chat_id, room)

    def _room(self, chat: str) -> Room:
        room = Room(chat)
        room.sequencer = Sequencer(functools.partial(self._push, room), wait=REORDER_WAIT,
                                   held_start=self.held_start)
        return room

    def _push(self, room: Room, event: Event) -> None:
        place = position(event)
        own, mine = self.sender_frame(event)
        for peer in room.peers:
            peer.push(own if peer in mine else event.frame, place)
        self.deliveries += len(room.peers)

    def sender_frame(self, event: Event) -> tuple[bytes, Container[Peer]]:
        """A message's frame for its sender's own sockets (with the sender's ``nonce``),
        and those sockets here; none when it was sent without a nonce. No one else
        ever gets another user's nonce."""
        if event.own is None or event.sender is None:
            return event.frame, ()
        return event.own, self.users.get(event.sender, ())


def position(event: Event) -> Position | None:
    """The place of a chat event in its chat's ordered streams (None: unordered)."""
    if event.change is not None:
        return Position(CHANGES, event.change)
    return None if event.message_id is None else Position(MESSAGES, event.message_id)


def _stop(room: Room) -> None:
    """The room is going away: its timers with it."""
    room.sequencer.close()
    if room.window is not None:
        room.window.cancel()
    for lingering in room.lingering.values():
        lingering.cancel()
    room.lingering.clear()
