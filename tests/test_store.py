"""parley.store.SqlStore on a real SQLite file (and on PostgreSQL where a test says so)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from conftest import PG_URL, Postgres, unavailable
from parley.model import Chat, ChatSummary, Draft, Stored, StoredMessage, User, now_ms
from parley.store import SqlStore

T0 = 1_795_534_662_000  # 2026-11-24T15:37:42.000Z
IMAGE = "0123456789abcdef0123456789abcdef.png"


def url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqlStore]:
    opened = await SqlStore.open(url(tmp_path / "t.db"))
    yield opened
    await opened.close()


async def new_user(store: SqlStore, login: str = "alice") -> User:
    user = await store.create_user(login, login.lower(), "hash")
    assert user is not None
    return user


async def new_chat(store: SqlStore, name: str = "room", owner: User | None = None) -> Chat:
    owner = owner or await new_user(store, "owner-" + name)
    chat = await store.create_chat(name, owner.id, None)
    assert chat is not None
    return chat


def draft(chat: Chat, user: User, text: str | None = "hi", *, nonce: str | None = None,
          image: str | None = None, data: bytes | None = None, at: int = T0) -> Draft:
    return Draft(chat_id=chat.id, chat=chat.name, user_id=user.id, login=user.login, text=text,
                 image=image, image_size=0 if image is None else 123, image_data=data,
                 nonce=nonce, created_ms=at)


def out(chat: Chat, id_: int, user: User, text: str | None = "hi", *, at: int = T0,
        image: str | None = None, nonce: str | None = None) -> StoredMessage:
    return StoredMessage(chat_id=chat.id, id=id_, user_id=user.id, login=user.login, text=text,
                         image=image, nonce=nonce, created_ms=at)


async def fill(store: SqlStore, chat: Chat, user: User, count: int) -> None:
    stored = await store.insert_messages(
        [draft(chat, user, f"m{i}", at=T0 + i) for i in range(1, count + 1)])
    assert [s.message.id for s in stored if s.message] == list(range(1, count + 1))


def texts(page: list[StoredMessage]) -> list[str | None]:
    return [m.text for m in page]


# --------------------------------------------------------------------------- schema


async def test_new_database_has_general(store: SqlStore) -> None:
    assert await store.list_chats() == [ChatSummary("general", False, None)]


async def test_general_is_empty(store: SqlStore) -> None:
    general = await store.find_chat("general")
    assert general is not None
    assert general.owner_id is None
    assert general.closed is False
    assert await store.last_id(general.id) == 0
    assert await store.history(general.id, limit=30) == []


async def test_ping(store: SqlStore) -> None:
    await store.ping()


# --------------------------------------------------------------------------- users and tokens


async def test_create_user(store: SqlStore) -> None:
    user = await store.create_user("Alice", "alice", "hash-a")
    assert user is not None
    assert user.login == "Alice"
    assert await store.find_user("alice") == (user, "hash-a")


async def test_create_user_with_taken_key(store: SqlStore) -> None:
    first = await store.create_user("Alice", "alice", "hash-a")
    assert await store.create_user("ALICE", "alice", "hash-b") is None
    assert await store.find_user("alice") == (first, "hash-a")


async def test_users_get_distinct_ids(store: SqlStore) -> None:
    alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
    assert alice.id != bob.id
    assert await store.find_user("bob") == (bob, "hash")


async def test_find_unknown_user(store: SqlStore) -> None:
    assert await store.find_user("nobody") is None


async def test_token(store: SqlStore) -> None:
    alice = await new_user(store)
    await store.add_token("d" * 64, alice.id, now_ms() + 60_000)
    assert await store.user_by_token("d" * 64) == alice


async def test_unknown_token(store: SqlStore) -> None:
    alice = await new_user(store)
    await store.add_token("d" * 64, alice.id, now_ms() + 60_000)
    assert await store.user_by_token("e" * 64) is None


async def test_expired_token(store: SqlStore) -> None:
    alice = await new_user(store)
    await store.add_token("d" * 64, alice.id, now_ms() - 1)
    assert await store.user_by_token("d" * 64) is None


async def test_revoke_token(store: SqlStore) -> None:
    alice = await new_user(store)
    await store.add_token("d" * 64, alice.id, now_ms() + 60_000)
    await store.add_token("e" * 64, alice.id, now_ms() + 60_000)
    await store.revoke_token("d" * 64)
    assert await store.user_by_token("d" * 64) is None
    assert await store.user_by_token("e" * 64) == alice


async def test_revoke_unknown_token(store: SqlStore) -> None:
    await store.revoke_token("f" * 64)


# --------------------------------------------------------------------------- chats


async def test_create_chat(store: SqlStore) -> None:
    alice = await new_user(store)
    chat = await store.create_chat("room", alice.id, None)
    assert chat is not None
    assert (chat.name, chat.owner_id, chat.password_hash, chat.closed) == (
        "room", alice.id, None, False)
    assert await store.find_chat("room") == chat
    assert await store.chat_exists(chat.id) is True
    assert await store.last_id(chat.id) == 0


async def test_owner_is_a_member(store: SqlStore) -> None:
    alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
    chat = await new_chat(store, owner=alice)
    assert await store.is_member(chat.id, alice.id) is True
    assert await store.is_member(chat.id, bob.id) is False


async def test_closed_chat(store: SqlStore) -> None:
    alice = await new_user(store)
    chat = await store.create_chat("den", alice.id, "pw-hash")
    assert chat is not None
    assert chat.closed is True
    assert await store.find_chat("den") == Chat(chat.id, "den", alice.id, "pw-hash")


async def test_list_chats_in_creation_order(store: SqlStore) -> None:
    alice = await new_user(store, "Alice")
    await store.create_chat("zeta", alice.id, None)
    await store.create_chat("alpha", alice.id, "pw-hash")
    assert await store.list_chats() == [
        ChatSummary("general", False, None), ChatSummary("zeta", False, "Alice"),
        ChatSummary("alpha", True, "Alice")]


async def test_duplicate_chat(store: SqlStore) -> None:
    alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
    first = await store.create_chat("room", alice.id, None)
    assert await store.create_chat("room", bob.id, "pw") is None
    assert await store.find_chat("room") == first
    assert await store.is_member(first.id, bob.id) is False  # type: ignore[union-attr]


async def test_general_cannot_be_created_again(store: SqlStore) -> None:
    alice = await new_user(store)
    assert await store.create_chat("general", alice.id, None) is None


async def test_find_unknown_chat(store: SqlStore) -> None:
    assert await store.find_chat("nope") is None


async def test_chat_names_are_exact(store: SqlStore) -> None:
    await new_chat(store, "Room")
    assert await store.find_chat("room") is None


async def test_add_member(store: SqlStore) -> None:
    chat = await new_chat(store)
    bob = await new_user(store, "bob")
    await store.add_member(chat.id, bob.id)
    assert await store.is_member(chat.id, bob.id) is True


async def test_add_member_twice(store: SqlStore) -> None:
    chat = await new_chat(store)
    bob = await new_user(store, "bob")
    await store.add_member(chat.id, bob.id)
    await store.add_member(chat.id, bob.id)
    assert await store.is_member(chat.id, bob.id) is True


async def test_add_member_to_missing_chat(store: SqlStore) -> None:
    bob = await new_user(store, "bob")
    await store.add_member(999, bob.id)
    assert await store.is_member(999, bob.id) is False


# --------------------------------------------------------------------------- messages


async def test_insert_numbers_from_one(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    stored = await store.insert_messages(
        [draft(chat, alice, "a"), draft(chat, alice, "b"), draft(chat, alice, "c")])
    assert stored == [Stored(out(chat, 1, alice, "a")), Stored(out(chat, 2, alice, "b")),
                      Stored(out(chat, 3, alice, "c"))]
    assert await store.last_id(chat.id) == 3


async def test_insert_continues_after_last_id(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 2)
    stored = await store.insert_messages([draft(chat, alice, "next")])
    assert stored == [Stored(out(chat, 3, alice, "next"))]


async def test_insert_two_chats_in_one_batch(store: SqlStore) -> None:
    one, two = await new_chat(store, "one"), await new_chat(store, "two")
    alice = await new_user(store)
    await fill(store, one, alice, 5)
    stored = await store.insert_messages([
        draft(one, alice, "a"), draft(two, alice, "b"), draft(one, alice, "c"),
        draft(two, alice, "d")])
    assert [(s.message.id, s.message.text) for s in stored if s.message] == [
        (6, "a"), (1, "b"), (7, "c"), (2, "d")]
    assert texts(await store.history(two.id, limit=10)) == ["b", "d"]
    assert await store.last_id(one.id) == 7
    assert await store.last_id(two.id) == 2


async def test_insert_image_message(store: SqlStore) -> None:
    chat = await new_chat(store, "my room")
    alice = await new_user(store)
    stored = await store.insert_messages([draft(chat, alice, None, image=IMAGE)])
    message = out(chat, 1, alice, None, image=IMAGE)
    assert stored == [Stored(message)]
    assert await store.history(chat.id, limit=5) == [message]
    assert await store.has_image(chat.id, IMAGE) is True


async def test_same_image_twice(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.insert_messages([draft(chat, alice, None, image=IMAGE)])
    stored = await store.insert_messages(
        [draft(chat, alice, "again", image=IMAGE), draft(chat, alice, "and", image=IMAGE)])
    assert [s.message.id for s in stored if s.message] == [2, 3]
    assert await store.has_image(chat.id, IMAGE) is True


async def test_has_image_of_other_chat(store: SqlStore) -> None:
    one, two = await new_chat(store, "one"), await new_chat(store, "two")
    alice = await new_user(store)
    await store.insert_messages([draft(one, alice, None, image=IMAGE)])
    assert await store.has_image(two.id, IMAGE) is False


async def test_image_kept_as_file_has_no_data(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.insert_messages([draft(chat, alice, None, image=IMAGE)])
    assert await store.image_data(chat.id, IMAGE) is None


async def test_image_bytes_in_the_database(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.insert_messages([draft(chat, alice, None, image=IMAGE, data=b"\x89PNG bytes")])
    assert await store.image_data(chat.id, IMAGE) == b"\x89PNG bytes"
    assert await store.has_image(chat.id, IMAGE) is True


async def test_image_data_of_unknown_image(store: SqlStore) -> None:
    chat = await new_chat(store)
    assert await store.image_data(chat.id, IMAGE) is None


async def test_image_data_is_per_chat(store: SqlStore) -> None:
    one, two = await new_chat(store, "one"), await new_chat(store, "two")
    alice = await new_user(store)
    await store.insert_messages([draft(one, alice, None, image=IMAGE, data=b"bytes")])
    assert await store.image_data(two.id, IMAGE) is None


async def test_image_data_gone_with_its_chat(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.insert_messages([draft(chat, alice, None, image=IMAGE, data=b"bytes")])
    await store.delete_chat(chat.id)
    assert await store.image_data(chat.id, IMAGE) is None


async def test_nonce_stored_before(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    first = await store.insert_messages([draft(chat, alice, "once", nonce="n1", at=T0)])
    again = await store.insert_messages([draft(chat, alice, "once", nonce="n1", at=T0 + 5)])
    assert first == [Stored(out(chat, 1, alice, "once", at=T0, nonce="n1"))]
    assert again == [Stored(out(chat, 1, alice, "once", at=T0, nonce="n1"), duplicate=True)]
    assert texts(await store.history(chat.id, limit=10)) == ["once"]
    assert await store.last_id(chat.id) == 1


async def test_nonce_twice_in_one_batch(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    stored = await store.insert_messages([
        draft(chat, alice, "a", nonce="n1"), draft(chat, alice, "b"),
        draft(chat, alice, "a", nonce="n1"), draft(chat, alice, "c", nonce="n2")])
    assert stored == [
        Stored(out(chat, 1, alice, "a", nonce="n1")), Stored(out(chat, 2, alice, "b")),
        Stored(out(chat, 1, alice, "a", nonce="n1"), duplicate=True),
        Stored(out(chat, 3, alice, "c", nonce="n2"))]
    assert texts(await store.history(chat.id, limit=10)) == ["a", "b", "c"]
    assert await store.last_id(chat.id) == 3


async def test_ids_go_on_after_a_duplicate(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.insert_messages([draft(chat, alice, "a", nonce="n1")])
    await store.insert_messages([draft(chat, alice, "a", nonce="n1")])
    stored = await store.insert_messages([draft(chat, alice, "b")])
    assert stored == [Stored(out(chat, 2, alice, "b"))]


async def test_same_nonce_from_another_user(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice, bob = await new_user(store, "alice"), await new_user(store, "bob")
    stored = await store.insert_messages(
        [draft(chat, alice, "a", nonce="n1"), draft(chat, bob, "b", nonce="n1")])
    assert stored == [Stored(out(chat, 1, alice, "a", nonce="n1")),
                      Stored(out(chat, 2, bob, "b", nonce="n1"))]


async def test_same_nonce_in_another_chat(store: SqlStore) -> None:
    one, two = await new_chat(store, "one"), await new_chat(store, "two")
    alice = await new_user(store)
    await store.insert_messages([draft(one, alice, "a", nonce="n1")])
    stored = await store.insert_messages([draft(two, alice, "a", nonce="n1")])
    assert stored == [Stored(out(two, 1, alice, "a", nonce="n1"))]
    assert texts(await store.history(two.id, limit=10)) == ["a"]


async def test_draft_for_missing_chat(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    ghost = Chat(999, "ghost", None, None)
    stored = await store.insert_messages(
        [draft(ghost, alice, "lost"), draft(chat, alice, "kept")])
    assert stored == [Stored(None), Stored(out(chat, 1, alice, "kept"))]
    assert await store.last_id(999) is None


async def test_draft_for_deleted_chat(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    assert await store.delete_chat(chat.id) is True
    assert await store.insert_messages([draft(chat, alice, "late")]) == [Stored(None)]


async def test_insert_nothing(store: SqlStore) -> None:
    assert await store.insert_messages([]) == []


# --------------------------------------------------------------------------- history


async def test_history_newest_page_oldest_first(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 10)
    page = await store.history(chat.id, limit=3)
    assert page == [out(chat, 8, alice, "m8", at=T0 + 8), out(chat, 9, alice, "m9", at=T0 + 9),
                    out(chat, 10, alice, "m10", at=T0 + 10)]


async def test_history_shorter_than_limit(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 2)
    assert texts(await store.history(chat.id, limit=30)) == ["m1", "m2"]


async def test_history_before(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 10)
    assert texts(await store.history(chat.id, before=8, limit=3)) == ["m5", "m6", "m7"]


async def test_history_before_the_start(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 10)
    assert texts(await store.history(chat.id, before=3, limit=5)) == ["m1", "m2"]
    assert await store.history(chat.id, before=1, limit=5) == []


async def test_history_after(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 10)
    assert texts(await store.history(chat.id, after=4, limit=3)) == ["m5", "m6", "m7"]


async def test_history_after_the_end(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 10)
    assert texts(await store.history(chat.id, after=8, limit=5)) == ["m9", "m10"]
    assert await store.history(chat.id, after=10, limit=5) == []


async def test_history_after_zero(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 3)
    assert texts(await store.history(chat.id, after=0, limit=5)) == ["m1", "m2", "m3"]


async def test_history_of_one_chat_only(store: SqlStore) -> None:
    one, two = await new_chat(store, "one"), await new_chat(store, "two")
    alice = await new_user(store)
    await fill(store, one, alice, 3)
    assert await store.history(two.id, limit=30) == []


# --------------------------------------------------------------------------- delete


async def test_delete_chat(store: SqlStore, tmp_path: Path) -> None:
    chat = await new_chat(store)
    keep = await new_chat(store, "keep")
    alice = await new_user(store)
    await store.add_member(chat.id, alice.id)
    await store.insert_messages([draft(chat, alice, "x", image=IMAGE),
                                 draft(keep, alice, "y", image=IMAGE)])
    assert await store.delete_chat(chat.id) is True
    assert await store.find_chat("room") is None
    assert await store.chat_exists(chat.id) is False
    assert await store.last_id(chat.id) is None
    assert await store.history(chat.id, limit=30) == []
    assert await store.is_member(chat.id, alice.id) is False
    assert await store.has_image(chat.id, IMAGE) is False
    assert await store.has_image(keep.id, IMAGE) is True
    assert [c.name for c in await store.list_chats()] == ["general", "keep"]
    with sqlite3.connect(tmp_path / "t.db") as db:
        for table in ("messages", "members", "images"):
            count = db.execute(f"SELECT count(*) FROM {table} WHERE chat_id = ?", (chat.id,))
            assert count.fetchone() == (0,), table
    db.close()


async def test_delete_chat_twice(store: SqlStore) -> None:
    chat = await new_chat(store)
    assert await store.delete_chat(chat.id) is True
    assert await store.delete_chat(chat.id) is False


async def test_chat_name_free_again_after_delete(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await fill(store, chat, alice, 3)
    await store.delete_chat(chat.id)
    again = await store.create_chat("room", alice.id, None)
    assert again is not None
    assert await store.history(again.id, limit=30) == []
    assert (await store.insert_messages([draft(again, alice, "new")]))[0].message == out(
        again, 1, alice, "new")


async def test_deleted_chat_id_is_not_reused(store: SqlStore) -> None:
    alice = await new_user(store)
    old = await new_chat(store, "old", owner=alice)
    await store.delete_chat(old.id)
    new = await new_chat(store, "new", owner=alice)
    assert new.id != old.id


async def test_late_draft_for_deleted_chat_does_not_land_in_a_newer_chat(
    store: SqlStore,
) -> None:
    alice = await new_user(store)
    old = await new_chat(store, "old", owner=alice)
    await store.delete_chat(old.id)
    secret = await store.create_chat("secret", alice.id, "pw-hash")
    assert secret is not None
    # A sender still in "old" (its delete notice not yet seen) sends a message.
    assert await store.insert_messages([draft(old, alice, "late")]) == [Stored(None)]
    assert await store.history(secret.id, limit=30) == []


# --------------------------------------------------------------------------- durability


async def test_reopened_store_keeps_everything(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    first = await SqlStore.open(url(path))
    alice = await new_user(first)
    chat = await first.create_chat("den", alice.id, "pw-hash")
    assert chat is not None
    await first.add_token("d" * 64, alice.id, now_ms() + 60_000)
    await first.insert_messages([draft(chat, alice, "a", nonce="n1"), draft(chat, alice, "b")])
    await first.close()

    second = await SqlStore.open(url(path))
    try:
        assert await second.find_user("alice") == (alice, "hash")
        assert await second.user_by_token("d" * 64) == alice
        assert await second.find_chat("den") == chat
        assert await second.list_chats() == [ChatSummary("general", False, None),
                                             ChatSummary("den", True, "alice")]
        assert texts(await second.history(chat.id, limit=30)) == ["a", "b"]
        again = await second.insert_messages(
            [draft(chat, alice, "a", nonce="n1"), draft(chat, alice, "c")])
        assert again == [Stored(out(chat, 1, alice, "a", nonce="n1"), duplicate=True),
                         Stored(out(chat, 3, alice, "c"))]
    finally:
        await second.close()


async def test_bad_sqlite_synchronous(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite_synchronous must be FULL, NORMAL or EXTRA"):
        await SqlStore.open(url(tmp_path / "t.db"), sqlite_synchronous="OFF")


# --------------------------------------------------------------------------- domain values


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_history_gives_the_stored_messages(
    database: str, tmp_path: Path, postgres: Postgres
) -> None:
    """A page holds every stored field (the sender's id, the nonce), not a wire answer."""
    if database == "postgresql":
        if not postgres.reachable():
            unavailable(f"PostgreSQL at {PG_URL}")
        opened = await SqlStore.open(postgres.new_database())
    else:
        opened = await SqlStore.open(url(tmp_path / "t.db"))
    try:
        chat = await new_chat(opened, "a room/x")
        alice = await new_user(opened)
        stored = await opened.insert_messages([
            draft(chat, alice, "a", nonce="n1", at=T0),
            draft(chat, alice, None, image=IMAGE, data=b"bytes", at=T0 + 1)])
        first = StoredMessage(chat_id=chat.id, id=1, user_id=alice.id, login="alice", text="a",
                              image=None, nonce="n1", created_ms=T0)
        second = StoredMessage(chat_id=chat.id, id=2, user_id=alice.id, login="alice",
                               text=None, image=IMAGE, nonce=None, created_ms=T0 + 1)
        assert stored == [Stored(first), Stored(second)]
        assert await opened.history(chat.id, limit=30) == [first, second]
        assert await opened.history(chat.id, after=1, limit=30) == [second]
        assert await opened.image_data(chat.id, IMAGE) == b"bytes"
    finally:
        await opened.close()


# --------------------------------------------------------------------------- membership


async def test_remove_member(store: SqlStore) -> None:
    chat = await new_chat(store)
    alice = await new_user(store)
    await store.add_member(chat.id, alice.id)
    await store.remove_member(chat.id, alice.id)
    assert await store.is_member(chat.id, alice.id) is False
    await store.remove_member(chat.id, alice.id)  # not a member: nothing happens
    await store.add_member(chat.id, alice.id)
    assert await store.is_member(chat.id, alice.id) is True


async def test_remove_owner_membership(store: SqlStore) -> None:
    alice = await new_user(store)
    chat = await new_chat(store, owner=alice)
    await store.remove_member(chat.id, alice.id)
    assert await store.is_member(chat.id, alice.id) is False
    assert await store.find_chat("room") == chat  # still the owner


async def test_names_unique_after_case_folding(store: SqlStore) -> None:
    alice = await new_user(store)
    await new_chat(store, "Team", owner=alice)
    for name in ("team", "TEAM", "\uff34eam", "General"):
        assert await store.name_taken(name) is True, name
        assert await store.create_chat(name, alice.id, None) is None, name
    assert await store.name_taken("Team 2") is False
    assert await store.find_chat("team") is None  # finding stays exact
    chat = await store.find_chat("Team")
    assert chat is not None
    await store.delete_chat(chat.id)
    assert await store.name_taken("team") is False
    assert await store.create_chat("team", alice.id, None) is not None


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_concurrent_creates_of_look_alike_names(
    database: str, tmp_path: Path, postgres: Postgres
) -> None:
    """The unique index decides: of ``Team`` and ``team`` created at once, one is made."""
    if database == "postgresql":
        if not postgres.reachable():
            unavailable(f"PostgreSQL at {PG_URL}")
        opened = await SqlStore.open(postgres.new_database())
    else:
        opened = await SqlStore.open(url(tmp_path / "t.db"))
    try:
        alice = await new_user(opened)
        bob = await new_user(opened, "bob")
        for round_ in range(10):
            names = [f"Team{round_}", f"team{round_}", f"TEAM{round_}", f"tEaM{round_}"]
            made = await asyncio.gather(*(
                opened.create_chat(name, (alice, bob)[i % 2].id, None)
                for i, name in enumerate(names)))
            assert sum(chat is not None for chat in made) == 1, made
        assert len(await opened.list_chats()) == 11
    finally:
        await opened.close()
