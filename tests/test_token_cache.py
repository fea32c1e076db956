"""Token logins from memory: what a read found is kept, forgetting wins over a read
under way, and expired, disabled or unknown tokens are never answered from memory."""

from __future__ import annotations

import asyncio

from parley.model import User, now_ms
from parley.token_cache import TokenCache

ALICE = User(1, "alice")
FAR = 99_999_999_999_999


class Database:
    """Token digest -> (user, expiry), counting reads; a read may be held open."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[User, int]] = {}
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def read(self, digest: str) -> tuple[User, int] | None:
        self.reads += 1
        found = self.rows.get(digest)
        if self.gate is not None:
            await self.gate.wait()
        return found


async def test_a_token_read_once_is_answered_from_memory() -> None:
    cache, db = TokenCache(), Database()
    db.rows["t"] = (ALICE, FAR)
    assert [await cache.user("t", db.read) for _ in range(3)] == [ALICE] * 3
    assert (db.reads, cache.hits, cache.misses) == (1, 2, 1)


async def test_unknown_disabled_and_expired_tokens_are_read_every_time() -> None:
    cache, db = TokenCache(), Database()
    db.rows["off"] = (User(2, "bob", True), FAR)
    db.rows["old"] = (ALICE, now_ms() - 1)  # (the database would not find it: still)
    for _ in range(2):
        assert await cache.user("nope", db.read) is None
        assert await cache.user("off", db.read) == User(2, "bob", True)
        assert await cache.user("old", db.read) == ALICE
    assert db.reads == 6
    assert len(cache) == 0


async def test_forgetting_a_token_or_a_user_reads_the_database_again() -> None:
    cache, db = TokenCache(), Database()
    db.rows.update({"t1": (ALICE, FAR), "t2": (ALICE, FAR), "b": (User(2, "bob"), FAR)})
    for digest in ("t1", "t2", "b"):
        await cache.user(digest, db.read)
    del db.rows["t1"]
    cache.forget("t1")
    assert await cache.user("t1", db.read) is None
    assert await cache.user("t2", db.read) == ALICE
    assert db.reads == 4
    del db.rows["t2"]
    cache.forget_user(ALICE.id)
    assert await cache.user("t2", db.read) is None
    assert await cache.user("b", db.read) == User(2, "bob")
    assert db.reads == 5


async def test_a_read_under_way_when_the_user_is_forgotten_is_not_kept() -> None:
    cache, db = TokenCache(), Database()
    db.rows["t"] = (ALICE, FAR)
    db.gate = asyncio.Event()
    reading = asyncio.ensure_future(cache.user("t", db.read))
    await asyncio.sleep(0)
    del db.rows["t"]  # revoked after the read found it, before it came back
    cache.forget_user(ALICE.id)
    db.gate.set()
    assert await reading == ALICE  # (a login that began before the revocation)
    db.gate = None
    assert await cache.user("t", db.read) is None


async def test_a_kept_token_is_read_again_after_the_ttl() -> None:
    cache, db = TokenCache(ttl=0.0), Database()
    db.rows["t"] = (ALICE, FAR)
    await cache.user("t", db.read)
    await asyncio.sleep(0.01)
    del db.rows["t"]
    assert await cache.user("t", db.read) is None


async def test_the_oldest_token_goes_first_when_the_cache_is_full() -> None:
    cache, db = TokenCache(size=2), Database()
    for n in range(3):
        db.rows[f"t{n}"] = (User(n, f"u{n}"), FAR)
        await cache.user(f"t{n}", db.read)
    assert len(cache) == 2
    await cache.user("t0", db.read)
    assert db.reads == 4
