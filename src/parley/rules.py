"""The protocol's rules on names, passwords and text, and the per-user rate limit.

Pure functions and a small token bucket: no I/O, no clock of their own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_LOGIN = 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_CHAT_NAME = 64
MAX_TEXT = 4000
MAX_NONCE = 64
GENERAL = "general"

_LOGIN = re.compile(r"[\w.-]{1,32}")


def login_problem(login: str | None) -> str | None:
    """Why ``login`` is not a valid login, or None when it is.

    Logins are 1-32 letters, digits, ``_``, ``.`` or ``-`` (letters of any
    script); they are unique without regard to case (see :func:`login_key`).
    """
    if not login:
        return "Login is required"
    if len(login) > MAX_LOGIN:
        return f"Login must be at most {MAX_LOGIN} characters"
    if not _LOGIN.fullmatch(login):
        return "Login may contain only letters, digits, '_', '.' and '-'"
    return None


def login_key(login: str) -> str:
    """The form of a login that uniqueness is checked on."""
    return unicodedata.normalize("NFKC", login).casefold()


def password_problem(password: str | None) -> str | None:
    if password is None or len(password) < MIN_PASSWORD:
        return f"Password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"Password must be at most {MAX_PASSWORD} characters"
    return None


def chat_name_problem(name: str | None) -> str | None:
    """Why ``name`` is not a valid chat name, or None when it is."""
    if not name:
        return "Chat name is required"
    if len(name) > MAX_CHAT_NAME:
        return f"Chat name must be at most {MAX_CHAT_NAME} characters"
    if name in (".", ".."):
        return "Chat name cannot be '.' or '..'"
    for ch in name:
        if ch in "/\\":
            return "Chat name cannot contain '/' or '\\'"
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return "Chat name cannot contain control characters"
    return None


def text_problem(text: str | None, has_image: bool) -> str | None:
    if not text and not has_image:
        return "A message needs a non-empty Text or an Image"
    if text is not None and len(text) > MAX_TEXT:
        return f"Text must be at most {MAX_TEXT} characters"
    return None


def nonce_problem(nonce: str | None) -> str | None:
    if nonce is not None and not 1 <= len(nonce) <= MAX_NONCE:
        return f"Nonce must be 1 to {MAX_NONCE} characters"
    return None


@dataclass
class TokenBucket:
    """``rate`` tokens a second up to ``burst``; each message takes one."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = 0.0

    def take(self, now: float) -> bool:
        if self.tokens < 0:
            self.tokens, self.stamp = self.burst, now
        else:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def delay(self, now: float) -> float:
        """Seconds from ``now`` until :meth:`take` will succeed (0: it would now)."""
        if self.tokens < 0:
            return 0.0
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        return max(0.0, (1.0 - tokens) / self.rate)
