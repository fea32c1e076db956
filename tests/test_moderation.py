"""Moderation on a real ``parley serve``, on SQLite and PostgreSQL: ``moderator``, ``ban``,
``unban``, ``mute``, ``unmute``, ``moderators`` and ``remove`` by moderators and admins,
every answer of docs/protocol.md "Moderation" with its exact JSON, what is stored and
what is not, the end of a ban or mute, and both surviving a restart.

Server admins are made as the admin command line makes them: ``users.admin`` set in the
database, read by the server at the next request that asks.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import FAST, PASSWORD, Connect, MakeServer, ServerProcess, room, unique, user
from images_data import PNG, b64
from parley.client import Client, Frame
from parley.config import normalize_database_url

ANON = "error in chat or user"
MINUTES_RULE = "Minutes must be a whole number from 1 to 5256000"
DENIED = {"Type": "chat", "Status": "access denied"}
#: pushes a request's answer may be preceded by (presence, the chat list)
PUSHES = ("connected", "list", "activity")


def req(command: str, **fields: Any) -> Frame:
    return {"Type": "chat", "Command": command, **fields}


def status(command: str, value: str, **fields: Any) -> Frame:
    return {"Type": "chat", "Command": command, "Status": value, **fields}


def done(command: str, chat: str, login: str | None) -> Frame:
    return status(command, "success", Chat=chat, Login=login)


def granted(chat: str, login: str | None, grant: bool = True) -> Frame:
    return status("moderator", "success", Chat=chat, Login=login, Grant=grant)


def banned(chat: str) -> Frame:
    return {"Type": "chat", "Command": "ban", "Chat": chat, "Status": "banned"}


def staff(chat: str, owner: str | None, moderators: list[str], role: str) -> Frame:
    return {"Type": "chat", "Command": "moderators", "Chat": chat, "Owner": owner,
            "Moderators": moderators, "Role": role}


async def ask(client: Client, frame: Frame) -> Frame:
    """Send ``frame``; its answer, skipping presence and list pushes."""
    await client.send(frame)
    return await client.until(lambda f: f.get("Command") not in PUSHES)


async def probe(client: Client) -> list[Frame]:
    """Every frame the client got before the answer to an ``unread`` request: the hub
    pushes a socket's frames in order, so what was sent to it before is here."""
    await client.send(req("unread"))
    before: list[Frame] = []
    while True:
        frame = await client.recv()
        if frame.get("Command") == "unread" and "Chats" in frame:
            return before
        before.append(frame)


def moderation(frames: list[Frame]) -> list[Frame]:
    """The frames but presence deltas."""
    return [f for f in frames if f.get("Command") not in PUSHES]


async def sql(server: ServerProcess, statement: str, **params: Any) -> None:
    """Run a statement on the server's database and commit it."""
    engine = create_async_engine(normalize_database_url(server.db_url))
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text(statement), params)
    finally:
        await engine.dispose()


async def make_admin(server: ServerProcess, login: str | None) -> None:
    await sql(server, "UPDATE users SET admin = :yes WHERE login = :login",
              yes=True, login=login)


async def sanctions(server: ServerProcess, chat: str) -> list[tuple[Any, ...]]:
    """(login, kind, until_ms) of the chat's sanctions."""
    return sorted(await server.rows(
        "SELECT u.login, s.kind, s.until_ms FROM sanctions s JOIN users u ON u.id = s.user_id "
        "JOIN chats c ON c.id = s.chat_id WHERE c.name = :chat", chat=chat))


async def moderators_of(server: ServerProcess, chat: str) -> list[str]:
    return sorted(row[0] for row in await server.rows(
        "SELECT u.login FROM moderators m JOIN users u ON u.id = m.user_id "
        "JOIN chats c ON c.id = m.chat_id WHERE c.name = :chat", chat=chat))


