"""``typing`` notices and ``account``/``users``, in this process (exact JSON through
``Service.receive``, see ``inprocess.py``), and ``users`` end to end on both backends."""

from __future__ import annotations

import pytest

from conftest import Connect, unique, user
from inprocess import PASSWORD, Clock, FakeConn, Frame, Parley, account, chat
from parley import typists
from parley.limits import Spacing


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(typists, "clock", fake)
    return fake


TYPING = chat("typing")
NOT_IN_CHAT = chat("typing", Status="error in chat or user")


def typing(name: str, login: str) -> Frame:
    return chat("typing", Chat=name, User=login)


async def person(parley: Parley, login: str, chat_name: str | None = "general",
                 ) -> tuple[FakeConn, str]:
    """A new user's socket, in ``chat_name``; its token. Frames so far taken from everyone."""
    conn = parley.connect()
    reply = await conn.ask(account("registration", Login=login, Password=PASSWORD))
    assert reply["Status"] == "success", reply
    if chat_name is not None:
        await conn.request(chat("choice", Chat=chat_name))
    await parley.settle()
    for c in parley.conns:
        c.take()
    return conn, reply["Token"]


async def again(parley: Parley, token: str, chat_name: str = "general") -> FakeConn:
    """Another socket of the token's user, in ``chat_name``; frames taken from everyone."""
    conn = parley.connect()
    await conn.request(account("login", Token=token))
    await conn.request(chat("choice", Chat=chat_name))
    await parley.settle()
    for c in parley.conns:
        c.take()
    return conn


# -- typing ---------------------------------------------------------------------------------

async def test_typing_reaches_the_others_in_the_chat_only(parley: Parley, clock: Clock) -> None:
    alice, token = await person(parley, "alice")
    alice_too = await again(parley, token)
    bob, _ = await person(parley, "bob")
    carol, _ = await person(parley, "carol")
    elsewhere, _ = await person(parley, "dave", None)
    await elsewhere.request(chat("create", Chat="Other"))
    alice_away = await again(parley, token, "Other")  # alice, in another chat
    anonymous = parley.connect()
    assert await alice.request(TYPING) == []  # nothing answered
    assert bob.take() == [typing("general", "alice")]
    assert carol.take() == [typing("general", "alice")]
    assert alice_too.take() == []
    assert elsewhere.take() == []
    assert alice_away.take() == []
    assert anonymous.take() == []


async def test_typing_is_throttled_per_user_per_chat(parley: Parley, clock: Clock) -> None:
    alice, token = await person(parley, "alice")
    alice_too = await again(parley, token)
    bob, _ = await person(parley, "bob")
    carol, _ = await person(parley, "carol")
    assert await alice.request(TYPING) == []
    assert bob.take() == [typing("general", "alice")]
    clock.now += 1.0
    await alice.request(TYPING)
    await alice_too.request(TYPING)  # the same user on another socket: the same throttle
    clock.now += 0.999
    await alice.request(TYPING)
    assert bob.take() == []
    await carol.request(TYPING)  # another user is not held back by alice
    assert bob.take() == [typing("general", "carol")]
    clock.now += 0.001  # 2 s after the one forwarded
    await alice_too.request(TYPING)
    assert bob.take() == [typing("general", "alice")]
    assert carol.take() == [typing("general", "alice")]
    # another chat has a throttle of its own
    await bob.request(chat("create", Chat="Other"))
    alice_away = await again(parley, token, "Other")
    assert await alice_away.request(TYPING) == []
    assert bob.take() == [typing("Other", "alice")]
    assert alice.take() == alice_too.take() == []


async def test_typing_failures(parley: Parley, clock: Clock) -> None:
    anonymous = parley.connect()
    assert await anonymous.ask(TYPING) == NOT_IN_CHAT
    alice, _ = await person(parley, "alice", None)
    assert await alice.ask(TYPING) == NOT_IN_CHAT  # logged in, no chat chosen
    await alice.request(chat("create", Chat="Doomed"))
    bob, _ = await person(parley, "bob", None)
    await bob.request(chat("choice", Chat="Doomed"))
    alice.take()
    await alice.request(chat("delete", Chat="Doomed"))
    assert bob.take()[0] == chat("delete", Status="deleted", Chat="Doomed")
    assert await bob.ask(TYPING) == {"Type": "chat", "Status": "error"}
    assert alice.take() == []  # (alice is in no chat now)
    assert await alice.ask(TYPING) == NOT_IN_CHAT


