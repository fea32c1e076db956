"""``search``: exact answers through ``Service.receive`` (in this process, see
``inprocess.py``), then end to end over WebSockets on SQLite and PostgreSQL.

(The store's query itself, on every database: ``test_search_store.py``.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa

from conftest import Connect, unique, user
from inprocess import FakeConn, Frame, Parley, chat
from parley.search import words


def results(*found: tuple[str, Frame]) -> Frame:
    return chat("search", Results=[{"chat": name, "message": m} for name, m in found])


def error(detail: str) -> Frame:
    return chat("search", Status="error", Detail=detail)


async def say(conn: FakeConn, *texts: str) -> list[Frame]:
    """Send the texts in the chosen chat; their message objects, as broadcast."""
    out = []
    for text in texts:
        frames = await conn.request(chat("message", Text=text))
        [pushed] = [f["Message"] for f in frames if f.get("Command") == "message"]
        out.append(pushed)
    return out


async def enter(conn: FakeConn, name: str, password: str | None = None) -> None:
    frame = chat("choice", Chat=name) if password is None else chat(
        "choice", Chat=name, Password=password)
    answer = (await conn.request(frame))[0]
    assert answer["Command"] == "choice", answer


async def search(conn: FakeConn, text: Any, **fields: Any) -> Frame:
    return await conn.ask(chat("search", Text=text, **fields))


def test_words() -> None:
    assert words("Привет, МИР! привет") == ["привет", "мир"]
    assert words('"deploy"* OR NOT:x & y|z !w (a) b-c d_e') == [
        "deploy", "or", "not", "x", "y", "z", "w", "a", "b", "c", "d", "e"]
    assert words("3.14 v2 ΣΊΣΥΦΟΣ 東京") == ["3", "14", "v2", "σίσυφος", "東京"]
    assert words("\"*:&!'\\ ()") == []


async def test_found_in_any_language_as_word_beginnings(parley: Parley) -> None:
    alice, bob = await parley.user("alice"), await parley.user("bob")
    for conn in (alice, bob):
        await enter(conn, "general")
    bob.take()
    hello, deployed, other = await say(alice, "Привет, мир", "Deployed to prod", "нечто иное")
    alice.take()
    bob.take()
    assert await search(bob, "привет") == results(("general", hello))
    assert await search(bob, "ПРИВ") == results(("general", hello))
    assert await search(bob, "deploy") == results(("general", deployed))
    assert await search(bob, "PROD, deployed!") == results(("general", deployed))
    assert await search(bob, "deploy мир") == results()
    assert await search(bob, "ир") == results()
    assert await search(bob, "prod", Chat="general") == results(("general", deployed))
    assert await search(bob, "prod", Chat="general", Before=3) == results(("general", deployed))
    assert await search(bob, "prod", Chat="general", Before=2) == results()
    assert await search(bob, "и") == results(("general", other))
    # query syntax of SQLite's FTS5 and of PostgreSQL's tsquery is only a separator
    for text in ('"', "*", ":", "&", "!", "'", "\\", "|", "(", ")", "-", "^", "<->",
                 '"deploy', "deploy*", "deploy:*", "prod&!deploy", "!deploy", "'deploy'",
                 "deploy\\", "to'pro", "(deploy | prod)", "deploy:D", "pro*d"):
        answer = await search(bob, text + " prod")
        assert answer == results(("general", deployed)), text
    # and words that are operators there are words here, all of which must be found
    for text in ("deploy OR мир", "NOT мир deploy", "NEAR(deploy prod)", "text:deploy",
                 "{text}: deploy", "-мир prod", "prod AND NOT привет"):
        assert await search(bob, text) == results(), text


async def test_failures(parley: Parley) -> None:
    stranger = parley.connect()
    assert await search(stranger, "hello") == chat("search", Status="error in chat or user")
    alice = await parley.user("alice")
    assert await alice.ask(chat("search")) == error("Text is required")
    assert await search(alice, "") == error("Text is required")
    assert await search(alice, "x" * 201) == error("Text must be at most 200 characters")
    assert await search(alice, "я" * 200) == results()
    assert await search(alice, " !?* ") == error("Text must contain a word (letters or digits)")
    assert await search(alice, "hello", Before=5) == error(
        "Before pages within one chat: it needs Chat")
    assert await search(alice, "hello", Chat="") == error("Chat name is required")
    assert await search(alice, "hello", Chat="x" * 65) == error(
        "Chat name must be at most 64 characters")
    assert (await search(alice, 5))["Status"] == "error in json file"
    assert (await search(alice, "hello", Before=-1))["Status"] == "error in json file"
    assert (await search(alice, "hello", Chat=["general"]))["Status"] == "error in json file"


async def test_only_chats_the_user_may_read(parley: Parley) -> None:
    alice, bob, carl = [await parley.user(login) for login in ("alice", "bob", "carl")]
    assert (await alice.request(chat("create", Chat="open")))[0]["Status"] == "success"
    [seen_open] = await say(alice, "secret plans")
    assert (await alice.request(chat("create", Chat="closed", Password="door key 1")))[
        0]["Status"] == "success"
    [seen_closed] = await say(alice, "secret plans")
    assert (await alice.request(chat("direct", With=["bob"])))[0]["Status"] == "success"
    [seen_direct] = await say(alice, "secret plans")
    for conn in (alice, bob, carl):
        conn.take()
    every = (("@alice,bob", seen_direct), ("closed", seen_closed), ("open", seen_open))
    assert await search(alice, "secret") == results(*every)
    assert await search(bob, "secret") == results(every[0], every[2])
    assert await search(carl, "secret") == results(every[2])
    # a chat carl may not read answers as one that does not exist: no results
    for name in ("closed", "@alice,bob", "@alice,carl", "nowhere"):
        for before in ({}, {"Before": 0}, {"Before": 1}, {"Before": 2}, {"Before": 10**9}):
            assert await search(carl, "secret", Chat=name, **before) == results(), name
    await enter(carl, "closed", "door key 1")  # now a member
    carl.take()
    assert await search(carl, "plans", Chat="closed") == results(every[1])
    assert await search(carl, "secret") == results(every[1], every[2])
    assert (await carl.request(chat("leave", Chat="closed")))[0]["Status"] == "success"
    assert await search(carl, "secret", Chat="closed", Before=5) == results()


async def test_current_text_only(parley: Parley) -> None:
    """An edit UPDATEs the text, a removal sets it to NULL (see the storage tests for
    the index itself): search follows."""
    alice = await parley.user("alice")
    await enter(alice, "general")
    first, second = await say(alice, "draft one", "draft two")
    alice.take()
    store: Any = parley.service.ctx.store
    async with store.engine.begin() as conn:
        await conn.execute(sa.text("UPDATE messages SET text = 'final one' WHERE id = 1"))
        await conn.execute(sa.text("UPDATE messages SET text = NULL WHERE id = 2"))
    assert await search(alice, "draft") == results()
    assert await search(alice, "final") == results(("general", {**first, "text": "final one"}))
    assert second["text"] == "draft two"


async def test_fifty_newest_and_pages_before(parley: Parley) -> None:
    alice = await parley.user("alice")
    await enter(alice, "general")
    sent = await say(alice, *(f"note {n}" for n in range(1, 61)))
    alice.take()
    assert await search(alice, "note") == results(*(("general", m) for m in sent[:9:-1]))
    assert await search(alice, "note", Chat="general", Before=11) == results(
        *(("general", m) for m in sent[9::-1]))
    assert await search(alice, "note", Chat="general", Before=1) == results()


# -- end to end, both backends ------------------------------------------------------------

async def test_search_end_to_end(connect: Connect) -> None:
    owner, guest = await user(connect), await user(connect)
    names = [unique("open"), unique("closed")]
    word = unique("Слово")
    assert (await owner.create(names[0]))["Status"] == "success"
    await owner.send(chat("message", Text=f"{word} in the open"))
    opened = await owner.until(lambda f: f.get("Command") == "message")
    await asyncio.sleep(0.005)  # a later date: results are ordered by date on PostgreSQL
    assert (await owner.create(names[1], "door key 1"))["Status"] == "success"
    await owner.send(chat("message", Text=f"{word} behind the door"))
    closed = await owner.until(lambda f: f.get("Command") == "message")

    def answer(f: Frame) -> bool:
        return f.get("Command") == "search"

    await owner.send(chat("search", Text=word.lower()[:8]))
    assert await owner.until(answer) == results(
        (names[1], closed["Message"]), (names[0], opened["Message"]))
    await guest.send(chat("search", Text=word.upper()))
    assert await guest.until(answer) == results((names[0], opened["Message"]))
    await guest.send(chat("search", Text=word, Chat=names[1], Before=2))
    assert await guest.until(answer) == results()
    await guest.send(chat("search", Text=""))
    assert await guest.until(answer) == error("Text is required")