async def is_member(server: ServerProcess, chat: str, login: str | None) -> bool:
    return bool(await server.rows(
        "SELECT 1 FROM members m JOIN users u ON u.id = m.user_id "
        "JOIN chats c ON c.id = m.chat_id WHERE c.name = :chat AND u.login = :login",
        chat=chat, login=login))


def now_ms() -> int:
    return int(time.time() * 1000)


# -- moderator and moderators ------------------------------------------------------------


async def test_owner_grants_and_revokes_the_moderator_role(
    server: ServerProcess, connect: Connect
) -> None:
    name, (owner, bob, carol) = await room(connect, 3)
    bob_away = await connect()  # bob's other socket, in no chat
    assert (await bob_away.login(bob.user, PASSWORD))["Status"] == "success"
    assert await ask(carol, req("moderators", Chat=name)) == staff(name, owner.user, [], "member")

    answer = await ask(owner, req("moderator", Chat=name, Login=bob.user, Grant=True))
    assert answer == granted(name, bob.user)
    # both of bob's sockets are told (their client shows its menu); carol is not
    assert moderation(await probe(bob)) == [granted(name, bob.user)]
    assert moderation(await probe(bob_away)) == [granted(name, bob.user)]
    assert moderation(await probe(carol)) == []
    assert await moderators_of(server, name) == [bob.user]
    # the login as stored, whatever its case in the request; granting twice is no change
    assert await ask(owner, req("moderator", Chat=name, Login=bob.user.upper(), Grant=True)) \
        == granted(name, bob.user)
    assert moderation(await probe(bob)) == [granted(name, bob.user)]
    assert moderation(await probe(bob_away)) == [granted(name, bob.user)]
    assert await moderators_of(server, name) == [bob.user]

    assert await ask(carol, req("moderators", Chat=name)) == staff(
        name, owner.user, [bob.user], "member")
    assert await ask(bob, req("moderators", Chat=name)) == staff(
        name, owner.user, [bob.user], "moderator")
    assert await ask(owner, req("moderators", Chat=name)) == staff(
        name, owner.user, [bob.user], "owner")
    # the list is sorted case-insensitively
    dave = await user(connect, login="A" + unique("d"))
    assert await ask(owner, req("moderator", Chat=name, Login=dave.user, Grant=True)) \
        == granted(name, dave.user)
    assert await ask(carol, req("moderators", Chat=name)) == staff(
        name, owner.user, sorted([bob.user, dave.user], key=str.casefold), "member")

    assert await ask(owner, req("moderator", Chat=name, Login=bob.user, Grant=False)) \
        == granted(name, bob.user, False)
    assert moderation(await probe(bob)) == [granted(name, bob.user, False)]
    assert moderation(await probe(bob_away)) == [granted(name, bob.user, False)]
    assert await moderators_of(server, name) == [dave.user]
    assert await ask(bob, req("moderators", Chat=name)) == staff(
        name, owner.user, [dave.user], "member")


async def test_an_admin_appoints_anywhere_and_is_admin_everywhere(
    server: ServerProcess, connect: Connect
) -> None:
    name, (owner, bob) = await room(connect, 2)
    admin = await user(connect)
    await make_admin(server, admin.user)
    # not a member, and no role in the chat but being an admin
    assert await ask(admin, req("moderators", Chat=name)) == staff(name, owner.user, [], "admin")
    assert await ask(admin, req("moderator", Chat=name, Login=bob.user, Grant=True)) \
        == granted(name, bob.user)
    assert moderation(await probe(bob)) == [granted(name, bob.user)]
    assert await moderators_of(server, name) == [bob.user]
    # general has no owner: its moderators are appointed by admins
    assert await ask(admin, req("moderators", Chat="general")) == staff(
        "general", None, [], "admin")
    assert await ask(bob, req("moderators", Chat="general")) == staff(
        "general", None, [], "member")
    # an admin who owns the chat is its owner there
    mine = unique("room")
    assert (await ask(admin, req("create", Chat=mine)))["Status"] == "success"
    assert await ask(admin, req("moderators", Chat=mine)) == staff(mine, admin.user, [], "owner")


