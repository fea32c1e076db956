"""Change numbers and resuming: gap-free numbers in commit order, live change frames in
change order exactly once, ``choice`` with ``After`` and ``Changes`` (paging past 1,000
changed messages), in process on SQLite and PostgreSQL; the start-up sweep of image
files no message shows."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from changes_kit import member, msg, post, undated
from inprocess import Parley, chat
from parley import chats, image_sweep
from parley.model import Draft, now_ms


async def test_numbers_follow_commits(served: Parley) -> None:
    """Changes from many sockets at once: numbered 1..N without gaps, and every socket
    gets each change frame once, in number order, interleaved with new messages."""
    writers = [await member(served, f"w{n}") for n in range(4)]
    watcher = await member(served, "watcher")
    first = await post(served, writers[0], "target")
    requests = []
    for round_ in range(10):
        for n, conn in enumerate(writers):
            requests.append(conn.send_raw(chat("react", Id=first, Emoji=chr(0x1F600 + n))))
            requests.append(conn.send_raw(chat("message", Text=f"{round_}/{n}")))
        requests.append(writers[0].send_raw(chat("edit", Id=first, Text=f"v{round_}")))
    await asyncio.gather(*requests)
    await served.settle()
    for conn in [*writers, watcher]:
        frames = conn.take()
        numbers = [f["Change"] for f in frames if f["Command"] in ("react", "edit")]
        assert numbers == list(range(1, 51)), numbers
        ids = [f["Message"]["id"] for f in frames if f["Command"] == "message"]
        assert ids == list(range(2, 42)), ids
    positions = await served.service.ctx.store.positions(1)
    assert positions == (41, 50)


async def test_refused_in_a_batch(served: Parley) -> None:
    """Changes sent at once are stored together; a refused one among them takes no number
    and keeps nothing of its own, and the others are stored."""
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "one")
    await asyncio.gather(
        bob.send_raw(chat("react", Id=first, Emoji="👍")),
        bob.send_raw(chat("edit", Id=first, Text="not mine")),
        alice.send_raw(chat("edit", Id=first, Text="two")),
        bob.send_raw(chat("remove", Id=9)),
        alice.send_raw(chat("react", Id=first, Emoji="👍")),
    )
    await served.settle()
    live = [
        chat("react", Chat="general", Change=1, Id=first, Reactions={"👍": ["bob"]}),
        chat("edit", Chat="general", Change=2, Message=msg(
            first, "alice", "two", edited="DATE", reactions={"👍": ["bob"]})),
        chat("react", Chat="general", Change=3, Id=first, Reactions={"👍": ["bob", "alice"]}),
    ]
    assert undated(alice.take()) == live
    assert undated(bob.take()) == [
        live[0], chat("edit", Status="not allowed"), live[1],
        chat("remove", Status="not found"), live[2]]
    assert await served.service.ctx.store.positions(1) == (1, 3)


async def test_resume_changes(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    for n in range(1, 6):
        await post(served, alice, f"m{n}")
    await alice.request(chat("edit", Id=2, Text="m2 edited"))  # change 1
    await bob.request(chat("react", Id=4, Emoji="👍"))  # change 2
    await alice.request(chat("remove", Id=1))  # change 3
    await alice.request(chat("edit", Id=4, Text="m4 edited"))  # change 4
    await alice.request(chat("edit", Id=5, Text="m5 edited"))  # change 5 (id 5: above After)
    for c in served.conns:
        c.take()
    late = await served.user("late")
    [answer] = [f for f in await late.request(chat("choice", Chat="general", After=4,
                                                   Changes=1)) if f["Command"] == "choice"]
    assert undated(answer) == chat(
        "choice", Chat="general", Change=5,
        Messages=[msg(5, "alice", "m5 edited", edited="DATE")],
        Changed=[{"id": 1, "user": "alice", "date": "DATE", "removed": True},
                 msg(4, "alice", "m4 edited", edited="DATE", reactions={"👍": ["bob"]})])
    # nothing changed after the newest: an empty list; without Changes, no Changed
    [answer] = await late.request(chat("choice", Chat="general", After=5, Changes=5))
    assert answer == chat("choice", Chat="general", Messages=[], Change=5, Changed=[])
    [answer] = await late.request(chat("choice", Chat="general", After=5))
    assert answer == chat("choice", Chat="general", Messages=[], Change=5)
    # Changes without After: a plain choice
    [answer] = await late.request(chat("choice", Chat="general", Changes=0))
    assert "Changed" not in answer
    assert answer["Change"] == 5


async def test_resume_pages_past_1000(served: Parley) -> None:
    """1,205 changed messages: 1,000 with ``More``, then the rest."""
    store = served.service.ctx.store
    alice = await member(served, "alice")
    user = alice.session.user
    assert user is not None
    count = 1205
    drafts = [Draft(1, "general", user.id, "alice", f"t{n}", None, 0, None, None, now_ms())
              for n in range(count)]
    await store.insert_messages(drafts)
    # edited out of id order, the newest first, written as the store writes an edit
    # (the volume in one statement; the last change through the store itself)
    order = list(range(count, 0, -1))
    async with store.engine.begin() as conn:  # type: ignore[attr-defined]
        await conn.execute(
            sa.text("UPDATE messages SET text = :text, edited_ms = :at, change = :change "
                    "WHERE chat_id = 1 AND id = :id"),
            [{"text": f"e{id_}", "at": now_ms(), "change": n, "id": id_}
             for n, id_ in enumerate(order, 1)])
        await conn.execute(sa.text(f"UPDATE chats SET last_change = {count} WHERE id = 1"))
    await store.react(1, user.id, count, "👍")  # change 1206 moves the first one to the end
    [answer] = await alice.request(chat("choice", Chat="general", After=count, Changes=0))
    assert answer["More"] is True
    assert answer["Change"] == 1001
    assert [m["id"] for m in answer["Changed"]] == order[1:1001]
    assert answer["Changed"][0]["text"] == f"e{order[1]}"
    [answer] = await alice.request(chat("choice", Chat="general", After=count, Changes=1001))
    assert "More" not in answer
    assert answer["Change"] == 1206
    assert [m["id"] for m in answer["Changed"]] == [*order[1001:], count]
    assert answer["Changed"][-1]["reactions"] == {"👍": ["alice"]}


async def test_resume_cut_by_size(parley: Parley, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer than 1,000 when the answer would outgrow the outbox: ``More`` then too."""
    monkeypatch.setattr(chats, "CHANGES_BYTES", 10_000)
    alice = await member(parley, "alice")
    for n in range(1, 5):
        await post(parley, alice, str(n) * 1000)
        await alice.request(chat("edit", Id=n, Text=str(n) * 2000))
    alice.take()
    [answer] = await alice.request(chat("choice", Chat="general", After=4, Changes=0))
    assert [m["id"] for m in answer["Changed"]] == [1]
    assert (answer["More"], answer["Change"]) == (True, 1)
    [answer] = await alice.request(chat("choice", Chat="general", After=4, Changes=3))
    assert [m["id"] for m in answer["Changed"]] == [4]
    assert (answer.get("More"), answer["Change"]) == (None, 4)


