"""parley.messages: decoding requests, and the exact bytes of every answer."""

from __future__ import annotations

import json

import pytest

from parley.answers import (
    AccountAnswer,
    Answer,
    ChatAnswer,
    ChatInfo,
    History,
    MessageOut,
    Online,
    chat_list,
    encode,
    joined,
    left,
    message_event,
)
from parley.errors import BadRequest
from parley.messages import (
    Choice,
    Connected,
    Create,
    Delete,
    Earlier,
    ListChats,
    Login,
    Logout,
    Registration,
    Send,
    decode_request,
)


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def bad_request_detail(raw: str | bytes) -> str:
    """Decode ``raw``; it must fail as a BadRequest with the protocol's shape. Its Detail."""
    with pytest.raises(BadRequest) as info:
        decode_request(raw)
    answer = info.value.answer("error", None)
    assert set(answer) == {"Type", "Status", "Detail"}
    assert answer["Type"] == "error"
    assert answer["Status"] == "error in json file"
    return answer["Detail"]


# --------------------------------------------------------------------------- commands


def test_registration() -> None:
    request = decode_request(frame(Type="account", Command="registration", Login="al",
                                   Password="secret12"))
    assert request == Registration(Type="account", Login="al", Password="secret12")


def test_login_with_password() -> None:
    request = decode_request(frame(Type="account", Command="login", Login="al", Password="pw"))
    assert request == Login(Type="account", Login="al", Password="pw", Token=None)


def test_login_with_token() -> None:
    request = decode_request(frame(Type="account", Command="login", Token="tok"))
    assert request == Login(Type="account", Login=None, Password=None, Token="tok")


def test_logout() -> None:
    assert decode_request(frame(Type="account", Command="logout")) == Logout(Type="account")


def test_list() -> None:
    assert decode_request(frame(Type="chat", Command="list")) == ListChats(Type="chat")


def test_create() -> None:
    request = decode_request(frame(Type="chat", Command="create", Chat="c", Password="p"))
    assert request == Create(Type="chat", Chat="c", Password="p")


def test_create_without_password() -> None:
    request = decode_request(frame(Type="chat", Command="create", Chat="c"))
    assert request == Create(Type="chat", Chat="c", Password=None)


def test_choice_as_in_the_seed() -> None:
    request = decode_request(b'{"Type":"chat","Chat":"general","Command":"choice"}')
    assert request == Choice(Type="chat", Chat="general", Password=None, After=None)


def test_choice_with_password_and_after() -> None:
    request = decode_request(frame(Type="chat", Command="choice", Chat="c", Password="p",
                                   After=17))
    assert request == Choice(Type="chat", Chat="c", Password="p", After=17)


def test_choice_after_largest_id() -> None:
    request = decode_request(frame(Type="chat", Command="choice", Chat="c", After=2**63 - 1))
    assert isinstance(request, Choice)
    assert request.After == 2**63 - 1


def test_earlier() -> None:
    assert decode_request(frame(Type="chat", Command="earlier")) == Earlier(Type="chat")


def test_earlier_before() -> None:
    request = decode_request(frame(Type="chat", Command="earlier", Before=0))
    assert request == Earlier(Type="chat", Before=0)


def test_connected() -> None:
    assert decode_request(frame(Type="chat", Command="connected")) == Connected(Type="chat")


def test_delete() -> None:
    request = decode_request(frame(Type="chat", Command="delete", Chat="c"))
    assert request == Delete(Type="chat", Chat="c")


def test_message_as_in_the_seed() -> None:
    request = decode_request(
        '{"Type":"chat","Command":"message","Text":"Hey, there is somebody?"}')
    assert request == Send(Type="chat", Text="Hey, there is somebody?")


def test_message_with_image_text_and_nonce() -> None:
    request = decode_request(frame(Type="chat", Command="message", Text="LOL",
                                   Image="WW91IGEgcGlkb3IK", Nonce="n1"))
    assert request == Send(Type="chat", Text="LOL", Image="WW91IGEgcGlkb3IK", Nonce="n1")


def test_str_and_bytes_decode_alike() -> None:
    raw = '{"Type":"chat","Command":"message","Text":"привет"}'
    assert decode_request(raw) == decode_request(raw.encode()) == Send(Type="chat",
                                                                         Text="привет")


def test_unknown_extra_keys_are_ignored() -> None:
    request = decode_request(frame(Type="chat", Command="message", Text="hi", Colour="red",
                                   Nested={"a": [1, 2]}))
    assert request == Send(Type="chat", Text="hi")


# --------------------------------------------------------------------------- bad requests


def test_type_command_mismatch() -> None:
    detail = bad_request_detail(frame(Type="account", Command="list"))
    assert detail == "unknown Type/Command: 'account'/'list'"


