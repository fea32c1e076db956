"""Bad frames get the documented answer, and the connection and server keep going."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Connect, MakeServer, ServerProcess, room, user
from parley.client import Client, Closed

JSON_ERROR = "error in json file"


def bad(answer: dict) -> None:
    assert set(answer) == {"Type", "Status", "Detail"}, answer
    assert answer["Type"] == "error"
    assert answer["Status"] == JSON_ERROR
    assert isinstance(answer["Detail"], str)
    assert answer["Detail"]


async def test_each_kind_of_bad_frame(connect: Connect) -> None:
    client = await user(connect)
    cases = {
        "{not json": None,
        "[1, 2]": "a request must be a JSON object",
        '"chat"': "a request must be a JSON object",
        "42": "a request must be a JSON object",
        "null": "a request must be a JSON object",
        "{}": "Object missing required field `Command`",
        '{"Command": "list"}': "Object missing required field `Type`",
        '{"Type": "chat"}': "Object missing required field `Command`",
        '{"Type": "chat", "Command": "dance"}':
            "unknown Type/Command: Invalid value 'dance' - at `$.Command`",
        '{"Type": "weather", "Command": "list"}': "unknown Type/Command: 'weather'/'list'",
        '{"Type": "account", "Command": "message", "Text": "x"}':
            "unknown Type/Command: 'account'/'message'",
        '{"Type": "chat", "Command": "message", "Text": 5}':
            "Expected `str | null`, got `int` - at `$.Text`",
        '{"Type": "chat", "Command": "earlier", "Before": "x"}':
            "Expected `int | null`, got `str` - at `$.Before`",
        '{"Type": "chat", "Command": "choice", "Chat": "general", "After": -1}':
            "Expected `int` >= 0 - at `$.After`",
        '{"Type": 1, "Command": "list"}': "Expected `str`, got `int` - at `$.Type`",
        "": None,
        "[" * 100_000: None,
    }
    for frame, detail in cases.items():
        await client.send_raw(frame)
        answer = await client.recv()
        bad(answer)
        if detail is not None:
            assert answer["Detail"] == detail, frame
    await client.send_raw(b'{"Type": "chat", "Command": "list"}')  # a binary frame
    assert await client.recv() == {"Type": "error", "Status": JSON_ERROR,
                                   "Detail": "binary frames are not accepted"}
    # still logged in and served
    assert (await client.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_invalid_utf8_in_a_text_frame(connect: Connect, server: ServerProcess) -> None:
    client = await user(connect)
    # aiohttp's client sends str only; put raw bytes in a text frame by hand
    writer = client.ws._writer
    await writer.send_frame(b'{"Type": "chat", "Command": "\xff\xfe"}', 0x1)
    bad(await client.recv())
    assert (await client.request({"Type": "chat", "Command": "list"}))["Command"] == "list"


async def test_unknown_keys_are_ignored(connect: Connect) -> None:
    _, (a,) = await room(connect, 1)
    await a.send({"Type": "chat", "Command": "message", "Text": "hi", "Colour": "red",
                  "Message": {"user": "someone else"}})
    frame = await a.recv()
    assert frame["Message"]["text"] == "hi"
    assert frame["Message"]["user"] == a.user


async def test_a_frame_over_the_cap_is_refused(make_server: MakeServer, connect: Connect) -> None:
    small = make_server("--max-frame", "4096")
    try:
        client = await connect(small.ws)
        await client.send_raw(json.dumps({"Type": "chat", "Command": "message",
                                          "Text": "x" * 5000}))
        with pytest.raises(Closed) as closed:
            await client.recv()
        assert closed.value.code == 1009
        other = await connect(small.ws)  # the server is fine
        assert (await other.request({"Type": "chat", "Command": "list"}))["Status"] == \
            "error in chat or user"
    finally:
        assert small.stop() == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
keys = st.sampled_from(["Type", "Command", "Chat", "Text", "Image", "Login", "Password",
                        "Token", "After", "Before", "Nonce"])
values = st.one_of(
    json_values,
    st.sampled_from(["chat", "account", "message", "choice", "list", "create", "earlier",
                     "connected", "delete", "login", "logout", "registration", "general"]),
)
requests = st.dictionaries(keys, values, max_size=6)
frames = st.one_of(
    requests.map(json.dumps),
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.binary(max_size=200),
)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(frames, min_size=1, max_size=8))
async def test_arbitrary_frames_always_get_an_answer(batch: list, server: ServerProcess) -> None:  # type: ignore[type-arg]
    client = await Client.connect(server.ws)
    try:
        await client.register(f"fz{abs(hash(str(batch))) % 10**12}", "fuzzing password")
        for frame in batch:
            await client.send_raw(frame)
            answer = await client.recv(timeout=10)
            assert isinstance(answer.get("Type"), str)
            while "Status" not in answer and "Messages" not in answer and "Chats" not in answer \
                    and "Online" not in answer and "Message" not in answer:
                answer = await client.recv(timeout=10)
        # the connection still works
        assert (await client.request({"Type": "chat", "Command": "list"}))["Command"] == "list"
    finally:
        await client.close()
    assert server.alive()
