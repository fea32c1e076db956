"""One connection's state and the protocol's rules for it: no I/O, no awaiting.

The service asks the session before it touches storage: is the connection
logged in, has it chosen a chat, may it send now, is the message well formed.
Each check either returns what the next step needs or raises the
:mod:`~parley.errors` answer, so every rule is testable without a socket.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import rules
from .errors import ChatMissing, Invalid, NotAllowed, RateLimited
from .messages import Send
from .model import Chat, User


@dataclass(frozen=True, slots=True)
class Place:
    """The chat a connection has chosen."""

    id: int
    name: str


class Session:
    __slots__ = ("chat", "chat_gone", "cursor", "token_digest", "user")

    def __init__(self) -> None:
        self.user: User | None = None
        self.token_digest: str | None = None
        self.chat: Place | None = None
        #: set when the chosen chat was deleted under this connection
        self.chat_gone = False
        #: ``earlier`` without ``Before`` pages back from here
        self.cursor: int | None = None

    # -- state changes -------------------------------------------------------------

    def logged_in(self, user: User, token_digest: str) -> None:
        self.user = user
        self.token_digest = token_digest

    def logged_out(self) -> None:
        self.user = None
        self.token_digest = None
        self.left_chat()

    def chose(self, chat: Chat, oldest_sent: int | None, last_id: int) -> None:
        """In ``chat`` now; ``earlier`` goes on from the oldest message sent,
        or from the chat's end when the page was empty."""
        self.chat = Place(chat.id, chat.name)
        self.chat_gone = False
        self.cursor = oldest_sent if oldest_sent is not None else last_id + 1

    def left_chat(self) -> None:
        self.chat = None
        self.chat_gone = False
        self.cursor = None

    # -- checks ----------------------------------------------------------------------

    def need_user(self) -> User:
        if self.user is None:
            raise NotAllowed()
        return self.user

    def need_chat(self) -> tuple[User, Place]:
        user = self.need_user()
        if self.chat is None:
            raise NotAllowed()
        if self.chat_gone:
            raise ChatMissing()
        return user, self.chat

    def check_message(self, request: Send, may_send: Callable[[int], bool]) -> tuple[User, Place]:
        """Everything about a message that can be checked before storage.

        ``may_send(user_id)`` is the rate limit, asked only once the sender is
        known. The order is the protocol's: who and where, how fast, then what.
        """
        user, place = self.need_chat()
        if not may_send(user.id):
            raise RateLimited()
        problem = rules.text_problem(request.Text, bool(request.Image))
        problem = problem or rules.nonce_problem(request.Nonce)
        if problem:
            raise Invalid(problem)
        return user, place