def test_spacing_forgets_quiet_keys() -> None:
    spacing = Spacing(2.0, prune_at=4)
    assert spacing.take((1, 1), 0.0)
    assert not spacing.take((1, 1), 1.9)
    for user_id in range(2, 5):
        assert spacing.take((user_id, 1), 1.0)
    # the map reached 4: the keys quiet for 2 s would go (none yet)
    assert len(spacing.stamps) == 4
    for user_id in range(5, 13):
        assert spacing.take((user_id, 1), 3.5)
    # pruned as it grew: what is left had an event in the last 2 s
    assert all(3.5 - stamp < 2.0 for stamp in spacing.stamps.values())
    assert len(spacing.stamps) == 8
    assert spacing.take((1, 1), 3.5)  # forgotten, and 2 s have passed anyway


# -- users ----------------------------------------------------------------------------------

def listed(*logins: str) -> Frame:
    return account("users", Users=list(logins))


async def test_users_by_prefix(parley: Parley) -> None:
    for login in ("alice", "Alfred", "ALBERT", "bob", "al_x", "alzx", "a.l", "Иван", "иветта",
                  "Ирина"):
        await person(parley, login, None)
    asker, _ = await person(parley, "zed", None)
    assert await asker.ask(account("users", Prefix="al")) == listed(
        "al_x", "ALBERT", "Alfred", "alice", "alzx")
    assert await asker.ask(account("users", Prefix="AL")) == listed(
        "al_x", "ALBERT", "Alfred", "alice", "alzx")
    assert await asker.ask(account("users", Prefix="ALI")) == listed("alice")
    assert await asker.ask(account("users", Prefix="ив")) == listed("Иван", "иветта")
    assert await asker.ask(account("users", Prefix="И")) == listed("Иван", "иветта", "Ирина")
    assert await asker.ask(account("users", Prefix="b")) == listed("bob")
    assert await asker.ask(account("users", Prefix="zed")) == listed("zed")  # oneself too
    assert await asker.ask(account("users", Prefix="q")) == listed()
    # `_` and `%` are themselves, not patterns
    assert await asker.ask(account("users", Prefix="al_")) == listed("al_x")
    assert await asker.ask(account("users", Prefix="%")) == listed()
    assert await asker.ask(account("users", Prefix="a%")) == listed()
    assert await asker.ask(account("users", Prefix="_")) == listed()
    assert await asker.ask(account("users", Prefix="a.")) == listed("a.l")
    # compared on login keys: NFKC, then case folding (a full-width A is an A)
    assert await asker.ask(account("users", Prefix="\uff21L")) == listed(
        "al_x", "ALBERT", "Alfred", "alice", "alzx")


async def test_users_lists_at_most_20_sorted(parley: Parley) -> None:
    for k in range(25, 0, -1):
        await person(parley, f"{'M' if k % 2 else 'm'}ember{k:02d}", None)
    asker, _ = await person(parley, "asker", None)
    expected = [f"{'M' if k % 2 else 'm'}ember{k:02d}" for k in range(1, 21)]
    assert await asker.ask(account("users", Prefix="mem")) == listed(*expected)
    assert await asker.ask(account("users", Prefix="member2")) == listed(
        "member20", "Member21", "member22", "Member23", "member24", "Member25")


async def test_users_failures(parley: Parley) -> None:
    anonymous = parley.connect()
    assert await anonymous.ask(account("users", Prefix="a")) == account(
        "users", Status="error in chat or user")
    asker, _ = await person(parley, "asker", None)
    bad = account("users", Status="error", Detail="Prefix must be 1 to 32 characters")
    assert await asker.ask(account("users", Prefix="")) == bad
    assert await asker.ask(account("users")) == bad
    assert await asker.ask(account("users", Prefix="a" * 33)) == bad
    assert await asker.ask(account("users", Prefix="a" * 32)) == listed()
    assert (await asker.ask(account("users", Prefix=5)))["Status"] == "error in json file"


# -- users, end to end (SQLite and PostgreSQL) ----------------------------------------------

async def test_users_on_a_server(connect: Connect) -> None:
    stem = unique("Fx")  # (the shared server has other tests' users)
    cyrillic = "Жд" + unique("").replace("x", "ж")
    for login in (f"{stem}_b", f"{stem.lower()}a", f"{stem.upper()}c", f"{stem}_", cyrillic):
        await user(connect, login=login)
    asker = await user(connect)
    await asker.send(account("users", Prefix=stem.lower()))
    assert await asker.recv() == listed(
        f"{stem}_", f"{stem}_b", f"{stem.lower()}a", f"{stem.upper()}c")
    await asker.send(account("users", Prefix=f"{stem}_"))
    assert await asker.recv() == listed(f"{stem}_", f"{stem}_b")
    await asker.send(account("users", Prefix=f"{stem}%"))
    assert await asker.recv() == listed()
    await asker.send(account("users", Prefix=cyrillic.lower()[:-1]))
    assert await asker.recv() == listed(cyrillic)
    await asker.send(account("users", Prefix=""))
    assert await asker.recv() == account(
        "users", Status="error", Detail="Prefix must be 1 to 32 characters")
