"""Search and changes to messages together: an edit is found by its new text only, a
removed message never, and a result carries its reactions and reply as history does;
in process on SQLite and PostgreSQL."""

from __future__ import annotations

from changes_kit import member, msg, post, undated
from inprocess import Parley, chat


async def test_search_sees_the_current_state(served: Parley) -> None:
    alice, bob = await member(served, "alice"), await member(served, "bob")
    first = await post(served, alice, "deploy the parser")
    second = await post(served, bob, "parser deployed", Reply=first)
    third = await post(served, alice, "parser gone soon")
    await bob.request(chat("react", Id=second, Emoji="👍"))
    await alice.request(chat("edit", Id=first, Text="ship the lexer"))
    await alice.request(chat("remove", Id=third))
    for c in served.conns:
        c.take()
    [answer] = await bob.request(chat("search", Text="parser"))
    assert undated(answer) == chat("search", Results=[{"chat": "general", "message": msg(
        second, "bob", "parser deployed", reactions={"👍": ["bob"]},
        reply={"id": first, "user": "alice", "text": "ship the lexer"})}])
    [answer] = await bob.request(chat("search", Text="lexer"))
    assert undated(answer) == chat("search", Results=[{"chat": "general", "message": msg(
        first, "alice", "ship the lexer", edited="DATE")}])
    [answer] = await bob.request(chat("search", Text="gone"))
    assert answer == chat("search", Results=[])
