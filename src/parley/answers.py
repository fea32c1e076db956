"""The wire format's answers: one msgspec class per answer and push.

Answers are Structs encoded with ``omit_defaults``: an optional key that is
``None`` is left out, as the protocol wants (``text``/``image`` in a message,
``Detail`` in an error). Keys that are always present have no default. Requests
and their decoding are in :mod:`parley.messages`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import Struct


class Answer(Struct, kw_only=True, omit_defaults=True):
    """A status answer: ``{"Type", "Command"?, "Status", "Detail"?}``."""

    Type: str
    Command: str | None = None
    Status: str
    Detail: str | None = None


class AccountAnswer(Struct, kw_only=True, omit_defaults=True):
    Type: str
    Command: str
    Status: str
    User: str | None = None
    Token: str | None = None


class UserList(Struct, kw_only=True):
    """``users``: logins that start with the prefix asked for."""

    Type: str
    Command: str
    Users: list[str]


class ChatInfo(Struct, omit_defaults=True):
    """A chat list entry; a direct chat's also has ``direct`` and ``members``."""

    name: str
    closed: bool
    owner: str | None
    direct: bool = False
    members: list[str] | None = None


class ChatList(Struct, kw_only=True):
    Type: str
    Command: str
    Chats: list[ChatInfo]


class ChatChanges(Struct, kw_only=True):
    """A change of the chat list, pushed to the sockets that logged in with
    ``ListChanges``: chats to add (or replace, by name) and names to remove."""

    Type: str
    Command: str
    Added: list[ChatInfo]
    Removed: list[str]


class ChatAnswer(Struct, kw_only=True, omit_defaults=True):
    """``create``, ``delete`` and ``leave`` answers and the ``deleted`` and ``left`` notices."""

    Type: str
    Command: str
    Status: str
    Chat: str


class ReplyOut(Struct, kw_only=True, omit_defaults=True):
    """The message a message replies to: its author and the start of its current text,
    or ``removed``."""

    id: int
    user: str | None = None
    text: str | None = None
    removed: bool = False


class MessageOut(Struct, kw_only=True, omit_defaults=True):
    """A stored message as clients see it; the optional keys only when they apply."""

    id: int
    user: str
    date: str
    text: str | None = None
    image: str | None = None
    #: the date of its last edit
    edited: str | None = None
    reply: ReplyOut | None = None
    #: emoji -> the logins that reacted with it, in the order they did
    reactions: dict[str, list[str]] | None = None
    #: a tombstone: nothing but id, user and date besides
    removed: bool = False
    #: the sender's ``Nonce``: only in the frames to the sender's own sockets
    nonce: str | None = None


class History(Struct, kw_only=True, omit_defaults=True):
    """``choice`` and ``earlier`` answers: a page of messages, oldest first. A ``choice``
    answer also has the chat's ``Change`` number, and, when asked with ``Changes``, the
    messages ``Changed`` since (``More``: ask again from its ``Change``)."""

    Type: str
    Command: str
    Chat: str
    Messages: list[MessageOut]
    Change: int | None = None
    Changed: list[MessageOut] | None = None
    More: bool = False


class DirectAnswer(Struct, kw_only=True):
    """``direct``: the direct chat found or created, chosen, with its newest page and
    its ``Change`` number, as a ``choice`` answer has."""

    Type: str
    Command: str
    Status: str
    Chat: str
    Messages: list[MessageOut]
    Change: int


class Edited(Struct, kw_only=True):
    """``edit``: a message's new state, to every socket in the chat."""

    Type: str
    Command: str
    Chat: str
    Change: int
    Message: MessageOut


class Removed(Struct, kw_only=True):
    """``remove``: the message is a tombstone now, to every socket in the chat."""

    Type: str
    Command: str
    Chat: str
    Change: int
    Id: int


class Reacted(Struct, kw_only=True):
    """``react``: the message's whole reaction map after the change."""

    Type: str
    Command: str
    Chat: str
    Change: int
    Id: int
    Reactions: dict[str, list[str]]


class MessageEvent(Struct, kw_only=True):
    Type: str
    Command: str
    Message: MessageOut


class Found(Struct):
    """A search result: a message and the name of its chat."""

    chat: str
    message: MessageOut


class SearchResults(Struct, kw_only=True):
    """``search``: the messages found, newest first."""

    Type: str
    Command: str
    Results: list[Found]


class TypingNotice(Struct, kw_only=True):
    """``typing``: pushed to the other sockets in the chat (never the typist's own)."""

    Type: str
    Command: str
    Chat: str
    User: str


class ReadPointer(Struct, kw_only=True):
    """``read``: the user's pointer in the chat, pushed to every socket of the user."""

    Type: str
    Command: str
    Chat: str
    Id: int


class UnreadChat(Struct):
    last: int
    read: int
    unread: int
    mentions: int


class UnreadCounts(Struct, kw_only=True):
    """``unread``: every chat the user is a member of, by name."""

    Type: str
    Command: str
    Chats: dict[str, UnreadChat]


class Activity(Struct, kw_only=True):
    """``activity``: a message in a chat of the user's that this socket has not chosen."""

    Type: str
    Command: str
    Chat: str
    Id: int
    User: str
    Mention: bool


class ModeratorAnswer(Struct, kw_only=True):
    """``moderator``: the role granted or revoked; also pushed to the target's sockets."""

    Type: str
    Command: str
    Status: str
    Chat: str
    Login: str
    Grant: bool


class SanctionAnswer(Struct, kw_only=True):
    """``ban``, ``unban``, ``mute``, ``unmute``: done."""

    Type: str
    Command: str
    Status: str
    Chat: str
    Login: str


class BanNotice(Struct, kw_only=True):
    """``ban``: pushed to the banned user's sockets that had the chat chosen."""

    Type: str
    Command: str
    Chat: str
    Status: str


class Staff(Struct, kw_only=True):
    """``moderators``: the chat's owner (None: none), its moderators, the asker's role."""

    Type: str
    Command: str
    Chat: str
    Owner: str | None
    Moderators: list[str]
    Role: str


class Online(Struct, kw_only=True, omit_defaults=True):
    """``connected``: the whole list on request, a delta when pushed."""

    Type: str
    Command: str
    Chat: str
    Online: list[str] | None = None
    Joined: str | None = None
    Left: str | None = None


_encoder = msgspec.json.Encoder()


def encode(answer: Struct | dict[str, Any]) -> bytes:
    """Encode an answer to the bytes of one text frame."""
    return _encoder.encode(answer)


def chat_list(chats: list[ChatInfo]) -> ChatList:
    return ChatList(Type="chat", Command="list", Chats=chats)


def chat_changes(added: list[ChatInfo], removed: list[str]) -> ChatChanges:
    return ChatChanges(Type="chat", Command="list", Added=added, Removed=removed)


def message_event(message: MessageOut, nonce: str | None = None) -> MessageEvent:
    """The frame of a stored message; with ``nonce`` for its sender's own sockets only."""
    if nonce is not None:
        message = msgspec.structs.replace(message, nonce=nonce)
    return MessageEvent(Type="chat", Command="message", Message=message)


def joined(chat: str, login: str) -> Online:
    return Online(Type="chat", Command="connected", Chat=chat, Joined=login)


def left(chat: str, login: str) -> Online:
    return Online(Type="chat", Command="connected", Chat=chat, Left=login)
