"""The wire format's requests: one class per request, and the one decoder.

Requests are a msgspec tagged union on ``Command`` (every command name is
unique across types, so one decode picks the class; ``Type`` is then checked
against the class). Fields a command may go without are optional here and
checked by the session, so that a missing value gets the command's own answer
while a value of the wrong JSON type is a malformed request.

The answers are in :mod:`parley.answers`.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

import msgspec
from msgspec import Meta, Struct

from .errors import BadRequest, Invalid

Id = Annotated[int, Meta(ge=0, le=2**63 - 1)]
#: a message id (for the fields named ``Id``)
MessageId = Id


# --------------------------------------------------------------------------- requests


class Request(Struct, tag_field="Command", forbid_unknown_fields=False):
    """Base of every request; ``TYPE`` is the ``Type`` it must carry."""

    Type: str

    TYPE: ClassVar[str] = ""


class Registration(Request, tag="registration"):
    TYPE = "account"
    Login: str | None = None
    Password: str | None = None
    #: the client takes the chat list's changes as deltas (see :class:`ChatChanges`)
    ListChanges: bool = False


class Login(Request, tag="login"):
    TYPE = "account"
    Login: str | None = None
    Password: str | None = None
    Token: str | None = None
    ListChanges: bool = False


class Logout(Request, tag="logout"):
    TYPE = "account"
    #: revoke every token of the user and close the user's other sockets
    Everywhere: bool | None = None


class ChangePassword(Request, tag="password"):
    TYPE = "account"
    Old: str | None = None
    New: str | None = None


class Users(Request, tag="users"):
    TYPE = "account"
    #: the logins' first characters (1 to 32), compared case-insensitively
    Prefix: str | None = None


class ListChats(Request, tag="list"):
    TYPE = "chat"


class Create(Request, tag="create"):
    TYPE = "chat"
    Chat: str | None = None
    Password: str | None = None


class Choice(Request, tag="choice"):
    TYPE = "chat"
    Chat: str | None = None
    Password: str | None = None
    After: Id | None = None
    #: with ``After``: the messages up to it changed after this change number, too
    Changes: Id | None = None
    #: instead of the newest page: the messages around this id (a search result's context)
    Around: Id | None = None


class Earlier(Request, tag="earlier"):
    TYPE = "chat"
    Before: Id | None = None


class Connected(Request, tag="connected"):
    TYPE = "chat"


class Delete(Request, tag="delete"):
    TYPE = "chat"
    Chat: str | None = None


class Typing(Request, tag="typing"):
    TYPE = "chat"


class Leave(Request, tag="leave"):
    TYPE = "chat"
    Chat: str | None = None


class Read(Request, tag="read"):
    TYPE = "chat"
    Chat: str | None = None
    #: the id of the last message read (checked by the handler: a message id, 0 or more)
    Id: int | None = None


class UnreadRequest(Request, tag="unread"):
    TYPE = "chat"


class Direct(Request, tag="direct"):
    TYPE = "chat"
    #: the other members' logins (1 to 9)
    With: list[str] | None = None


class Search(Request, tag="search"):
    TYPE = "chat"
    #: the words to find (1 to 200 characters)
    Text: str | None = None
    #: only this chat
    Chat: str | None = None
    #: with ``Chat``: only messages with lower ids (the next page)
    Before: Id | None = None


class Send(Request, tag="message"):
    TYPE = "chat"
    Text: str | None = None
    Image: str | None = None
    Nonce: str | None = None
    #: the id of the message (of the chat) this one replies to
    Reply: MessageId | None = None


class Edit(Request, tag="edit"):
    TYPE = "chat"
    Id: MessageId | None = None
    Text: str | None = None


class Remove(Request, tag="remove"):
    TYPE = "chat"
    Id: MessageId | None = None


class React(Request, tag="react"):
    TYPE = "chat"
    Id: MessageId | None = None
    Emoji: str | None = None


class Moderator(Request, tag="moderator"):
    TYPE = "chat"
    Chat: str | None = None
    Login: str | None = None
    #: true to grant the role, false to revoke it (checked by the handler)
    Grant: Any = None


class Ban(Request, tag="ban"):
    TYPE = "chat"
    Chat: str | None = None
    Login: str | None = None
    #: how long (checked by the handler: a whole number of minutes); none: until unbanned
    Minutes: Any = None


class Unban(Request, tag="unban"):
    TYPE = "chat"
    Chat: str | None = None
    Login: str | None = None


class Mute(Request, tag="mute"):
    TYPE = "chat"
    Chat: str | None = None
    Login: str | None = None
    #: how long (checked by the handler: a whole number of minutes, required)
    Minutes: Any = None


class Unmute(Request, tag="unmute"):
    TYPE = "chat"
    Chat: str | None = None
    Login: str | None = None


class Moderators(Request, tag="moderators"):
    TYPE = "chat"
    Chat: str | None = None


AnyRequest = (
    Registration | Login | Logout | ListChats | Create | Choice | Earlier | Connected | Delete
    | Send | ChangePassword | Users | Typing | Leave | Read | UnreadRequest | Direct
    | Edit | Remove | React | Search | Moderator | Ban | Unban | Mute | Unmute | Moderators
)

_decoder: msgspec.json.Decoder[AnyRequest] = msgspec.json.Decoder(AnyRequest)

NUL_DETAIL = "A request may not contain the character U+0000"


class Refused(Invalid):
    """A well-formed request refused as a whole before it is handled: it is answered
    with the request's own ``Type`` and ``Command``, kept here."""

    def __init__(self, request: Request, detail: str) -> None:
        super().__init__(detail)
        self.type = request.Type
        self.command = _command_of(request)


