"""``user`` events in process: the hub finds a user's sockets, and the event survives the
trip between processes."""

from __future__ import annotations

import msgspec

from parley.broker import Event, MemoryBroker, user_event
from parley.hub import Hub, Peer


class Socket:
    def __init__(self, login: str) -> None:
        self.login: str | None = login
        self.pushed: list[bytes] = []

    def push(self, frame: bytes, message_id: int | None = None) -> None:
        self.pushed.append(frame)

    def chat_deleted(self, chat_id: int) -> None:
        raise AssertionError("not a chat event")


async def test_a_user_event_reaches_that_users_sockets_only() -> None:
    hub = Hub()
    seen: list[tuple[Peer, Event]] = []

    def on_user(peer: Peer, event: Event) -> None:
        seen.append((peer, event))
        hub.signed_out(peer, event.chat_id)  # as the service does

    hub.on_user = on_user
    broker = MemoryBroker()
    await broker.start(hub.deliver)
    a1, a2, b = Socket("a"), Socket("a"), Socket("b")
    hub.signed_in(a1, 1)
    hub.signed_in(a2, 1)
    hub.signed_in(b, 2)
    event = user_event(1, b"logged out", close=4001)
    broker.publish(event)
    assert sorted(id(peer) for peer, _ in seen) == sorted([id(a1), id(a2)])
    assert all(got is event for _, got in seen)
    assert hub.users == {2: {b}}
    assert hub.logged_in == {b}
    # nobody of that user is left here: nothing to call
    seen.clear()
    broker.publish(user_event(1, close=4003))
    assert seen == []
    # the chat list still reaches the logged-in sockets only
    broker.publish(Event("all", 0, b"list"))
    assert (a1.pushed, a2.pushed, b.pushed) == ([], [], [b"list"])


def test_signing_out_twice_or_anonymous_is_harmless() -> None:
    hub = Hub()
    peer = Socket("a")
    hub.signed_in(peer, 7)
    hub.signed_out(peer, 7)
    hub.signed_out(peer, 7)
    hub.signed_out(peer, None)
    assert hub.users == {}
    assert hub.logged_in == set()


def test_user_events_cross_processes_intact() -> None:
    """What RedisBroker sends: msgpack of the event, its optional fields included; an
    event of the older shape (four fields) still decodes."""
    for event in (
        user_event(5, b"{}", token="d" * 64),
        user_event(5, b"logged out", close=4001, spare="e" * 64),
        Event("chat", 3, b"frame", 9),
    ):
        data = msgspec.msgpack.encode(event)
        assert msgspec.msgpack.decode(data, type=Event) == event
    old = msgspec.msgpack.encode(["chat", 3, b"frame", 9])
    assert msgspec.msgpack.decode(old, type=Event) == Event("chat", 3, b"frame", 9)
