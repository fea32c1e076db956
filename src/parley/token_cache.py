"""Token logins from memory: this process's map of token digests to their users.

A reconnect storm logs thousands of sockets in by token within seconds; each
would read the token and its user from the database. :class:`TokenCache` keeps
what such a read found (a live token of an enabled user) and answers the next
login with that token from memory, until one of these forgets it:

- on this process, at once: ``logout`` (the token, or with ``Everywhere`` every
  token of the user), a ``password`` change (every token of the user);
- on every process: the ``user`` event that logs the user's sockets out, which
  each of these publishes after its commit, and so do ``parley admin disable``
  and ``reset-password`` (see :mod:`parley.admin_rows`): a process forgets the
  user's tokens when it logs out the user's sockets there, so a token refused to
  a socket is refused to a new login as soon as the process knows;
- the token's expiry, and :data:`TOKEN_TTL` after the read at most (an event
  lost while Redis was away leaves nothing wrong for longer).

A read that began before a forgetting does not fill the map (its answer may be
from before the revocation): every forgetting moves :attr:`TokenCache.epoch` on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from .model import User, now_ms

#: seconds a token read from the database is trusted without reading it again
TOKEN_TTL = 30.0
#: tokens kept at most (the oldest go first)
TOKEN_CACHE_SIZE = 100_000


class TokenCache:
    """Token digest -> (user, token's expiry in ms, monotonic time of the read)."""

    def __init__(self, ttl: float = TOKEN_TTL, size: int = TOKEN_CACHE_SIZE) -> None:
        self.ttl = ttl
        self.size = size
        self._tokens: dict[str, tuple[User, int, float]] = {}
        #: user id -> the digests kept of that user
        self._by_user: dict[int, set[str]] = {}
        #: moved on by every forgetting: a read begun before one is not kept
        self.epoch = 0
        #: logins answered from memory, and those read from the database
        self.hits = 0
        self.misses = 0

    async def user(self, digest: str,
                   read: Callable[[str], Awaitable[tuple[User, int] | None]]) -> User | None:
        """The enabled user of the live token ``digest``, or None; ``read`` gives the
        user and the token's expiry from the database (None: no such live token)."""
        kept = self._tokens.get(digest)
        if kept is not None:
            user, expires_ms, read_at = kept
            if expires_ms > now_ms() and time.monotonic() - read_at <= self.ttl:
                self.hits += 1
                return user
            self._drop(digest)
        self.misses += 1
        epoch = self.epoch
        found = await read(digest)
        if found is None:
            return None
        user, expires_ms = found
        if self.epoch == epoch and not user.disabled and expires_ms > now_ms():
            self._keep(digest, user, expires_ms)
        return user

    def forget(self, digest: str) -> None:
        """The token is revoked."""
        self.epoch += 1
        self._drop(digest)

    def forget_user(self, user_id: int) -> None:
        """Every token of the user is revoked (or the user disabled)."""
        self.epoch += 1
        for digest in self._by_user.pop(user_id, ()):
            self._tokens.pop(digest, None)

    def _keep(self, digest: str, user: User, expires_ms: int) -> None:
        if len(self._tokens) >= self.size:
            self._drop(next(iter(self._tokens)))
        self._tokens[digest] = (user, expires_ms, time.monotonic())
        self._by_user.setdefault(user.id, set()).add(digest)

    def _drop(self, digest: str) -> None:
        kept = self._tokens.pop(digest, None)
        if kept is None:
            return
        digests = self._by_user.get(kept[0].id)
        if digests is not None:
            digests.discard(digest)
            if not digests:
                del self._by_user[kept[0].id]

    def __len__(self) -> int:
        return len(self._tokens)
