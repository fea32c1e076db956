"""Read pointers, unread counts, mentions and activity pushes, in this process (exact
JSON through ``Service.receive``, see ``inprocess.py``); read and unread end to end on
both backends."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Connect, unique, user
from inprocess import PASSWORD, Clock, FakeConn, Frame, Parley, chat
from parley import activity
from parley.mentions import candidates


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(activity, "clock", fake)
    return fake


def pointer(name: str, id_: int) -> Frame:
    return chat("read", Chat=name, Id=id_)


def counts(last: int, read: int, unread: int, mentions: int) -> Frame:
    return {"last": last, "read": read, "unread": unread, "mentions": mentions}


def act(name: str, id_: int, login: str, mention: bool = False) -> Frame:
    return chat("activity", Chat=name, Id=id_, User=login, Mention=mention)


async def person(parley: Parley, login: str, chat_name: str | None = "general",
                 ) -> tuple[FakeConn, str]:
    """A new user's socket, in ``chat_name``; its token. Frames taken from everyone."""
    conn = parley.connect()
    reply = await conn.ask({"Type": "account", "Command": "registration", "Login": login,
                            "Password": PASSWORD})
    assert reply["Status"] == "success", reply
    if chat_name is not None:
        await conn.request(chat("choice", Chat=chat_name))
    await quiet(parley)
    return conn, reply["Token"]


async def again(parley: Parley, token: str, chat_name: str | None = "general") -> FakeConn:
    conn = parley.connect()
    await conn.request({"Type": "account", "Command": "login", "Token": token})
    if chat_name is not None:
        await conn.request(chat("choice", Chat=chat_name))
    await quiet(parley)
    return conn


async def quiet(parley: Parley) -> None:
    await parley.settle()
    for c in parley.conns:
        c.take()


async def say(conn: FakeConn, *texts: str) -> None:
    for text in texts:
        await conn.send_raw(chat("message", Text=text))
    await conn.parley.settle()


# -- mentions ------------------------------------------------------------------------------

def test_mention_candidates() -> None:
    assert candidates("hi @alice and @Bob") == ["alice", "bob"]
    assert candidates("@ALICE @alice @Alice") == ["alice"]  # once, case-insensitively
    assert candidates("(@alice), @alice! @alice? «@alice»") == ["alice"]
    assert candidates("_@alice") == ["alice"]  # `_` is not a letter or digit
    # preceded by a letter or digit: not a mention
    assert candidates("mail@alice x9@alice я@alice") == []
    # the login is the whole run of login characters after the @
    assert candidates("@alice.") == ["alice."]
    assert candidates("@alice-bob @a_b.c") == ["alice-bob", "a_b.c"]
    assert candidates("@ @@ @. no mention") == ["."]
    assert candidates("@@alice") == ["alice"]  # (an @ is not a letter or digit)
    assert candidates("@" + "x" * 33) == []  # longer than any login
    assert candidates("Привет, @Иван и @ИВАН, @иван_2") == ["иван", "иван_2"]
    assert candidates(None) == candidates("") == candidates("no at sign") == []


async def test_mentions_are_stored_with_the_message(parley: Parley, clock: Clock) -> None:
    alice, _ = await person(parley, "alice")
    await person(parley, "Иван", None)
    await person(parley, "bob", None)
    carol, _ = await person(parley, "carol", None)
    await say(alice, "@bob @ИВАН @nobody @alice", "mail@bob", "@bob.")
    store: Any = parley.service.ctx.store
    rows = await _rows(store, "SELECT u.login, m.message_id FROM mentions m "
                       "JOIN users u ON u.id = m.user_id ORDER BY m.message_id, u.login")
    # an open chat: any user; never the author; `mail@bob` and `@bob.` are not bob's
    assert rows == [("bob", 1), ("Иван", 1)]
    # a closed chat: its members only
    await carol.request(chat("create", Chat="secret", Password="pw123456"))
    await carol.request(chat("choice", Chat="secret"))
    await quiet(parley)
    await say(carol, "@bob @alice")
    await alice.request(chat("choice", Chat="secret", Password="pw123456"))
    await quiet(parley)
    await say(carol, "@bob @alice again")
    rows = await _rows(store, "SELECT u.login, m.message_id FROM mentions m "
                       "JOIN users u ON u.id = m.user_id JOIN chats c ON c.id = m.chat_id "
                       "WHERE c.name = 'secret' ORDER BY m.message_id")
    assert rows == [("alice", 2)]


