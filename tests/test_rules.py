"""parley.rules: names, passwords, text, nonces and the token bucket."""

from __future__ import annotations

import pytest

from parley.rules import (
    MAX_LOGIN,
    TokenBucket,
    chat_name_problem,
    login_key,
    login_problem,
    nonce_problem,
    password_problem,
    text_problem,
)
from parley.schema import users

ONLY = "Login may contain only letters, digits, '_', '.' and '-'"

# --------------------------------------------------------------------------- logins


@pytest.mark.parametrize(
    "login",
    ["a", "alice", "Alice_B.c-d", "0", "a" * 32, "иван", "Ёжик", "太郎", "δ", "x.y", "_", "-", "."],
)
def test_valid_login(login: str) -> None:
    assert login_problem(login) is None


def test_login_of_33_characters() -> None:
    assert login_problem("a" * 33) == "Login must be at most 32 characters"


def test_login_of_33_cyrillic_characters() -> None:
    assert login_problem("ж" * 33) == "Login must be at most 32 characters"


@pytest.mark.parametrize("login", ["a b", "a@b", "a/b", "a\\b", "a\nb", "a\n", "😀", "a:b", " "])
def test_login_with_refused_character(login: str) -> None:
    assert login_problem(login) == ONLY


def test_empty_login() -> None:
    assert login_problem("") == "Login is required"


def test_missing_login() -> None:
    assert login_problem(None) == "Login is required"


def test_login_key_ignores_case() -> None:
    assert login_key("ALICE") == login_key("alice") == login_key("Alice") == "alice"


def test_login_key_ignores_cyrillic_case() -> None:
    assert login_key("ИВАН") == login_key("иван") == "иван"


@pytest.mark.parametrize(
    "login",
    ["a" * 32, "ж" * 32, "\ufb03" * 32, "\ufdfa" * 32],
    ids=["ascii", "cyrillic", "ffi-ligature", "arabic-ligature"],
)
def test_login_key_of_a_valid_login_fits_its_column(login: str) -> None:
    assert login_problem(login) is None
    assert len(login) <= MAX_LOGIN
    assert len(login_key(login)) <= users.c.login_key.type.length


def test_login_key_keeps_different_logins_apart() -> None:
    assert login_key("alice") != login_key("alice2")


# --------------------------------------------------------------------------- passwords


def test_password_of_7_characters() -> None:
    assert password_problem("a" * 7) == "Password must be at least 8 characters"


def test_password_of_8_characters() -> None:
    assert password_problem("a" * 8) is None


def test_password_of_1024_characters() -> None:
    assert password_problem("a" * 1024) is None


def test_password_of_1025_characters() -> None:
    assert password_problem("a" * 1025) == "Password must be at most 1024 characters"


def test_missing_password() -> None:
    assert password_problem(None) == "Password must be at least 8 characters"


def test_empty_password() -> None:
    assert password_problem("") == "Password must be at least 8 characters"


# --------------------------------------------------------------------------- chat names


@pytest.mark.parametrize(
    "name", ["general", "a", "x" * 64, "чат", "😀 party 🎉", "...", ".hidden", "a.b", "a b"]
)
def test_valid_chat_name(name: str) -> None:
    assert chat_name_problem(name) is None


def test_chat_name_of_65_characters() -> None:
    assert chat_name_problem("x" * 65) == "Chat name must be at most 64 characters"


def test_chat_name_of_64_emoji() -> None:
    assert chat_name_problem("😀" * 64) is None


@pytest.mark.parametrize("name", [None, ""])
def test_missing_chat_name(name: str | None) -> None:
    assert chat_name_problem(name) == "Chat name is required"


@pytest.mark.parametrize("name", [".", ".."])
def test_dot_names(name: str) -> None:
    assert chat_name_problem(name) == "Chat name cannot be '.' or '..'"


@pytest.mark.parametrize("name", ["a/b", "/", "a\\b", "\\", "../etc"])
def test_chat_name_with_slash(name: str) -> None:
    assert chat_name_problem(name) == "Chat name cannot contain '/' or '\\'"


@pytest.mark.parametrize("name", ["a\x00b", "a\nb", "\t", "a\x7f", "a\x1b[31m", "a\x85"])
def test_chat_name_with_control_character(name: str) -> None:
    assert chat_name_problem(name) == "Chat name cannot contain control characters"


def test_chat_name_with_lone_surrogate() -> None:
    assert chat_name_problem("a\ud800") == "Chat name cannot contain control characters"


# --------------------------------------------------------------------------- text and nonce


def test_text_only() -> None:
    assert text_problem("hi", False) is None


def test_image_only() -> None:
    assert text_problem(None, True) is None


def test_empty_text_with_image() -> None:
    assert text_problem("", True) is None


@pytest.mark.parametrize("text", [None, ""])
def test_no_text_no_image(text: str | None) -> None:
    assert text_problem(text, False) == "A message needs a non-empty Text or an Image"


def test_text_of_4000_characters() -> None:
    assert text_problem("a" * 4000, False) is None


def test_text_of_4001_characters() -> None:
    assert text_problem("a" * 4001, False) == "Text must be at most 4000 characters"


def test_long_text_with_image() -> None:
    assert text_problem("a" * 4001, True) == "Text must be at most 4000 characters"


@pytest.mark.parametrize("nonce", [None, "n", "x" * 64])
def test_valid_nonce(nonce: str | None) -> None:
    assert nonce_problem(nonce) is None


@pytest.mark.parametrize("nonce", ["", "x" * 65])
def test_invalid_nonce(nonce: str) -> None:
    assert nonce_problem(nonce) == "Nonce must be 1 to 64 characters"


# --------------------------------------------------------------------------- token bucket


def test_bucket_allows_the_burst_then_refuses() -> None:
    bucket = TokenBucket(rate=1.0, burst=3.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_bucket_refills_with_time() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, True]
    assert bucket.take(0.0) is False
    assert bucket.take(0.25) is False  # half a token
    assert bucket.take(0.5) is True  # one token at 2 a second
    assert bucket.take(0.5) is False


def test_bucket_says_when_the_next_token_comes() -> None:
    bucket = TokenBucket(rate=2.0, burst=2.0)
    assert bucket.delay(0.0) == 0.0  # full before the first take
    assert [bucket.take(0.0) for _ in range(2)] == [True, True]
    assert bucket.delay(0.0) == 0.5
    assert bucket.delay(0.25) == 0.25
    assert bucket.take(0.5) is True
    assert bucket.delay(1.5) == 0.0


def test_bucket_never_holds_more_than_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2.0)
    assert bucket.take(0.0) is True
    assert [bucket.take(1000.0) for _ in range(3)] == [True, True, False]


def test_bucket_tokens_capped_at_burst() -> None:
    bucket = TokenBucket(rate=10.0, burst=2.0)
    bucket.take(0.0)
    bucket.take(1000.0)
    assert bucket.tokens == 1.0


def test_bucket_with_burst_below_one_refuses() -> None:
    bucket = TokenBucket(rate=1.0, burst=0.5)
    assert bucket.take(0.0) is False
    assert bucket.take(10.0) is False
