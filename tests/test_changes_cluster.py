"""Edits, removals and reactions end to end: real ``parley serve`` processes over real
WebSockets. One server on SQLite and on PostgreSQL (every kind of change, and a resume
after a disconnect); three processes on PostgreSQL and Redis (change frames reach each
socket in change order exactly once, interleaved with messages, and a socket that was
away misses nothing when it resumes with ``After`` and ``Changes``)."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from changes_kit import msg, undated
from conftest import (
    FAST,
    PASSWORD,
    REDIS_URL,
    Connect,
    MakeServer,
    Postgres,
    ServerProcess,
    room,
    unique,
)
from images_data import PNG, b64, md5
from parley.client import Client, Frame

CHANGED = ("edit", "remove", "react")


def chat(command: str, **fields: Any) -> Frame:
    return {"Type": "chat", "Command": command, **fields}


async def test_every_change_end_to_end(connect: Connect) -> None:
    name, (alice, bob) = await room(connect, 2)
    await alice.say("first")
    for c in (alice, bob):
        assert (await c.recv())["Message"]["id"] == 1
    await bob.send(chat("message", Text="re", Reply=1))
    expected = chat("message", Message=msg(2, bob.user, "re",
                                           reply={"id": 1, "user": alice.user, "text": "first"}))
    for c in (alice, bob):
        assert undated(await c.recv()) == expected
    steps = [
        (alice, chat("edit", Id=1, Text="First!"),
         chat("edit", Chat=name, Change=1, Message=msg(1, alice.user, "First!", edited="DATE"))),
        (bob, chat("react", Id=1, Emoji="👍"),
         chat("react", Chat=name, Change=2, Id=1, Reactions={"👍": [bob.user]})),
        # bob's message, removed by the chat's owner
        (alice, chat("remove", Id=2), chat("remove", Chat=name, Change=3, Id=2)),
    ]
    for sender, request, frame in steps:
        await sender.send(request)
        for c in (alice, bob):
            assert undated(await c.recv()) == frame
    assert await bob.request(chat("edit", Id=1, Text="mine now")) == chat(
        "edit", Status="not allowed")
    # bob goes away; changes and a message meanwhile; he resumes on a new socket
    token = bob.token
    await bob.close()
    await alice.send(chat("react", Id=1, Emoji="🎉"))
    await alice.say("while away")
    await alice.send(chat("edit", Id=3, Text="while you were away"))
    for command in ("react", "message", "edit"):
        frame = await alice.until(lambda f, c=command: f.get("Command") == c)
        assert frame["Command"] == command
    back = await connect()
    assert (await back.login(token=token))["Status"] == "success"
    answer = await back.request(chat("choice", Chat=name, After=2, Changes=3))
    assert undated(answer) == chat(
        "choice", Chat=name, Change=5,
        Messages=[msg(3, alice.user, "while you were away", edited="DATE")],
        Changed=[msg(1, alice.user, "First!", edited="DATE",
                     reactions={"👍": [back.user], "🎉": [alice.user]})])


async def test_removed_image_is_gone(connect: Connect, server: ServerProcess) -> None:
    """The image of a removed message is deleted (a file, or its row in the database)
    once no other message of the chat shows it, and is no longer served."""
    name, (alice, bob) = await room(connect, 2)
    await alice.send(chat("message", Image=b64(PNG)))
    frame = await bob.until(lambda f: f.get("Command") == "message")
    url = server.http + frame["Message"]["image"]
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as response:
            assert response.status == 200
        assert await server.images(name) == [f"{md5(PNG)}.png"]
        await alice.send(chat("remove", Id=1))
        for c in (alice, bob):
            assert await c.until(lambda f: f.get("Command") == "remove") == chat(
                "remove", Chat=name, Change=1, Id=1)
        await alice.send(chat("message", Text="after"))  # (the deletion is done by then)
        await alice.until(lambda f: f.get("Command") == "message")
        for _ in range(50):
            if await server.images(name) == []:
                break
            await asyncio.sleep(0.1)
        assert await server.images(name) == []
        async with http.get(url) as response:
            assert response.status == 404
    assert await server.texts(name) == [None, "after"]


async def test_startup_sweep(make_server: MakeServer, tmp_path: Path) -> None:
    """An image file no row names (a removal's, after a crash) is gone after a start."""
    orphan = tmp_path / "data0" / "images" / "1" / f"{md5(PNG)}.png"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(PNG)
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    server = make_server("--image-store", "files")
    async with await Client.connect(server.ws) as alice:
        assert (await alice.register(unique(), PASSWORD))["Status"] == "success"
        assert (await alice.choose("general"))["Command"] == "choice"
        assert not orphan.exists()
        await alice.send(chat("message", Image=b64(PNG)))
        assert "image" in (await alice.until(lambda f: f.get("Command") == "message"))["Message"]
        assert orphan.is_file()  # the same image, stored again


# -- three processes ------------------------------------------------------------------------


@pytest.fixture
def nodes(tmp_path: Path, services: Postgres) -> Iterator[list[ServerProcess]]:
    """Three processes sharing PostgreSQL and Redis."""
    db_url, prefix = services.new_database(), f"c{os.getpid()}x{unique('p')}"
    made = [ServerProcess(tmp_path / f"node{n}", "--database-url", db_url, "--redis-url",
                          REDIS_URL, "--redis-prefix", prefix, *FAST) for n in range(3)]
    for proc in made:
        proc.start()
    yield made
    for proc in made:
        if proc.alive():
            proc.stop()


@pytest.fixture
async def opened() -> AsyncIterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        await client.close()


async def _collect(client: Client, changes: int, messages: int) -> list[Frame]:
    """Frames until ``changes`` change frames and ``messages`` message frames came."""
    got: list[Frame] = []
    seen = {"change": 0, "message": 0}
    async with asyncio.timeout(60):
        while seen["change"] < changes or seen["message"] < messages:
            frame = await client.recv(30)
            if frame.get("Command") in CHANGED and "Change" in frame:
                seen["change"] += 1
                got.append(frame)
            elif frame.get("Command") == "message" and "Message" in frame:
                seen["message"] += 1
                got.append(frame)
    return got


async def test_three_processes(nodes: list[ServerProcess], opened: list[Client]) -> None:
    name = unique("room")
    people: list[Client] = []
    for proc in nodes:
        for _ in range(2):
            client = await Client.connect(proc.ws)
            opened.append(client)
            assert (await client.register(unique("p"), PASSWORD))["Status"] == "success"
            if not people:
                assert (await client.create(name))["Status"] == "success"
            else:
                assert (await client.choose(name))["Command"] == "choice"
            people.append(client)
    # the one who will be away: on the first process
    away = await Client.connect(nodes[0].ws)
    opened.append(away)
    assert (await away.register(unique("a"), PASSWORD))["Status"] == "success"
    assert (await away.choose(name))["Command"] == "choice"
    for client in [*people, away]:
        await client.until(lambda f: f.get("Command") == "connected"
                           and f.get("Joined") == away.user, 15)
    # every user posts a message to change: the n-th user's is message n
    for n, client in enumerate(people):
        await client.say(f"from {client.user}")
        for other in [*people, away]:
            [frame] = await _collect(other, 0, 1)
            assert frame["Message"]["id"] == n + 1
    rounds = 12
    total_changes = len(people) * rounds * 2
    total_messages = len(people) * rounds
    last_seen: dict[str, int] = {}

    async def work(n: int, client: Client) -> None:
        mine = n + 1
        for r in range(rounds):
            target = (mine + r) % len(people) + 1
            await client.send(chat("react", Id=target, Emoji=chr(0x1F600 + n)))
            await client.send(chat("edit", Id=mine, Text=f"{client.user} v{r}"))
            await client.say(f"{client.user} said {r}")

    async def away_for_a_while() -> None:
        frames = await _collect(away, total_changes // 3, 0)
        ids = [f["Message"]["id"] for f in frames if f["Command"] == "message"]
        last_seen["id"] = max(ids, default=len(people))
        last_seen["change"] = max(f["Change"] for f in frames if f["Command"] in CHANGED)
        await away.close()

    results = await asyncio.gather(
        *(work(n, c) for n, c in enumerate(people)),
        *(_collect(c, total_changes, total_messages) for c in people), away_for_a_while())
    for frames in results[len(people):2 * len(people)]:
        numbers = [f["Change"] for f in frames if f["Command"] in CHANGED]
        assert numbers == list(range(1, total_changes + 1))
        ids = [f["Message"]["id"] for f in frames if f["Command"] == "message"]
        assert ids == list(range(len(people) + 1, len(people) + total_messages + 1))
    # the one away resumes on another process and ends up where everyone is
    back = await Client.connect(nodes[2].ws)
    opened.append(back)
    assert (await back.login(token=away.token))["Status"] == "success"
    answer = await back.request(chat("choice", Chat=name, After=last_seen["id"],
                                     Changes=last_seen["change"]))
    assert answer["Change"] == total_changes
    assert "More" not in answer
    assert answer["Messages"][-1]["id"] == len(people) + total_messages
    await back.send(chat("choice", Chat=name, After=0))
    fresh = await back.until(lambda f: f.get("Command") == "choice")
    current = {m["id"]: m for m in fresh["Messages"]}
    for m in answer["Changed"]:
        assert current[m["id"]] == m
    changed_ids = {m["id"] for m in answer["Changed"]}
    # every message changed after the number it had seen is there, in its current state
    assert changed_ids == set(range(1, len(people) + 1))
    for n, client in enumerate(people):
        text = current[n + 1]["text"]
        assert text == f"{client.user} v{rounds - 1}"


#: enough messages that the changes of a resume take two pages (``More``)
MANY_MESSAGES = 1050
MANY_CHANGES = 1500


#: how many requests a writer sends before it reads what the previous ones brought
WINDOW = 40


async def _pipelined(client: Client, requests: list[Frame], kind: str, total: int,
                     writers: int) -> list[Frame]:
    """Send ``requests`` a window at a time, reading meanwhile: the frames of ``kind``
    (``change`` or ``message``) until ``total`` of them came, in the order they came.
    Each window goes out once every writer's window before it came back (``writers``
    send as many requests each), so that a pipeline of requests is always in flight."""
    frames: list[Frame] = []

    async def until(count: int) -> None:
        more = count - len(frames)
        if more > 0:
            frames.extend(await _collect(client, more if kind == "change" else 0,
                                         more if kind == "message" else 0))

    for start in range(0, len(requests), WINDOW):
        for request in requests[start:start + WINDOW]:
            await client.send(request)
        await until(min(total, start * writers))
    await until(total)
    return frames


async def test_resume_after_1500_changes(nodes: list[ServerProcess],
                                         opened: list[Client]) -> None:
    """Writers on every process, a watcher on the first and one away: the watcher sees
    the changes made through the other processes exactly as their writers do, in
    change order; the one away resumes on the third process, paging with ``More``, and
    its view ends exactly as the server's history."""
    name = unique("room")
    writers: list[Client] = []
    for proc in nodes:
        client = await Client.connect(proc.ws)
        opened.append(client)
        assert (await client.register(unique("w"), PASSWORD))["Status"] == "success"
        if not writers:
            assert (await client.create(name))["Status"] == "success"
        else:
            assert (await client.choose(name))["Command"] == "choice"
        writers.append(client)
    watcher, away = await Client.connect(nodes[0].ws), await Client.connect(nodes[0].ws)
    opened.extend([watcher, away])
    for client in (watcher, away):
        assert (await client.register(unique("o"), PASSWORD))["Status"] == "success"
        assert (await client.choose(name))["Command"] == "choice"
    for client in [*writers, watcher, away]:
        await client.until(lambda f: f.get("Command") == "connected"
                           and f.get("Joined") == away.user, 15)

    # the messages, from every process at once; everyone reads all of them
    posted = await asyncio.gather(
        *(_pipelined(w, [chat("message", Text=f"{w.user} m{i}")
                         for i in range(n, MANY_MESSAGES, len(writers))],
                     "message", MANY_MESSAGES, len(writers)) for n, w in enumerate(writers)),
        _collect(watcher, 0, MANY_MESSAGES), _collect(away, 0, MANY_MESSAGES))
    for frames in posted:
        assert [f["Message"]["id"] for f in frames] == list(range(1, MANY_MESSAGES + 1))
    view = {f["Message"]["id"]: f["Message"] for f in posted[-1]}
    await away.close()

    # every message changed once, then some again (removals among them): each writer
    # edits and removes its own, and reacts to the others'
    plans: list[list[Frame]] = [[] for _ in writers]
    for j in range(MANY_CHANGES):
        n, target = j % len(writers), j % MANY_MESSAGES + 1
        author = view[target]["user"]
        if author != writers[n].user:
            plans[n].append(chat("react", Id=target, Emoji=chr(0x1F600 + n)))
        elif j < MANY_MESSAGES:
            plans[n].append(chat("edit", Id=target, Text=f"{author} edited {j}"))
        else:
            plans[n].append(chat("remove", Id=target))
    seen = await asyncio.gather(
        *(_pipelined(w, plans[n], "change", MANY_CHANGES, len(writers))
          for n, w in enumerate(writers)),
        _collect(watcher, MANY_CHANGES, 0))
    for frames in seen:
        assert [f["Change"] for f in frames] == list(range(1, MANY_CHANGES + 1))
    # on the first process, the changes made through the others, frame for frame as
    # their own writers got them (the broadcast is their success answer)
    assert seen[-1] == seen[0] == seen[1] == seen[2]

    # the one away comes back on the third process and pages through the changes
    back = await Client.connect(nodes[2].ws)
    opened.append(back)
    assert (await back.login(token=away.token))["Status"] == "success"
    since, pages, changed_ids = 0, 0, []
    while True:
        await back.send(chat("choice", Chat=name, After=MANY_MESSAGES, Changes=since))
        answer = await back.until(lambda f: f.get("Command") == "choice")
        assert answer["Messages"] == []
        pages += 1
        for message in answer["Changed"]:
            view[message["id"]] = message
            changed_ids.append(message["id"])
        assert answer["Change"] > since
        since = answer["Change"]
        if not answer.get("More"):
            break
    assert pages == 2
    assert since == MANY_CHANGES
    # every message was changed, and each comes once: the pages covered every change
    assert sorted(changed_ids) == list(range(1, MANY_MESSAGES + 1))
    fresh: dict[int, Frame] = {}
    while len(fresh) < MANY_MESSAGES:
        await back.send(chat("choice", Chat=name, After=len(fresh)))
        page = await back.until(lambda f: f.get("Command") == "choice")
        assert page["Change"] == MANY_CHANGES
        fresh.update((m["id"], m) for m in page["Messages"])
    assert view == fresh
    removals = sorted(r["Id"] for plan in plans for r in plan if r["Command"] == "remove")
    assert removals
    assert [i for i, m in sorted(fresh.items()) if m.get("removed")] == removals
