"""The cap on chats owned per user holds under concurrent creates."""

from __future__ import annotations

import asyncio

from conftest import FAST, Connect, MakeServer, joined, unique, user

CAP = 5


async def test_concurrent_creates_never_pass_the_cap(
    make_server: MakeServer, connect: Connect
) -> None:
    proc = make_server("--max-chats-per-user", str(CAP), *FAST)
    owner = await user(connect, proc.ws)
    for _ in range(CAP - 2):
        name = unique("room")
        assert (await owner.create(name))["Status"] == "success"
        await owner.until(lambda f, name=name: f == joined(name, owner.user))
    sockets = [owner]
    for _ in range(29):
        socket = await connect(proc.ws)
        assert (await socket.login(token=owner.token))["Status"] == "success"
        sockets.append(socket)
    names = [unique("race") for _ in sockets]
    await asyncio.gather(*(
        s.send({"Type": "chat", "Command": "create", "Chat": n})
        for s, n in zip(sockets, names, strict=True)))
    answers = await asyncio.gather(*(
        s.until(lambda f: f.get("Command") == "create") for s in sockets))
    won = [a for a in answers if a.get("Status") == "success"]
    lost = [a for a in answers if a.get("Status") != "success"]
    assert len(won) == 2
    assert lost == [{"Type": "chat", "Command": "create", "Status": "error",
                     "Detail": f"You may own at most {CAP} chats"}] * 28
    rows = await proc.rows(
        "SELECT c.name FROM chats c JOIN users u ON u.id = c.owner_id WHERE u.login = :login",
        login=owner.user)
    assert len(rows) == CAP
    assert sorted(r[0] for r in rows if r[0].startswith("race")) == sorted(
        a["Chat"] for a in won)
