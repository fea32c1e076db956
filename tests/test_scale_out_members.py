"""Per-user events across processes, on PostgreSQL + Redis: ``leave`` taking the chat from
the user's sockets on another process, and direct messages, activity pushes, read
pointers and typing reaching sockets on three processes.

One cluster of three ``parley serve`` processes (one database, one Redis prefix) serves
every test of the module; each test makes its own users and chats. Whether a frame did
*not* reach a socket is proved without waiting for silence: once another socket on the
same process got the event, the hub there has delivered it to every socket it was for,
so a request's answer on the first socket comes after any frame it was sent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import PASSWORD, Postgres, ServerProcess, cluster, unique
from parley.client import Client, Frame
from test_scale_out import clients, messages, settle

__all__ = ["clients"]  # the fixture, shared with test_scale_out

ANON = "error in chat or user"


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, services: Postgres
) -> Iterator[list[ServerProcess]]:
    """Three processes sharing one PostgreSQL database and one Redis prefix."""
    yield from cluster(tmp_path_factory.mktemp("members"), services, "members", 3,
                       "--presence-ttl", "3")


async def probe(client: Client) -> tuple[list[Frame], Frame]:
    """Asks for the unread counts: the frames that came before the answer, and it."""
    await client.send({"Type": "chat", "Command": "unread"})
    before: list[Frame] = []
    while True:
        frame = await client.recv()
        if frame.get("Command") == "unread" and "Chats" in frame:
            return before, frame
        before.append(frame)


def kinds(frames: list[Frame]) -> list[str]:
    return [str(f.get("Command")) for f in frames]


async def test_leave_on_one_process_takes_the_chat_from_the_socket_on_another(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    one, two = trio[0], trio[1]
    name = unique("room")
    owner = await clients(one.ws, unique("o"))
    assert (await owner.create(name))["Status"] == "success"
    alice_two = await clients(two.ws, unique("a"))  # the user's socket on B, in N
    assert (await alice_two.choose(name))["Command"] == "choice"
    carol = await clients(two.ws, unique("c"))  # someone else in N on B
    assert (await carol.choose(name))["Command"] == "choice"
    await settle(alice_two, lambda f: f.get("Joined") == carol.user)
    alice_one = await clients(one.ws)  # the user's socket on A, in no chat
    assert (await alice_one.login(alice_two.user, PASSWORD))["Status"] == "success"
    _, unread = await probe(alice_one)
    assert unread["Chats"][name] == {"last": 0, "read": 0, "unread": 0, "mentions": 0}

    assert await alice_one.request({"Type": "chat", "Command": "leave", "Chat": name}) == {
        "Type": "chat", "Command": "leave", "Status": "success", "Chat": name}
    # on B: told, and no chat chosen any more
    assert await settle(alice_two, lambda f: f.get("Command") == "leave") == {
        "Type": "chat", "Command": "leave", "Status": "left", "Chat": name}
    assert await settle(carol, lambda f: "Left" in f) == {
        "Type": "chat", "Command": "connected", "Chat": name, "Left": alice_two.user}
    assert await alice_two.request({"Type": "chat", "Command": "message", "Text": "x"}) == {
        "Type": "chat", "Command": "message", "Status": ANON}
    # a message into N reaches carol on B, and not alice's socket there
    await owner.say("after the leave")
    [got] = await messages(carol, 1)
    assert got["text"] == "after the leave"
    before, unread = await probe(alice_two)
    assert before == []
    # no longer a member: not in the unread counts, no row, no activity push
    assert name not in unread["Chats"]
    assert await one.rows(
        "SELECT 1 FROM members m JOIN chats c ON c.id = m.chat_id "
        "JOIN users u ON u.id = m.user_id WHERE c.name = :chat AND u.login = :login",
        chat=name, login=alice_two.user) == []
    before, unread = await probe(alice_one)
    assert before == []
    assert name not in unread["Chats"]


async def test_a_direct_message_and_its_activity_push_across_three_processes(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    alice = await clients(trio[0].ws, unique("a"))
    bob = await clients(trio[1].ws, unique("b"))
    bob_away = await clients(trio[2].ws)  # bob's other socket, in general
    assert (await bob_away.login(bob.user, PASSWORD))["Status"] == "success"
    assert (await bob_away.choose("general"))["Command"] == "choice"
    eve = await clients(trio[2].ws, unique("e"))  # not a member, in general, on bob_away's
    assert (await eve.choose("general"))["Command"] == "choice"
    members = sorted([alice.user, bob.user], key=str.casefold)
    name = "@" + ",".join(members)
    answer = await alice.request({"Type": "chat", "Command": "direct", "With": [bob.user]})
    assert answer == {"Type": "chat", "Command": "direct", "Status": "success", "Chat": name,
                      "Messages": [], "Change": 0}
    entry = {"name": name, "closed": True, "owner": None, "direct": True, "members": members}
    for client in (bob, bob_away):
        listing = await settle(client, lambda f: f.get("Command") == "list")
        assert listing["Chats"][-1] == entry
    assert (await bob.choose(name))["Command"] == "choice"
    await alice.say(f"hello @{bob.user}")
    [got] = await messages(bob, 1)
    assert (got["id"], got["user"], got["text"]) == (1, alice.user, f"hello @{bob.user}")
    assert await settle(bob_away, lambda f: f.get("Command") == "activity") == {
        "Type": "chat", "Command": "activity", "Chat": name, "Id": 1, "User": alice.user,
        "Mention": True}
    # eve, on the same process as bob_away, got neither the message nor a push
    before, _ = await probe(eve)
    assert [f for f in before if f.get("Command") in ("message", "activity")] == []
    # the author's socket, in the chat, has its message
    [own] = await messages(alice, 1)
    assert own == got


async def test_a_read_pointer_reaches_the_users_sockets_on_three_processes(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    name = unique("room")
    owner = await clients(trio[0].ws, unique("o"))
    assert (await owner.create(name))["Status"] == "success"
    for text in ("one", "two", "three"):
        await owner.say(text)
    assert [m["id"] for m in await messages(owner, 3)] == [1, 2, 3]
    reader = [await clients(trio[0].ws, unique("r"))]
    for proc in trio[1:]:
        tab = await clients(proc.ws)
        assert (await tab.login(reader[0].user, PASSWORD))["Status"] == "success"
        reader.append(tab)
    assert (await reader[1].choose(name))["Command"] == "choice"  # a member now
    await reader[1].send({"Type": "chat", "Command": "read", "Chat": name, "Id": 2})
    for client in reader:
        assert await settle(client, lambda f: f.get("Command") == "read") == {
            "Type": "chat", "Command": "read", "Chat": name, "Id": 2}
    # only forward: a lower id from the third process leaves 2, told to all three again
    await reader[2].send({"Type": "chat", "Command": "read", "Chat": name, "Id": 1})
    for client in reader:
        assert await settle(client, lambda f: f.get("Command") == "read") == {
            "Type": "chat", "Command": "read", "Chat": name, "Id": 2}
    _, unread = await probe(reader[0])
    assert unread["Chats"][name] == {"last": 3, "read": 2, "unread": 1, "mentions": 0}
    # the owner's own pointer is untouched
    _, mine = await probe(owner)
    assert mine["Chats"][name]["read"] == 0


async def test_typing_reaches_the_others_on_three_processes_never_the_typist(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    name = unique("room")
    alice = await clients(trio[0].ws, unique("a"))
    assert (await alice.create(name))["Status"] == "success"
    dave = await clients(trio[0].ws, unique("d"))  # someone else on the typist's process
    bob = await clients(trio[1].ws, unique("b"))
    carol = await clients(trio[2].ws, unique("c"))
    alice_there = await clients(trio[2].ws)  # the typist's socket on carol's process
    assert (await alice_there.login(alice.user, PASSWORD))["Status"] == "success"
    for client in (dave, bob, carol, alice_there):
        assert (await client.choose(name))["Command"] == "choice"
    elsewhere = await clients(trio[2].ws, unique("e"))  # in another chat, on carol's
    assert (await elsewhere.choose("general"))["Command"] == "choice"
    await alice.send({"Type": "chat", "Command": "typing"})
    typing = {"Type": "chat", "Command": "typing", "Chat": name, "User": alice.user}
    for client in (dave, bob, carol):
        assert await settle(client, lambda f: f.get("Command") == "typing") == typing
    # dave and carol have it: the hubs of their processes have delivered it to every
    # socket there it was for
    for client in (alice, alice_there, elsewhere):
        before, _ = await probe(client)
        assert "typing" not in kinds(before)
    await carol.send({"Type": "chat", "Command": "typing"})
    for client in (alice, alice_there, bob):
        assert await settle(client, lambda f: f.get("Command") == "typing") == {
            "Type": "chat", "Command": "typing", "Chat": name, "User": carol.user}
