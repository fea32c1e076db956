"""Token logins kept in each process's memory, against two server processes sharing
PostgreSQL and Redis: a token revoked on one process (``logout``, ``logout`` with
``Everywhere``, ``password``) or by ``parley admin disable`` is refused on every
process as soon as that process has logged out the token's sockets there, though
each had logged it in before."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from admin_kit import closed_within, run_cli
from conftest import PASSWORD, Postgres, ServerProcess, cluster, unique
from parley.client import Client

LOGIN_FAILED = {"Type": "account", "Command": "login", "Status": "error"}
LOGOUT = {"Type": "account", "Command": "logout"}


@pytest.fixture
def pair(tmp_path: Path, services: Postgres) -> Iterator[list[ServerProcess]]:
    yield from cluster(tmp_path, services, "tok", 2)


async def logged_in(proc: ServerProcess, token: str | None) -> Client:
    """A new socket on ``proc`` logged in with ``token`` (twice: read, then kept)."""
    client = await Client.connect(proc.ws)
    for _ in range(2):
        assert (await client.login(token=token))["Status"] == "success"
    return client


async def refused(token: str | None, *procs: ServerProcess) -> None:
    for proc in procs:
        async with await Client.connect(proc.ws) as client:
            assert await client.login(token=token) == LOGIN_FAILED


async def test_a_plain_logout_on_one_process_refuses_the_token_on_the_other(
    pair: list[ServerProcess],
) -> None:
    a, b = pair
    async with await Client.connect(a.ws) as owner:
        assert (await owner.register(unique("tok"), PASSWORD))["Status"] == "success"
        token = owner.token
        on_a, on_b = await logged_in(a, token), await logged_in(b, token)
        assert await owner.logout() == {**LOGOUT, "Status": "success"}
        for client in (on_a, on_b):  # (each process has had the user event)
            assert await client.recv() == {**LOGOUT, "Status": "logged out"}
            await client.close()
        await refused(token, a, b)


async def test_logout_everywhere_on_one_process_refuses_every_token_on_the_other(
    pair: list[ServerProcess],
) -> None:
    a, b = pair
    login = unique("tok")
    async with await Client.connect(a.ws) as owner:
        assert (await owner.register(login, PASSWORD))["Status"] == "success"
        other = await Client.connect(b.ws)
        assert (await other.login(login, PASSWORD))["Status"] == "success"
        tokens = [owner.token, other.token]
        on_b = await logged_in(b, owner.token)
        assert await owner.request({**LOGOUT, "Everywhere": True}) == {
            **LOGOUT, "Status": "success"}
        for client in (other, on_b):
            code, reason, _ = await closed_within(client, 5.0)
            assert (code, reason) == (4001, "logged out")
            await client.close()
        for token in tokens:
            await refused(token, a, b)


async def test_a_new_password_on_one_process_refuses_the_old_tokens_on_the_other(
    pair: list[ServerProcess],
) -> None:
    a, b = pair
    async with await Client.connect(a.ws) as owner:
        assert (await owner.register(unique("tok"), PASSWORD))["Status"] == "success"
        old = owner.token
        on_b = await logged_in(b, old)
        answer = await owner.request({"Type": "account", "Command": "password",
                                      "Old": PASSWORD, "New": "a new horse staple"})
        assert answer["Status"] == "success"
        code, reason, _ = await closed_within(on_b, 5.0)
        assert (code, reason) == (4001, "logged out")
        await on_b.close()
        await refused(old, a, b)
        await (await logged_in(b, answer["Token"])).close()  # (the new one works)


@pytest.fixture
def pair_url(tmp_path: Path, services: Postgres) -> Iterator[tuple[str, list[ServerProcess]]]:
    for made in cluster(tmp_path, services, "tokadm", 2):
        yield made[0].db_url, made


async def test_parley_admin_disable_refuses_the_kept_token_on_every_process(
    pair_url: tuple[str, list[ServerProcess]],
) -> None:
    db_url, (a, b) = pair_url
    async with await Client.connect(a.ws) as owner:
        assert (await owner.register(unique("tok"), PASSWORD))["Status"] == "success"
        token = owner.token
        sockets = [await logged_in(a, token), await logged_in(b, token)]
        done = await run_cli("--database-url", db_url, "disable", str(owner.user))
        assert done.code == 0, done
        for client in sockets:
            code, reason, _ = await closed_within(client, 5.0)
            assert (code, reason) == (4003, "account disabled")
            await client.close()
        await refused(token, a, b)
