"""parley.errors: the exact JSON answer each failure turns into."""

from __future__ import annotations

from parley.errors import (
    AccessDenied,
    BadRequest,
    ChatMissing,
    Conflict,
    ImageRejected,
    Invalid,
    LoginFailed,
    NotAllowed,
    ParleyError,
    RateLimited,
    Unavailable,
)


def test_bad_request_is_type_error_without_command() -> None:
    assert BadRequest("why").answer("chat", "message") == {
        "Type": "error", "Status": "error in json file", "Detail": "why"}


def test_bad_request_for_no_request_at_all() -> None:
    assert BadRequest("why").answer("error", None) == {
        "Type": "error", "Status": "error in json file", "Detail": "why"}


def test_not_allowed_keeps_the_command() -> None:
    assert NotAllowed().answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "error in chat or user"}


def test_not_allowed_for_another_chat_command() -> None:
    assert NotAllowed().answer("chat", "earlier") == {
        "Type": "chat", "Command": "earlier", "Status": "error in chat or user"}


def test_chat_missing_is_bare() -> None:
    assert ChatMissing().answer("chat", "message") == {"Type": "chat", "Status": "error"}


def test_chat_missing_fixes_its_type() -> None:
    assert ChatMissing().answer("account", "choice") == {"Type": "chat", "Status": "error"}


def test_access_denied_is_bare() -> None:
    assert AccessDenied().answer("chat", "choice") == {"Type": "chat", "Status": "access denied"}


def test_invalid_carries_detail() -> None:
    assert Invalid("Text must be at most 4000 characters").answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "error",
        "Detail": "Text must be at most 4000 characters"}


def test_conflict_user_exist() -> None:
    assert Conflict(status="user exist").answer("account", "registration") == {
        "Type": "account", "Command": "registration", "Status": "user exist"}


def test_conflict_chat_exist() -> None:
    assert Conflict(status="chat exist").answer("chat", "create") == {
        "Type": "chat", "Command": "create", "Status": "chat exist"}


def test_conflict_status_is_not_detail() -> None:
    error = Conflict(status="user exist")
    assert error.detail is None
    assert error.answer_status == "user exist"
    assert str(error) == "user exist"


def test_login_failed() -> None:
    assert LoginFailed().answer("account", "login") == {
        "Type": "account", "Command": "login", "Status": "error"}


def test_image_rejected_has_no_detail() -> None:
    error = ImageRejected(reason="not base64")
    assert error.answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "failed to attach image"}
    assert error.reason == "not base64"


def test_rate_limited() -> None:
    assert RateLimited().answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "rate limited"}


def test_unavailable_leaks_nothing() -> None:
    assert Unavailable().answer("chat", "message") == {
        "Type": "chat", "Command": "message", "Status": "error"}


def test_non_bare_error_without_command() -> None:
    assert NotAllowed().answer("chat", None) == {"Type": "chat", "Status": "error in chat or user"}


def test_message_of_exception() -> None:
    assert str(Invalid("bad name")) == "bad name"
    assert str(RateLimited()) == "rate limited"


def test_every_error_is_a_parley_error() -> None:
    for cls in (BadRequest, NotAllowed, ChatMissing, AccessDenied, Invalid, Conflict,
                LoginFailed, ImageRejected, RateLimited, Unavailable):
        assert issubclass(cls, ParleyError)
