"""Moderation in this process: who may do what (:mod:`parley.rights`), the store's rows
on SQLite and PostgreSQL, and the map of sanctions (:class:`parley.sanctions.Sanctions`):
a mute ends by the clock, moved here by hand, a reading of the database never undoes an
event delivered while it was under way, and a banned user's socket that kept the chat
(its ban's ``leave`` event lost) is stopped at its next message."""

from __future__ import annotations

import asyncio

import pytest

from inprocess import Parley, chat
from parley.broker import Event
from parley.rights import Roles, may_appoint, may_be_sanctioned, may_moderate, may_remove
from parley.sanctions import SanctionRow, Sanctions
from test_service import answer

MUTED = answer("chat", "message", "muted")
ANON = "error in chat or user"


# -- rights ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("roles", "role"), [
    (Roles(1, owner=False), "member"),
    (Roles(1, owner=False, moderator=True), "moderator"),
    (Roles(1, owner=False, admin=True), "admin"),
    (Roles(1, owner=False, moderator=True, admin=True), "admin"),
    (Roles(1, owner=True, admin=True), "owner"),
    (Roles(1, owner=True, moderator=True), "owner"),
])
def test_the_highest_role_is_named(roles: Roles, role: str) -> None:
    assert roles.role == role


def test_who_may_remove_moderate_and_appoint() -> None:
    member, author = Roles(1, owner=False), 1
    assert may_remove(member, author)
    assert not may_remove(member, 2)
    for roles in (Roles(1, owner=True), Roles(1, False, moderator=True),
                  Roles(1, False, admin=True)):
        assert may_remove(roles, 2)
        assert may_moderate(roles)
    assert not may_moderate(member)
    assert may_appoint(Roles(1, owner=True))
    assert may_appoint(Roles(1, False, admin=True))
    assert not may_appoint(Roles(1, False, moderator=True))
    assert not may_appoint(member)
    assert may_be_sanctioned(member)
    assert may_be_sanctioned(Roles(1, False, moderator=True))
    assert not may_be_sanctioned(Roles(1, owner=True))
    assert not may_be_sanctioned(Roles(1, False, admin=True))


# -- the map of sanctions -------------------------------------------------------------------


def test_a_sanction_holds_until_its_end_then_is_forgotten() -> None:
    now = [1_000]
    sanctions = Sanctions(clock=lambda: now[0])
    sanctions.delivered(Event("mute", 7, b"", sender=3, until=61_000))
    sanctions.delivered(Event("mute", 7, b"", sender=4, until=None))
    sanctions.delivered(Event("ban", 7, b"", sender=5, until=61_000))
    assert sanctions.muted(7, 3)
    assert sanctions.muted(7, 4)
    assert sanctions.banned(7, 5)
    assert not sanctions.banned(7, 3)  # muted, not banned
    assert not sanctions.muted(7, 5)  # banned, not muted
    assert not sanctions.muted(8, 3)  # another chat
    assert not sanctions.muted(7, 6)  # another user
    now[0] = 60_999
    assert sanctions.muted(7, 3)
    assert sanctions.banned(7, 5)
    now[0] = 61_000
    assert not sanctions.muted(7, 3)
    assert not sanctions.banned(7, 5)
    assert len(sanctions) == 1
    now[0] = 10**15
    assert sanctions.muted(7, 4)  # until lifted
    sanctions.delivered(Event("unmute", 7, b"", sender=4))
    assert not sanctions.muted(7, 4)
    sanctions.delivered(Event("ban", 7, b"", sender=4, until=None))
    assert sanctions.banned(7, 4)
    sanctions.delivered(Event("unban", 7, b"", sender=4))
    assert not sanctions.banned(7, 4)
    assert len(sanctions) == 0


async def test_a_reading_keeps_the_events_delivered_while_it_ran() -> None:
    sanctions = Sanctions(clock=lambda: 0)
    sanctions.delivered(Event("mute", 1, b"", sender=1, until=None))

    async def read(now: int) -> list[SanctionRow]:
        # what the database held when read: user 1 muted, not yet user 2; and users 3
        # and 4, whose unmute and unban are delivered meanwhile
        rows: list[SanctionRow] = [("mute", 1, 1, None), ("mute", 1, 3, None),
                                   ("ban", 1, 4, None)]
        sanctions.delivered(Event("mute", 1, b"", sender=2, until=None))
        sanctions.delivered(Event("unmute", 1, b"", sender=3))
        sanctions.delivered(Event("unban", 1, b"", sender=4))
        await asyncio.sleep(0)
        return rows

    await sanctions.reload(read)
    assert sanctions.muted(1, 1)
    assert sanctions.muted(1, 2)
    assert not sanctions.muted(1, 3)
    assert not sanctions.banned(1, 4)

    # a later reading with nothing delivered meanwhile is the database's state
    async def empty(now: int) -> list[SanctionRow]:
        return []

    await sanctions.reload(empty)
    assert len(sanctions) == 0


# -- in the service, on SQLite and PostgreSQL ----------------------------------------------