def test_type_command_mismatch_the_other_way() -> None:
    detail = bad_request_detail(frame(Type="chat", Command="registration"))
    assert detail == "unknown Type/Command: 'chat'/'registration'"


def test_unknown_command() -> None:
    detail = bad_request_detail(frame(Type="chat", Command="nope"))
    assert detail == "unknown Type/Command: Invalid value 'nope' - at `$.Command`"


def test_missing_command() -> None:
    detail = bad_request_detail(frame(Type="chat"))
    assert detail == "Object missing required field `Command`"


def test_missing_type() -> None:
    detail = bad_request_detail(frame(Command="list"))
    assert detail == "Object missing required field `Type`"


def test_type_not_a_string() -> None:
    detail = bad_request_detail(frame(Type=5, Command="list"))
    assert detail == "Expected `str`, got `int` - at `$.Type`"


def test_command_not_a_string() -> None:
    detail = bad_request_detail(frame(Type="chat", Command=5))
    assert detail == "Expected `str` - at `$.Command`"


@pytest.mark.parametrize("raw", [b"[1]", b"[]", b'"string"', b"5", b"1.5", b"null", b"true"])
def test_non_object(raw: bytes) -> None:
    assert bad_request_detail(raw) == "a request must be a JSON object"


def test_truncated_json() -> None:
    assert bad_request_detail(b'{"Type":"chat"') == "malformed JSON: Input data was truncated"


def test_empty_frame() -> None:
    assert bad_request_detail(b"") == "malformed JSON: Input data was truncated"


def test_trailing_garbage() -> None:
    detail = bad_request_detail(b'{"Type":"chat","Command":"list"} x')
    assert detail == "malformed JSON: JSON is malformed: trailing characters (byte 34)"


def test_invalid_utf8_bytes() -> None:
    detail = bad_request_detail(b"\xff\xfe")
    assert detail == "malformed JSON: JSON is malformed: invalid character (byte 0)"


def test_invalid_utf8_inside_a_string() -> None:
    raw = b'{"Type":"chat","Command":"message","Text":"\xff"}'
    assert bad_request_detail(raw) == "malformed JSON: a text frame must be UTF-8"


def test_utf8_encoded_surrogate_inside_a_string() -> None:
    raw = b'{"Type":"chat","Command":"message","Text":"\xed\xa0\x80"}'
    assert bad_request_detail(raw) == "malformed JSON: a text frame must be UTF-8"


def test_deeply_nested_unknown_key() -> None:
    """2 KB of brackets in an ignored key: a bad request, not a crash of the connection."""
    raw = '{"Type":"chat","Command":"list","x":' + "[" * 1000 + "]" * 1000 + "}"
    bad_request_detail(raw)


def test_deeply_nested_non_object() -> None:
    assert bad_request_detail("[" * 1000 + "]" * 1000) == "a request must be a JSON object"


def test_escaped_surrogate_pair_decodes() -> None:
    request = decode_request(b'{"Type":"chat","Command":"message","Text":"\\ud83d\\ude00"}')
    assert request == Send(Type="chat", Text="\U0001f600")


def test_escaped_lone_high_surrogate() -> None:
    raw = b'{"Type":"chat","Command":"message","Text":"\\ud800x"}'
    assert bad_request_detail(raw) == "malformed JSON: Input data was truncated"


def test_escaped_lone_low_surrogate() -> None:
    raw = b'{"Type":"chat","Command":"message","Text":"\\udc00"}'
    assert bad_request_detail(raw) == (
        "malformed JSON: JSON is malformed: invalid utf-16 surrogate pair (byte 49)")


def test_str_frame_with_lone_surrogate() -> None:
    raw = '{"Type":"chat","Command":"message","Text":"\ud800"}'
    assert bad_request_detail(raw) == "malformed JSON: a text frame must be UTF-8"


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"Command": "message", "Text": 5}, "Expected `str | null`, got `int` - at `$.Text`"),
        ({"Command": "message", "Image": []},
         "Expected `str | null`, got `array` - at `$.Image`"),
        ({"Command": "choice", "After": "x"}, "Expected `int | null`, got `str` - at `$.After`"),
        ({"Command": "choice", "After": -1}, "Expected `int` >= 0 - at `$.After`"),
        ({"Command": "choice", "After": 2**64},
         "Expected `int` <= 9223372036854775807 - at `$.After`"),
        ({"Command": "choice", "After": 2**63},
         "Expected `int` <= 9223372036854775807 - at `$.After`"),
        ({"Command": "choice", "After": True},
         "Expected `int | null`, got `bool` - at `$.After`"),
        ({"Command": "earlier", "Before": 1.5},
         "Expected `int | null`, got `float` - at `$.Before`"),
        ({"Command": "create", "Chat": {"name": "c"}},
         "Expected `str | null`, got `object` - at `$.Chat`"),
    ],
)
def test_wrong_field_type(fields: dict[str, object], detail: str) -> None:
    assert bad_request_detail(frame(Type="chat", **fields)) == detail


