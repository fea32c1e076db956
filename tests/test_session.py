"""parley.session.Session: a connection's state and the checks made before storage."""

from __future__ import annotations

import pytest

from parley.errors import ChatMissing, Invalid, NotAllowed, RateLimited
from parley.messages import Send
from parley.model import Chat, User
from parley.session import Place, Session

ALICE = User(7, "alice")
ROOM = Chat(3, "room", 7, None)


def allow(_user_id: int) -> bool:
    return True


def refuse(_user_id: int) -> bool:
    return False


def in_room() -> Session:
    session = Session()
    session.logged_in(ALICE, "digest")
    session.chose(ROOM, oldest_sent=10, last_id=40)
    return session


def test_new_session_is_anonymous() -> None:
    session = Session()
    assert session.user is None
    assert session.token_digest is None
    assert session.chat is None
    assert session.chat_gone is False
    assert session.cursor is None


def test_need_user_when_anonymous() -> None:
    with pytest.raises(NotAllowed):
        Session().need_user()


def test_need_user_when_logged_in() -> None:
    session = Session()
    session.logged_in(ALICE, "digest")
    assert session.need_user() == ALICE
    assert session.token_digest == "digest"


def test_need_chat_when_anonymous() -> None:
    with pytest.raises(NotAllowed):
        Session().need_chat()


def test_need_chat_when_no_chat_chosen() -> None:
    session = Session()
    session.logged_in(ALICE, "digest")
    with pytest.raises(NotAllowed):
        session.need_chat()


def test_need_chat_when_chosen() -> None:
    assert in_room().need_chat() == (ALICE, Place(3, "room"))


def test_need_chat_when_chat_gone() -> None:
    session = in_room()
    session.chat_gone = True
    with pytest.raises(ChatMissing):
        session.need_chat()


def test_chose_cursor_is_oldest_sent() -> None:
    session = in_room()
    assert session.chat == Place(3, "room")
    assert session.cursor == 10


def test_chose_cursor_after_empty_page_is_past_the_end() -> None:
    session = Session()
    session.logged_in(ALICE, "digest")
    session.chose(ROOM, oldest_sent=None, last_id=40)
    assert session.cursor == 41


def test_chose_cursor_in_empty_chat() -> None:
    session = Session()
    session.logged_in(ALICE, "digest")
    session.chose(ROOM, oldest_sent=None, last_id=0)
    assert session.cursor == 1


def test_chose_clears_chat_gone() -> None:
    session = in_room()
    session.chat_gone = True
    session.chose(Chat(4, "other", None, None), oldest_sent=None, last_id=0)
    assert session.chat_gone is False
    assert session.need_chat() == (ALICE, Place(4, "other"))


def test_left_chat() -> None:
    session = in_room()
    session.left_chat()
    assert session.chat is None
    assert session.cursor is None
    assert session.user == ALICE
    with pytest.raises(NotAllowed):
        session.need_chat()


def test_logged_out_clears_everything() -> None:
    session = in_room()
    session.chat_gone = True
    session.logged_out()
    assert session.user is None
    assert session.token_digest is None
    assert session.chat is None
    assert session.chat_gone is False
    assert session.cursor is None
    with pytest.raises(NotAllowed):
        session.need_user()


# --------------------------------------------------------------------------- check_message


def test_check_message_passes() -> None:
    assert in_room().check_message(Send(Type="chat", Text="hi"), allow) == (
        ALICE, Place(3, "room"))


def test_check_message_asks_rate_limit_with_user_id() -> None:
    asked: list[int] = []

    def may_send(user_id: int) -> bool:
        asked.append(user_id)
        return True

    in_room().check_message(Send(Type="chat", Text="hi"), may_send)
    assert asked == [7]


def test_check_message_anonymous_before_rate_limit() -> None:
    asked: list[int] = []

    def may_send(user_id: int) -> bool:
        asked.append(user_id)
        return False

    with pytest.raises(NotAllowed):
        Session().check_message(Send(Type="chat", Text="hi"), may_send)
    assert asked == []


def test_check_message_no_chat_before_rate_limit() -> None:
    session = Session()
    session.logged_in(ALICE, "digest")
    with pytest.raises(NotAllowed):
        session.check_message(Send(Type="chat", Text="hi"), refuse)


def test_check_message_chat_gone_before_rate_limit() -> None:
    session = in_room()
    session.chat_gone = True
    with pytest.raises(ChatMissing):
        session.check_message(Send(Type="chat", Text="hi"), refuse)


def test_check_message_rate_limited() -> None:
    with pytest.raises(RateLimited):
        in_room().check_message(Send(Type="chat", Text="hi"), refuse)


def test_check_message_rate_limit_before_text_problem() -> None:
    with pytest.raises(RateLimited):
        in_room().check_message(Send(Type="chat", Text=""), refuse)


def test_check_message_empty() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat"), allow)
    assert info.value.answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "error",
        "Detail": "A message needs a non-empty Text or an Image"}


def test_check_message_empty_text() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat", Text=""), allow)
    assert info.value.detail == "A message needs a non-empty Text or an Image"


def test_check_message_empty_image_string_counts_as_no_image() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat", Text="", Image=""), allow)
    assert info.value.detail == "A message needs a non-empty Text or an Image"


def test_check_message_image_only() -> None:
    assert in_room().check_message(Send(Type="chat", Image="AAAA"), allow) == (
        ALICE, Place(3, "room"))


def test_check_message_text_too_long() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat", Text="a" * 4001), allow)
    assert info.value.detail == "Text must be at most 4000 characters"


def test_check_message_bad_nonce() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat", Text="hi", Nonce="n" * 65), allow)
    assert info.value.detail == "Nonce must be 1 to 64 characters"


def test_check_message_text_problem_before_nonce_problem() -> None:
    with pytest.raises(Invalid) as info:
        in_room().check_message(Send(Type="chat", Text="", Nonce=""), allow)
    assert info.value.detail == "A message needs a non-empty Text or an Image"
