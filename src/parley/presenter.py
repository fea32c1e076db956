"""Domain values as the wire shows them: the one place that formats a message,
a chat list entry or a history page.

Dates are ISO-8601 in UTC with milliseconds; an image is the URL that serves
it, ``/images/<chat, percent-encoded>/<md5>.<ext>``. A message object carries
the optional keys only when they apply (``text``, ``image``, ``edited``, ``reply``,
``reactions``, ``removed``), set in :func:`message` and nowhere else.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable
from urllib.parse import quote

from .answers import (
    ChatChanges,
    ChatInfo,
    ChatList,
    Edited,
    Found,
    History,
    MessageEvent,
    MessageOut,
    Reacted,
    Removed,
    ReplyOut,
    SearchResults,
    chat_changes,
    chat_list,
    message_event,
)
from .model import Change, ChatSummary, StoredMessage


def iso_date(ms: int) -> str:
    """``2026-11-24T15:37:42.123Z``: ISO-8601, UTC, milliseconds. Every stored message
    is formatted once at least: the part down to the second is formatted once per
    second (the messages of one second share it), a fifth of the cost of a datetime."""
    return _second(ms // 1000) + f"{ms % 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _second(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds))


def image_url(chat: str, name: str) -> str:
    """Where the image ``name`` of the chat named ``chat`` is served."""
    return f"/images/{quote(chat, safe='')}/{name}"


# -- messages -------------------------------------------------------------------------


def message(chat: str, stored: StoredMessage) -> MessageOut:
    """A stored message of the chat named ``chat``, as clients see it (a removed one as
    its tombstone); its reactions and reply as :func:`parley.message_extras.decorate`
    read them."""
    date = iso_date(stored.created_ms)
    if stored.removed:
        return MessageOut(id=stored.id, user=stored.login, date=date, removed=True)
    reply = stored.reply
    return MessageOut(
        id=stored.id,
        user=stored.login,
        date=date,
        text=stored.text,
        image=None if stored.image is None else image_url(chat, stored.image),
        edited=None if stored.edited_ms is None else iso_date(stored.edited_ms),
        reply=None if reply is None else ReplyOut(
            id=reply.id, user=reply.login, text=reply.text, removed=reply.removed),
        reactions=reactions(stored) or None,
    )


def reactions(stored: StoredMessage) -> dict[str, list[str]]:
    """The message's reaction map: emoji -> logins, in the order they reacted."""
    return {emoji: list(who) for emoji, who in stored.reactions}


def messages(chat: str, page: Iterable[StoredMessage]) -> list[MessageOut]:
    return [message(chat, m) for m in page]


def changed(chat: str, change: Change) -> Edited | Removed | Reacted:
    """The broadcast of a change: ``edit``, ``remove`` or ``react``, as it was."""
    m = change.message
    if m.removed:
        return Removed(Type="chat", Command="remove", Chat=chat, Change=change.number, Id=m.id)
    if change.kind == "react":
        return Reacted(Type="chat", Command="react", Chat=chat, Change=change.number, Id=m.id,
                       Reactions=reactions(m))
    return Edited(Type="chat", Command="edit", Chat=chat, Change=change.number,
                  Message=message(chat, m))


def message_pushed(chat: str, stored: StoredMessage, nonce: str | None = None) -> MessageEvent:
    """``{"Type":"chat","Command":"message","Message":{...}}``: a new message, or the
    answer to a retried one; ``nonce`` only in the frames for the sender's own sockets."""
    return message_event(message(chat, stored), nonce)


def history(command: str, chat: str, page: Iterable[StoredMessage]) -> History:
    """The ``earlier`` answer: a page of the chat's messages, oldest first."""
    return History(Type="chat", Command=command, Chat=chat, Messages=messages(chat, page))


def chosen(command: str, chat: str, page: Iterable[StoredMessage], change: int,
           changes: list[StoredMessage] | None = None, more: bool = False) -> History:
    """The ``choice`` answer: the page, the chat's change number (or, with ``more``, the
    last one ``changes`` covers) and, when asked, the messages changed since."""
    return History(Type="chat", Command=command, Chat=chat, Messages=messages(chat, page),
                   Change=change, More=more,
                   Changed=None if changes is None else messages(chat, changes))


def search_results(found: Iterable[tuple[str, StoredMessage]]) -> SearchResults:
    """The ``search`` answer: each message found, newest first, with its chat's name."""
    return SearchResults(Type="chat", Command="search",
                         Results=[Found(chat, message(chat, m)) for chat, m in found])


# -- chats ----------------------------------------------------------------------------


def chat_info(chat: ChatSummary) -> ChatInfo:
    if chat.members is not None:  # a direct chat
        return ChatInfo(chat.name, True, None, True, list(chat.members))
    return ChatInfo(chat.name, chat.closed, chat.owner)


def chats(summaries: Iterable[ChatSummary]) -> ChatList:
    """The ``list`` answer: every chat, in creation order."""
    return chat_list([chat_info(c) for c in summaries])


def chats_changed(added: Iterable[ChatSummary], removed: list[str]) -> ChatChanges:
    """A change of the chat list: chats added (or replaced, by name), names removed."""
    return chat_changes([chat_info(c) for c in added], removed)