async def test_moderator_failures_store_nothing(server: ServerProcess, connect: Connect) -> None:
    name, (owner, bob, carol) = await room(connect, 3)
    admin = await user(connect)
    await make_admin(server, admin.user)
    assert await ask(owner, req("moderator", Chat=name, Login=bob.user, Grant=True)) \
        == granted(name, bob.user)
    assert moderation(await probe(bob)) == [granted(name, bob.user)]
    anonymous = await connect()
    grant = {"Chat": name, "Login": carol.user, "Grant": True}
    assert await anonymous.request(req("moderator", **grant)) == status("moderator", ANON)
    cases: list[tuple[Client, Frame, Frame]] = [
        (owner, req("moderator", Chat=unique("nochat"), Login=carol.user, Grant=True),
         status("moderator", "not found")),
        (owner, req("moderator", Chat=name, Login=unique("nobody"), Grant=True),
         status("moderator", "not found")),
        (owner, req("moderator", Chat=name, Grant=True),
         status("moderator", "error", Detail="Login is required")),
        (owner, req("moderator", Chat=name, Login=carol.user),
         status("moderator", "error", Detail="Grant must be true or false")),
        (owner, req("moderator", Chat=name, Login=carol.user, Grant="yes"),
         status("moderator", "error", Detail="Grant must be true or false")),
        (owner, req("moderator", Login=carol.user, Grant=True),
         status("moderator", "error", Detail="Chat name is required")),
        # a moderator does not appoint; nor does a member
        (bob, req("moderator", **grant), status("moderator", "not allowed")),
        (carol, req("moderator", Chat=name, Login=carol.user, Grant=True),
         status("moderator", "not allowed")),
        # no one appoints the owner or an admin
        (admin, req("moderator", Chat=name, Login=owner.user, Grant=True),
         status("moderator", "not allowed")),
        (owner, req("moderator", Chat=name, Login=admin.user, Grant=True),
         status("moderator", "not allowed")),
    ]
    for client, frame, expected in cases:
        assert await ask(client, frame) == expected, frame
    assert await moderators_of(server, name) == [bob.user]
    # a direct chat has no moderators
    direct = await ask(owner, req("direct", With=[carol.user]))
    assert direct["Status"] == "success"
    for client in (owner, admin):
        assert await ask(client, req("moderator", Chat=direct["Chat"], Login=carol.user,
                                     Grant=True)) == status("moderator", "not allowed")
    assert await moderators_of(server, direct["Chat"]) == []


async def test_moderators_of_a_closed_or_direct_chat_answer_its_members(
    server: ServerProcess, connect: Connect
) -> None:
    name, (owner, bob) = await room(connect, 2, password="a good password")
    outsider = await user(connect)
    assert await ask(outsider, req("moderators", Chat=name)) == status(
        "moderators", "access denied")
    assert await ask(bob, req("moderators", Chat=name)) == staff(name, owner.user, [], "member")
    # a moderator who is not a member sees it too, as does an admin
    assert await ask(owner, req("moderator", Chat=name, Login=outsider.user, Grant=True)) \
        == granted(name, outsider.user)
    assert moderation(await probe(outsider)) == [granted(name, outsider.user)]
    assert await ask(outsider, req("moderators", Chat=name)) == staff(
        name, owner.user, [outsider.user], "moderator")
    admin = await user(connect)
    await make_admin(server, admin.user)
    assert await ask(admin, req("moderators", Chat=name)) == staff(
        name, owner.user, [outsider.user], "admin")
    # a direct chat: its members only
    direct = await ask(owner, req("direct", With=[bob.user]))
    assert await ask(bob, req("moderators", Chat=direct["Chat"])) == staff(
        direct["Chat"], None, [], "member")
    for client in (outsider, admin):
        assert await ask(client, req("moderators", Chat=direct["Chat"])) == status(
            "moderators", "access denied")
    assert await ask(bob, req("moderators", Chat=unique("nochat"))) == status(
        "moderators", "not found")
    assert await ask(bob, req("moderators")) == status(
        "moderators", "error", Detail="Chat name is required")
    anonymous = await connect()
    assert await anonymous.request(req("moderators", Chat=name)) == status("moderators", ANON)


