"""Domain values as the wire shows them: the one place that formats a message,
a chat list entry or a history page.

Dates are ISO-8601 in UTC with milliseconds; an image is the URL that serves
it, ``/images/<chat, percent-encoded>/<md5>.<ext>``. A message object carries
the optional keys only when they apply (``text``, ``image``); keys that later
features add to a message are set in :func:`message`, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import quote

from .answers import (
    ChatChanges,
    ChatInfo,
    ChatList,
    Found,
    History,
    MessageEvent,
    MessageOut,
    SearchResults,
    chat_changes,
    chat_list,
    message_event,
)
from .model import ChatSummary, StoredMessage


def iso_date(ms: int) -> str:
    """``2026-11-24T15:37:42.123Z``: ISO-8601, UTC, milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def image_url(chat: str, name: str) -> str:
    """Where the image ``name`` of the chat named ``chat`` is served."""
    return f"/images/{quote(chat, safe='')}/{name}"


# -- messages -------------------------------------------------------------------------


def message(chat: str, stored: StoredMessage) -> MessageOut:
    """A stored message of the chat named ``chat``, as clients see it."""
    return MessageOut(
        id=stored.id,
        user=stored.login,
        date=iso_date(stored.created_ms),
        text=stored.text,
        image=None if stored.image is None else image_url(chat, stored.image),
    )


def messages(chat: str, page: Iterable[StoredMessage]) -> list[MessageOut]:
    return [message(chat, m) for m in page]


def message_pushed(chat: str, stored: StoredMessage, nonce: str | None = None) -> MessageEvent:
    """``{"Type":"chat","Command":"message","Message":{...}}``: a new message, or the
    answer to a retried one; ``nonce`` only in the frames for the sender's own sockets."""
    return message_event(message(chat, stored), nonce)


def history(command: str, chat: str, page: Iterable[StoredMessage]) -> History:
    """The ``choice`` or ``earlier`` answer: a page of the chat's messages, oldest first."""
    return History(Type="chat", Command=command, Chat=chat, Messages=messages(chat, page))


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