async def _rows(store: Any, sql: str) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa
    async with store.engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(sa.text(sql))]


# -- read ---------------------------------------------------------------------------------

async def test_read_moves_forward_only_to_every_socket_of_the_user(
        parley: Parley, clock: Clock) -> None:
    alice, token = await person(parley, "alice")
    alice_away = await again(parley, token, None)
    bob, _ = await person(parley, "bob")
    await say(bob, "1", "2", "3", "4", "5")
    await quiet(parley)
    assert await alice.request(chat("read", Chat="general", Id=3)) == [pointer("general", 3)]
    assert alice_away.take() == [pointer("general", 3)]
    assert bob.take() == []
    # a lower id leaves the pointer where it was (and says where)
    assert await alice_away.request(chat("read", Chat="general", Id=1)) == [
        pointer("general", 3)]
    assert alice.take() == [pointer("general", 3)]
    # beyond the newest id: to the newest id, not past it
    assert await alice.request(chat("read", Chat="general", Id=999)) == [pointer("general", 5)]
    assert alice_away.take() == [pointer("general", 5)]
    await say(bob, "6")
    await quiet(parley)
    assert await alice.request(chat("read", Chat="general", Id=2**63 - 1)) == [
        pointer("general", 6)]
    assert await alice.request(chat("read", Chat="general", Id=0)) == [pointer("general", 6)]


async def test_read_failures(parley: Parley, clock: Clock) -> None:
    anonymous = parley.connect()
    assert await anonymous.ask(chat("read", Chat="general", Id=1)) == chat(
        "read", Status="error in chat or user")
    alice, _ = await person(parley, "alice", None)
    bob, _ = await person(parley, "bob", None)
    await bob.request(chat("create", Chat="Team"))
    await quiet(parley)
    assert await alice.ask(chat("read", Chat="nope", Id=1)) == {"Type": "chat",
                                                                "Status": "error"}
    # not a member (alice never chose general either)
    assert await alice.ask(chat("read", Chat="Team", Id=1)) == chat("read",
                                                                    Status="not allowed")
    assert await alice.ask(chat("read", Chat="general", Id=1)) == chat("read",
                                                                       Status="not allowed")
    for fields, detail in (({"Id": 1}, "Chat name is required"),
                           ({"Chat": "", "Id": 1}, "Chat name is required"),
                           ({"Chat": "x" * 65, "Id": 1}, "Chat name must be at most 64 characters"),
                           ({"Chat": "Team"}, "Id is required"),
                           ({"Chat": "Team", "Id": None}, "Id is required"),
                           ({"Chat": "Team", "Id": -1}, "Id must be a message id (0 or more)")):
        assert await bob.ask(chat("read", **fields)) == chat("read", Status="error",
                                                             Detail=detail), fields
    assert await bob.ask(chat("read", Chat="Team", Id="1")) == {
        "Type": "error", "Status": "error in json file",
        "Detail": "Expected `int | null`, got `str` - at `$.Id`"}
    assert alice.take() == []


async def unread_of(conn: FakeConn) -> Frame:
    await quiet(conn.parley)
    return await conn.ask(chat("unread"))


# -- unread -------------------------------------------------------------------------------

