"""Moderation across three ``parley serve`` processes on PostgreSQL + Redis: a ban sent on
one process takes the chat from the user's socket on another, a mute sent on one holds
for a message sent on a third (an unmute from the second lifts it there), and the
moderator role's push reaches the target's socket on another process.

Whether a process has learnt of a mute is proved without waiting: the process that
handled ``mute`` published the mute event before anything it publishes later, on one
Redis channel, so once a socket on the third process got a message published after it,
that process has the mute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from conftest import PASSWORD, Postgres, ServerProcess, cluster, unique
from parley.client import Client, Frame
from test_scale_out import clients, messages, settle
from test_scale_out_members import probe

__all__ = ["clients"]  # the fixture, shared with test_scale_out

ANON = "error in chat or user"


@pytest.fixture(scope="module")
def trio(
    tmp_path_factory: pytest.TempPathFactory, services: Postgres
) -> Iterator[list[ServerProcess]]:
    """Three processes sharing one PostgreSQL database and one Redis prefix."""
    yield from cluster(tmp_path_factory.mktemp("moderation"), services, "moderation", 3,
                       "--presence-ttl", "3")


def req(command: str, **fields: Any) -> Frame:
    return {"Type": "chat", "Command": command, **fields}


def done(command: str, chat: str, login: str | None) -> Frame:
    return {"Type": "chat", "Command": command, "Status": "success", "Chat": chat,
            "Login": login}


def quiet(frames: list[Frame]) -> list[Frame]:
    """The frames but presence deltas and chat lists."""
    return [f for f in frames if f.get("Command") not in ("connected", "list")]


async def ask(client: Client, frame: Frame) -> Frame:
    """Send ``frame``; its answer, skipping presence and chat list pushes and the
    chat's messages."""
    await client.send(frame)
    return await client.until(
        lambda f: f.get("Command") not in ("connected", "list") and "Message" not in f)


async def test_a_ban_on_one_process_takes_the_chat_from_the_socket_on_another(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    a, b, c = trio
    name = unique("room")
    owner = await clients(a.ws, unique("o"))
    assert (await owner.create(name))["Status"] == "success"
    bob = await clients(b.ws, unique("b"))  # bob's socket on B, in the chat
    assert (await bob.choose(name))["Command"] == "choice"
    carol = await clients(b.ws, unique("c"))  # someone else in the chat on B
    assert (await carol.choose(name))["Command"] == "choice"
    await settle(bob, lambda f: f.get("Joined") == carol.user)
    bob_c = await clients(c.ws)  # bob's socket on C, in general
    assert (await bob_c.login(bob.user, PASSWORD))["Status"] == "success"
    assert (await bob_c.choose("general"))["Command"] == "choice"

    assert await ask(owner, req("ban", Chat=name, Login=bob.user)) == done(
        "ban", name, bob.user)
    # on B: the ban frame, and no chat chosen any more
    assert await settle(bob, lambda f: f.get("Command") == "ban") == {
        "Type": "chat", "Command": "ban", "Chat": name, "Status": "banned"}
    assert await bob.request(req("message", Text="x")) == {
        "Type": "chat", "Command": "message", "Status": ANON}
    assert await settle(carol, lambda f: "Left" in f) == {
        "Type": "chat", "Command": "connected", "Chat": name, "Left": bob.user}
    # a message into the chat reaches carol on B, not bob's socket there
    await owner.say("after the ban")
    [got] = await messages(carol, 1)
    assert got["text"] == "after the ban"
    before, unread = await probe(bob)
    assert before == []
    assert name not in unread["Chats"]
    # on C the socket in general was told nothing, and may not come in
    before, _ = await probe(bob_c)
    assert quiet(before) == []
    assert await bob_c.request(req("choice", Chat=name)) == {
        "Type": "chat", "Status": "access denied"}
    assert await a.rows(
        "SELECT s.kind, s.until_ms FROM sanctions s JOIN users u ON u.id = s.user_id "
        "WHERE u.login = :login", login=bob.user) == [("ban", None)]
    # unbanned from A: in again on B
    assert await ask(owner, req("unban", Chat=name, Login=bob.user)) == done(
        "unban", name, bob.user)
    assert (await bob.choose(name))["Command"] == "choice"


async def test_a_mute_on_one_process_holds_for_a_message_on_a_third(
    trio: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    a, b, c = trio
    name = unique("room")
    owner = await clients(a.ws, unique("o"))
    assert (await owner.create(name))["Status"] == "success"
    moderator = await clients(b.ws, unique("m"))
    assert (await moderator.choose(name))["Command"] == "choice"
    bob = await clients(c.ws, unique("b"))  # the user to mute, on C
    assert (await bob.choose(name))["Command"] == "choice"

    # appointed on A, told on B
    assert await ask(owner, req("moderator", Chat=name, Login=moderator.user, Grant=True)) \
        == {"Type": "chat", "Command": "moderator", "Status": "success", "Chat": name,
            "Login": moderator.user, "Grant": True}
    assert await settle(moderator, lambda f: f.get("Command") == "moderator") == {
        "Type": "chat", "Command": "moderator", "Status": "success", "Chat": name,
        "Login": moderator.user, "Grant": True}
    assert await ask(owner, req("mute", Chat=name, Login=bob.user, Minutes=30)) == done(
        "mute", name, bob.user)
    # A's next event reaches C after the mute event
    await owner.say("you are muted")
    [got] = await messages(bob, 1)
    assert got["text"] == "you are muted"
    muted = {"Type": "chat", "Command": "message", "Status": "muted"}
    assert await ask(bob, req("message", Text="on C")) == muted
    assert await ask(bob, req("message", Text="on C", Nonce="n1")) == muted
    # and on A, from bob's socket there
    bob_a = await clients(a.ws)
    assert (await bob_a.login(bob.user, PASSWORD))["Status"] == "success"
    assert (await bob_a.choose(name))["Command"] == "choice"
    assert await ask(bob_a, req("message", Text="on A")) == muted
    assert await a.texts(name) == ["you are muted"]

    # unmuted by the moderator on B: C learns it before B's next message
    assert await ask(moderator, req("unmute", Chat=name, Login=bob.user)) == done(
        "unmute", name, bob.user)
    await moderator.say("speak")
    [got] = await messages(bob, 1)
    assert got["text"] == "speak"
    await bob.say("thanks")
    [got] = await messages(bob, 1)
    assert got["text"] == "thanks"
    assert await a.texts(name) == ["you are muted", "speak", "thanks"]