async def test_a_mute_ends_by_the_clock(served: Parley) -> None:
    owner = await served.user("owner")
    bob = await served.user("bob")
    await owner.request(chat("create", Chat="room"))
    await bob.request(chat("choice", Chat="room"))
    owner.take()
    sanctions = served.service.ctx.sanctions
    start = sanctions.clock()
    now = [start]
    sanctions.clock = lambda: now[0]
    assert await owner.ask(chat("mute", Chat="room", Login="bob", Minutes=1)) == answer(
        "chat", "mute", "success", Chat="room", Login="bob")
    assert await bob.ask(chat("message", Text="hello")) == MUTED
    now[0] = start + 59_000
    assert await bob.ask(chat("message", Text="hello", Nonce="a")) == MUTED
    now[0] = start + 61_000  # (the mute was stored a moment after ``start``)
    [pushed] = await bob.request(chat("message", Text="a minute later"))
    assert pushed["Message"]["text"] == "a minute later"
    # the row is still there: ended, it counts as none
    store = served.service.ctx.store
    room = await store.find_chat("room")
    assert room is not None
    assert await store.sanctions(now[0]) == []
    [(kind, chat_id, user_id, until)] = await store.sanctions(start)
    assert (kind, chat_id, user_id) == ("mute", room.id, 2)
    assert until is not None
    assert start + 60_000 <= until < start + 61_000


async def test_a_socket_that_missed_its_ban_is_stopped_at_its_next_message(
    served: Parley,
) -> None:
    owner = await served.user("owner")
    bob = await served.user("bob")
    await owner.request(chat("create", Chat="room"))
    await bob.request(chat("choice", Chat="room"))
    await owner.request(chat("message", Text="one"))
    owner.take()
    bob.take()
    ctx = served.service.ctx
    # the ban's leave event never reaches this process's hub (Redis away)
    leave = ctx.hub.on_leave
    ctx.hub.on_leave = lambda peer, event: None
    try:
        assert await owner.ask(chat("ban", Chat="room", Login="bob")) == answer(
            "chat", "ban", "success", Chat="room", Login="bob")
    finally:
        ctx.hub.on_leave = leave
    assert bob.take() == []
    # its next message or change: refused as from a socket with no chat, which it is now
    assert await bob.ask(chat("react", Id=1, Emoji="👍")) == answer("chat", "react", ANON)
    assert await bob.ask(chat("message", Text="two")) == answer("chat", "message", ANON)
    room = await ctx.store.find_chat("room")
    assert room is not None
    assert [m.text for m in await ctx.store.history(room.id, limit=5)] == ["one"]
    assert owner.take() == [{"Type": "chat", "Command": "connected", "Chat": "room",
                             "Left": "bob"}]
    assert bob.take() == []


async def test_the_store_rows(served: Parley) -> None:
    store = served.service.ctx.store
    owner = await served.user("owner")
    await served.user("Bob")
    await served.user("carl")
    await owner.request(chat("create", Chat="room"))
    room = await store.find_chat("room")
    assert room is not None
    found_bob = await store.target("bob")
    found_carl = await store.target("carl")
    assert found_bob is not None
    assert found_carl is not None
    bob, carl = found_bob[0], found_carl[0]
    assert found_bob == (bob, False)
    assert await store.target("nobody") is None
    assert await store.roles(room.id, room.owner_id, bob.id) == Roles(bob.id, False)
    assert (await store.roles(room.id, room.owner_id, room.owner_id or 0)).role == "owner"
    assert await store.set_moderator(room.id, carl.id, True)
    assert await store.set_moderator(room.id, bob.id, True)
    assert await store.set_moderator(room.id, bob.id, True)
    assert await store.staff(room.id) == ("owner", ["Bob", "carl"])
    assert await store.roles(room.id, room.owner_id, bob.id) == Roles(bob.id, False, True)
    # a ban: no longer a member nor a moderator, banned until lifted
    await store.add_member(room.id, bob.id)
    assert await store.ban(room.id, bob.id, None)
    assert not await store.is_member(room.id, bob.id)
    assert await store.staff(room.id) == ("owner", ["carl"])
    assert await store.banned(room.id, bob.id, 10**15)
    assert await store.ban(room.id, bob.id, 5_000)  # replaced by one that ends
    assert await store.banned(room.id, bob.id, 4_999)
    assert not await store.banned(room.id, bob.id, 5_000)
    assert await store.sanctions(4_999) == [("ban", room.id, bob.id, 5_000)]
    await store.lift(room.id, bob.id, "ban")
    assert not await store.banned(room.id, bob.id, 0)
    # mutes: those in force at a time
    assert await store.mute(room.id, bob.id, 5_000)
    assert await store.mute(room.id, carl.id, None)
    assert sorted(await store.sanctions(4_999)) == [("mute", room.id, bob.id, 5_000),
                                                    ("mute", room.id, carl.id, None)]
    assert await store.sanctions(5_000) == [("mute", room.id, carl.id, None)]
    await store.lift(room.id, carl.id, "mute")
    assert await store.sanctions(0) == [("mute", room.id, bob.id, 5_000)]
    # the chat gone: nothing to grant or sanction in, and its rows are gone with it
    assert await store.delete_chat(room.id)
    assert await store.sanctions(0) == []
    assert not await store.set_moderator(room.id, bob.id, True)
    assert not await store.ban(room.id, bob.id, None)
    assert not await store.mute(room.id, bob.id, None)
    assert await store.staff(room.id) == (None, [])
