"""Password hashing (argon2id) and login tokens.

Hashing is slow on purpose, so callers run it in a worker thread
(:meth:`Hasher.hash` and :meth:`Hasher.verify` are blocking). Tokens are
random secrets; only their SHA-256 is stored, so a copy of the database does
not let anyone log in.
"""

from __future__ import annotations

import hashlib
import secrets as _random  # the standard library module

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

TOKEN_BYTES = 32

_PROFILES = {
    # RFC 9106, second recommended option (64 MiB, 3 passes, 4 lanes).
    "default": argon2.profiles.RFC_9106_LOW_MEMORY,
    # Cheap parameters for test suites and benchmarks that register many users.
    "test": argon2.Parameters(
        type=argon2.Type.ID, version=19, salt_len=16, hash_len=32,
        time_cost=1, memory_cost=1024, parallelism=1,
    ),
}


class Hasher:
    def __init__(self, profile: str = "default") -> None:
        if profile not in _PROFILES:
            raise ValueError(f"unknown argon2 profile {profile!r}; use one of {sorted(_PROFILES)}")
        self._hasher = argon2.PasswordHasher.from_parameters(_PROFILES[profile])
        # A hash to verify against when the user does not exist, so that an
        # unknown login costs as much time as a wrong password.
        self._dummy = self._hasher.hash(_random.token_urlsafe(16))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False


def new_token() -> str:
    return _random.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
