"""The chat list under churn: the create/delete limit, deltas, and the rate of whole lists."""

from __future__ import annotations

import asyncio
import time

from conftest import FAST, PASSWORD, Connect, MakeServer, joined, unique, user
from parley.client import Client, Frame

GENERAL = {"name": "general", "closed": False, "owner": None}
#: the documented pushes of whole lists: a burst of 10, then 2 a second
LIST_BURST = 10
LIST_RATE = 2.0


def whole(*chats: dict[str, object]) -> Frame:
    return {"Type": "chat", "Command": "list", "Chats": [GENERAL, *chats]}


def delta(added: list[dict[str, object]], removed: list[str]) -> Frame:
    return {"Type": "chat", "Command": "list", "Added": added, "Removed": removed}


async def delete(client: Client, name: str) -> Frame:
    return await client.request({"Type": "chat", "Command": "delete", "Chat": name})


async def test_creates_and_deletes_share_a_per_user_limit(
    make_server: MakeServer, connect: Connect
) -> None:
    # the default burst of 10; one more a minute, so the test never waits for a refill
    proc = make_server("--chat-rate", "1")
    alice = await user(connect, proc.ws)
    names = [unique("burst") for _ in range(6)]
    for name in names:  # 6 creates and 4 deletes: 10
        assert await alice.create(name) == {
            "Type": "chat", "Command": "create", "Status": "success", "Chat": name}
        assert (await alice.recv())["Command"] == "list"
        assert await alice.recv() == joined(name, alice.user)
    for name in names[:4]:
        assert await delete(alice, name) == {
            "Type": "chat", "Command": "delete", "Status": "success", "Chat": name}
        assert (await alice.recv())["Command"] == "list"
    refused = unique("burst")
    assert await alice.create(refused) == {
        "Type": "chat", "Command": "create", "Status": "rate limited"}
    assert await delete(alice, names[4]) == {
        "Type": "chat", "Command": "delete", "Status": "rate limited"}
    assert await alice.request({"Type": "chat", "Command": "delete"}) == {
        "Type": "chat", "Command": "delete", "Status": "rate limited"}
    # nothing was created or deleted, and nothing was pushed (the list answer comes next)
    kept = [{"name": n, "closed": False, "owner": alice.user} for n in names[4:]]
    assert await alice.request({"Type": "chat", "Command": "list"}) == whole(*kept)
    assert sorted(row[0] for row in await proc.rows("SELECT name FROM chats")) == sorted(
        ["general", *names[4:]])
    # the limit is per user: another one may still create
    bob = await user(connect, proc.ws)
    assert (await bob.create(refused))["Status"] == "success"


async def test_an_opted_in_socket_gets_deltas_and_the_others_whole_lists(
    make_server: MakeServer, connect: Connect
) -> None:
    proc = make_server(*FAST)
    owner = await user(connect, proc.ws, "owner")
    newcomer = await connect(proc.ws)
    assert (await newcomer.register("newcomer", PASSWORD, list_changes=True))["Status"] == (
        "success")
    tab = await connect(proc.ws)
    assert (await tab.login("owner", PASSWORD, list_changes=True))["Status"] == "success"
    assert tab.chats == [GENERAL]  # the whole list still follows the login
    old = await user(connect, proc.ws, "old")

    assert await owner.create("secret", "open sesame") == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": "secret"}
    secret = {"name": "secret", "closed": True, "owner": "owner"}
    assert await owner.recv() == whole(secret)
    assert await owner.recv() == joined("secret", "owner")
    assert await old.recv() == whole(secret)
    added = delta([secret], [])
    assert await newcomer.recv() == added
    assert await tab.recv() == added
    # on request, the whole list
    assert await newcomer.request({"Type": "chat", "Command": "list"}) == whole(secret)

    assert await delete(owner, "secret") == {
        "Type": "chat", "Command": "delete", "Status": "success", "Chat": "secret"}
    assert await owner.recv() == whole()
    assert await old.recv() == whole()
    removed = delta([], ["secret"])
    assert await newcomer.recv() == removed
    assert await tab.recv() == removed

    # a login without the key on the same socket: whole lists again
    assert (await tab.login("owner", PASSWORD))["Status"] == "success"
    assert (await owner.create("open"))["Status"] == "success"
    opened = {"name": "open", "closed": False, "owner": "owner"}
    assert await tab.recv() == whole(opened)
    assert await newcomer.recv() == delta([opened], [])


async def test_whole_lists_to_an_idle_socket_keep_the_documented_rate(
    make_server: MakeServer, connect: Connect
) -> None:
    proc = make_server(*FAST)  # no limit on creates and deletes here
    idle = await user(connect, proc.ws)
    makers = [await user(connect, proc.ws) for _ in range(4)]
    start = time.monotonic()

    async def churn(maker: Client) -> None:
        while time.monotonic() - start < 4.0:
            name = unique("churn")
            await maker.send({"Type": "chat", "Command": "create", "Chat": name})
            assert (await maker.until(lambda f: f.get("Command") == "create"))[
                "Status"] == "success"
            await maker.send({"Type": "chat", "Command": "delete", "Chat": name})
            assert (await maker.until(lambda f: f.get("Command") == "delete"))[
                "Status"] == "success"

    await asyncio.gather(*(churn(maker) for maker in makers))
    final = unique("final")
    await makers[0].send({"Type": "chat", "Command": "create", "Chat": final})
    assert (await makers[0].until(lambda f: f.get("Command") == "create"))[
        "Status"] == "success"
    lists = 0
    async with asyncio.timeout(15):
        while True:
            frame = await idle.recv()
            assert frame["Command"] == "list", frame
            assert "Chats" in frame, frame
            lists += 1
            if final in [c["name"] for c in frame["Chats"]]:
                break
    elapsed = time.monotonic() - start
    # the last list pushed holds the newest state
    assert frame == whole({"name": final, "closed": False, "owner": makers[0].user})
    assert lists > LIST_BURST  # the churn really went past the burst
    assert lists <= LIST_BURST + LIST_RATE * elapsed, (lists, elapsed)
