"""Ending sessions over real sockets: logout of one token, logout everywhere, and a new
password, which ends every other session of the user."""

from __future__ import annotations

import hashlib

import aiohttp

from conftest import PASSWORD, Connect, MakeServer, ServerProcess, joined, left, unique, user
from parley.client import Client, Frame

LOGOUT = {"Type": "account", "Command": "logout"}
EVERYWHERE = {**LOGOUT, "Everywhere": True}
NEW_PASSWORD = "a new horse staple"
PASSWORD_ERROR = {"Type": "account", "Command": "password", "Status": "error"}
ANONYMOUS = {"Type": "chat", "Command": "list", "Status": "error in chat or user"}
LOGIN_FAILED = {"Type": "account", "Command": "login", "Status": "error"}


def change(old: str | None, new: str | None) -> Frame:
    request: Frame = {"Type": "account", "Command": "password"}
    if old is not None:
        request["Old"] = old
    if new is not None:
        request["New"] = new
    return request


def digest(token: str | None) -> str:
    assert token is not None
    return hashlib.sha256(token.encode()).hexdigest()


async def tokens_of(server: ServerProcess, login: str | None) -> list[str]:
    """The digests in the tokens table for the user, sorted."""
    rows = await server.rows(
        "SELECT t.digest FROM tokens t JOIN users u ON u.id = t.user_id WHERE u.login = :login",
        login=login)
    return sorted(row[0] for row in rows)


async def closed(client: Client) -> tuple[int, str]:
    """The close code and reason the server closed ``client`` with (nothing before it)."""
    msg = await client.ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.CLOSE, (msg.type, msg.data)
    return msg.data, msg.extra


async def sessions(connect: Connect, url: str | None = None) -> tuple[Client, Client, Client]:
    """One user on three sockets: registered (token T1), by password (T2), by token T1."""
    first = await user(connect, url)
    by_password = await connect(url)
    assert (await by_password.login(first.user, PASSWORD))["Status"] == "success"
    same_token = await connect(url)
    assert (await same_token.login(token=first.token))["Status"] == "success"
    assert by_password.token not in (None, first.token)
    return first, by_password, same_token


async def watched(connect: Connect, inside: Client, *others: Client) -> tuple[str, Client]:
    """A new chat with ``inside`` in it and a watcher of another user; the pushes to them
    and to the ``others`` read."""
    watcher = await user(connect)
    name = unique("room")
    assert (await watcher.create(name))["Status"] == "success"
    for client in (watcher, inside, *others):
        assert (await client.recv())["Command"] == "list"
    assert await watcher.recv() == joined(name, watcher.user)
    assert (await inside.choose(name))["Command"] == "choice"
    assert await inside.recv() == joined(name, inside.user)
    assert await watcher.recv() == joined(name, inside.user)
    return name, watcher


async def test_logout_everywhere_closes_the_other_sockets_and_revokes_every_token(
    server: ServerProcess, connect: Connect
) -> None:
    first, by_password, same_token = await sessions(connect)
    name, watcher = await watched(connect, by_password, first, same_token)
    assert len(await tokens_of(server, first.user)) == 2
    assert await first.request(EVERYWHERE) == {**LOGOUT, "Status": "success"}
    assert await closed(by_password) == (4001, "logged out")
    assert await closed(same_token) == (4001, "logged out")
    assert await watcher.recv() == left(name, by_password.user)
    assert await watcher.silent()
    # the requester stays connected, anonymous
    assert await first.request({"Type": "chat", "Command": "list"}) == ANONYMOUS
    assert await first.logout() == {**LOGOUT, "Status": "error"}
    assert await tokens_of(server, first.user) == []
    for token in (first.token, by_password.token):
        assert await first.request({"Type": "account", "Command": "login", "Token": token}) == (
            LOGIN_FAILED)
    # the password still works, and gives a new token
    assert (await first.login(first.user, PASSWORD))["Status"] == "success"
    assert await tokens_of(server, first.user) == [digest(first.token)]


