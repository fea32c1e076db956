"""parley.hub.Hub: who is in which chat here, and delivery of events to them."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from parley import hub as hub_module
from parley.answers import ChatList as ListAnswer
from parley.broker import Event, MemoryBroker
from parley.chatlist import ChatList
from parley.hub import Hub
from parley.model import ChatSummary
from parley.ordering import MESSAGES, Position
from parley.presenter import chats


class Peer:
    """A socket that records what the hub gives it."""

    def __init__(self, login: str | None) -> None:
        self.login = login
        self.pushed: list[tuple[bytes, int | None]] = []
        self.deleted: list[int] = []
        self.released: list[dict[str, int]] = []

    def push(self, frame: bytes, position: Position | None = None) -> None:
        """Records the message id (every ordered chat event is in the messages stream)."""
        assert position is None or position.stream == MESSAGES
        self.pushed.append((frame, None if position is None else position.key))

    def release(self, covered: Mapping[str, int]) -> None:
        self.released.append(dict(covered))

    def chat_deleted(self, chat_id: int) -> None:
        self.deleted.append(chat_id)


def enter(hub: Hub, peer: Peer, chat_id: int) -> bool:
    assert peer.login is not None
    return hub.enter(peer, chat_id, f"chat{chat_id}", peer.login)


def leave(hub: Hub, peer: Peer, chat_id: int) -> bool:
    assert peer.login is not None
    return hub.leave(peer, chat_id, peer.login)


# --------------------------------------------------------------------------- membership


def test_first_socket_of_a_user_enters() -> None:
    assert enter(Hub(), Peer("alice"), 1) is True


def test_second_socket_of_the_same_user() -> None:
    hub = Hub()
    assert enter(hub, Peer("alice"), 1) is True
    assert enter(hub, Peer("alice"), 1) is False


def test_same_socket_twice() -> None:
    hub = Hub()
    tab = Peer("alice")
    assert enter(hub, tab, 1) is True
    assert enter(hub, tab, 1) is False
    assert leave(hub, tab, 1) is True
    assert hub.online(1) == []


async def test_a_linger_ends_late_while_the_server_is_busy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "LINGER_EXTENSION", 0.02)
    monkeypatch.setattr(hub_module, "LINGER_EXTENSIONS", 3)
    hub, gone = Hub(), []
    hub.on_gone = lambda chat_id, chat, login: gone.append((chat_id, login))
    behind = [True]
    hub.busy = lambda: behind[0]
    tab = Peer("alice")
    enter(hub, tab, 1)
    assert hub.leave(tab, 1, "alice", linger=0.01) is False
    await asyncio.sleep(0.05)
    assert (gone, hub.online(1)) == ([], ["alice"])  # behind: still lingering
    behind[0] = False
    await asyncio.sleep(0.05)
    assert (gone, hub.online(1)) == ([(1, "alice")], [])
    # busy for good: the linger ends after its extensions all the same
    behind[0] = True
    enter(hub, tab, 1)
    hub.leave(tab, 1, "alice", linger=0.01)
    await asyncio.sleep(0.2)
    assert gone == [(1, "alice"), (1, "alice")]


def test_same_user_in_two_chats() -> None:
    hub = Hub()
    assert enter(hub, Peer("alice"), 1) is True
    assert enter(hub, Peer("alice"), 2) is True


def test_last_socket_leaves() -> None:
    hub = Hub()
    tab1, tab2 = Peer("alice"), Peer("alice")
    enter(hub, tab1, 1)
    enter(hub, tab2, 1)
    assert leave(hub, tab1, 1) is False
    assert hub.online(1) == ["alice"]
    assert leave(hub, tab2, 1) is True
    assert hub.online(1) == []


def test_leave_twice() -> None:
    hub = Hub()
    tab = Peer("alice")
    enter(hub, tab, 1)
    assert leave(hub, tab, 1) is True
    assert leave(hub, tab, 1) is False


def test_leave_a_chat_never_entered() -> None:
    hub = Hub()
    enter(hub, Peer("alice"), 1)
    assert leave(hub, Peer("alice"), 1) is False
    assert leave(hub, Peer("bob"), 2) is False
    assert hub.online(1) == ["alice"]


def test_empty_room_is_removed() -> None:
    hub = Hub()
    tab = Peer("alice")
    enter(hub, tab, 1)
    leave(hub, tab, 1)
    assert hub.rooms == {}


def test_online_sorted_and_distinct() -> None:
    hub = Hub()
    for login in ("carol", "alice", "bob", "alice", "carol"):
        enter(hub, Peer(login), 1)
    enter(hub, Peer("dave"), 2)
    assert hub.online(1) == ["alice", "bob", "carol"]
    assert hub.online(2) == ["dave"]


def test_online_of_empty_chat() -> None:
    assert Hub().online(7) == []


def test_presence_lists_every_chat_and_login_once() -> None:
    hub = Hub()
    for login in ("bob", "alice", "bob"):
        enter(hub, Peer(login), 1)
    enter(hub, Peer("carol"), 2)
    assert sorted(hub.presence()) == [(1, "chat1", "alice"), (1, "chat1", "bob"),
                                      (2, "chat2", "carol")]


def test_presence_forgets_who_left() -> None:
    hub = Hub()
    alice, bob = Peer("alice"), Peer("bob")
    enter(hub, alice, 1)
    enter(hub, bob, 1)
    leave(hub, bob, 1)
    assert list(hub.presence()) == [(1, "chat1", "alice")]


# --------------------------------------------------------------------------- delivery


def test_chat_event_reaches_the_chat_only() -> None:
    hub = Hub()
    alice, bob, carol = Peer("alice"), Peer("bob"), Peer("carol")
    enter(hub, alice, 1)
    enter(hub, bob, 1)
    enter(hub, carol, 2)
    hub.logged_in.update({alice, bob, carol})
    hub.deliver(Event("chat", 1, b"frame", 42))
    assert alice.pushed == [(b"frame", 42)]
    assert bob.pushed == [(b"frame", 42)]
    assert carol.pushed == []
    assert hub.deliveries == 2


def test_chat_event_without_message_id() -> None:
    hub = Hub()
    alice = Peer("alice")
    enter(hub, alice, 1)
    hub.deliver(Event("chat", 1, b"joined"))
    assert alice.pushed == [(b"joined", None)]


def test_chat_event_reaches_every_socket_of_a_user() -> None:
    hub = Hub()
    tab1, tab2 = Peer("alice"), Peer("alice")
    enter(hub, tab1, 1)
    enter(hub, tab2, 1)
    hub.deliver(Event("chat", 1, b"m", 1))
    assert tab1.pushed == tab2.pushed == [(b"m", 1)]


def test_chat_event_to_empty_chat() -> None:
    hub = Hub()
    hub.deliver(Event("chat", 9, b"m", 1))
    assert hub.deliveries == 0


def test_chat_event_not_to_a_socket_that_left() -> None:
    hub = Hub()
    alice, bob = Peer("alice"), Peer("bob")
    enter(hub, alice, 1)
    enter(hub, bob, 1)
    leave(hub, bob, 1)
    hub.deliver(Event("chat", 1, b"m", 1))
    assert alice.pushed == [(b"m", 1)]
    assert bob.pushed == []


def with_lists(hub: Hub, reads: list[int] | None = None) -> ChatList:
    """The chat list's owner, attached to ``hub`` as the service attaches it; its
    database read returns a list of as many chats as it was read times."""
    count = reads if reads is not None else []

    async def read() -> ListAnswer:
        count.append(1)
        return chats([ChatSummary(f"c{i}", False, "o") for i in range(len(count))])

    lists = ChatList(read, hub.logged_in, hub.count)
    hub.on_list = lists.delivered
    return lists


def test_all_event_reaches_logged_in_sockets() -> None:
    hub = Hub()
    alice, bob, anonymous_in_no_chat = Peer("alice"), Peer("bob"), Peer(None)
    hub.logged_in.update({alice, bob})
    enter(hub, alice, 1)
    hub.deliver(Event("all", 0, b"list"))
    assert alice.pushed == [(b"list", None)]
    assert bob.pushed == [(b"list", None)]
    assert anonymous_in_no_chat.pushed == []
    assert hub.deliveries == 2


async def test_list_event_goes_to_delta_sockets_and_the_whole_list_to_the_others() -> None:
    hub = Hub()
    reads: list[int] = []
    lists = with_lists(hub, reads)
    alice, bob = Peer("alice"), Peer("bob")
    hub.logged_in.update({alice, bob})
    lists.take_deltas(bob)
    kept = await lists.current()
    assert len(reads) == 1
    hub.deliver(Event("list", 0, b"delta"))
    assert bob.pushed == [(b"delta", None)]
    assert alice.pushed == []
    assert lists.version == 1
    await lists.drain()
    # the kept list is stale after a change: read again, and pushed to alice alone
    assert len(reads) == 2
    [(whole, message_id)] = alice.pushed
    assert message_id is None
    assert whole != kept.frame
    assert bob.pushed == [(b"delta", None)]
    assert hub.deliveries == 2
    lists.take_deltas(alice)
    hub.deliver(Event("list", 0, b"delta 2"))
    await lists.drain()
    assert alice.pushed[1:] == [(b"delta 2", None)]  # no whole list: everyone takes deltas
    assert len(reads) == 2


def test_deleted_event() -> None:
    hub = Hub()
    alice, bob, carol = Peer("alice"), Peer("bob"), Peer("carol")
    enter(hub, alice, 1)
    enter(hub, bob, 1)
    enter(hub, carol, 2)
    hub.deliver(Event("deleted", 1, b"gone"))
    assert alice.pushed == bob.pushed == [(b"gone", None)]
    assert alice.deleted == bob.deleted == [1]
    assert carol.pushed == []
    assert carol.deleted == []
    assert 1 not in hub.rooms
    assert hub.online(1) == []
    assert hub.online(2) == ["carol"]
    assert hub.deliveries == 2


def test_after_deleted_chat_events_reach_nobody() -> None:
    hub = Hub()
    alice = Peer("alice")
    enter(hub, alice, 1)
    hub.deliver(Event("deleted", 1, b"gone"))
    hub.deliver(Event("chat", 1, b"late", 5))
    assert alice.pushed == [(b"gone", None)]


def test_deleted_event_for_unknown_chat() -> None:
    hub = Hub()
    alice = Peer("alice")
    enter(hub, alice, 1)
    hub.deliver(Event("deleted", 2, b"gone"))
    assert alice.pushed == []
    assert alice.deleted == []
    assert hub.online(1) == ["alice"]


async def test_memory_broker_delivers_to_the_hub_in_order() -> None:
    hub = Hub()
    alice = Peer("alice")
    enter(hub, alice, 1)
    broker = MemoryBroker()
    await broker.start(hub.deliver)
    broker.publish(Event("chat", 1, b"a", 1))
    broker.publish(Event("chat", 1, b"b", 2))
    await broker.close()
    broker.publish(Event("chat", 1, b"after close", 3))
    assert alice.pushed == [(b"a", 1), (b"b", 2)]


# --------------------------------------------------------------------------- message order


def in_chat(next_id: int | None = None) -> tuple[Hub, Peer]:
    hub = Hub()
    alice = Peer("alice")
    enter(hub, alice, 1)
    if next_id is not None:
        hub.expect(1, next_id)
    return hub, alice


def ids(peer: Peer) -> list[int | None]:
    return [message_id for _, message_id in peer.pushed]


def test_messages_already_read_from_history_are_not_delivered_again() -> None:
    hub, alice = in_chat(next_id=6)
    hub.deliver(Event("chat", 1, b"m5", 5))
    hub.deliver(Event("chat", 1, b"m6", 6))
    assert alice.pushed == [(b"m6", 6)]


def test_same_message_twice_is_delivered_once() -> None:
    hub, alice = in_chat()
    hub.deliver(Event("chat", 1, b"m1", 1))
    hub.deliver(Event("chat", 1, b"m1", 1))
    assert ids(alice) == [1]


async def test_early_message_waits_for_its_predecessor() -> None:
    hub, alice = in_chat(next_id=1)
    hub.deliver(Event("chat", 1, b"m3", 3))
    hub.deliver(Event("chat", 1, b"m2", 2))
    assert alice.pushed == []
    hub.deliver(Event("chat", 1, b"m1", 1))
    assert alice.pushed == [(b"m1", 1), (b"m2", 2), (b"m3", 3)]


async def test_frames_without_id_are_not_held_back() -> None:
    hub, alice = in_chat(next_id=1)
    hub.deliver(Event("chat", 1, b"m2", 2))
    hub.deliver(Event("chat", 1, b"joined"))
    assert alice.pushed == [(b"joined", None)]


def test_expect_does_not_move_a_started_delivery() -> None:
    hub, alice = in_chat()
    hub.deliver(Event("chat", 1, b"m4", 4))
    hub.expect(1, 1)
    hub.deliver(Event("chat", 1, b"m5", 5))
    assert ids(alice) == [4, 5]


async def test_gives_up_waiting_for_a_lost_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "REORDER_WAIT", 0.01)
    hub, alice = in_chat(next_id=1)
    hub.deliver(Event("chat", 1, b"m2", 2))
    hub.deliver(Event("chat", 1, b"m3", 3))
    await asyncio.sleep(0.05)
    assert ids(alice) == [2, 3]
    hub.deliver(Event("chat", 1, b"m1", 1))  # too late: never delivered out of order
    hub.deliver(Event("chat", 1, b"m4", 4))
    assert ids(alice) == [2, 3, 4]


async def test_deleted_chat_drops_held_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub_module, "REORDER_WAIT", 0.01)
    hub, alice = in_chat(next_id=1)
    hub.deliver(Event("chat", 1, b"m2", 2))
    hub.deliver(Event("deleted", 1, b"gone"))
    await asyncio.sleep(0.05)
    assert alice.pushed == [(b"gone", None)]


async def test_a_complete_page_starts_delivery_after_it_and_releases_the_peer() -> None:
    hub, alice = in_chat()
    hub.covered(alice, 1, {MESSAGES: 5})
    assert alice.released == [{MESSAGES: 5}]
    hub.deliver(Event("chat", 1, b"m7", 7))  # overtook 6: waits for it
    assert alice.pushed == []
    hub.deliver(Event("chat", 1, b"m6", 6))
    assert ids(alice) == [6, 7]


def test_an_incomplete_page_does_not_start_delivery() -> None:
    hub, alice = in_chat()
    hub.covered(alice, 1, {MESSAGES: 5}, complete=False)
    assert alice.released == [{MESSAGES: 5}]
    hub.deliver(Event("chat", 1, b"m9", 9))  # the page's end is not the chat's
    assert ids(alice) == [9]