async def test_unread_counts(parley: Parley, clock: Clock) -> None:
    alice, _ = await person(parley, "alice")
    bob, _ = await person(parley, "bob")
    carol, _ = await person(parley, "carol", None)
    await carol.request(chat("create", Chat="Team"))
    await quiet(parley)
    assert await unread_of(alice) == chat("unread", Chats={
        "general": counts(0, 0, 0, 0)})
    await say(bob, "hi @alice", "and @ALICE again", "for @carol")
    await say(alice, "mine, @alice @bob")
    await say(bob, "more")
    assert await unread_of(alice) == chat("unread", Chats={
        "general": counts(5, 0, 4, 2)})
    assert await unread_of(bob) == chat("unread", Chats={
        "general": counts(5, 0, 1, 1)})
    await alice.request(chat("read", Chat="general", Id=2))
    assert await unread_of(alice) == chat("unread", Chats={
        "general": counts(5, 2, 2, 0)})
    # carol is a member of Team only (created it); general she never chose
    assert await unread_of(carol) == chat("unread", Chats={"Team": counts(0, 0, 0, 0)})
    await alice.request(chat("choice", Chat="Team"))
    await quiet(parley)
    await say(carol, "@alice welcome")
    assert await unread_of(alice) == chat("unread", Chats={
        "general": counts(5, 2, 2, 0), "Team": counts(1, 0, 1, 1)})
    await alice.request(chat("leave", Chat="Team"))
    assert await unread_of(alice) == chat("unread", Chats={
        "general": counts(5, 2, 2, 0)})
    anonymous = parley.connect()
    assert await anonymous.ask(chat("unread")) == chat("unread", Status="error in chat or user")


# -- activity -----------------------------------------------------------------------------

async def test_activity_to_members_not_in_the_chat(parley: Parley, clock: Clock) -> None:
    alice, token = await person(parley, "alice")
    alice_away = await again(parley, token, None)
    bob, bob_token = await person(parley, "bob")
    bob_away = await again(parley, bob_token, None)
    carol, _ = await person(parley, "carol", None)  # not a member of general
    await bob.request(chat("create", Chat="Team"))  # (creating a chat enters it)
    await bob.request(chat("choice", Chat="general"))
    alice_team = await again(parley, token, "Team")
    await quiet(parley)
    await say(bob, "hello")
    # alice's sockets in general get the message, the others the activity
    assert [f["Command"] for f in alice.take()] == ["message"]
    assert alice_away.take() == [act("general", 1, "bob")]
    assert alice_team.take() == [act("general", 1, "bob")]
    # never the author's own sockets, nor a non-member
    assert bob_away.take() == []
    assert carol.take() == []
    clock.now += 1.0
    await say(alice, "hi @bob")
    assert bob_away.take() == [act("general", 2, "alice", True)]
    assert alice_away.take() == alice_team.take() == []


async def test_activity_coalesced_per_socket_per_chat(parley: Parley, clock: Clock) -> None:
    alice, _ = await person(parley, "alice")
    await alice.request(chat("create", Chat="Team"))
    await alice.request(chat("create", Chat="Other"))  # alice is in Other now
    bob, _ = await person(parley, "bob")
    carol, _ = await person(parley, "carol", "Team")
    await quiet(parley)
    pusher = parley.service.activity
    await say(bob, "1")
    assert alice.take() == [act("general", 1, "bob")]  # at once
    await say(bob, "2 @alice", "3")
    await say(carol, "in Team")
    assert alice.take() == [act("Team", 1, "carol")]  # another chat: a window of its own
    clock.now += 0.999
    pusher.flush()
    assert alice.take() == []
    clock.now += 0.001
    pusher.flush()
    # the newest id, Mention true since one of the held ones mentioned alice
    assert alice.take() == [act("general", 3, "bob", True)]
    await say(bob, "4")
    assert alice.take() == []  # a new window opened at the flush
    clock.now += 1.0
    pusher.flush()
    assert alice.take() == [act("general", 4, "bob")]
    clock.now += 1.0
    pusher.flush()  # nothing held: the window closes
    await say(bob, "5")
    assert alice.take() == [act("general", 5, "bob")]
    # choosing the chat meanwhile drops what was held
    await say(bob, "6")
    await alice.request(chat("choice", Chat="general"))
    await quiet(parley)
    clock.now += 1.0
    pusher.flush()
    assert alice.take() == []