def decode_request(frame: str | bytes) -> AnyRequest:
    """Decode one frame into its request class, or raise :class:`BadRequest`."""
    try:
        request = _decoder.decode(frame)
    except msgspec.ValidationError as exc:
        raise BadRequest(_validation_detail(exc)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}") from None
    except UnicodeError:
        raise BadRequest("malformed JSON: a text frame must be UTF-8") from None
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    if request.Type != request.TYPE:
        raise BadRequest(f"unknown Type/Command: {request.Type!r}/{_command_of(request)!r}")
    # U+0000 reaches a string only through the escape (a raw 0x00 byte is not JSON), and
    # PostgreSQL cannot store it: refuse it in every field, on every database alike.
    escaped = b"\\u0000" in frame if isinstance(frame, bytes) else "\\u0000" in frame
    if escaped and _holds_nul(request):
        raise Refused(request, NUL_DETAIL)
    return request


def _holds_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Struct):
        return any(_holds_nul(getattr(value, name)) for name in value.__struct_fields__)
    if isinstance(value, list | tuple):
        return any(_holds_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return False


#: the longest ``account`` request, in characters: a login has no business being megabytes
ACCOUNT_FRAME = 16 * 1024
_ACCOUNT_COMMANDS = frozenset(("registration", "login", "logout", "password", "users"))


class _Head(Struct, forbid_unknown_fields=False):
    """Only the keys that say what a request is; msgspec skips the other values
    without building them."""

    Type: object = None
    Command: object = None


_head_decoder: msgspec.json.Decoder[_Head] = msgspec.json.Decoder(_Head)


def account_command(frame: str | bytes) -> str | None:
    """The command of ``frame`` if it is an ``account`` request (None: it is not one,
    or is not a JSON object), read without decoding its other values."""
    try:
        head = _head_decoder.decode(frame)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None
    if head.Type == "account" and head.Command in _ACCOUNT_COMMANDS:
        return str(head.Command)
    return None


def _command_of(request: Request) -> str:
    info = msgspec.inspect.type_info(type(request))
    assert isinstance(info, msgspec.inspect.StructType)
    return str(info.tag)


def _validation_detail(exc: msgspec.ValidationError) -> str:
    text = str(exc)
    if text.startswith("Expected `object`"):
        return "a request must be a JSON object"
    if "at `$.Command`" in text and text.startswith("Invalid value"):
        return f"unknown Type/Command: {text}"
    return text