# -- ban and unban -----------------------------------------------------------------------


async def test_a_ban_takes_the_user_out_of_the_chat_until_unbanned(
    server: ServerProcess, connect: Connect
) -> None:
    name, (owner, bob, carol) = await room(connect, 3)
    bob_away = await connect()  # bob's other socket, in general
    assert (await bob_away.login(bob.user, PASSWORD))["Status"] == "success"
    assert (await ask(bob_away, req("choice", Chat="general")))["Command"] == "choice"
    assert await ask(owner, req("moderator", Chat=name, Login=bob.user, Grant=True)) \
        == granted(name, bob.user)
    assert moderation(await probe(bob)) == [granted(name, bob.user)]
    assert moderation(await probe(bob_away)) == [granted(name, bob.user)]

    assert await ask(owner, req("ban", Chat=name, Login=bob.user)) == done("ban", name, bob.user)
    # the socket in the chat is told and has no chat; the other one gets nothing
    assert moderation(await probe(bob)) == [banned(name)]
    assert await bob.request(req("message", Text="still here?")) == status("message", ANON)
    assert moderation(await probe(bob_away)) == []
    left = await carol.until(lambda f: "Left" in f)
    assert left == {"Type": "chat", "Command": "connected", "Chat": name, "Left": bob.user}
    # stored: the ban, until unbanned; no membership; no longer a moderator
    assert await sanctions(server, name) == [(bob.user, "ban", None)]
    assert not await is_member(server, name, bob.user)
    assert await moderators_of(server, name) == []
    assert await server.texts(name) == []
    # choosing it again: refused, from any socket, as a closed chat refuses
    assert await bob.request(req("choice", Chat=name)) == DENIED
    assert await bob_away.request(req("choice", Chat=name)) == DENIED
    assert not await is_member(server, name, bob.user)
    # the others still talk
    await owner.say("without bob")
    await owner.until(lambda f: f.get("Command") == "message")
    assert (await carol.until(lambda f: f.get("Command") == "message"))["Message"]["text"] \
        == "without bob"

    assert await ask(owner, req("unban", Chat=name, Login=bob.user)) == done(
        "unban", name, bob.user)
    assert await sanctions(server, name) == []
    chosen = await bob.request(req("choice", Chat=name))
    assert chosen["Command"] == "choice"
    assert [m["text"] for m in chosen["Messages"]] == ["without bob"]
    assert await is_member(server, name, bob.user)
    # unbanning one who is not banned is done too, and changes nothing
    assert await ask(owner, req("unban", Chat=name, Login=carol.user)) == done(
        "unban", name, carol.user)
    assert await sanctions(server, name) == []


async def test_a_ban_for_minutes_ends_by_itself(server: ServerProcess, connect: Connect) -> None:
    name, (owner, bob) = await room(connect, 2)
    before = now_ms()
    assert await ask(owner, req("ban", Chat=name, Login=bob.user, Minutes=1)) == done(
        "ban", name, bob.user)
    after = now_ms()
    [(login, kind, until)] = await sanctions(server, name)
    assert (login, kind) == (bob.user, "ban")
    assert before + 60_000 <= until <= after + 60_000
    assert moderation(await probe(bob)) == [banned(name)]
    assert await bob.request(req("choice", Chat=name)) == DENIED
    # the minute is over (no process needs to be awake when it ends)
    await sql(server, "UPDATE sanctions SET until_ms = :t", t=before - 1)
    assert (await bob.request(req("choice", Chat=name)))["Command"] == "choice"
    # a later ban replaces the earlier one: now until unbanned
    assert await ask(owner, req("ban", Chat=name, Login=bob.user, Minutes=5256000)) == done(
        "ban", name, bob.user)
    assert [row[2] >= before + 5256000 * 60_000 for row in await sanctions(server, name)] \
        == [True]
    assert await ask(owner, req("ban", Chat=name, Login=bob.user)) == done(
        "ban", name, bob.user)
    assert await sanctions(server, name) == [(bob.user, "ban", None)]