async def test_activity_window_is_per_chat(parley: Parley, clock: Clock) -> None:
    """One window per chat: what a socket newly away receives waits for the window's end;
    an author's own sockets get the newest held message by someone else, or nothing."""
    alice, alice_token = await person(parley, "alice")
    bob, bob_token = await person(parley, "bob")
    alice_away = await again(parley, alice_token, None)
    bob_away = await again(parley, bob_token, None)
    await quiet(parley)
    pusher = parley.service.activity
    await say(bob, "1")  # opens general's window
    assert alice_away.take() == [act("general", 1, "bob")]
    await say(alice, "2")
    await say(bob, "3")
    await alice.request(chat("create", Chat="Other"))  # now away too (creating enters it)
    await quiet(parley)
    clock.now += 1.0
    pusher.flush()
    # the newest (bob's 3) to alice's sockets; bob's own: the newest by someone else
    assert alice_away.take() == alice.take() == [act("general", 3, "bob")]
    assert bob_away.take() == [act("general", 2, "alice")]
    await say(bob, "4 by bob only", "5 @alice")
    clock.now += 1.0
    pusher.flush()
    assert alice_away.take() == alice.take() == [act("general", 5, "bob", True)]
    assert bob_away.take() == []  # only bob's own were held


async def test_a_member_who_left_within_the_window_gets_nothing_held(
        parley: Parley, clock: Clock) -> None:
    bob, _ = await person(parley, "bob", None)
    await bob.request(chat("create", Chat="Team"))
    alice, alice_token = await person(parley, "alice", "Team")
    carol, _ = await person(parley, "carol", "Team")
    alice_away = await again(parley, alice_token, None)
    await carol.request(chat("choice", Chat="general"))
    await quiet(parley)
    pusher = parley.service.activity
    await say(bob, "first")
    assert alice_away.take() == carol.take() == [act("Team", 1, "bob")]
    await say(bob, "second")
    await alice.request(chat("leave", Chat="Team"))
    await quiet(parley)
    await say(bob, "after alice left")
    clock.now += 1.0
    pusher.flush()  # the members are read again before the held push goes out
    await parley.settle()
    assert alice_away.take() == alice.take() == []
    assert carol.take() == [act("Team", 3, "bob")]


async def test_activity_follows_joins_and_leaves(parley: Parley, clock: Clock) -> None:
    alice, token = await person(parley, "alice")
    away = await again(parley, token, None)
    bob, _ = await person(parley, "bob", None)
    await bob.request(chat("create", Chat="Team"))
    await quiet(parley)
    await say(bob, "before alice")
    assert away.take() == []
    await alice.request(chat("choice", Chat="Team"))  # a member now
    await quiet(parley)
    await say(bob, "after")
    assert away.take() == [act("Team", 2, "bob")]
    clock.now += 5
    parley.service.activity.flush()
    await alice.request(chat("leave", Chat="Team"))
    await quiet(parley)
    await say(bob, "gone")
    assert away.take() == []


# -- end to end, both backends --------------------------------------------------------------

async def test_read_and_unread_end_to_end(connect: Connect) -> None:
    owner = await user(connect)
    name = unique("room")
    assert (await owner.create(name))["Status"] == "success"
    guest = await user(connect)
    assert (await guest.choose(name))["Command"] == "choice"
    tab = await connect()
    assert (await tab.login(guest.user, PASSWORD))["Status"] == "success"
    for text in ("one", f"two @{guest.user.upper()}", "three"):
        await owner.send({"Type": "chat", "Command": "message", "Text": text})
    await guest.until(lambda f: f.get("Message", {}).get("text") == "three")

    def mine(f: Frame) -> bool:
        return f.get("Command") == "unread"

    await guest.send(chat("unread"))
    got = await guest.until(mine)
    assert got["Chats"][name] == counts(3, 0, 3, 1)
    await guest.send(chat("read", Chat=name, Id=2))
    assert await guest.until(lambda f: f.get("Command") == "read") == pointer(name, 2)
    assert await tab.until(lambda f: f.get("Command") == "read") == pointer(name, 2)
    await guest.send(chat("read", Chat=name, Id=1))
    assert await guest.until(lambda f: f.get("Command") == "read") == pointer(name, 2)
    await guest.send(chat("unread"))
    assert (await guest.until(mine))["Chats"][name] == counts(3, 2, 1, 0)
    await guest.send(chat("read", Chat=name, Id=10**6))
    assert await guest.until(lambda f: f.get("Command") == "read") == pointer(name, 3)
    stranger = await user(connect)
    await stranger.send(chat("read", Chat=name, Id=1))
    assert await stranger.until(lambda f: f.get("Type") == "chat") == chat(
        "read", Status="not allowed")
