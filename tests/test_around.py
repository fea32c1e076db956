"""``choice`` with ``Around``: a chat opened at one message (a search result) with up to
50 messages before it and 50 after, in process on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from changes_kit import member, msg, post, undated
from conftest import Connect, ServerProcess, joined, room, user
from inprocess import FakeConn, Parley, chat


def page(first: int, last: int) -> list[dict[str, Any]]:
    return [msg(i, "alice", f"m{i}") for i in range(first, last + 1)]


async def posted(served: Parley, count: int) -> tuple[FakeConn, FakeConn]:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    for n in range(1, count + 1):
        await post(served, alice, f"m{n}")
    return alice, bob


async def test_around_a_message(served: Parley) -> None:
    alice, bob = await posted(served, 120)
    await alice.request(chat("edit", Id=60, Text="m60 edited"))  # change 1
    for c in served.conns:
        c.take()
    [answer] = await bob.request(chat("choice", Chat="general", Around=60))
    expected = [*page(10, 59), msg(60, "alice", "m60 edited", edited="DATE"), *page(61, 110)]
    assert undated(answer) == chat("choice", Chat="general", Messages=expected, Change=1)
    # near the start and the end: what there is on that side
    [answer] = await bob.request(chat("choice", Chat="general", Around=3))
    assert undated(answer) == chat("choice", Chat="general", Messages=page(1, 53), Change=1)
    [answer] = await bob.request(chat("choice", Chat="general", Around=118))
    assert undated(answer) == chat("choice", Chat="general", Messages=page(68, 120), Change=1)
    # an id past the newest: the nearest messages, the newest 50
    [answer] = await bob.request(chat("choice", Chat="general", Around=5000))
    assert undated(answer) == chat("choice", Chat="general", Messages=page(71, 120), Change=1)
    # Changes has no meaning without After: a plain Around
    [answer] = await bob.request(chat("choice", Chat="general", Around=118, Changes=0))
    assert undated(answer) == chat("choice", Chat="general", Messages=page(68, 120), Change=1)


async def test_earlier_and_after_go_on_from_around(served: Parley) -> None:
    alice, bob = await posted(served, 120)
    [answer] = await bob.request(chat("choice", Chat="general", Around=60))
    assert [m["id"] for m in answer["Messages"]] == list(range(10, 111))
    # live frames go on arriving: a change, and a new message (above what is shown)
    await alice.request(chat("edit", Id=60, Text="m60 edited"))
    await alice.request(chat("message", Text="m121"))
    await served.settle()
    assert undated(bob.take()) == [
        chat("edit", Chat="general", Change=1,
             Message=msg(60, "alice", "m60 edited", edited="DATE")),
        chat("message", Message=msg(121, "alice", "m121")),
    ]
    # scrolling up: the page before the oldest shown
    [earlier] = await bob.request(chat("earlier"))
    assert undated(earlier) == chat("earlier", Chat="general", Messages=page(1, 9))
    # scrolling down: choice with After, from the newest shown
    [after] = await bob.request(chat("choice", Chat="general", After=110))
    assert undated(after) == chat(
        "choice", Chat="general", Messages=[*page(111, 120), msg(121, "alice", "m121")], Change=1)


async def test_around_is_checked(served: Parley) -> None:
    alice, bob = await posted(served, 3)
    # a request that breaks the rules: an error naming the rule, nothing sent besides
    assert await bob.request(chat("choice", Chat="general", Around=0)) == [
        chat("choice", Status="error", Detail="Around must be a positive message id")]
    assert await bob.request(chat("choice", Chat="general", Around=2, After=1)) == [
        chat("choice", Status="error", Detail="Around and After cannot be used together")]
    # not an id at all: the frame is malformed, as for After
    assert await bob.request(chat("choice", Chat="general", Around=-1)) == [
        {"Type": "error", "Status": "error in json file",
         "Detail": "Expected `int` >= 0 - at `$.Around`"}]
    assert await bob.request(chat("choice", Chat="general", Around="2")) == [
        {"Type": "error", "Status": "error in json file",
         "Detail": "Expected `int | null`, got `str` - at `$.Around`"}]
    # access as for any choice: a closed chat wants its password
    await alice.request(chat("create", Chat="secret", Password="hunter22"))
    await post(served, alice, "hidden")
    [denied] = await bob.request(chat("choice", Chat="secret", Around=1))
    assert denied == {"Type": "chat", "Status": "access denied"}
    [missing] = await bob.request(chat("choice", Chat="nowhere", Around=1))
    assert missing == {"Type": "chat", "Status": "error"}


async def test_around_over_real_sockets(server: ServerProcess, connect: Connect) -> None:
    name, [owner, member] = await room(connect)
    sent = []
    for n in range(60):
        await owner.say(f"n{n}")
        sent.append((await owner.recv())["Message"])
        assert (await member.recv())["Message"] == sent[-1]
    reader = await user(connect)
    answer = await reader.request({"Type": "chat", "Command": "choice", "Chat": name,
                                   "Around": sent[55]["id"]})
    assert answer == {"Type": "chat", "Command": "choice", "Chat": name,
                      "Messages": sent[5:], "Change": 0}
    assert await reader.recv() == joined(name, reader.user)
    # scrolling up from there: the five before
    assert await reader.request({"Type": "chat", "Command": "earlier"}) == {
        "Type": "chat", "Command": "earlier", "Chat": name, "Messages": sent[:5]}
