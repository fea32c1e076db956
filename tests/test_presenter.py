"""parley.presenter: domain values as the exact JSON clients get."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from parley import presenter
from parley.answers import encode
from parley.model import ChatSummary, StoredMessage

T0 = 1_795_534_662_000  # 2026-11-24T15:37:42.000Z
IMAGE = "0123456789abcdef0123456789abcdef.png"


def stored(id_: int = 7, text: str | None = "hi", image: str | None = None, *,
           at: int = T0 + 123, nonce: str | None = "n1") -> StoredMessage:
    return StoredMessage(chat_id=3, id=id_, user_id=11, login="Alice", text=text, image=image,
                         nonce=nonce, created_ms=at)


# --------------------------------------------------------------------------- dates and URLs


def test_iso_date() -> None:
    assert presenter.iso_date(T0 + 123) == "2026-11-24T15:37:42.123Z"


def test_iso_date_of_epoch() -> None:
    assert presenter.iso_date(0) == "1970-01-01T00:00:00.000Z"


def test_iso_date_is_datetimes_format_over_the_years() -> None:
    """Seconds formatted once and cached give what a datetime gives, 1970 to 2200."""
    for ms in range(0, 7_258_118_400_000, 9_876_543_211):
        moment = datetime.fromtimestamp(ms // 1000, tz=UTC)
        assert presenter.iso_date(ms) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + \
            f"{ms % 1000:03d}Z"


def test_iso_date_keeps_leading_zeros_of_milliseconds() -> None:
    assert presenter.iso_date(T0 + 5) == "2026-11-24T15:37:42.005Z"


def test_image_url_quotes_the_chat() -> None:
    assert presenter.image_url("a b/c", IMAGE) == f"/images/a%20b%2Fc/{IMAGE}"


def test_image_url_of_cyrillic_chat() -> None:
    assert presenter.image_url("чат", IMAGE) == f"/images/%D1%87%D0%B0%D1%82/{IMAGE}"


# --------------------------------------------------------------------------- messages


def test_text_message_bytes() -> None:
    assert encode(presenter.message("room", stored())) == (
        b'{"id":7,"user":"Alice","date":"2026-11-24T15:37:42.123Z","text":"hi"}')


def test_image_message_bytes() -> None:
    assert encode(presenter.message("my room", stored(text=None, image=IMAGE))) == (
        b'{"id":7,"user":"Alice","date":"2026-11-24T15:37:42.123Z",'
        b'"image":"/images/my%20room/' + IMAGE.encode() + b'"}')


def test_text_and_image() -> None:
    assert json.loads(encode(presenter.message("g", stored(text="look", image=IMAGE)))) == {
        "id": 7, "user": "Alice", "date": "2026-11-24T15:37:42.123Z", "text": "look",
        "image": f"/images/g/{IMAGE}"}


def test_nonce_and_sender_id_are_not_shown() -> None:
    assert set(json.loads(encode(presenter.message("g", stored())))) == {
        "id", "user", "date", "text"}


def test_message_pushed_bytes() -> None:
    assert encode(presenter.message_pushed("room", stored())) == (
        b'{"Type":"chat","Command":"message","Message":'
        b'{"id":7,"user":"Alice","date":"2026-11-24T15:37:42.123Z","text":"hi"}}')


def test_history_bytes() -> None:
    page = [stored(1, "a", at=T0), stored(2, None, IMAGE, at=T0 + 1)]
    assert encode(presenter.chosen("choice", "a/b", page, 0)) == (
        b'{"Type":"chat","Command":"choice","Chat":"a/b","Messages":['
        b'{"id":1,"user":"Alice","date":"2026-11-24T15:37:42.000Z","text":"a"},'
        b'{"id":2,"user":"Alice","date":"2026-11-24T15:37:42.001Z",'
        b'"image":"/images/a%2Fb/' + IMAGE.encode() + b'"}],"Change":0}')


def test_empty_history() -> None:
    assert json.loads(encode(presenter.history("earlier", "general", []))) == {
        "Type": "chat", "Command": "earlier", "Chat": "general", "Messages": []}


# --------------------------------------------------------------------------- chats


def test_chat_list_bytes() -> None:
    chats = [ChatSummary("general", False, None), ChatSummary("den", True, "bob")]
    assert encode(presenter.chats(chats)) == (
        b'{"Type":"chat","Command":"list","Chats":['
        b'{"name":"general","closed":false,"owner":null},'
        b'{"name":"den","closed":true,"owner":"bob"}]}')


def test_chat_list_changes_bytes() -> None:
    assert encode(presenter.chats_changed([ChatSummary("new", False, "al")], [])) == (
        b'{"Type":"chat","Command":"list","Added":[{"name":"new","closed":false,"owner":"al"}],'
        b'"Removed":[]}')
    assert encode(presenter.chats_changed([], ["old"])) == (
        b'{"Type":"chat","Command":"list","Added":[],"Removed":["old"]}')
