"""U+0000 in a request: refused at decode on every backend, and never able to fail
another user's message (PostgreSQL text cannot hold it)."""

from __future__ import annotations

import asyncio

import pytest

from conftest import Connect, ServerProcess, room, unique, user
from parley.client import Client
from parley.errors import Invalid
from parley.messages import Send, decode_request

NUL = "\\u0000"  # the JSON escape, as it travels in a frame
NUL_DETAIL = "A request may not contain the character U+0000"


def refused(type_: str, command: str) -> dict[str, str]:
    return {"Type": type_, "Command": command, "Status": "error", "Detail": NUL_DETAIL}


# --------------------------------------------------------------------------- decoding


@pytest.mark.parametrize(
    ("frame", "type_", "command"),
    [
        ('{"Type":"chat","Command":"message","Text":"a\\u0000b"}', "chat", "message"),
        ('{"Type":"chat","Command":"message","Text":"ok","Nonce":"\\u0000"}', "chat", "message"),
        ('{"Type":"chat","Command":"message","Image":"\\u0000"}', "chat", "message"),
        ('{"Type":"account","Command":"registration","Login":"a\\u0000",'
         '"Password":"correct horse"}', "account", "registration"),
        ('{"Type":"account","Command":"registration","Login":"bob",'
         '"Password":"correct\\u0000horse"}', "account", "registration"),
        ('{"Type":"account","Command":"login","Token":"\\u0000"}', "account", "login"),
        ('{"Type":"chat","Command":"create","Chat":"r\\u0000"}', "chat", "create"),
        ('{"Type":"chat","Command":"choice","Chat":"general","Password":"\\u0000"}',
         "chat", "choice"),
        ('{"Type":"chat","Command":"delete","Chat":"\\u0000"}', "chat", "delete"),
    ],
)
def test_nul_in_any_string_field_is_refused(frame: str, type_: str, command: str) -> None:
    with pytest.raises(Invalid) as info:
        decode_request(frame)
    assert info.value.answer(type_, command) == refused(type_, command)
    with pytest.raises(Invalid):
        decode_request(frame.encode())


def test_an_escaped_backslash_before_u0000_is_plain_text() -> None:
    # "\\u0000" in JSON is a backslash followed by "u0000": six ordinary characters.
    request = decode_request('{"Type":"chat","Command":"message","Text":"a\\\\u0000"}')
    assert request == Send(Type="chat", Text="a\\u0000")


def test_other_control_characters_are_still_text() -> None:
    request = decode_request('{"Type":"chat","Command":"message","Text":"a\\u0001\\u001f"}')
    assert request == Send(Type="chat", Text="a\x01\x1f")


def test_nul_in_an_unknown_key_is_ignored_with_the_key() -> None:
    request = decode_request('{"Type":"chat","Command":"message","Text":"hi","X":"\\u0000"}')
    assert request == Send(Type="chat", Text="hi")


# --------------------------------------------------------------------------- end to end


async def test_a_message_with_nul_is_refused_and_not_stored(
    connect: Connect, server: ServerProcess
) -> None:
    name, (a, b) = await room(connect, 2)
    await a.send_raw('{"Type":"chat","Command":"message","Text":"before' + NUL + 'after"}')
    assert await a.recv() == refused("chat", "message")
    await a.say("clean")
    for client in (a, b):
        frame = await client.recv()
        assert frame["Message"]["text"] == "clean"
    assert await server.texts(name) == ["clean"]


async def test_nul_in_other_requests_gets_the_requests_own_answer(
    connect: Connect, server: ServerProcess
) -> None:
    client = await connect()
    login = unique()
    await client.send_raw('{"Type":"account","Command":"registration","Login":"' + login
                          + NUL + '","Password":"correct horse"}')
    assert await client.recv() == refused("account", "registration")
    assert await server.rows("SELECT id FROM users WHERE login_key LIKE :k",
                             k=login.lower() + "%") == []
    other = await user(connect)
    chat = unique("room")
    await other.send_raw('{"Type":"chat","Command":"create","Chat":"' + chat + NUL + '"}')
    assert await other.recv() == refused("chat", "create")
    assert await server.rows("SELECT id FROM chats WHERE name LIKE :n", n=chat + "%") == []
    # the connection is still served, in order
    assert await other.create(chat) == {"Type": "chat", "Command": "create",
                                        "Status": "success", "Chat": chat}


async def test_nul_answer_keeps_its_place_after_pipelined_messages(connect: Connect) -> None:
    _, (a,) = await room(connect, 1)
    await a.say("one")
    await a.send_raw('{"Type":"chat","Command":"message","Text":"' + NUL + '"}')
    await a.say("two")
    frames = [await a.recv() for _ in range(3)]
    assert [f.get("Message", {}).get("text") or f.get("Detail") for f in frames] == [
        "one", NUL_DETAIL, "two"]


async def test_nul_senders_never_fail_another_users_messages(
    connect: Connect, server: ServerProcess
) -> None:
    name, (sender,) = await room(connect, 1)
    spam_chat, (owner,) = await room(connect, 1)
    spammers = [owner]
    for _ in range(29):
        spammer = await user(connect)
        assert (await spammer.choose(spam_chat))["Command"] == "choice"
        spammers.append(spammer)

    async def spam(client: Client) -> list[dict[str, object]]:
        for i in range(5):
            await client.send_raw(
                '{"Type":"chat","Command":"message","Text":"x' + NUL + str(i) + '"}')
        # skip the others' Joined pushes
        return [await client.until(lambda f: f.get("Command") == "message")
                for _ in range(5)]

    async def send() -> list[dict[str, object]]:
        for i in range(140):
            await sender.say(f"m{i}")
        return [await sender.until(lambda f: f.get("Command") == "message")
                for _ in range(140)]

    results = await asyncio.gather(send(), *(spam(c) for c in spammers))
    sent, spam_answers = results[0], results[1:]
    assert [f["Message"]["text"] for f in sent] == [f"m{i}" for i in range(140)]
    assert all(a == refused("chat", "message") for answers in spam_answers for a in answers)
    assert await server.texts(name) == [f"m{i}" for i in range(140)]
    assert await server.texts(spam_chat) == []