@pytest.mark.parametrize("command", ["ban", "unban", "mute", "unmute"])
async def test_sanction_failures_store_nothing(
    command: str, server: ServerProcess, connect: Connect
) -> None:
    name, (owner, moderator, bob) = await room(connect, 3)
    admin = await user(connect)
    await make_admin(server, admin.user)
    assert await ask(owner, req("moderator", Chat=name, Login=moderator.user, Grant=True)) \
        == granted(name, moderator.user)
    assert moderation(await probe(moderator)) == [granted(name, moderator.user)]
    minutes = {"Minutes": 5} if command == "mute" else {}
    anonymous = await connect()
    assert await anonymous.request(req(command, Chat=name, Login=bob.user, **minutes)) == \
        status(command, ANON)
    cases: list[tuple[Client, Frame, Frame]] = [
        (owner, req(command, Chat=unique("nochat"), Login=bob.user, **minutes),
         status(command, "not found")),
        (owner, req(command, Chat=name, Login=unique("nobody"), **minutes),
         status(command, "not found")),
        (owner, req(command, Chat=name, **minutes),
         status(command, "error", Detail="Login is required")),
        (owner, req(command, Login=bob.user, **minutes),
         status(command, "error", Detail="Chat name is required")),
        # a member has no right; no one bans the owner or an admin
        (bob, req(command, Chat=name, Login=moderator.user, **minutes),
         status(command, "not allowed")),
        (moderator, req(command, Chat=name, Login=owner.user, **minutes),
         status(command, "not allowed")),
        (admin, req(command, Chat=name, Login=owner.user, **minutes),
         status(command, "not allowed")),
        (owner, req(command, Chat=name, Login=admin.user, **minutes),
         status(command, "not allowed")),
    ]
    if command in ("ban", "mute"):
        for wrong in (0, 5256001, -1, 1.5, "5", True, [5]):
            cases.append((owner, req(command, Chat=name, Login=bob.user, Minutes=wrong),
                          status(command, "error", Detail=MINUTES_RULE)))
    if command == "mute":
        cases.append((owner, req(command, Chat=name, Login=bob.user),
                      status(command, "error", Detail=MINUTES_RULE)))
    for client, frame, expected in cases:
        assert await ask(client, frame) == expected, frame
    assert await sanctions(server, name) == []
    assert await is_member(server, name, bob.user)
    assert await moderators_of(server, name) == [moderator.user]
    # nobody is told anything
    assert moderation(await probe(bob)) == []
    # a direct chat: no one bans or mutes there, an admin neither
    direct = await ask(owner, req("direct", With=[bob.user]))
    for client in (owner, admin):
        assert await ask(client, req(command, Chat=direct["Chat"], Login=bob.user, **minutes)) \
            == status(command, "not allowed")
    assert await sanctions(server, direct["Chat"]) == []


