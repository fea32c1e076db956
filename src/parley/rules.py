"""The protocol's rules on names, passwords and text, and the per-user rate limit.

Pure functions and a small token bucket: no I/O, no clock of their own.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import regex  # type: ignore[import-untyped]  # ships no type hints; only two calls used here

MAX_LOGIN = 32
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_CHAT_NAME = 64
#: a direct chat's name: ``@`` and up to ten logins joined by ``,`` (see parley.direct)
MAX_DIRECT_NAME = 1 + 10 * MAX_LOGIN + 9
DIRECT_MARK = "@"
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


def chat_key(name: str) -> str:
    """The form of a chat name that uniqueness is checked on, as for logins: ``Team``
    and ``team`` are one name to ``create`` (``choice`` by name stays exact)."""
    return unicodedata.normalize("NFKC", name).casefold()


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
    most = MAX_DIRECT_NAME if name.startswith(DIRECT_MARK) else MAX_CHAT_NAME
    if len(name) > most:
        return f"Chat name must be at most {most} characters"
    if name in (".", ".."):
        return "Chat name cannot be '.' or '..'"
    for ch in name:
        if ch in "/\\":
            return "Chat name cannot contain '/' or '\\'"
        if unicodedata.category(ch) in ("Cc", "Cs"):
            return "Chat name cannot contain control characters"
    return None


#: invisible characters and explicit text-direction controls, refused in new names
_HIDDEN = frozenset(chr(c) for c in (*range(0x200B, 0x2010), *range(0x202A, 0x202F),
                                     *range(0x2066, 0x206A), 0xFEFF))

#: Unicode TS #39, 5.1: the writing systems a script also belongs to, for the
#: resolved script set (Japanese = Han + Hiragana + Katakana, Korean = Han + Hangul,
#: Han with Bopomofo)
_AUGMENT = {"Hani": ("Hanb", "Jpan", "Kore"), "Hira": ("Jpan",), "Kana": ("Jpan",),
            "Hang": ("Kore",), "Bopo": ("Hanb",)}


def new_name_problem(name: str | None, what: str) -> str | None:
    """Why ``name`` may not be given to a new account or chat (``what``: ``"Login"`` or
    ``"Chat name"``), or None; it adds to :func:`login_problem` and
    :func:`chat_name_problem` and is not asked of names that exist already.

    A new name may not hold invisible or text-direction characters, and its letters
    must be of one script by Unicode TS #39's rule: the intersection of every
    character's Script_Extensions (Common and Inherited go with any script; Han,
    Hiragana, Katakana, Hangul and Bopomofo also stand for Japanese, Korean and Han
    with Bopomofo) must not be empty. ``Иван`` and ``ivan`` are fine; ``Ивaн`` with
    a Latin ``a`` is not.
    """
    if not name:
        return None
    if any(ch in _HIDDEN for ch in name):
        return f"{what} may not contain invisible or text-direction characters"
    resolved: set[str] | None = None  # None: every script
    for ch in name:
        scripts = _scripts(ch)
        if scripts is None:
            continue
        resolved = set(scripts) if resolved is None else resolved & scripts
        if not resolved:
            return f"{what} may not mix letters of different scripts"
    return None


@functools.lru_cache(maxsize=4096)
def _scripts(ch: str) -> frozenset[str] | None:
    """The character's augmented Script_Extensions; None for Common and Inherited."""
    found = {code for code, pattern in _script_patterns() if pattern.match(ch)}
    if not found or found <= {"Zyyy", "Zinh"}:
        return None
    for code in list(found):
        found.update(_AUGMENT.get(code, ()))
    return frozenset(found)


@functools.cache
def _script_patterns() -> tuple[tuple[str, regex.Pattern], ...]:
    """``\\p{scx=...}`` for every script the ``regex`` module knows (its Unicode version),
    by the script's short name."""
    values: dict[str, int] = regex._regex_core.PROPERTIES["SCRIPTEXTENSIONS"][1]
    codes: dict[int, str] = {}
    for value_name, value in values.items():
        # several spellings per script: keep the four-letter code (``LATN``)
        if (len(value_name) == 4 and value not in codes) or value_name in ("ZYYY", "ZINH"):
            codes[value] = value_name
    return tuple((code.title(), regex.compile(rf"\p{{scx={code}}}"))
                 for value, code in sorted(codes.items()) if code != "ZZZZ")


def text_problem(text: str | None, has_image: bool) -> str | None:
    if not text and not has_image:
        return "A message needs a non-empty Text or an Image"
    if text is not None and len(text) > MAX_TEXT:
        return f"Text must be at most {MAX_TEXT} characters"
    return None


#: the longest reaction, in characters (an emoji with its modifiers)
MAX_EMOJI = 16


def emoji_problem(emoji: str | None) -> str | None:
    """A reaction is 1 to 16 characters with no letters, digits, whitespace or control
    characters: an emoji, possibly with modifiers and joiners."""
    if not emoji or len(emoji) > MAX_EMOJI:
        return f"Emoji must be 1 to {MAX_EMOJI} characters"
    for ch in emoji:
        kind = unicodedata.category(ch)
        if kind[0] == "L" or kind in ("Nd", "Cc") or ch.isspace():
            return "Emoji may not hold letters, digits, whitespace or control characters"
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
