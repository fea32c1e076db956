"""``parley admin`` against two server processes sharing PostgreSQL (and Redis for their
own fan-out): each process reads the ``control`` table itself, so a disabled user's
sockets close on both within 2 seconds, and a deleted chat's notice reaches both, once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from admin_kit import Done, closed_within, run_cli
from conftest import PASSWORD, Postgres, ServerProcess, cluster, unique
from parley.client import Client


@pytest.fixture
def pair(tmp_path: Path, services: Postgres) -> Iterator[tuple[str, list[ServerProcess]]]:
    for made in cluster(tmp_path, services, "adm", 2):
        yield made[0].db_url, made


async def test_disable_closes_the_users_sockets_on_every_process(
    pair: tuple[str, list[ServerProcess]],
) -> None:
    db_url, (a, b) = pair
    login = unique("victim")
    first = await Client.connect(a.ws)
    second = await Client.connect(b.ws)
    try:
        assert (await first.register(login, PASSWORD))["Status"] == "success"
        assert (await second.login(login, PASSWORD))["Status"] == "success"
        done = await run_cli("--database-url", db_url, "disable", login)
        assert done.code == 0, done
        for client in (first, second):
            code, reason, _ = await closed_within(client, 2.0)
            assert (code, reason) == (4003, "account disabled")
        for proc in (a, b):
            again = await Client.connect(proc.ws)
            assert await again.login(login, PASSWORD) == {
                "Type": "account", "Command": "login", "Status": "disabled"}
            await again.close()
    finally:
        await first.close()
        await second.close()


async def test_a_deleted_chat_is_announced_once_on_every_process(
    pair: tuple[str, list[ServerProcess]],
) -> None:
    db_url, (a, b) = pair
    name = unique("room")
    owner = await Client.connect(a.ws)
    member = await Client.connect(b.ws)
    try:
        assert (await owner.register(unique("o"), PASSWORD))["Status"] == "success"
        assert (await owner.create(name))["Status"] == "success"
        assert (await member.register(unique("m"), PASSWORD))["Status"] == "success"
        assert (await member.choose(name))["Command"] == "choice"
        await owner.until(lambda f: f.get("Joined") == member.user)
        await member.until(lambda f: f.get("Joined") == member.user)
        assert await run_cli("--database-url", db_url, "delete-chat", name) == Done(
            0, f"deleted the chat {name}\n", "")
        deleted = {"Type": "chat", "Command": "delete", "Status": "deleted", "Chat": name}
        for client in (owner, member):
            assert await client.until(lambda f: f.get("Status") == "deleted",
                                      timeout=2.0) == deleted
            listing = await client.until(lambda f: f.get("Command") == "list", timeout=2.0)
            assert listing == {"Type": "chat", "Command": "list", "Chats": [
                {"name": "general", "closed": False, "owner": None}]}
            assert await client.silent(1.5)  # once: no process delivered it twice
    finally:
        await owner.close()
        await member.close()
