"""``parley admin`` against a running ``parley serve`` (SQLite and PostgreSQL): the server
acts on each change within 2 seconds, through the ``control`` table it reads each second."""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from pathlib import Path

from admin_kit import Done, closed_within, db_args, execute, inproc, run_cli, when
from conftest import FAST, PASSWORD, Connect, MakeServer, ServerProcess, left, room, user
from images_data import PNG, b64, image_bytes, md5
from parley.admin import POSTGRES_SPACE
from parley.client import Client

DISABLED = {"Type": "account", "Command": "login", "Status": "disabled"}
LOGIN_FAILED = {"Type": "account", "Command": "login", "Status": "error"}


async def login(url: str, login: str | None = None, password: str | None = None, *,
                token: str | None = None) -> tuple[Client, dict[str, object]]:
    client = await Client.connect(url)
    answer = await client.login(login, password, token=token)
    return client, answer


async def test_disable_closes_the_users_sockets_and_refuses_their_logins(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    name, (watcher, victim) = await room(connect, url=server.ws)
    await victim.say("still here")
    await watcher.until(lambda f: f.get("Message", {}).get("text") == "still here")
    second, answer = await login(server.ws, token=victim.token)
    assert answer["Status"] == "success"
    done = await run_cli(*db_args(server), "disable", str(victim.user))
    assert done.code == 0, done
    for client in (victim, second):
        code, reason, _took = await closed_within(client, 2.0)
        assert (code, reason) == (4003, "account disabled")
    await second.close()
    assert await server.rows("SELECT t.digest FROM tokens t JOIN users u ON u.id = t.user_id "
                             "WHERE u.login = :login", login=victim.user) == []
    again, answer = await login(server.ws, victim.user, PASSWORD)
    assert answer == DISABLED
    assert (await again.login(token=victim.token)) == LOGIN_FAILED  # revoked
    # a token that outlived the disabling (issued meanwhile) is refused just the same
    token = "a token issued while the account was being disabled"
    await execute(server, "INSERT INTO tokens (digest, user_id, expires_ms) "
                  "SELECT :digest, id, 99999999999999 FROM users WHERE login = :login",
                  digest=hashlib.sha256(token.encode()).hexdigest(), login=victim.user)
    assert (await again.login(token=token)) == DISABLED
    # the messages stay, under the user's name
    assert await server.rows(
        "SELECT m.login, m.text FROM messages m JOIN chats c ON c.id = m.chat_id "
        "WHERE c.name = :chat", chat=name) == [(victim.user, "still here")]
    assert await watcher.recv() == left(name, victim.user)  # and nothing else
    assert await watcher.silent()
    assert (await inproc(*db_args(server), "enable", str(victim.user))).code == 0
    assert (await again.login(token=token)) == LOGIN_FAILED  # revoked by enable
    assert (await again.login(victim.user, PASSWORD))["Status"] == "success"
    await again.close()


async def test_reset_password_logs_the_user_out_and_the_new_password_works(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    victim = await user(connect, server.ws)
    old_token = victim.token
    done = await run_cli(*db_args(server), "--json", "reset-password", str(victim.user))
    password = done.json()["password"]
    code, reason, _ = await closed_within(victim, 2.0)
    assert (code, reason) == (4001, "logged out")
    client, answer = await login(server.ws, token=old_token)
    assert answer == LOGIN_FAILED
    assert (await client.login(victim.user, PASSWORD)) == LOGIN_FAILED
    assert (await client.login(victim.user, password))["Status"] == "success"
    await client.close()


async def test_delete_chat_does_what_the_owners_delete_does(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    name, (owner, member) = await room(connect, url=server.ws)
    outsider = await user(connect, server.ws)
    await owner.say(image=b64(PNG))
    for client in (owner, member):
        await client.until(lambda f: f.get("Command") == "message")
    assert await server.images(name) == [f"{md5(PNG)}.png"]
    done = await run_cli(*db_args(server), "delete-chat", name)
    assert done == Done(0, f"deleted the chat {name}\n", "")
    start = time.monotonic()
    deleted = {"Type": "chat", "Command": "delete", "Status": "deleted", "Chat": name}
    for client in (owner, member):
        assert await client.recv(2.0) == deleted
    # every logged-in socket gets the new chat list, without the chat
    for client in (owner, member, outsider):
        assert await client.recv(2.0) == {"Type": "chat", "Command": "list", "Chats": [
            {"name": "general", "closed": False, "owner": None}]}
    assert time.monotonic() - start < 2.0
    assert await server.rows("SELECT id FROM chats WHERE name = :n", n=name) == []
    assert await server.images() == []
    assert await server.rows("SELECT count(*) FROM messages") == [(0,)]
    assert (await member.choose(name)) == {"Type": "chat", "Status": "error"}
    # the JSON form
    other = (await room(connect, url=server.ws))[0]
    assert (await inproc(*db_args(server), "--json", "delete-chat", other)).json() == {
        "chat": other, "deleted": True}


async def test_purge_chat_keeps_the_newer_messages_and_frees_the_disk(
    make_server: MakeServer, connect: Connect
) -> None:
    server = make_server(*FAST)
    name, (owner, member) = await room(connect, url=server.ws)
    blue = image_bytes("PNG", color="blue")
    old_count = 400
    for n in range(old_count):
        await owner.say(f"old {n} " + "x" * 2000)
    await owner.say(f"@{member.user} old mention")
    await owner.say(image=b64(PNG))  # only old messages show it
    await owner.say(image=b64(blue))  # an old message and a new one show it
    last_old = old_count + 3
    await owner.until(lambda f: f.get("Message", {}).get("id") == last_old, timeout=30)
    [(blue_name,)] = await server.rows("SELECT image FROM messages WHERE id = :id",
                                       id=last_old)
    reaction = {"Type": "chat", "Command": "react", "Id": 1, "Emoji": "👍"}
    await member.send(reaction)
    await member.until(lambda f: f.get("Command") == "react" and "Reactions" in f)
    await execute(server, "UPDATE messages SET created_ms = 1000 WHERE id <= :last AND "
                  "chat_id = (SELECT id FROM chats WHERE name = :n)", last=last_old, n=name)
    await owner.say("new one")
    await owner.say(image=b64(blue))
    await owner.until(lambda f: f.get("Message", {}).get("id") == last_old + 2, timeout=30)
    assert await server.images(name) == sorted([f"{md5(PNG)}.png", blue_name])
    done = await run_cli(*db_args(server), "purge-chat", name, "--before", "2000-01-01")
    assert (done.code, done.err) == (0, "")
    first, second = done.out.splitlines()
    assert first == (f"purged {last_old} messages of {name} created before "
                     "2000-01-01T00:00:00Z, with 1 reactions, 1 mentions and 1 images no "
                     "remaining message shows")
    assert await server.texts(name) == ["new one", None]
    assert await server.images(name) == [blue_name]
    assert await server.rows("SELECT count(*) FROM reactions") == [(0,)]
    assert await server.rows("SELECT count(*) FROM mentions") == [(0,)]
    if server.backend.postgres is None:
        file = Path(server.data_dir) / "parley.db"
        found = re.fullmatch(rf"VACUUM: the database file {re.escape(str(file))} went from "
                             r"(\d+) to (\d+) bytes \((\d+) bytes freed\)", second)
        assert found, second
        before, after, freed = map(int, found.groups())
        assert before - after == freed
        assert freed > old_count * 2000 // 2
        assert file.stat().st_size <= after
    else:
        assert second == POSTGRES_SPACE
    # the server still serves the chat, the newer messages only
    fresh, _ = await login(server.ws, member.user, PASSWORD)
    page = await fresh.choose(name)
    assert [m.get("text") for m in page["Messages"]] == ["new one", None]
    # nor does search find what was purged (its index lost the rows too)
    for text, found in (("old", []), ("new", ["new one"])):
        answer = await fresh.request({"Type": "chat", "Command": "search", "Text": text,
                                      "Chat": name})
        assert [r["message"]["text"] for r in answer["Results"]] == found
    await fresh.close()
    again = (await inproc(*db_args(server), "--json", "purge-chat", name, "--before",
                          "2000-01-01T00:00:00+02:00")).json()
    expected = {"chat": name, "before": "1999-12-31T22:00:00Z", "messages": 0,
                "reactions": 0, "mentions": 0, "images": 0,
                "database": "sqlite" if server.backend.postgres is None else "postgresql"}
    if server.backend.postgres is None:
        assert again["size_before"] - again["size_after"] == again["freed_bytes"]
        expected.update({k: again[k] for k in ("size_before", "size_after", "freed_bytes")})
    else:
        expected["vacuum"] = POSTGRES_SPACE
    assert again == expected


async def test_last_seen_is_written_at_login_and_when_the_last_socket_closes(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    client = await user(connect, server.ws)

    async def seen() -> int | None:
        [(at,)] = await server.rows("SELECT seen_ms FROM users WHERE login = :l",
                                    l=client.user)
        return None if at is None else int(at)

    async def changed(than: int | None) -> int:
        for _ in range(50):  # at most 10 s; written each 5 s
            at = await seen()
            if at is not None and at != than:
                return at
            await asyncio.sleep(0.2)
        raise AssertionError(f"seen_ms stayed {than}")

    at_login = await changed(None)
    await asyncio.sleep(0.1)
    await client.close()
    at_close = await changed(at_login)
    assert at_close > at_login
    listing = (await inproc(*db_args(server), "--json", "users")).json()
    assert listing["users"] == [{"login": client.user, "admin": False, "disabled": False,
                                 "last_seen": when(at_close)}]


async def test_grant_makes_an_admin_at_once_and_revoke_unmakes_one(
    fresh_server: ServerProcess, connect: Connect
) -> None:
    server = fresh_server
    name, (owner, helper) = await room(connect, url=server.ws)
    for text in ("spam", "more spam"):
        await owner.say(text)
        for client in (owner, helper):
            await client.until(lambda f, t=text: f.get("Message", {}).get("text") == t)
    remove = {"Type": "chat", "Command": "remove", "Id": 1}
    assert await helper.request(remove) == {
        "Type": "chat", "Command": "remove", "Status": "not allowed"}
    done = await run_cli(*db_args(server), "--json", "grant", str(helper.user))
    assert done.json() == {"login": helper.user, "admin": True}
    assert await server.rows("SELECT admin FROM users WHERE login = :l", l=helper.user) == [
        (True,)]
    removed = {"Type": "chat", "Command": "remove", "Chat": name, "Change": 1, "Id": 1}
    assert await helper.request(remove) == removed  # the same socket, at once
    assert await owner.recv() == removed
    listed = (await inproc(*db_args(server), "--json", "users")).json()["users"]
    assert sorted((u["login"], u["admin"]) for u in listed) == sorted(
        [(owner.user, False), (helper.user, True)])
    assert (await run_cli(*db_args(server), "revoke", str(helper.user))).code == 0
    assert await helper.request({**remove, "Id": 2}) == {
        "Type": "chat", "Command": "remove", "Status": "not allowed"}
