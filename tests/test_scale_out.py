"""Several processes as one server: PostgreSQL for storage, Redis for fan-out and presence.

These tests need the real PostgreSQL and Redis (PARLEY_TEST_DATABASE_URL,
PARLEY_TEST_REDIS_URL); outages are made with a TCP proxy between the servers
and the service, cut and restored by the test.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from conftest import (
    FAST,
    PASSWORD,
    REDIS_URL,
    Postgres,
    ServerProcess,
    unique,
)
from images_data import PNG, b64, md5
from parley.client import Client, Frame
from parley.hub import PRESENCE_WINDOW
from proxy import Proxy

_prefixes = itertools.count(1)


Spawn = Callable[..., ServerProcess]


@pytest.fixture
def spawn(tmp_path: Path, services: Postgres) -> Iterator[Spawn]:
    """``spawn(db_url, redis_url, prefix)``: a server process of a cluster."""
    made: list[ServerProcess] = []

    def _spawn(db_url: str, redis_url: str, prefix: str, *extra: str) -> ServerProcess:
        proc = ServerProcess(
            tmp_path / f"node{len(made)}", "--database-url", db_url, "--redis-url", redis_url,
            "--redis-prefix", prefix, "--presence-ttl", "3", *FAST, *extra)
        made.append(proc)
        return proc.start()

    yield _spawn
    for proc in made:
        if proc.alive():
            proc.stop()


@pytest.fixture
def cluster_config(services: Postgres) -> tuple[str, str]:
    return services.new_database(), f"t{os.getpid()}x{next(_prefixes)}"


@pytest.fixture
def cluster(spawn: Spawn, cluster_config: tuple[str, str]) -> list[ServerProcess]:
    db_url, prefix = cluster_config
    return [spawn(db_url, REDIS_URL, prefix) for _ in range(3)]


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    opened: list[Client] = []

    async def _open(url: str, login: str | None = None, *, register: bool = True) -> Client:
        client = await Client.connect(url)
        opened.append(client)
        if login is not None:
            answer = await (client.register(login, PASSWORD) if register
                            else client.login(login, PASSWORD))
            assert answer["Status"] == "success", answer
        return client

    yield _open
    for client in opened:
        await client.close()


async def messages(client: Client, count: int, timeout: float = 15.0) -> list[Frame]:
    """The next ``count`` message objects this client receives, skipping pushes."""
    got: list[Frame] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            frame = await client.recv(timeout)
            if frame.get("Command") == "message" and "Message" in frame:
                got.append(frame["Message"])
    return got


async def settle(client: Client, predicate: Callable[[Frame], bool], timeout: float = 15.0,
                 ) -> Frame:
    return await client.until(predicate, timeout)


async def in_room(clients: Callable[..., Any], servers: list[ServerProcess], per_server: int,
                  ) -> tuple[str, list[Client]]:
    """A room, ``per_server`` users on each server, all in it."""
    name = unique("room")
    people: list[Client] = []
    for i, proc in enumerate(servers):
        for _ in range(per_server):
            client = await clients(proc.ws, unique("p"))
            if not people and i == 0:
                assert (await client.create(name))["Status"] == "success"
            else:
                assert (await client.choose(name))["Command"] == "choice"
            people.append(client)
    # Presence deltas are paced: once everyone has the last Joined, none is still held.
    last = people[-1].user
    for client in people:
        await settle(client, lambda f: f.get("Joined") == last)
    return name, people


async def test_every_message_once_in_id_order_on_every_process(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    _, people = await in_room(clients, cluster, 2)
    senders = people[::2]
    per_sender = 15
    await asyncio.gather(*(
        s.say(f"{s.user}-{k}") for s in senders for k in range(per_sender)))
    total = per_sender * len(senders)
    seen = await asyncio.gather(*(messages(c, total) for c in people))
    for got in seen:
        assert [m["id"] for m in got] == list(range(1, total + 1))
        assert got == seen[0]
    for s in senders:  # each sender's own messages in the order it sent them
        assert [m["text"] for m in seen[0] if m["user"] == s.user] == [
            f"{s.user}-{k}" for k in range(per_sender)]
    for c in people:
        assert await c.silent(0.5)


async def test_presence_and_lists_agree_across_processes(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    name, people = await in_room(clients, cluster, 1)
    everyone = sorted(c.user for c in people)
    for c in people:
        await c.send({"Type": "chat", "Command": "connected"})
        answer = await settle(c, lambda f: "Online" in f)
        assert answer == {"Type": "chat", "Command": "connected", "Chat": name,
                          "Online": everyone}
        await c.send({"Type": "chat", "Command": "list"})
        listing = await settle(c, lambda f: f.get("Command") == "list" and "Chats" in f
                               and name in [x["name"] for x in f["Chats"]])
        assert [x["name"] for x in listing["Chats"]][-1] == name
    # a new chat made on one process reaches the lists on the others, and its maker
    # (who left `name` for it) is seen to go, in whichever order the two pushes come
    other = unique("room")
    await people[1].send({"Type": "chat", "Command": "create", "Chat": other})
    # (a Joined pushed from another process may still be on its way before the answer)
    created = await settle(people[1], lambda f: f.get("Command") == "create")
    assert created == {"Type": "chat", "Command": "create", "Status": "success", "Chat": other}
    for c in (people[0], people[2]):
        pushed: dict[str, Frame] = {}
        async with asyncio.timeout(15):
            while len(pushed) < 2:
                frame = await c.recv()
                if frame.get("Command") == "list" and other in [x["name"] for x in frame["Chats"]]:
                    pushed["list"] = frame
                elif frame.get("Left") is not None:
                    pushed["left"] = frame
        assert pushed["list"]["Chats"][-1] == {
            "name": other, "closed": False, "owner": people[1].user}
        assert pushed["left"] == {"Type": "chat", "Command": "connected", "Chat": name,
                                  "Left": people[1].user}


async def test_an_image_sent_through_one_is_served_by_all(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    _, people = await in_room(clients, cluster, 1)
    await people[0].say("pic", image=b64(PNG))
    [message] = await messages(people[2], 1)
    assert message["image"].endswith(f"/{md5(PNG)}.png")
    async with aiohttp.ClientSession() as http:
        for proc in cluster:
            async with http.get(proc.http + message["image"]) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "image/png"
                assert await response.read() == PNG


async def test_the_nonce_reaches_the_senders_sockets_on_every_process_only(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    pair = [spawn(db_url, REDIS_URL, prefix) for _ in range(2)]
    name, (alice, bob) = await in_room(clients, pair, 1)  # alice on the first, bob on the second
    alice_there = await clients(pair[1].ws, alice.user, register=False)
    assert (await alice_there.choose(name))["Command"] == "choice"
    await alice.say("hi", nonce="n-123")
    got = [await settle(c, lambda f: "Message" in f) for c in (alice, alice_there, bob)]
    body = {k: got[2]["Message"][k] for k in ("id", "date")}
    plain = {"Type": "chat", "Command": "message",
             "Message": {**body, "user": alice.user, "text": "hi"}}
    own = {"Type": "chat", "Command": "message",
           "Message": {**body, "user": alice.user, "text": "hi", "nonce": "n-123"}}
    assert got == [own, own, plain]


async def _drained(client: Client, wait: float = 2 * PRESENCE_WINDOW + 0.3) -> None:
    """Read what the client was sent until nothing comes for ``wait`` seconds."""
    async with asyncio.timeout(15):
        while True:
            try:
                await client.recv(wait)
            except TimeoutError:
                return


async def test_typing_reaches_the_others_on_every_process_never_the_typist(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    pair = [spawn(db_url, REDIS_URL, prefix) for _ in range(2)]
    name, (alice, bob) = await in_room(clients, pair, 1)  # alice on the first, bob on the second
    alice_there = await clients(pair[1].ws, alice.user, register=False)
    assert (await alice_there.choose(name))["Command"] == "choice"
    elsewhere = await clients(pair[1].ws, unique("p"))  # in another chat, on bob's process
    assert (await elsewhere.create(unique("room")))["Status"] == "success"
    for c in (alice, alice_there, bob, elsewhere):  # (presence and list pushes so far)
        await _drained(c)
    await alice.send({"Type": "chat", "Command": "typing"})
    assert await bob.recv() == {"Type": "chat", "Command": "typing", "Chat": name,
                                "User": alice.user}
    # the typist's sockets, here and there, and other chats get none
    for c in (alice, alice_there, bob, elsewhere):
        assert await c.silent(0.5)
    await bob.send({"Type": "chat", "Command": "typing"})
    for c in (alice, alice_there):
        assert await c.recv() == {"Type": "chat", "Command": "typing", "Chat": name,
                                  "User": bob.user}
    for c in (alice, alice_there, bob, elsewhere):
        assert await c.silent(0.5)


async def test_sigkill_one_process_and_the_rest_carry_on(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    name, people = await in_room(clients, cluster, 1)
    a, b, c = people
    await a.say("before")
    last = (await messages(c, 1))[0]["id"]
    await messages(a, 1)
    await messages(b, 1)
    cluster[2].kill()
    # the dead process's user is taken offline by the survivors
    for survivor in (a, b):
        gone = await settle(survivor, lambda f: f.get("Left") is not None)
        assert gone == {"Type": "chat", "Command": "connected", "Chat": name, "Left": c.user}
    for k in range(5):
        await a.say(f"while c was away {k}")
    for survivor in (a, b):
        assert [m["text"] for m in await messages(survivor, 5)] == [
            f"while c was away {k}" for k in range(5)]
    # c reconnects to another process and fills the gap with After
    back = await clients(cluster[0].ws)
    assert (await back.login(token=c.token))["Status"] == "success"
    resumed = await back.choose(name, after=last)
    assert [m["text"] for m in resumed["Messages"]] == [
        f"while c was away {k}" for k in range(5)]
    assert [m["id"] for m in resumed["Messages"]] == list(range(last + 1, last + 6))


async def test_postgresql_outage(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    url = make_url(db_url)
    proxy = await Proxy(url.host or "127.0.0.1", url.port or 5432).start()
    try:
        # started from a thread: the proxy lives on this loop and must answer meanwhile
        proc = await asyncio.to_thread(
            spawn, url.set(host="127.0.0.1", port=proxy.port).render_as_string(False),
            REDIS_URL, prefix)
        name, (a, b) = await in_room(clients, [proc], 2)
        await a.say("stored 1")
        assert [m["text"] for m in await messages(b, 1)] == ["stored 1"]
        await messages(a, 1)

        await proxy.cut()
        for k in range(3):
            answer = await a.request({"Type": "chat", "Command": "message", "Text": f"lost {k}"})
            assert answer == {"Type": "chat", "Command": "message", "Status": "error"}
        assert await b.silent(1.0)  # nothing that was not stored is broadcast
        async with aiohttp.ClientSession() as http, http.get(proc.http + "/healthz") as response:
            assert response.status == 503
        # what needs the database answers error; the chat list is served from memory
        assert await a.request({"Type": "chat", "Command": "choice", "Chat": name}) == {
            "Type": "chat", "Command": "choice", "Status": "error"}
        assert (await a.request({"Type": "chat", "Command": "list"}))["Command"] == "list"

        await proxy.restore()
        # sending works again by itself: the same socket, no reconnect
        async with asyncio.timeout(20):
            while True:
                await a.send({"Type": "chat", "Command": "message", "Text": "stored 2"})
                frame = await a.recv()
                if frame.get("Message"):
                    break
                assert frame == {"Type": "chat", "Command": "message", "Status": "error"}
                await asyncio.sleep(0.3)
        assert [m["text"] for m in await messages(b, 1)] == ["stored 2"]
        history = await b.choose(name, after=0)
        assert [m["text"] for m in history["Messages"]] == ["stored 1", "stored 2"]
    finally:
        await proxy.close()


async def test_redis_outage(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    target = make_url(REDIS_URL.replace("redis://", "postgresql://"))  # host and port only
    proxy = await Proxy(target.host or "127.0.0.1", target.port or 6379).start()
    try:
        redis_url = f"redis://127.0.0.1:{proxy.port}/0"
        one = await asyncio.to_thread(spawn, db_url, redis_url, prefix)
        two = await asyncio.to_thread(spawn, db_url, redis_url, prefix)
        name, (a, a2, b) = await _three(clients, one, two)
        await a.say("before")
        for c in (a, a2, b):
            assert [m["text"] for m in await messages(c, 1)] == ["before"]

        await proxy.cut()
        await a.say("during")
        # its own process still serves a's room: a and a2 get it at once
        assert [m["text"] for m in await messages(a, 1)] == ["during"]
        assert [m["text"] for m in await messages(a2, 1)] == ["during"]
        # b, on the other process, does not; it fills the gap from the database
        assert await b.silent(1.0)
        resumed = await b.choose(name, after=1)
        assert [m["text"] for m in resumed["Messages"]] == ["during"]

        await proxy.restore()
        # the processes find each other again by themselves
        async with asyncio.timeout(30):
            k = 0
            while True:
                k += 1
                await a.say(f"after {k}")
                await messages(a, 1)
                await messages(a2, 1)
                try:
                    got = await messages(b, 1, timeout=1.0)
                except TimeoutError:
                    continue
                assert got[0]["text"].startswith("after ")
                break
    finally:
        await proxy.close()


async def _three(clients: Callable[..., Any], one: ServerProcess, two: ServerProcess,
                 ) -> tuple[str, tuple[Client, Client, Client]]:
    name = unique("room")
    a = await clients(one.ws, unique("p"))
    assert (await a.create(name))["Status"] == "success"
    a2 = await clients(one.ws, unique("p"))
    assert (await a2.choose(name))["Command"] == "choice"
    b = await clients(two.ws, unique("p"))
    assert (await b.choose(name))["Command"] == "choice"
    return name, (a, a2, b)


async def _closed(client: Client) -> tuple[int, str]:
    msg = await client.ws.receive(timeout=15)
    assert msg.type is aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
    return msg.data, msg.extra


async def test_logouts_and_a_new_password_reach_every_process(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    one, two = spawn(db_url, REDIS_URL, prefix), spawn(db_url, REDIS_URL, prefix)
    login = unique("p")
    here = await clients(one.ws, login)
    # on the other process: a socket on the same token, and one on a token of its own
    same = await clients(two.ws)
    assert (await same.login(token=here.token))["Status"] == "success"
    own = await clients(two.ws, login, register=False)
    # a plain logout logs out the same token's socket there, and only it
    assert await here.logout() == {"Type": "account", "Command": "logout", "Status": "success"}
    assert await same.recv() == {"Type": "account", "Command": "logout", "Status": "logged out"}
    assert await same.request({"Type": "chat", "Command": "list"}) == {
        "Type": "chat", "Command": "list", "Status": "error in chat or user"}
    assert await own.silent(0.5)
    # a new password on one process closes the other sessions on the other
    assert (await same.login(login, PASSWORD))["Status"] == "success"
    answer = await here.request({"Type": "account", "Command": "login", "Login": login,
                                 "Password": PASSWORD})
    assert answer["Status"] == "success"
    await here.recv()  # the chat list
    changed = await here.request(
        {"Type": "account", "Command": "password", "Old": PASSWORD, "New": "another horse"})
    assert changed["Status"] == "success"
    assert await _closed(own) == (4001, "logged out")
    assert await _closed(same) == (4001, "logged out")
    # logout everywhere from the other process closes this one's sockets
    there = await clients(two.ws)
    assert (await there.login(token=changed["Token"]))["Status"] == "success"
    assert await there.request({"Type": "account", "Command": "logout", "Everywhere": True}) == {
        "Type": "account", "Command": "logout", "Status": "success"}
    assert await _closed(here) == (4001, "logged out")
    assert await there.login(token=changed["Token"]) == {
        "Type": "account", "Command": "login", "Status": "error"}


async def test_list_deltas_cross_processes_in_order(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    a, b = spawn(db_url, REDIS_URL, prefix), spawn(db_url, REDIS_URL, prefix)
    owner = await clients(a.ws, unique("o"))
    watcher = await clients(b.ws)
    assert (await watcher.register(unique("w"), PASSWORD, list_changes=True))["Status"] == (
        "success")
    old = await clients(b.ws, unique("p"))
    names = [unique("room") for _ in range(3)]
    for name in names:
        await owner.send({"Type": "chat", "Command": "create", "Chat": name})
        assert (await settle(owner, lambda f: f.get("Command") == "create")) == {
            "Type": "chat", "Command": "create", "Status": "success", "Chat": name}
    for name in names:
        await owner.send({"Type": "chat", "Command": "delete", "Chat": name})
        assert (await settle(owner, lambda f: f.get("Command") == "delete"))[
            "Status"] == "success"
    # the other process's delta socket: one delta per change, in the order they were made
    got = [await watcher.recv() for _ in range(6)]
    assert got == [
        {"Type": "chat", "Command": "list", "Removed": [],
         "Added": [{"name": name, "closed": False, "owner": owner.user}]} for name in names
    ] + [{"Type": "chat", "Command": "list", "Added": [], "Removed": [name]} for name in names]
    # its whole-list socket ends with the whole list as it is now, and gets no delta
    general = {"name": "general", "closed": False, "owner": None}
    frame = await settle(old, lambda f: "Added" in f or f.get("Chats") == [general])
    assert frame == {"Type": "chat", "Command": "list", "Chats": [general]}
    # nothing more for the delta socket: the next frame is the answer to a request
    assert await watcher.request({"Type": "chat", "Command": "list"}) == frame


async def test_presence_flapping_across_processes(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    """A socket on one process switching chats fast: a watcher on another process gets
    a bounded number of deltas, and the last one is the truth."""
    name, (watcher,) = await in_room(clients, cluster[1:2], 1)
    flapper = await clients(cluster[0].ws, unique("p"))
    other = unique("room")
    assert (await flapper.create(other))["Status"] == "success"
    start = time.monotonic()
    for _ in range(50):
        for chat in (name, other):
            await flapper.send({"Type": "chat", "Command": "choice", "Chat": chat})
            await settle(flapper, lambda f: f.get("Command") == "choice")
    # a newcomer on the third process after the flapping: the watcher has every delta
    # before it once it has the newcomer's Joined (and the flapper's last, a Left)
    sentinel = await clients(cluster[2].ws, unique("p"))
    assert (await sentinel.choose(name))["Command"] == "choice"
    deltas: list[Frame] = []
    came = False
    gone = {"Type": "chat", "Command": "connected", "Chat": name, "Left": flapper.user}
    async with asyncio.timeout(15):
        while not (came and deltas and deltas[-1] == gone):
            frame = await watcher.recv()
            if frame.get("Joined") == sentinel.user:
                came = True
            elif frame.get("Command") == "connected":
                deltas.append(frame)
    elapsed = time.monotonic() - start
    assert len(deltas) <= 2 + elapsed / PRESENCE_WINDOW, (len(deltas), elapsed)
    await watcher.send({"Type": "chat", "Command": "connected"})
    assert await settle(watcher, lambda f: "Online" in f) == {
        "Type": "chat", "Command": "connected", "Chat": name,
        "Online": sorted([watcher.user, sentinel.user])}


async def test_read_pointer_and_activity_cross_processes(
    spawn: Spawn, cluster_config: tuple[str, str], clients: Callable[..., Any]
) -> None:
    db_url, prefix = cluster_config
    one, two = spawn(db_url, REDIS_URL, prefix), spawn(db_url, REDIS_URL, prefix)
    alice = await clients(one.ws, unique("a"))
    bob = await clients(two.ws, unique("b"))
    name = unique("room")
    assert (await alice.create(name))["Status"] == "success"
    for chosen in (name, "general"):  # a member of the room, and elsewhere now
        await bob.send({"Type": "chat", "Command": "choice", "Chat": chosen})
        await settle(bob, lambda f, c=chosen: f.get("Command") == "choice" and f["Chat"] == c)
    bob_tab = await clients(two.ws)
    assert (await bob_tab.login(bob.user, PASSWORD))["Status"] == "success"
    await alice.send({"Type": "chat", "Command": "message", "Text": f"hi @{bob.user}"})
    want = {"Type": "chat", "Command": "activity", "Chat": name, "Id": 1, "User": alice.user,
            "Mention": True}
    assert await settle(bob, lambda f: f.get("Command") == "activity") == want
    assert await settle(bob_tab, lambda f: f.get("Command") == "activity") == want
    # the read pointer, from a socket on the other process than one of the user's
    alice_two = await clients(two.ws)
    assert (await alice_two.login(alice.user, PASSWORD))["Status"] == "success"
    bob_one = await clients(one.ws)
    assert (await bob_one.login(bob.user, PASSWORD))["Status"] == "success"
    await bob.send({"Type": "chat", "Command": "read", "Chat": name, "Id": 5})
    read = {"Type": "chat", "Command": "read", "Chat": name, "Id": 1}
    for client in (bob, bob_tab, bob_one):
        assert await settle(client, lambda f: f.get("Command") == "read") == read
    await alice.send({"Type": "chat", "Command": "unread"})
    got = await settle(alice, lambda f: f.get("Command") == "unread")
    assert got["Chats"][name] == {"last": 1, "read": 0, "unread": 0, "mentions": 0}


async def test_a_direct_chat_reaches_its_members_on_every_process_only(
    cluster: list[ServerProcess], clients: Callable[..., Any]
) -> None:
    a = await clients(cluster[0].ws, unique("a"))
    b = await clients(cluster[1].ws, unique("b"))
    b_deltas = await clients(cluster[1].ws)
    assert (await b_deltas.login(b.user, PASSWORD, list_changes=True))["Status"] == "success"
    eve = await clients(cluster[1].ws, unique("e"))
    await eve.request({"Type": "chat", "Command": "list"})
    members = sorted([a.user, b.user], key=str.casefold)
    name = "@" + ",".join(members)
    entry = {"name": name, "closed": True, "owner": None, "direct": True, "members": members}
    answer = await a.request({"Type": "chat", "Command": "direct", "With": [b.user]})
    assert answer == {"Type": "chat", "Command": "direct", "Status": "success", "Chat": name,
                      "Messages": [], "Change": 0}
    listing = await settle(b, lambda f: f.get("Command") == "list")
    assert listing["Chats"][-1] == entry
    assert await settle(b_deltas, lambda f: f.get("Command") == "list") == {
        "Type": "chat", "Command": "list", "Added": [entry], "Removed": []}
    assert (await b.choose(name))["Command"] == "choice"
    await a.say("across")
    [got] = await messages(b, 1)
    assert got["text"] == "across"
    assert await eve.silent(0.5)
