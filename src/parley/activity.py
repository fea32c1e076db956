"""Activity pushes: a message stored in a chat tells the members' sockets that do not
have the chat chosen, ``{"Type":"chat","Command":"activity","Chat":N,"Id":ID,"User":U,
"Mention":bool}``, at most once per chat per socket per :data:`WINDOW`.

:func:`publish` sends one ``activity`` event per stored message, after the commit (with
the message's other events, see :func:`parley.posting.published`), framed twice (with
``Mention`` false and true) and carrying the author's and the mentioned users' ids,
on the chat's channel: it reaches the processes with a logged-in socket of a member
(see :mod:`parley.subscriptions`). Each one's :class:`ActivityPusher` (the hub hands
it these events) finds its own sockets of the chat's members. The members of a chat are
kept per process, read from the store the first time a chat's activity arrives and
forgotten whenever they may have changed (``members`` events on a join, ``leave``,
``deleted``): an event carrying the member ids would carry thousands of them for
``general``, to many processes, for every message.

Coalescing, per chat, so that a message costs the same whatever the number of sockets
away from the chat: the first message's push goes to them at once; for :data:`WINDOW`
after it, messages are only held, and at the window's end the newest one goes out to
every socket then away from the chat (with ``Mention`` true for a user any held one
mentioned, and to its author's sockets the newest held one by someone else, if any),
opening another window. So each socket gets at most one push per chat per window, and
the work per window is one pass over the chat's online members, not one per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from .answers import Activity
from .broker import Broker, Event
from .frames import frame
from .hub import Hub
from .model import StoredMessage
from .peer import Peer

log = logging.getLogger(__name__)

#: at most one activity push per chat per socket per this many seconds
WINDOW = 1.0
#: the pusher's clock (a test may put its own in)
clock: Callable[[], float] = time.monotonic


def publish(broker: Broker, chat: str, message: StoredMessage,
            mentions: tuple[int, ...]) -> None:
    """The ``activity`` event of a newly stored message, to the processes of its chat's
    members."""
    def framed(mention: bool) -> bytes:
        return frame(Activity(Type="chat", Command="activity", Chat=chat, Id=message.id,
                              User=message.login, Mention=mention))

    broker.publish(Event("activity", message.chat_id, framed(False), message.id,
                         sender=message.user_id, own=framed(True), mentions=mentions))


@dataclass(slots=True)
class _Window:
    """A chat's pushes: the window's end, and what is held meanwhile: the newest event,
    the newest one by someone other than its author, and who the held ones mention."""

    until: float
    held: Event | None = None
    other: Event | None = None
    mentioned: set[int] = field(default_factory=set)

    def hold(self, event: Event) -> None:
        if self.held is not None and self.held.sender != event.sender:
            self.other = self.held
        self.held = event
        self.mentioned.update(uid for uid in event.mentions if uid != event.sender)


class ActivityPusher:
    """This process's activity pushes (see the module's doc)."""

    def __init__(self, hub: Hub, members: Callable[[int], Awaitable[list[int]]],
                 spawn: Callable[[Awaitable[None]], None]) -> None:
        self._hub = hub
        self._read_members = members
        self._spawn = spawn
        #: chat id -> its members' user ids, as last read
        self.members: dict[int, frozenset[int]] = {}
        #: chat id -> activity events waiting for the chat's members to be read
        self._waiting: dict[int, list[Event]] = {}
        #: chats whose members changed while being read: used once, not kept
        self._stale: set[int] = set()
        self._windows: dict[int, _Window] = {}
        self._timer: asyncio.TimerHandle | None = None

    def deliver(self, event: Event) -> None:
        """From the hub: an ``activity`` event, or one that may change a chat's members."""
        if event.kind != "activity":
            self.members.pop(event.chat_id, None)
            if event.chat_id in self._waiting:
                self._stale.add(event.chat_id)  # (what is being read may be old)
            return
        ids = self.members.get(event.chat_id)
        if ids is not None:
            self._offer(event, ids)
            return
        self._wait(event.chat_id, event)

    def _wait(self, chat_id: int, event: Event | None) -> None:
        """Reads the chat's members (once), then offers ``event`` and flushes a due window."""
        waiting = self._waiting.get(chat_id)
        if waiting is None:
            waiting = self._waiting[chat_id] = []
            self._spawn(self._load(chat_id))
        if event is not None:
            waiting.append(event)

    async def _load(self, chat_id: int) -> None:
        try:
            ids = frozenset(await self._read_members(chat_id))
        except Exception:
            log.warning("the members of chat %s could not be read: activity dropped", chat_id)
            self._waiting.pop(chat_id, None)
            self._windows.pop(chat_id, None)
            self._stale.discard(chat_id)
            return
        if chat_id in self._stale:
            self._stale.discard(chat_id)
        else:
            self.members[chat_id] = ids
        for event in self._waiting.pop(chat_id, []):
            self._offer(event, ids)
        window = self._windows.get(chat_id)
        if window is not None and clock() >= window.until:
            self._flush(chat_id, window, ids)

    def _offer(self, event: Event, ids: frozenset[int]) -> None:
        """The first event of a chat goes out at once; within the window after it, events
        are only held (constant work per message, whatever the number of sockets)."""
        chat_id = event.chat_id
        now = clock()
        window = self._windows.get(chat_id)
        if window is not None and (window.held is not None or now < window.until):
            window.hold(event)
            self._arm()
            return
        if self._push(chat_id, ids, event, None, event.mentions):
            self._windows[chat_id] = _Window(now + WINDOW)
            self._arm()
        else:
            self._windows.pop(chat_id, None)

    def _push(self, chat_id: int, ids: frozenset[int], newest: Event, other: Event | None,
              mentioned: Iterable[int]) -> bool:
        """Pushes to every socket of a member that does not have the chat chosen: the newest
        event, or, to the sockets of its author, the newest one by someone else (none if
        there is none). Whether anything was pushed."""
        users = self._hub.users
        mentions = mentioned if isinstance(mentioned, (set, frozenset)) else set(mentioned)
        found: Iterable[tuple[int, set[Peer]]]
        if len(ids) < len(users):
            found = ((uid, users[uid]) for uid in ids if uid in users)
        else:
            found = ((uid, peers) for uid, peers in users.items() if uid in ids)
        sent = 0
        for uid, peers in found:
            event = newest if uid != newest.sender else other
            if event is None:
                continue
            data = event.own if uid in mentions and event.own is not None else event.frame
            for peer in peers:  # (the hot loop of a pass: _in_chat inlined)
                place = peer.session.chat
                if place is None or place.id != chat_id:
                    peer.push(data)
                    sent += 1
        if sent:
            self._hub.count(sent)
        return sent > 0

    def _flush(self, chat_id: int, window: _Window, ids: frozenset[int]) -> None:
        held = window.held
        if held is None or not self._push(chat_id, ids, held, window.other, window.mentioned):
            del self._windows[chat_id]
            return
        window.until, window.held, window.other = clock() + WINDOW, None, None
        window.mentioned = set()

    def flush(self) -> None:
        """Windows that ended: what they held goes out (opening another window), and quiet
        ones are forgotten. A chat whose members may have changed is read again first."""
        now = clock()
        for chat_id, window in list(self._windows.items()):
            if now < window.until:
                continue
            ids = self.members.get(chat_id)
            if ids is None and window.held is not None:
                self._wait(chat_id, None)
                continue
            if ids is None:
                del self._windows[chat_id]
                continue
            self._flush(chat_id, window, ids)
        if self._windows:
            self._arm()

    def _arm(self) -> None:
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(WINDOW, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.flush()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._windows.clear()

