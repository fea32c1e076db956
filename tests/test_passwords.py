"""parley.passwords: argon2id hashing and login tokens."""

from __future__ import annotations

import hashlib
import re

import pytest

from parley.passwords import Hasher, new_token, token_digest


@pytest.fixture(scope="module")
def hasher() -> Hasher:
    return Hasher("test")


def test_hash_and_verify(hasher: Hasher) -> None:
    stored = hasher.hash("correct horse")
    assert hasher.verify(stored, "correct horse") is True


def test_hash_is_argon2id_and_salted(hasher: Hasher) -> None:
    first, second = hasher.hash("correct horse"), hasher.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert "correct horse" not in first
    assert first != second
    assert hasher.verify(second, "correct horse") is True


def test_wrong_password(hasher: Hasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "Correct horse") is False


def test_empty_password_against_a_hash(hasher: Hasher) -> None:
    assert hasher.verify(hasher.hash("correct horse"), "") is False


def test_unicode_password(hasher: Hasher) -> None:
    stored = hasher.hash("пароль🔑ünïcode")
    assert hasher.verify(stored, "пароль🔑ünïcode") is True
    assert hasher.verify(stored, "пароль🔑unicode") is False


def test_verify_without_a_stored_hash(hasher: Hasher) -> None:
    assert hasher.verify(None, "correct horse") is False


def test_verify_against_empty_stored_hash(hasher: Hasher) -> None:
    assert hasher.verify("", "correct horse") is False


def test_verify_against_a_malformed_hash(hasher: Hasher) -> None:
    assert hasher.verify("not a hash", "correct horse") is False


def test_default_profile_hashes_are_verified_by_test_profile(hasher: Hasher) -> None:
    stored = Hasher("default").hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert hasher.verify(stored, "correct horse") is True


def test_test_profile_parameters(hasher: Hasher) -> None:
    assert hasher.hash("x").startswith("$argon2id$v=19$m=1024,t=1,p=1$")


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match=r"unknown argon2 profile 'fast'; use one of "
                                         r"\['default', 'test'\]"):
        Hasher("fast")


def test_token_digest_is_sha256_hex() -> None:
    assert token_digest("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def test_token_digest_of_non_ascii() -> None:
    assert token_digest("ключ") == hashlib.sha256("ключ".encode()).hexdigest()


def test_token_digest_differs_per_token() -> None:
    assert token_digest("a") != token_digest("b")


def test_new_token_shape() -> None:
    token = new_token()
    assert len(token) == 43  # 32 random bytes, URL-safe base64 without padding
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_new_tokens_are_unique() -> None:
    assert len({new_token() for _ in range(1000)}) == 1000
