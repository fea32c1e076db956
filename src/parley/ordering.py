"""Live ordering: the one owner of "which numbered frame goes out, and when".

A chat has ordered *streams*: ``messages`` (message ids, consecutive within a
chat) and ``changes`` (change numbers of edits, removals and reactions, consecutive
within a chat). Each ordered frame carries its :class:`Position` (stream name,
key); frames without one (presence, the chat list, typing) are never held or
dropped here. Every stream follows the same rules, so a second stream of a chat
(another name, keys of its own) needs no code of its own.

Two objects, because the two jobs have different scopes and lifetimes:

- :class:`Sequencer`, one per chat in this process (kept by the hub): events of
  several processes meet here, and one that overtook its predecessor waits for
  it, at most ``wait`` seconds; then delivery goes on without it (its process or
  Redis failed: the clients fill the gap with ``choice`` + ``After``). What it
  emits goes to every socket of the chat.
- :class:`Subscription`, one per socket, living across its chat switches: while
  the socket's history page is read, frames are held back; when the page is
  sent they are released, minus what the page already covered; after that a
  frame at or below the newest key the socket was sent (a retried publish after
  a Redis outage) is dropped. It never waits for a gap: the sequencer did.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Generic, NamedTuple, Protocol, TypeVar

#: the stream of a chat's messages, keyed by message id
MESSAGES = "messages"
#: the stream of a chat's changes to its messages, keyed by change number
CHANGES = "changes"

#: how long a frame that overtook its predecessor waits for it (several processes)
REORDER_WAIT = 0.5


class Position(NamedTuple):
    """Where an ordered frame stands: its stream, and its key in it (consecutive
    from 1 within a chat's stream)."""

    stream: str
    key: int


class Timer(Protocol):
    def cancel(self) -> None: ...


#: schedules a callback after a delay, like :meth:`asyncio.AbstractEventLoop.call_later`
CallLater = Callable[[float, Callable[[], None]], Timer]

T = TypeVar("T")


def _loop_call_later(delay: float, callback: Callable[[], None]) -> Timer:
    return asyncio.get_running_loop().call_later(delay, callback)


class _Stream(Generic[T]):
    __slots__ = ("early", "next", "timer")

    def __init__(self) -> None:
        #: the key to emit next (None: the first one to come starts the stream)
        self.next: int | None = None
        #: items that arrived before their predecessor, by key
        self.early: dict[int, T] = {}
        self.timer: Timer | None = None


class Sequencer(Generic[T]):
    """One chat's ordered streams: items in, ``emit`` called in key order.

    With ``held_start``, a stream does not start on the first item to come: items are
    held until :meth:`start` says where the database read left off (or, at most
    ``wait`` seconds, until the first one held). Several processes need it: the
    history is read after this process began receiving the chat's events, and an
    event published later by another process may overtake an earlier one still on its
    way; the first to come is then not the first to emit, and the other, if it started
    the stream, would drop its predecessor."""

    __slots__ = ("_call_later", "_emit", "_held_start", "_streams", "wait")

    def __init__(self, emit: Callable[[T], None], *, wait: float = REORDER_WAIT,
                 call_later: CallLater = _loop_call_later, held_start: bool = False) -> None:
        self._emit = emit
        self.wait = wait
        self._call_later = call_later
        self._held_start = held_start
        self._streams: dict[str, _Stream[T]] = {}

    def start(self, stream: str, first: int) -> None:
        """Keys of ``stream`` below ``first`` were read from the database: emit from
        ``first`` on, unless the stream started already."""
        state = self._stream(stream)
        if state.next is None:
            state.next = first
            for key in [key for key in state.early if key < first]:
                del state.early[key]  # (the database read had them)
            self._drain(state)
            if state.early and state.timer is None:
                state.timer = self._call_later(self.wait, lambda: self.give_up(stream))

    def offer(self, position: Position | None, item: T) -> None:
        """Emit ``item`` now, later (after its predecessors, or when they are given
        up), or never (its key was emitted or passed)."""
        if position is None:
            self._emit(item)
            return
        state = self._stream(position.stream)
        key = position.key
        if state.next is None and self._held_start:
            state.early[key] = item
            if state.timer is None:
                state.timer = self._call_later(self.wait, lambda: self.give_up(position.stream))
        elif state.next is None or key == state.next:
            self._emit(item)
            state.next = key + 1
            if state.early:
                self._drain(state)
        elif key > state.next:
            state.early[key] = item
            if state.timer is None:
                state.timer = self._call_later(self.wait, lambda: self.give_up(position.stream))
        # else: emitted already, or given up

    def waiting(self, stream: str) -> list[int]:
        """The keys of ``stream`` held for a missing predecessor, in order."""
        state = self._streams.get(stream)
        return sorted(state.early) if state is not None else []

    def give_up(self, stream: str) -> None:
        """The missing key of ``stream`` is not coming: go on from the next one held
        (the timer calls this ``wait`` seconds after a gap opened)."""
        state = self._streams.get(stream)
        if state is None:
            return
        if state.timer is not None:
            state.timer.cancel()
            state.timer = None
        if state.early:
            state.next = min(state.early)
            self._drain(state)
        if state.early:  # another hole further on: wait for that one too
            state.timer = self._call_later(self.wait, lambda: self.give_up(stream))

    def close(self) -> None:
        """The chat is gone from this process: drop what is held, stop the timers."""
        for state in self._streams.values():
            if state.timer is not None:
                state.timer.cancel()
        self._streams.clear()

    def _stream(self, stream: str) -> _Stream[T]:
        state = self._streams.get(stream)
        if state is None:
            state = self._streams[stream] = _Stream()
        return state

    def _drain(self, state: _Stream[T]) -> None:
        while state.next in state.early:
            item = state.early.pop(state.next)
            self._emit(item)
            state.next += 1
        if not state.early and state.timer is not None:
            state.timer.cancel()
            state.timer = None


class Subscription:
    """One socket's live frames: held during a history read, deduplicated after."""

    __slots__ = ("_held", "_newest", "_send")

    def __init__(self, send: Callable[[bytes], None]) -> None:
        self._send = send
        self._held: list[tuple[bytes, Position | None]] | None = None
        #: per stream, the newest key this socket was sent (or its page covered)
        self._newest: dict[str, int] = {}

    @property
    def holding(self) -> bool:
        return self._held is not None

    def push(self, frame: bytes, position: Position | None = None) -> None:
        """Send the frame, hold it, or drop it (a key the socket already has)."""
        if self._held is not None:
            self._held.append((frame, position))
        elif position is None:
            self._send(frame)
        elif position.key > self._newest.get(position.stream, 0):
            self._newest[position.stream] = position.key
            self._send(frame)

    def hold(self) -> None:
        """Keep frames back until :meth:`release` (a history page is being read)."""
        if self._held is None:
            self._held = []

    def release(self, covered: Mapping[str, int]) -> None:
        """The page is sent: it covered each stream of ``covered`` up to its key (a
        stream it does not name, nothing of it). Send the held frames it did not cover;
        from now on, drop what was sent already."""
        held, self._held = self._held or [], None
        self._newest = dict(covered)
        for frame, position in held:
            self.push(frame, position)
