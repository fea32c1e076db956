"""Direct chats, in this process: ``direct`` and its failures, the chat list, and every
path by which a non-member might reach one (none does). Exact JSON, as in
docs/protocol.md."""

from __future__ import annotations

import asyncio

from inprocess import Frame, Parley
from test_service import (
    DENIED,
    GENERAL,
    answer,
    chat,
    dated,
    delta,
    enter,
    info,
    live,
    msg,
    whole,
)


def entry(name: str, *members: str) -> Frame:
    return {"name": name, "closed": True, "owner": None, "direct": True,
            "members": list(members)}


def direct(*logins: str) -> Frame:
    return chat("direct", With=list(logins))


def quiet(frames: list[Frame]) -> list[Frame]:
    """The frames but presence deltas (``Joined``/``Left``, tested in test_service.py)."""
    return [f for f in frames if f.get("Command") != "connected"]


def chosen(name: str, messages: list[Frame] | None = None) -> Frame:
    return answer("chat", "direct", "success", Chat=name, Messages=messages or [], Change=0)


async def test_direct_creates_then_finds_the_chat(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("Bob")
    bob_deltas = await parley.user("bob2", list_changes=True)
    carol = await parley.user("carol")
    for conn in (alice, bob, carol):
        await conn.request(chat("list"))
    ab = entry("@alice,Bob", "alice", "Bob")
    # alice's answer, then her new list; Bob's other socket gets his
    assert quiet(await alice.request(direct("bob"))) == [chosen("@alice,Bob"), whole(ab)]
    assert bob.take() == [whole(ab)]
    assert carol.take() == []
    assert bob_deltas.take() == []
    assert await carol.ask(chat("list")) == whole()
    # whoever asks, the same members give the same chat (no new list)
    assert quiet(await bob.request(direct("ALICE"))) == [chosen("@alice,Bob")]
    assert quiet(alice.take()) == []
    await alice.request(chat("message", Text="hi"))
    assert dated(bob.take()) == [live(1, "alice", "hi")]
    # its history, as in a choice answer
    again = await parley.user("x")
    assert dated(quiet(await alice.request(direct("Bob")))) == [chosen("@alice,Bob", [
        msg(1, "alice", "hi")])]
    assert again.take() == []
    # deltas for a member that takes them
    ab2 = entry("@alice,bob2", "alice", "bob2")
    assert quiet(await alice.request(direct("bob2"))) == [chosen("@alice,bob2"), whole(ab, ab2)]
    assert bob_deltas.take() == [delta([ab2])]
    assert await bob_deltas.ask(chat("list")) == whole(ab2)
    # a public chat created after: each list keeps its direct chats, at the end
    await carol.request(chat("create", Chat="pub"))
    await parley.settle()
    assert quiet(alice.take()) == [whole(info("pub", "carol"), ab, ab2)]
    assert quiet(bob.take()) == [whole(info("pub", "carol"), ab)]
    assert bob_deltas.take() == [delta([info("pub", "carol")])]


async def test_direct_of_ten(parley: Parley) -> None:
    people = [await parley.user(f"p{i}") for i in range(10)]
    names = [f"p{i}" for i in range(10)]
    name = "@" + ",".join(names)
    [answer_, listing] = quiet(await people[3].request(direct(*[n for n in names if n != "p3"])))
    assert answer_ == chosen(name)
    assert listing == whole(entry(name, *names))
    assert people[9].take() == [whole(entry(name, *names))]
    assert await people[9].ask(chat("list")) == whole(entry(name, *names))


async def test_direct_failures(parley: Parley) -> None:
    alice = await parley.user("alice")
    await parley.user("bob")
    error = "error"
    for frame, expected in (
        (chat("direct"), answer("chat", "direct", error,
                                Detail="With must name 1 to 9 other users")),
        (direct(), answer("chat", "direct", error, Detail="With must name 1 to 9 other users")),
        (direct(*[f"u{i}" for i in range(10)]),
         answer("chat", "direct", error, Detail="With must name 1 to 9 other users")),
        (direct("alice"), answer("chat", "direct", error,
                                 Detail="With names the other members, not yourself")),
        (direct("bob", "Alice"), answer("chat", "direct", error,
                                        Detail="With names the other members, not yourself")),
        (direct("bob", "BOB"), answer("chat", "direct", error, Detail="'BOB' is named twice")),
        (direct("nobody"), answer("chat", "direct", "not found", Detail="No user 'nobody'")),
        (direct("bob", "ghost"), answer("chat", "direct", "not found",
                                        Detail="No user 'ghost'")),
        (direct("a/b"), answer("chat", "direct", "not found", Detail="No user 'a/b'")),
    ):
        assert await alice.ask(frame) == expected, frame
    assert await alice.ask({"Type": "chat", "Command": "direct", "With": "bob"}) == {
        "Type": "error", "Status": "error in json file",
        "Detail": "Expected `array | null`, got `str` - at `$.With`"}
    anonymous = parley.connect()
    assert await anonymous.ask(direct("bob")) == answer(
        "chat", "direct", "error in chat or user")
    assert await alice.ask(chat("list")) == whole()


async def test_no_other_chat_name_starts_with_at(parley: Parley) -> None:
    alice = await parley.user("alice")
    assert await alice.ask(chat("create", Chat="@alice,bob")) == answer(
        "chat", "create", "error", Detail="Chat names starting with '@' are direct chats'")


async def test_direct_chat_cannot_be_left_or_deleted(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(direct("bob"))
    bob.take()
    assert await alice.ask(chat("leave", Chat="@alice,bob")) == answer(
        "chat", "leave", "not allowed")
    for frame in (chat("delete"), chat("delete", Chat="@alice,bob")):
        assert await alice.ask(frame) == answer("chat", "delete", "error")
    assert await alice.ask(chat("connected")) == chat(
        "connected", Chat="@alice,bob", Online=["alice"])


async def test_concurrent_directs_make_one_chat(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await asyncio.gather(alice.send_raw(direct("bob")), bob.send_raw(direct("alice")))
    await parley.settle()
    assert chosen("@alice,bob") in alice.take()
    assert chosen("@alice,bob") in bob.take()
    assert await alice.ask(chat("list")) == whole(entry("@alice,bob", "alice", "bob"))


async def test_a_non_member_reaches_nothing(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    eve = await parley.user("eve")
    eve_deltas = await parley.user("eve2", list_changes=True)
    await eve.request(chat("list"))
    # the list and its deltas
    await alice.request(direct("bob"))
    await parley.settle()
    assert bob.take() == [whole(entry("@alice,bob", "alice", "bob"))]
    assert eve.take() == []
    assert eve_deltas.take() == []
    assert await eve.ask(chat("list")) == whole()
    # choice, with a password, with After: denied; nothing chosen after
    for frame in (chat("choice", Chat="@alice,bob"),
                  chat("choice", Chat="@alice,bob", Password="anything at all"),
                  chat("choice", Chat="@alice,bob", After=0)):
        assert await eve.ask(frame) == DENIED, frame
    # with no chat chosen, earlier, connected, message and typing have nowhere to go
    refused = "error in chat or user"
    for command, fields in (("earlier", {}), ("connected", {}), ("message", {"Text": "x"}),
                            ("typing", {})):
        assert await eve.ask(chat(command, **fields)) == answer("chat", command, refused)
    # from another chat: nothing of the direct chat's
    await bob.request(chat("choice", Chat="@alice,bob"))
    await enter(eve, "general")
    eve.take()
    await alice.request(chat("message", Text="secret"))
    await alice.request(chat("typing"))
    assert await eve.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["eve"])
    assert dated(quiet(bob.take())) == [live(1, "alice", "secret"),
                                 chat("typing", Chat="@alice,bob", User="alice")]
    assert await eve.ask(chat("earlier")) == chat("earlier", Chat="general", Messages=[])
    # not by leaving, nor by deleting, nor by a direct request with others
    assert await eve.ask(chat("leave", Chat="@alice,bob")) == answer(
        "chat", "leave", "not allowed")
    assert await eve.ask(chat("delete", Chat="@alice,bob")) == answer("chat", "delete", "error")
    [found, _listing] = quiet(await eve.request(direct("alice", "bob")))
    assert found == chosen("@alice,bob,eve")  # another chat, of three
    assert eve.take() == []
    assert eve_deltas.take() == []
    assert not any(f.get("Chats") == [GENERAL, entry("@alice,bob", "alice", "bob")]
                   for f in eve.frames)
