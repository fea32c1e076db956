"""Every failure a client can be answered with.

Each error knows the exact JSON answer it turns into, so a handler only has to
raise; :meth:`~parley.service.Service.receive` is the one chokepoint that turns
an exception into an answer, and anything that is not a :class:`ParleyError`
becomes a generic ``"Status": "error"`` that leaks nothing.

Hierarchy (status in brackets)::

    ParleyError
    ├── BadRequest              ["error in json file"]   Type "error", no Command
    ├── NotAllowed              ["error in chat or user"] not logged in / no chat chosen
    ├── ChatMissing             ["error"]                Type "chat", no Command (seed)
    ├── AccessDenied            ["access denied"]        Type "chat", no Command
    ├── Invalid                 ["error"] + Detail       an argument breaks a rule
    ├── NoRight                 ["not allowed"]          the user lacks the right (v2)
    ├── NotFound                ["not found"]            no such message or user (v2)
    ├── Conflict                ["user exist", "chat exist"]
    ├── LoginFailed             ["error"]                same answer for every cause
    ├── Disabled                ["disabled"]             the account is disabled (v2)
    ├── ImageRejected           ["failed to attach image"]
    ├── RateLimited             ["rate limited"]
    ├── Muted                   ["muted"]                a message from a muted user
    └── Unavailable             ["error"]                storage down; the server carries on
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AccessDenied",
    "BadRequest",
    "ChatMissing",
    "Conflict",
    "Disabled",
    "ImageRejected",
    "Invalid",
    "LoginFailed",
    "Muted",
    "NoRight",
    "NotAllowed",
    "NotFound",
    "ParleyError",
    "RateLimited",
    "Unavailable",
]


class ParleyError(Exception):
    """A failure with a documented answer.

    The answer's ``Type`` and ``Command`` are the request's, unless the class
    fixes them: ``bare`` errors never carry a Command (the seed's shapes), and
    ``type_`` overrides the Type. ``detail`` becomes ``Detail`` when set.
    """

    status: ClassVar[str] = "error"
    bare: ClassVar[bool] = False
    type_: ClassVar[str | None] = None

    def __init__(self, detail: str | None = None, *, status: str | None = None) -> None:
        super().__init__(detail or status or self.status)
        self.detail = detail
        self.answer_status = status or self.status

    def answer(self, type_: str, command: str | None) -> dict[str, str]:
        """The JSON object this error is answered with, to a request of ``type_``/``command``."""
        out = {"Type": self.type_ or type_}
        if command is not None and not self.bare:
            out["Command"] = command
        out["Status"] = self.answer_status
        if self.detail is not None:
            out["Detail"] = self.detail
        return out


class BadRequest(ParleyError):
    """The frame is not a request we know: malformed JSON, wrong types, unknown command."""

    status = "error in json file"
    bare = True
    type_ = "error"


class NotAllowed(ParleyError):
    """The connection is not logged in, or has not chosen a chat."""

    status = "error in chat or user"


class ChatMissing(ParleyError):
    """The chat does not exist (any more). The seed answers without a Command."""

    status = "error"
    bare = True
    type_ = "chat"


class AccessDenied(ParleyError):
    """A closed chat was chosen without its password, or with a wrong one."""

    status = "access denied"
    bare = True
    type_ = "chat"


class Invalid(ParleyError):
    """An argument breaks a documented rule; ``detail`` says which."""

    status = "error"


class NoRight(ParleyError):
    """The user lacks the right to do this (v2 commands), e.g. leave a direct chat."""

    status = "not allowed"


class NotFound(ParleyError):
    """No such message (or it was removed), or no such user (v2 commands)."""

    status = "not found"


class Conflict(ParleyError):
    """The name is taken: ``user exist`` or ``chat exist`` (given as ``status``)."""

    status = "exist"


class LoginFailed(ParleyError):
    """Unknown user, wrong password, bad or expired token: one answer for all."""

    status = "error"


class Disabled(ParleyError):
    """The right password or token of an account a server admin disabled
    (``parley admin disable``): said plainly, since only the account's owner knows it."""

    status = "disabled"


class ImageRejected(ParleyError):
    """The Image is not base64 of an accepted image within the limits.

    The answer is the seed's, with no Detail; ``reason`` is for the log.
    """

    status = "failed to attach image"

    def __init__(self, *, reason: str = "") -> None:
        super().__init__()
        self.reason = reason


class RateLimited(ParleyError):
    """Too many messages too fast."""

    status = "rate limited"


class Muted(ParleyError):
    """The sender is muted in the chat (see :mod:`parley.moderation`): nothing is stored."""

    status = "muted"


class Unavailable(ParleyError):
    """Storage could not do its part (database down, disk full, out of memory)."""

    status = "error"