async def test_moderators_and_admins_ban_and_mute(server: ServerProcess, connect: Connect) -> None:
    name, (owner, moderator, bob, carol) = await room(connect, 4)
    admin = await user(connect)  # not a member
    await make_admin(server, admin.user)
    assert await ask(owner, req("moderator", Chat=name, Login=moderator.user, Grant=True)) \
        == granted(name, moderator.user)
    assert moderation(await probe(moderator)) == [granted(name, moderator.user)]
    assert await ask(moderator, req("ban", Chat=name, Login=bob.user)) == done(
        "ban", name, bob.user)
    assert await ask(admin, req("mute", Chat=name, Login=carol.user, Minutes=10)) == done(
        "mute", name, carol.user)
    # a moderator may sanction another moderator; an admin, a moderator too
    other = await user(connect)
    assert await ask(owner, req("moderator", Chat=name, Login=other.user, Grant=True)) \
        == granted(name, other.user)
    assert await ask(moderator, req("mute", Chat=name, Login=other.user, Minutes=1)) == done(
        "mute", name, other.user)
    assert await ask(admin, req("ban", Chat=name, Login=moderator.user)) == done(
        "ban", name, moderator.user)
    rows = await sanctions(server, name)
    assert [(login, kind) for login, kind, _ in rows] == sorted([
        (bob.user, "ban"), (carol.user, "mute"), (other.user, "mute"),
        (moderator.user, "ban")])
    # the banned moderator lost the role, the muted one kept it; a revoked role is no right
    assert await moderators_of(server, name) == [other.user]
    assert moderation(await probe(moderator)) == [banned(name)]
    assert await ask(moderator, req("unban", Chat=name, Login=bob.user)) == status(
        "unban", "not allowed")
    assert await ask(admin, req("unban", Chat=name, Login=bob.user)) == done(
        "unban", name, bob.user)
    assert await ask(admin, req("unmute", Chat=name, Login=carol.user)) == done(
        "unmute", name, carol.user)
    assert [(login, kind) for login, kind, _ in await sanctions(server, name)] == sorted([
        (other.user, "mute"), (moderator.user, "ban")])


# -- mute and unmute ---------------------------------------------------------------------


async def test_a_muted_user_stores_nothing_in_that_chat(
    server: ServerProcess, connect: Connect
) -> None:
    name, (owner, bob, carol) = await room(connect, 3)
    before = now_ms()
    assert await ask(owner, req("mute", Chat=name, Login=bob.user, Minutes=5)) == done(
        "mute", name, bob.user)
    [(login, kind, until)] = await sanctions(server, name)
    assert (login, kind) == (bob.user, "mute")
    assert before + 300_000 <= until <= now_ms() + 300_000
    muted = status("message", "muted")
    assert await ask(bob, req("message", Text="hello")) == muted
    assert await ask(bob, req("message", Text="again", Nonce="n1")) == muted
    assert await ask(bob, req("message", Image=b64(PNG))) == muted
    assert await ask(bob, req("message", Text="and a picture", Image=b64(PNG))) == muted
    assert await server.texts(name) == []
    assert await server.images(name) == []
    # still a member, still reads the chat; the others talk
    assert await is_member(server, name, bob.user)
    await carol.say("carol speaks")
    for client in (owner, carol):
        await client.until(lambda f: f.get("Command") == "message")
    assert (await bob.until(lambda f: f.get("Command") == "message"))["Message"]["text"] \
        == "carol speaks"
    assert await server.texts(name) == ["carol speaks"]
    # elsewhere bob speaks
    assert (await ask(bob, req("choice", Chat="general")))["Command"] == "choice"
    await bob.say("in general")
    got = await bob.until(lambda f: f.get("Command") == "message")
    assert got["Message"]["text"] == "in general"

    assert await ask(owner, req("unmute", Chat=name, Login=bob.user)) == done(
        "unmute", name, bob.user)
    assert await sanctions(server, name) == []
    assert (await ask(bob, req("choice", Chat=name)))["Command"] == "choice"
    await bob.say("back")
    got = await bob.until(lambda f: f.get("Command") == "message")
    assert got["Message"]["text"] == "back"
    assert await server.texts(name) == ["carol speaks", "back"]


# -- remove by moderators and admins -------------------------------------------------------


