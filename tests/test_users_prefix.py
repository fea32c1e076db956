"""``users`` by prefix whatever the database's collation: the range scan and the order
are on login keys in code point order, on SQLite and on a PostgreSQL database whose
default collation is not ``C`` (there ``_``, ``-`` and ``.`` sort in another order and
the range ``[key, key+1)`` of a prefix holds other keys too)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conftest import Postgres, _run, unavailable
from inprocess import Frame, Parley, account
from parley.store import SqlStore

# (name, CREATE DATABASE options): the first that this server and machine can make
COLLATIONS = (
    ("ICU en-US", "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"),
    ("libc en_US.UTF-8", "LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'"),
)


@pytest.fixture(scope="module")
def collated(postgres: Postgres) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database with a natural-language collation."""
    if not postgres.reachable():
        unavailable("PostgreSQL")
    base = postgres.url.rsplit("/", 1)[0]
    tried = []
    for label, options in COLLATIONS:
        name = f"parley_collated_{label.split()[0].lower()}_{os.getpid()}"
        try:
            _run(postgres._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            _run(postgres._admin(f'CREATE DATABASE "{name}" TEMPLATE template0 {options}'))
        except Exception as exc:
            tried.append(f"{label}: {exc.__class__.__name__}")
            continue
        postgres.made.append(name)
        url = f"{base}/{name}"
        assert _run(_collation(url)) != "C"
        yield url
        return
    unavailable("a PostgreSQL database with a non-C collation (" + "; ".join(tried) + ")")


async def _collation(url: str) -> str:
    """What ``'a_b' < 'a-b'`` says about the database's default collation: ``C`` when
    code points decide (``-`` is U+002D, ``_`` U+005F), else another."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            before = (await conn.execute(sa.text("SELECT 'a-b' < 'a_b'"))).scalar_one()
    finally:
        await engine.dispose()
    return "C" if before else "natural"


@pytest.fixture(params=["sqlite", "postgresql-collated"])
async def parley(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Parley]:
    settings = {}
    if request.param != "sqlite":
        settings["database_url"] = request.getfixturevalue("collated")
    async with Parley.running(tmp_path / "data", **settings) as running:
        yield running


def listed(*logins: str) -> Frame:
    return account("users", Users=list(logins))


LOGINS = ("ab", "a_b", "A1", "a.b", "a-b", "alice", "ALICE2", "al_ice", "Al.Ice", "al-ice",
          "alz", "Bob", "b-o", "b_o", "b.o", "Zed")


async def test_users_by_prefix_in_code_point_order_of_keys(parley: Parley) -> None:
    for login in LOGINS:
        await parley.user(login)
    asker = await parley.user("zz.asker")
    # keys: casefolded; order: code points ("-" < "." < digits < "_" < letters)
    assert await asker.ask(account("users", Prefix="a")) == listed(
        "a-b", "a.b", "A1", "a_b", "ab", "al-ice", "Al.Ice", "al_ice", "alice", "ALICE2", "alz")
    assert await asker.ask(account("users", Prefix="AL")) == listed(
        "al-ice", "Al.Ice", "al_ice", "alice", "ALICE2", "alz")
    assert await asker.ask(account("users", Prefix="a_")) == listed("a_b")
    assert await asker.ask(account("users", Prefix="a-")) == listed("a-b")
    assert await asker.ask(account("users", Prefix="a.")) == listed("a.b")
    assert await asker.ask(account("users", Prefix="AL_")) == listed("al_ice")
    assert await asker.ask(account("users", Prefix="al.")) == listed("Al.Ice")
    assert await asker.ask(account("users", Prefix="al-i")) == listed("al-ice")
    assert await asker.ask(account("users", Prefix="alice")) == listed("alice", "ALICE2")
    assert await asker.ask(account("users", Prefix="B")) == listed("b-o", "b.o", "b_o", "Bob")
    assert await asker.ask(account("users", Prefix="b_")) == listed("b_o")
    assert await asker.ask(account("users", Prefix="z")) == listed("Zed", "zz.asker")
    assert await asker.ask(account("users", Prefix="zz.")) == listed("zz.asker")
    assert await asker.ask(account("users", Prefix="c")) == listed()


async def test_the_prefix_range_is_an_index_scan_on_postgresql(collated: str) -> None:
    """The store's query shape (keys ``COLLATE "C"``: range, order, limit) can be served by
    the index of revision 0008 alone (sequential scans off: the table is tiny)."""
    await (await SqlStore.open(collated)).close()  # migrated to the head
    engine = create_async_engine(collated)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SET enable_seqscan = off"))
            plan = (await conn.execute(sa.text(
                "EXPLAIN SELECT login FROM users WHERE login_key COLLATE \"C\" >= 'al' AND "
                "login_key COLLATE \"C\" < 'am' ORDER BY login_key COLLATE \"C\" LIMIT 20"
            ))).scalars().all()
    finally:
        await engine.dispose()
    assert any("users_login_key_c" in line for line in plan), plan
    assert not any("Sort" in line for line in plan), plan
