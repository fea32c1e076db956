"""The domain: users, chats and messages as the server knows them.

Plain values, shared by the store (which reads and writes them), the writer,
the session and the service. Nothing here knows the database or the wire:
:mod:`parley.presenter` turns these into answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


def now_ms() -> int:
    """Milliseconds since the epoch: how every time is kept."""
    return int(time.time() * 1000)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    login: str
    #: may not log in (``parley admin disable``), as read at login
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    name: str
    owner_id: int | None
    password_hash: str | None
    #: a direct chat (see :mod:`parley.direct`): no owner, no password, fixed members
    direct: bool = False

    @property
    def closed(self) -> bool:
        return self.password_hash is not None

    @property
    def private(self) -> bool:
        """Only members may read it: a closed or direct chat."""
        return self.direct or self.password_hash is not None


@dataclass(frozen=True, slots=True)
class ChatSummary:
    """A chat as the chat list shows it."""

    name: str
    closed: bool
    owner: str | None  # the owner's login; None for ``general`` or a deleted owner
    #: a direct chat's members' logins, in the order of its name; None for other chats
    members: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class Unread:
    """A chat of a user's, for ``unread``: its newest id, the user's read pointer, and
    the messages after it from others (``unread``), of which ``mentions`` mention the user."""

    chat: str
    last: int
    read: int
    unread: int
    mentions: int


@dataclass(frozen=True, slots=True)
class Reply:
    """What a message that replies shows of the original: its author and the start of its
    current text, or only that it was removed."""

    id: int
    login: str | None = None
    text: str | None = None
    removed: bool = False


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as stored: ``id`` counts from 1 in its chat.

    ``reactions`` and ``reply`` are read with the message by
    :func:`parley.message_extras.decorate` (empty until then)."""

    chat_id: int
    id: int
    user_id: int
    login: str
    text: str | None
    image: str | None  # "<md5>.<ext>" in the chat's image store
    nonce: str | None
    created_ms: int
    #: when it was last edited (None: never)
    edited_ms: int | None = None
    #: a tombstone: its text and image are gone
    removed: bool = False
    #: the id of the message it replies to
    reply_to: int | None = None
    #: the newest change that touched it (None: never changed)
    change: int | None = None
    #: emoji -> the logins that reacted with it, in the order they did
    reactions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class ChangeOp:
    """A change on its way to the database: ``edit`` (with ``text``), ``remove`` or
    ``react`` (with ``emoji``) of message ``message_id``, by user ``user_id``, at ``at``."""

    kind: str
    chat_id: int
    user_id: int
    message_id: int
    text: str | None = None
    emoji: str | None = None
    at: int = 0


@dataclass(frozen=True, slots=True)
class Change:
    """A change stored (edit, removal, reaction): its number in the chat, the message's
    new state, and the image the change left unused (to delete after the commit)."""

    number: int
    message: StoredMessage
    #: ``edit``, ``remove`` or ``react``
    kind: str
    freed_image: str | None = None


@dataclass(slots=True)
class Draft:
    """A message on its way to the database."""

    chat_id: int
    #: the chat's name, for the answers about this message (the store does not read it)
    chat: str
    user_id: int
    login: str
    text: str | None
    image: str | None  # "<md5>.<ext>" in the chat's image store
    image_size: int
    #: the image's bytes when they are kept in the image's row (see
    #: :meth:`parley.images.ImageStore.draft_data`), else None
    image_data: bytes | None
    nonce: str | None
    created_ms: int
    #: the message it replies to (checked in the storing transaction)
    reply_to: int | None = None


@dataclass(frozen=True, slots=True)
class Stored:
    """What became of a draft: the message, or ``None`` when its chat is gone.

    ``duplicate``: a message with the draft's nonce (from the same user, in the
    same chat) was stored before; ``message`` is that one. ``mentions``: the ids of
    the users a newly stored message mentions (see :mod:`parley.mentions`).
    ``no_reply``: not stored, its ``reply_to`` is not a message of the chat (or removed).
    """

    message: StoredMessage | None
    duplicate: bool = False
    mentions: tuple[int, ...] = ()
    #: not stored: the message it replies to does not exist (or was removed)
    no_reply: bool = False
