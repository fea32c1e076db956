"""What a client saw survives SIGKILL; a restart keeps users, tokens and chats."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from conftest import PASSWORD, Connect, MakeServer, room
from images_data import PNG, b64
from parley.client import Client, Closed


async def test_broadcast_messages_survive_sigkill(make_server: MakeServer,
                                                  connect: Connect) -> None:
    proc = make_server("--rate-limit", "1000", "--rate-burst", "1000")
    name, (a, b) = await room(connect, 2, url=proc.ws)
    seen = []
    for i in range(40):
        await a.say(f"m{i}", image=b64(PNG) if i % 10 == 0 else None)
    for _ in range(40):
        seen.append((await b.recv())["Message"])
    # messages in flight when the process dies: whatever was broadcast must be stored
    for i in range(40, 80):
        await a.say(f"m{i}")
    received = list(seen)
    try:
        while True:
            received.append((await b.recv(timeout=0.02))["Message"])
    except (TimeoutError, Closed):
        pass
    proc.kill()

    proc.start()
    try:
        reader = await Client.connect(proc.ws)
        try:
            login = await reader.login(a.user, PASSWORD)
            assert login["Status"] == "success"
            history = await reader.choose(name, after=0)
            assert (await reader.recv())["Joined"] == a.user
            stored = {m["id"]: m for m in history["Messages"]}
            for message in received:
                assert stored[message["id"]] == message
            assert [m["id"] for m in history["Messages"]] == sorted(stored)
            image_url = seen[0]["image"]
            reply = await reader.request({"Type": "account", "Command": "login",
                                          "Token": a.token})
            assert reply["Status"] == "success"  # the token survived too
        finally:
            await reader.close()
        async with aiohttp.ClientSession() as http, http.get(proc.http + image_url) as response:
            assert response.status == 200
            assert await response.read() == PNG
    finally:
        assert proc.stop() == 0


async def test_sigterm_closes_sockets_going_away_and_exits_0(make_server: MakeServer,
                                                            connect: Connect) -> None:
    proc = make_server()
    _, (a,) = await room(connect, 1, url=proc.ws)
    await a.say("before shutdown")
    assert (await a.recv())["Message"]["text"] == "before shutdown"
    stopping = asyncio.get_running_loop().run_in_executor(None, proc.stop)
    with pytest.raises(Closed) as closed:
        await a.recv(timeout=15)
    assert closed.value.code == 1001
    assert await stopping == 0