async def test_remove_by_moderator_and_admin(server: ServerProcess, connect: Connect) -> None:
    name, (owner, bob, carol, mod) = await room(connect, 4)
    admin = await user(connect)
    for i in range(4):
        await bob.say(f"bob {i}")
    for client in (owner, bob, carol, mod):
        for _ in range(4):
            await client.until(lambda f: f.get("Command") == "message")
    inside = [owner, bob, carol, mod]

    async def removes(client: Client, id_: int, change: int) -> None:
        """``client`` removes message ``id_``: everyone in the chat gets the broadcast."""
        broadcast = {"Type": "chat", "Command": "remove", "Chat": name, "Change": change,
                     "Id": id_}
        assert await ask(client, req("remove", Id=id_)) == broadcast
        for other in inside:
            if other is not client:
                assert moderation(await probe(other)) == [broadcast]

    # a member may not remove another's message
    assert await ask(carol, req("remove", Id=1)) == status("remove", "not allowed")
    assert await ask(mod, req("remove", Id=1)) == status("remove", "not allowed")
    assert await ask(owner, req("moderator", Chat=name, Login=mod.user, Grant=True)) \
        == granted(name, mod.user)
    assert moderation(await probe(mod)) == [granted(name, mod.user)]
    # a moderator may, at once
    await removes(mod, 1, 1)
    assert await ask(carol, req("remove", Id=2)) == status("remove", "not allowed")
    # an admin may, as soon as the database says so (not a member: chooses the open chat)
    assert (await ask(admin, req("choice", Chat=name)))["Command"] == "choice"
    inside.append(admin)
    assert await ask(admin, req("remove", Id=2)) == status("remove", "not allowed")
    await make_admin(server, admin.user)
    await removes(admin, 2, 2)
    # the owner may; a revoked moderator no longer may
    await removes(owner, 3, 3)
    assert await ask(owner, req("moderator", Chat=name, Login=mod.user, Grant=False)) \
        == granted(name, mod.user, False)
    assert moderation(await probe(mod)) == [granted(name, mod.user, False)]
    assert await ask(mod, req("remove", Id=4)) == status("remove", "not allowed")
    assert await server.texts(name) == [None, None, None, "bob 3"]


# -- restarts ------------------------------------------------------------------------------


async def test_bans_and_mutes_survive_a_restart(make_server: MakeServer) -> None:
    proc = make_server(*FAST)
    clients: list[Client] = []

    async def connect(url: str | None = None) -> Client:
        client = await Client.connect(url or proc.ws)
        clients.append(client)
        return client

    try:
        name, (owner, bob, carol, dave) = await room(connect, 4)
        assert await ask(owner, req("ban", Chat=name, Login=bob.user)) == done(
            "ban", name, bob.user)
        assert await ask(owner, req("mute", Chat=name, Login=carol.user, Minutes=60)) == done(
            "mute", name, carol.user)
        assert await ask(owner, req("mute", Chat=name, Login=dave.user, Minutes=1)) == done(
            "mute", name, dave.user)
        logins = [c.user for c in (owner, bob, carol, dave)]
        for client in clients:
            await client.close()
        clients.clear()
        assert proc.stop() == 0
        # dave's minute ends while no server runs
        await sql(proc, "UPDATE sanctions SET until_ms = :t WHERE kind = 'mute' AND "
                        "user_id = (SELECT id FROM users WHERE login = :login)",
                  t=now_ms() - 1, login=dave.user)
        proc.start()

        again = []
        for login in logins:
            client = await connect()
            assert (await client.login(login, PASSWORD))["Status"] == "success"
            again.append(client)
        owner, bob, carol, dave = again
        assert await bob.request(req("choice", Chat=name)) == DENIED
        assert (await carol.request(req("choice", Chat=name)))["Command"] == "choice"
        assert await ask(carol, req("message", Text="muted still")) == status("message", "muted")
        assert (await ask(dave, req("choice", Chat=name)))["Command"] == "choice"
        await dave.say("my minute is over")
        got = await dave.until(lambda f: f.get("Command") == "message")
        assert got["Message"]["text"] == "my minute is over"
        assert await proc.texts(name) == ["my minute is over"]
    finally:
        for client in clients:
            await client.close()