def test_bad_request_message_is_its_detail() -> None:
    with pytest.raises(BadRequest, match=r"^a request must be a JSON object$"):
        decode_request(b"[]")


# --------------------------------------------------------------------------- answers


def test_answer_without_command_or_detail() -> None:
    assert encode(Answer(Type="chat", Status="error")) == b'{"Type":"chat","Status":"error"}'


def test_answer_with_command_and_detail() -> None:
    answer = Answer(Type="chat", Command="message", Status="error", Detail="why")
    assert encode(answer) == (
        b'{"Type":"chat","Command":"message","Status":"error","Detail":"why"}')


def test_account_answer_success() -> None:
    answer = AccountAnswer(Type="account", Command="registration", Status="success",
                           User="alice", Token="tok")
    assert encode(answer) == (b'{"Type":"account","Command":"registration",'
                              b'"Status":"success","User":"alice","Token":"tok"}')


def test_account_answer_failure_leaves_out_user_and_token() -> None:
    answer = AccountAnswer(Type="account", Command="login", Status="error")
    assert encode(answer) == b'{"Type":"account","Command":"login","Status":"error"}'


def test_chat_list_keeps_null_owner() -> None:
    chats = [ChatInfo("general", False, None), ChatInfo("den", True, "bob")]
    assert encode(chat_list(chats)) == (
        b'{"Type":"chat","Command":"list","Chats":['
        b'{"name":"general","closed":false,"owner":null},'
        b'{"name":"den","closed":true,"owner":"bob"}]}')


def test_empty_chat_list() -> None:
    assert encode(chat_list([])) == b'{"Type":"chat","Command":"list","Chats":[]}'


def test_chat_answer() -> None:
    answer = ChatAnswer(Type="chat", Command="delete", Status="deleted", Chat="den")
    assert encode(answer) == b'{"Type":"chat","Command":"delete","Status":"deleted","Chat":"den"}'


def test_message_out_text_only() -> None:
    message = MessageOut(id=1, user="al", date="2026-11-24T15:37:42.123Z", text="hi")
    assert encode(message) == (
        b'{"id":1,"user":"al","date":"2026-11-24T15:37:42.123Z","text":"hi"}')


def test_message_out_image_only() -> None:
    message = MessageOut(id=2, user="al", date="d", image="/images/g/a.png")
    assert encode(message) == b'{"id":2,"user":"al","date":"d","image":"/images/g/a.png"}'


def test_message_event_with_text_and_image() -> None:
    event = message_event(MessageOut(id=3, user="al", date="d", text="LOL", image="/i"))
    assert encode(event) == (b'{"Type":"chat","Command":"message","Message":'
                             b'{"id":3,"user":"al","date":"d","text":"LOL","image":"/i"}}')


def test_history() -> None:
    page = History(Type="chat", Command="choice", Chat="g",
                   Messages=[MessageOut(id=1, user="a", date="d", text="x")])
    assert encode(page) == (b'{"Type":"chat","Command":"choice","Chat":"g","Messages":'
                            b'[{"id":1,"user":"a","date":"d","text":"x"}]}')


def test_empty_history() -> None:
    page = History(Type="chat", Command="earlier", Chat="g", Messages=[])
    assert encode(page) == b'{"Type":"chat","Command":"earlier","Chat":"g","Messages":[]}'


def test_presence_online() -> None:
    presence = Online(Type="chat", Command="connected", Chat="g", Online=["alice", "bob"])
    assert encode(presence) == (
        b'{"Type":"chat","Command":"connected","Chat":"g","Online":["alice","bob"]}')


def test_presence_online_empty_list_is_kept() -> None:
    presence = Online(Type="chat", Command="connected", Chat="g", Online=[])
    assert encode(presence) == b'{"Type":"chat","Command":"connected","Chat":"g","Online":[]}'


def test_joined() -> None:
    assert encode(joined("g", "carol")) == (
        b'{"Type":"chat","Command":"connected","Chat":"g","Joined":"carol"}')


def test_left() -> None:
    assert encode(left("g", "bob")) == (
        b'{"Type":"chat","Command":"connected","Chat":"g","Left":"bob"}')


def test_encode_dict() -> None:
    assert encode({"Type": "chat", "Status": "error"}) == b'{"Type":"chat","Status":"error"}'


def test_encode_non_ascii_as_utf8() -> None:
    assert encode(joined("чат", "ёж")) == (
        '{"Type":"chat","Command":"connected","Chat":"чат","Joined":"ёж"}'.encode())