async def test_logout_everywhere_false_is_a_plain_logout(connect: Connect) -> None:
    first, by_password, _ = await sessions(connect)
    assert await first.request({**LOGOUT, "Everywhere": False}) == {**LOGOUT, "Status": "success"}
    assert (await by_password.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_plain_logout_logs_out_the_sockets_on_the_same_token_only(
    server: ServerProcess, connect: Connect
) -> None:
    first, by_password, same_token = await sessions(connect)
    name, watcher = await watched(connect, same_token, first, by_password)
    assert await first.logout() == {**LOGOUT, "Status": "success"}
    assert await same_token.recv() == {**LOGOUT, "Status": "logged out"}
    assert await watcher.recv() == left(name, same_token.user)
    # still open, anonymous, and may log in again on the same socket
    assert await same_token.request({"Type": "chat", "Command": "list"}) == ANONYMOUS
    assert await same_token.logout() == {**LOGOUT, "Status": "error"}
    assert await same_token.request(
        {"Type": "account", "Command": "login", "Token": first.token}) == LOGIN_FAILED
    # the socket on another token is not touched
    assert await by_password.silent()
    assert (await by_password.request({"Type": "chat", "Command": "list"}))["Command"] == "list"
    assert await tokens_of(server, first.user) == [digest(by_password.token)]
    assert (await same_token.login(first.user, PASSWORD))["Status"] == "success"


async def test_password_change_keeps_this_socket_and_ends_every_other_session(
    server: ServerProcess, connect: Connect
) -> None:
    first, by_password, same_token = await sessions(connect)
    name, watcher = await watched(connect, same_token, first, by_password)
    answer = await first.request(change(PASSWORD, NEW_PASSWORD))
    assert set(answer) == {"Type", "Command", "Status", "Token"}
    assert answer == {"Type": "account", "Command": "password", "Status": "success",
                      "Token": answer["Token"]}
    token = answer["Token"]
    assert token not in (first.token, by_password.token)
    assert len(token) >= 32
    assert await closed(by_password) == (4001, "logged out")
    assert await closed(same_token) == (4001, "logged out")
    assert await watcher.recv() == left(name, same_token.user)
    assert await tokens_of(server, first.user) == [digest(token)]
    # this socket is still logged in, as the same user
    assert (await first.request({"Type": "chat", "Command": "list"}))["Command"] == "list"
    other = await connect()
    for old in (first.token, by_password.token):
        assert await other.request(
            {"Type": "account", "Command": "login", "Token": old}) == LOGIN_FAILED
    assert await other.login(first.user, PASSWORD) == LOGIN_FAILED
    assert (await other.login(first.user, NEW_PASSWORD))["Status"] == "success"
    again = await connect()
    assert await again.login(token=token) == {"Type": "account", "Command": "login",
                                              "Status": "success", "User": first.user,
                                              "Token": token}
    assert await first.silent()


async def test_password_change_with_a_wrong_old_password_changes_nothing(
    server: ServerProcess, connect: Connect
) -> None:
    first, by_password, _ = await sessions(connect)
    before = await tokens_of(server, first.user)
    for old in ("wrong password", None, "", "p" * 1025):
        assert await first.request(change(old, NEW_PASSWORD)) == PASSWORD_ERROR
    assert await tokens_of(server, first.user) == before
    assert await by_password.silent()
    assert (await by_password.request({"Type": "chat", "Command": "list"}))["Command"] == "list"
    other = await connect()
    assert (await other.login(first.user, PASSWORD))["Status"] == "success"
    assert await other.login(first.user, NEW_PASSWORD) == LOGIN_FAILED


async def test_password_change_with_an_invalid_new_password(
    server: ServerProcess, connect: Connect
) -> None:
    first = await user(connect)
    cases: list[tuple[str | None, str]] = [
        ("short", "Password must be at least 8 characters"),
        (None, "Password must be at least 8 characters"),
        ("p" * 1025, "Password must be at most 1024 characters"),
    ]
    for new, detail in cases:
        assert await first.request(change(PASSWORD, new)) == {
            **PASSWORD_ERROR, "Detail": detail}
    assert await tokens_of(server, first.user) == [digest(first.token)]
    other = await connect()
    assert (await other.login(first.user, PASSWORD))["Status"] == "success"


async def test_password_change_needs_a_logged_in_socket(connect: Connect) -> None:
    client = await connect()
    assert await client.request(change(PASSWORD, NEW_PASSWORD)) == {
        "Type": "account", "Command": "password", "Status": "error in chat or user"}
    assert await client.request({**change(PASSWORD, NEW_PASSWORD), "Old": 5}) == {
        "Type": "error", "Status": "error in json file",
        "Detail": "Expected `str | null`, got `int` - at `$.Old`"}


async def test_wrong_old_passwords_are_throttled_like_failed_logins(
    make_server: MakeServer, connect: Connect
) -> None:
    # one failed attempt per account, then a wait of 1000 s: refused at once
    server = make_server("--login-rate", "0.01", "--login-burst", "4")
    first = await user(connect, server.ws)
    assert await first.request(change("wrong password", NEW_PASSWORD)) == PASSWORD_ERROR
    assert await first.request(change(PASSWORD, NEW_PASSWORD)) == {
        "Type": "account", "Command": "password", "Status": "rate limited"}
    # the account's failed-login budget is the one a password login spends too
    other = await connect(server.ws)
    assert await other.login(first.user, PASSWORD) == {
        "Type": "account", "Command": "login", "Status": "rate limited"}
    assert await tokens_of(server, first.user) == [digest(first.token)]
