"""Fan-out: the :class:`Broker` interface and its in-process engine.

Every event that reaches sockets is published once to the broker, which
hands it to the hub of every server process (with one process, just its own).
Events carry the frame ready to write, so a process never re-encodes what
another one encoded.

Where an event goes between processes (see :mod:`parley.redis_broker`): the kinds
whose only receivers are the sockets that have the chat chosen, or the sockets of its
members, travel on a channel of that chat, which a process listens to only while it
has such a socket (see :mod:`parley.subscriptions`); every other kind travels on the
one channel every process listens to.

=============  ==========  ====================================================
kind           channel     why
=============  ==========  ====================================================
``chat``       the chat's  only the chat's sockets get messages and changes
``joined``     the chat's  presence deltas go to the chat's sockets alone
``left``       the chat's  (the same)
``typing``     the chat's  (the same)
``activity``   the chat's  for members' sockets that do *not* have the chat chosen
``deleted``    global      every process forgets the chat's members (activity)
``members``    global      every process forgets what it knew of the members, and
                           the joining user's processes listen to the chat
``leave``      global      found by user: the user's sockets, whatever they chose
``ban`` ...    global      every process's map of sanctions (``ban``, ``unban``,
                           ``mute``, ``unmute``)
``all``        global      every logged-in socket
``list``       global      the chat list: sockets that take deltas, then all
``direct``     global      the new direct chat's members' sockets (and their
                           processes listen to it)
``user``       global      the user's sockets, logged out
``mine``       global      every socket of one user
=============  ==========  ====================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, Protocol

import msgspec


class Event(msgspec.Struct, array_like=True, frozen=True):
    """``chat``: to the chat's sockets; ``all``: the chat list, to every logged-in
    socket; ``deleted``: to the chat's sockets, which then leave it; ``joined``,
    ``left``: ``login``'s presence in the chat, to its sockets (coalesced by the hub);
    ``list``: a change of the chat list (a delta frame), to the sockets that asked for
    deltas, and every process then pushes its other logged-in sockets the whole list
    (throttled); ``user``: to the sockets logged in as the user whose id is in
    ``chat_id``, which are logged out (see :func:`user_event`); ``typing``: to the chat's
    sockets but those of the user ``sender`` (unordered, never held for ordering);
    ``leave``: the user ``sender`` left the chat (is no longer a member): those of the
    user's sockets that have it chosen leave it, and get ``frame``; ``mine``: to every
    socket of the user ``sender``; ``activity``: a message (``message_id``, by
    ``sender``) stored in the chat, for the sockets of its members that do not have it
    chosen (``frame``; ``own`` for those it mentions, ``mentions`` their user ids; see
    :mod:`parley.activity`); ``members``: the user ``sender`` became a member of the
    chat (the hubs forget what they knew of its members; the processes with a socket of
    the user listen to the chat); ``direct``: the direct chat ``chat_id`` was created: to the
    sockets of its members (``users``) only, each of which gets its user's new chat list
    (``frame``: the delta, for the sockets that take deltas; ``entry``: the chat's
    encoded list entry, see :meth:`parley.chatlist.ChatList.direct_created`); ``ban``,
    ``mute``: the user ``sender`` was banned from or muted in the chat until ``until``
    (None: until lifted); ``unban``, ``unmute``: no longer is; every process's map of
    sanctions learns it (:class:`parley.sanctions.Sanctions`), no socket gets a frame
    (a ban's sockets are told by its ``leave`` event)."""

    kind: Literal["chat", "all", "deleted", "joined", "left", "list", "user", "typing", "leave",
                  "mine", "activity", "members", "direct", "ban", "unban", "mute",
                  "unmute"]
    chat_id: int
    frame: bytes
    message_id: int | None = None
    #: ``user``: only the sockets logged in with this token digest
    token: str | None = None
    #: ``user``: not the sockets logged in with this token digest
    spare: str | None = None
    #: ``user``: close the sockets with this code (0: keep them open, anonymous, and
    #: push ``frame``), the reason in ``frame``
    close: int = 0
    #: ``joined``, ``left``: whose presence changed
    login: str | None = None
    #: ``chat``, a message sent with a ``Nonce``: the sender's user id, and the frame
    #: with the nonce for the sender's own sockets (see :meth:`Hub.sender_frame`);
    #: ``typing``: the typist's user id, whose sockets get nothing; ``leave``: the user
    #: who left (or was banned); ``mine``: the user; ``ban``, ``mute`` and the lifting
    #: of either: the user; ``members``: the user who joined;
    #: ``activity``: the message's author (the frame with
    #: ``Mention`` true in ``own``)
    sender: int | None = None
    own: bytes | None = None
    #: ``activity``: the ids of the users the message mentions
    mentions: tuple[int, ...] = ()
    #: ``direct``: the members' user ids, and the chat's list entry (JSON)
    users: list[int] | None = None
    entry: bytes | None = None
    #: ``chat``: a change (edit, removal, reaction) of a message: its change number
    change: int | None = None
    #: ``ban``, ``mute``: when it ends, in milliseconds since the epoch (None: when lifted)
    until: int | None = None


#: the kinds that travel on a chat's own channel (see the module's table)
CHAT_KINDS: frozenset[str] = frozenset(("chat", "joined", "left", "typing", "activity"))


def user_event(user_id: int, frame: bytes = b"", *, close: int = 0, token: str | None = None,
               spare: str | None = None) -> Event:
    """Log out the user's sockets on every process: those on token digest ``token`` (None:
    all of them) but ``spare``; closed with ``close`` and reason ``frame``, or, when
    ``close`` is 0, left open and anonymous with ``frame`` pushed to them."""
    return Event("user", user_id, frame, token=token, spare=spare, close=close)


Deliver = Callable[[Event], None]


class Broker(Protocol):
    #: whether a process receives a chat's events only while it listens to the chat
    #: (:meth:`subscribe`); False: every event reaches every process anyway
    by_chat: bool
    #: events (by kind), and their bytes, that arrived from the engine between processes
    #: (Redis): the traffic this process decodes, whether or not a socket wanted it
    received: dict[str, int]
    received_bytes: int

    async def start(self, deliver: Deliver) -> None: ...

    def publish(self, event: Event) -> None:
        """Send the event to every process that needs it (a :data:`CHAT_KINDS` event:
        those subscribed to its chat); never blocks."""
        ...

    async def subscribe(self, *chat_ids: int) -> None:
        """This process has a socket in the chats, or of their members: from when this
        returns, every event of the chats published anywhere reaches it (so a history
        read after it meets the live events with no gap)."""
        ...

    def want(self, chat_ids: Iterable[int]) -> object:
        """As :meth:`subscribe`, without waiting for the events to start coming."""
        ...

    def unsubscribe(self, chat_id: int) -> None:
        """This process's last socket in the chat, and of its members, is gone: its
        events may stop coming."""
        ...

    async def close(self) -> None: ...


class MemoryBroker:
    """One process: publishing is delivering, at once and in order."""

    by_chat = False

    def __init__(self) -> None:
        self._deliver: Deliver | None = None
        self.received: dict[str, int] = {}
        self.received_bytes = 0

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, event: Event) -> None:
        if self._deliver is not None:
            self._deliver(event)

    async def subscribe(self, *chat_ids: int) -> None:
        """Every event is this process's already."""

    def want(self, chat_ids: Iterable[int]) -> None:
        """(The same.)"""

    def unsubscribe(self, chat_id: int) -> None:
        """(Nothing to stop.)"""

    async def close(self) -> None:
        self._deliver = None