async def test_live_changes_after_choice(served: Parley) -> None:
    """A socket that chose the chat gets the changes from its ``Change`` on, once."""
    alice = await member(served, "alice")
    await post(served, alice, "one")
    await alice.request(chat("edit", Id=1, Text="two"))
    bob = await served.user("bob")
    [answer, _joined] = await bob.request(chat("choice", Chat="general"))
    assert answer["Change"] == 1
    alice.take()
    await alice.request(chat("react", Id=1, Emoji="👍"))
    assert bob.take() == [chat("react", Chat="general", Change=2, Id=1,
                               Reactions={"👍": ["alice"]})]


def test_sweep(tmp_path: Path) -> None:
    root = tmp_path / "images"
    names = [f"{n:032x}.png" for n in range(4)]
    for chat_id in (1, 2):
        (root / str(chat_id)).mkdir(parents=True)
        for name in names:
            (root / str(chat_id) / name).write_bytes(b"x")
    (root / "1" / ".incoming-abc").write_bytes(b"x")
    old = time.time() - 2 * image_sweep.GRACE
    for path in root.glob("*/*"):
        os.utime(path, (old, old))
    os.utime(root / "2" / names[3])  # written just now: another process's, in flight
    known = {(1, names[0]), (2, names[0]), (2, names[1])}
    gone = image_sweep.sweep(root, known)
    assert sorted(p.relative_to(root).as_posix() for p in gone) == [
        f"1/{names[1]}", f"1/{names[2]}", f"1/{names[3]}", f"2/{names[2]}"]
    assert sorted(p.relative_to(root).as_posix() for p in root.glob("*/*")) == [
        "1/.incoming-abc", f"1/{names[0]}", f"2/{names[0]}", f"2/{names[1]}", f"2/{names[3]}"]
