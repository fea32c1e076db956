"""Activity pushes: a message stored in a chat tells the members' sockets that do not
have the chat chosen, ``{"Type":"chat","Command":"activity","Chat":N,"Id":ID,"User":U,
"Mention":bool}``, at most once per chat per socket per :data:`WINDOW`.

:func:`publish` sends one ``activity`` event per stored message, after the commit (with
the message's other events, see :func:`parley.posting.published`), framed twice (with
``Mention`` false and true) and carrying the author's and the mentioned users' ids.
Every process's :class:`ActivityPusher` (the hub hands it these events) finds its own
sockets of the chat's members. The members of a chat are kept per process, read from
the store the first time a chat's activity arrives and forgotten whenever they may have
changed (``members`` events on a join, ``leave``, ``deleted``): an event carrying the
member ids would carry thousands of them for ``general``, to every process, for every
message.

Coalescing, per (socket, chat): the first push goes at once; for :data:`WINDOW` after
it, pushes are held, and at the window's end the newest one goes out (with ``Mention``
true if any held one mentioned the user), opening another window.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

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
    """The ``activity`` event of a newly stored message, to every process."""
    def framed(mention: bool) -> bytes:
        return frame(Activity(Type="chat", Command="activity", Chat=chat, Id=message.id,
                              User=message.login, Mention=mention))

    broker.publish(Event("activity", message.chat_id, framed(False), message.id,
                         sender=message.user_id, own=framed(True), mentions=mentions))


@dataclass(slots=True)
class _Slot:
    """One socket's pushes of one chat: the window's end, and the push held meanwhile."""

    until: float
    held: Event | None = None
    mention: bool = False


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
        self._slots: dict[tuple[Peer, int], _Slot] = {}
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
            self._push(event, ids)
            return
        waiting = self._waiting.get(event.chat_id)
        if waiting is not None:
            waiting.append(event)
            return
        self._waiting[event.chat_id] = [event]
        self._spawn(self._load(event.chat_id))

    async def _load(self, chat_id: int) -> None:
        try:
            ids = frozenset(await self._read_members(chat_id))
        except Exception:
            log.warning("the members of chat %s could not be read: activity dropped", chat_id)
            self._waiting.pop(chat_id, None)
            self._stale.discard(chat_id)
            return
        if chat_id in self._stale:
            self._stale.discard(chat_id)
        else:
            self.members[chat_id] = ids
        for event in self._waiting.pop(chat_id, []):
            self._push(event, ids)

    def _push(self, event: Event, ids: frozenset[int]) -> None:
        users = self._hub.users
        found: Iterable[tuple[int, set[Peer]]]
        if len(ids) < len(users):
            found = ((uid, users[uid]) for uid in ids if uid in users)
        else:
            found = ((uid, peers) for uid, peers in users.items() if uid in ids)
        for uid, peers in found:
            if uid == event.sender:
                continue
            mention = uid in event.mentions
            for peer in peers:
                if not _in_chat(peer, event.chat_id):
                    self._offer(peer, event, mention)

    def _offer(self, peer: Peer, event: Event, mention: bool) -> None:
        key = (peer, event.chat_id)
        now = clock()
        slot = self._slots.get(key)
        if slot is None or (slot.held is None and now >= slot.until):
            self._send(peer, event, mention)
            self._slots[key] = _Slot(now + WINDOW)
        else:
            slot.held = event
            slot.mention = slot.mention or mention
        self._arm()

    def _send(self, peer: Peer, event: Event, mention: bool) -> None:
        peer.push(event.own if mention and event.own is not None else event.frame)
        self._hub.count(1)

    def flush(self) -> None:
        """Windows that ended: their held pushes go out (opening another window), and
        quiet ones are forgotten."""
        now = clock()
        for key, slot in list(self._slots.items()):
            if now < slot.until:
                continue
            peer, chat_id = key
            held = slot.held
            if held is None or peer not in self._hub.logged_in or _in_chat(peer, chat_id):
                del self._slots[key]
                continue
            self._send(peer, held, slot.mention)
            slot.until, slot.held, slot.mention = now + WINDOW, None, False
        if self._slots:
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
        self._slots.clear()


def _in_chat(peer: Peer, chat_id: int) -> bool:
    place = peer.session.chat
    return place is not None and place.id == chat_id
