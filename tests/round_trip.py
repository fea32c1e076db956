"""One user's whole visit, exact answer by answer: register on one socket, log in by
password on a second, create a chat, choose it on the second socket, send a message, and
see it arrive on both. For servers reached some other way than the test fixtures: a
server installed from the wheel, a server behind a TLS proxy."""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from parley.client import Client

PASSWORD = "correct horse"
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


async def open_client(url: str, *, headers: Mapping[str, str] | None = None,
                      tls: ssl.SSLContext | None = None, server_hostname: str | None = None,
                      local_address: str | None = None) -> Client:
    """A client on ``url`` with these request headers, TLS settings and source address."""
    connector = aiohttp.TCPConnector(
        local_addr=(local_address, 0) if local_address else None, force_close=True)
    session = aiohttp.ClientSession(connector=connector)
    try:
        extra: dict[str, Any] = {"server_hostname": server_hostname} if server_hostname else {}
        ws = await session.ws_connect(url, headers=headers, ssl=tls if tls else True,
                                      **extra)
    except BaseException:
        await session.close()
        raise
    return Client(session, ws)


async def visit(first: Client, second: Client, login: str, chat: str) -> None:
    """The round trip on two fresh sockets of a new server (only ``general`` in it); every
    answer checked whole."""
    answer = await first.register(login, PASSWORD)
    assert answer == {"Type": "account", "Command": "registration", "Status": "success",
                      "User": login, "Token": first.token}, answer
    assert isinstance(first.token, str)
    assert len(first.token) > 20
    assert await first.create(chat) == {
        "Type": "chat", "Command": "create", "Status": "success", "Chat": chat}
    chats = [{"name": "general", "closed": False, "owner": None},
             {"name": chat, "closed": False, "owner": login}]
    assert await first.recv() == {"Type": "chat", "Command": "list", "Chats": chats}
    assert await first.recv() == {
        "Type": "chat", "Command": "connected", "Chat": chat, "Joined": login}
    answer = await second.login(login, PASSWORD)
    assert answer == {"Type": "account", "Command": "login", "Status": "success",
                      "User": login, "Token": second.token}, answer
    assert second.token != first.token
    assert second.chats == chats
    assert await second.choose(chat) == {
        "Type": "chat", "Command": "choice", "Chat": chat, "Messages": [], "Change": 0}
    await first.say("hello through the front door")
    for socket in (first, second):
        frame = await socket.recv()
        assert set(frame) == {"Type", "Command", "Message"}, frame
        assert (frame["Type"], frame["Command"]) == ("chat", "message"), frame
        body = frame["Message"]
        assert set(body) == {"id", "user", "date", "text"}, body
        assert (body["id"], body["user"], body["text"]) == (
            1, login, "hello through the front door"), body
        assert DATE.fullmatch(body["date"]), body
    assert await second.silent()
