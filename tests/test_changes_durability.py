"""A change any client received survives SIGKILL, and change numbers stay gap-free.

Three writers stream edits, reactions and removals into one chat as fast as they can;
a watcher records every change frame. The server is killed mid-stream (SIGKILL: no
flush, no goodbye) and started again on the same data; then every change a client
received must be stored, and the chat's change numbers must run 1..latest."""

from __future__ import annotations

import asyncio
import contextlib

from changes_kit import apply_change
from conftest import Connect, MakeServer, room
from parley.client import Client, Closed, Frame

CHANGED = ("edit", "remove", "react")
MESSAGES = 30
#: the server dies once the watcher has seen this many changes
KILL_AFTER = 150


def chat(command: str, **fields: object) -> Frame:
    return {"Type": "chat", "Command": command, **fields}


def requests(n: int, mine: list[int]) -> list[Frame]:
    """Writer ``n``'s endless mix: reactions to any message, edits of its own, and now
    and then a removal of its own (later requests on a removed one are refused)."""
    out: list[Frame] = []
    for i in range(3000):
        target = (i * 7 + n) % MESSAGES + 1
        if i % 3 == 0:
            out.append(chat("react", Id=target, Emoji=("👍", "🎉", "🚀")[(i // 3) % 3]))
        elif i % 97 == 96:
            out.append(chat("remove", Id=mine[i % len(mine)]))
        else:
            out.append(chat("edit", Id=mine[i % len(mine)], Text=f"w{n} v{i}"))
    return out


async def record(client: Client, into: list[Frame], enough: asyncio.Event | None = None) -> None:
    """Every change frame ``client`` receives, until its socket closes."""
    with contextlib.suppress(Closed, TimeoutError, ConnectionError):
        while True:
            frame = await client.recv(30)
            if frame.get("Command") in CHANGED and "Change" in frame:
                into.append(frame)
                if enough is not None and len(into) >= KILL_AFTER:
                    enough.set()


async def stream(client: Client, frames: list[Frame]) -> None:
    """Send ``frames`` as fast as the socket takes them, until it closes."""
    with contextlib.suppress(ConnectionError, Closed, RuntimeError):
        for frame in frames:
            await client.send(frame)
            await asyncio.sleep(0)  # (lets the readers run)


async def test_received_changes_survive_sigkill(make_server: MakeServer,
                                               connect: Connect) -> None:
    proc = make_server("--rate-limit", "100000", "--rate-burst", "100000")
    name, clients = await room(connect, 4, url=proc.ws)
    writers, watcher = clients[:3], clients[3]
    for i in range(MESSAGES):
        await writers[i % 3].say(f"m{i + 1}")
    view: dict[int, Frame] = {}
    for client in clients:
        for _ in range(MESSAGES):
            message = (await client.recv())["Message"]
            view[message["id"]] = message
    mine = [[i + 1 for i in range(MESSAGES) if i % 3 == n] for n in range(3)]

    seen: list[Frame] = []
    by_writers: list[list[Frame]] = [[], [], []]
    enough = asyncio.Event()
    tasks = [asyncio.create_task(record(watcher, seen, enough)),
             *(asyncio.create_task(record(w, got))
               for w, got in zip(writers, by_writers, strict=True)),
             *(asyncio.create_task(stream(w, requests(n, mine[n])))
               for n, w in enumerate(writers))]
    async with asyncio.timeout(60):
        await enough.wait()
    proc.kill()
    await asyncio.gather(*tasks)

    numbers = [f["Change"] for f in seen]
    assert numbers == list(range(1, len(numbers) + 1))  # strictly consecutive
    highest = max(f["Change"] for f in [*seen, *(f for got in by_writers for f in got)])
    last_seen: set[int] = set()
    for frame in seen:
        apply_change(view, frame)
        last_seen.add(frame["Message"]["id"] if frame["Command"] == "edit" else frame["Id"])

    proc.start()
    async with await Client.connect(proc.ws) as reader:
        assert (await reader.login(token=writers[0].token))["Status"] == "success"
        history = await reader.request(chat("choice", Chat=name, After=0))
        latest = history["Change"]
        assert latest >= highest >= numbers[-1]
        answers = []
        for since in (0, numbers[-1]):
            await reader.send(chat("choice", Chat=name, After=MESSAGES, Changes=since))
            answers.append(await reader.until(lambda f: f.get("Command") == "choice"))
        everything, later = answers
        assert everything["Change"] == later["Change"] == latest
        assert "More" not in everything
    stored = {m["id"]: m for m in history["Messages"]}
    assert sorted(stored) == list(range(1, MESSAGES + 1))
    changed_later = {m["id"] for m in later["Changed"]}
    for message_id in last_seen:
        if message_id not in changed_later:  # nothing after what the watcher saw
            assert stored[message_id] == view[message_id], message_id
        assert stored[message_id] in everything["Changed"]
    # the same state, whether read as history or as the changes since 0
    for message in everything["Changed"]:
        assert stored[message["id"]] == message

    # gap-free: the chat's number is the highest any message carries, each message's
    # newest change is its own number, and the changes since 0 come in their order
    rows = await proc.rows(
        "SELECT m.id, m.change FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE c.name = :chat AND m.change IS NOT NULL ORDER BY m.change", chat=name)
    [(last_change,)] = await proc.rows("SELECT last_change FROM chats WHERE name = :chat",
                                       chat=name)
    assert last_change == latest
    assert rows[-1][1] == latest
    assert len({change for _, change in rows}) == len(rows)
    assert [m["id"] for m in everything["Changed"]] == [message_id for message_id, _ in rows]
    # every change after the watcher's last one that was stored is one of the later ones
    assert {message_id for message_id, change in rows if change > numbers[-1]} == changed_later
    assert proc.stop() == 0
