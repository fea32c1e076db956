"""What a stored message shows beside its own row: its reactions and the preview of the
message it replies to. :func:`decorate` reads them for a whole list of messages at once
(one query for the reactions, one for the previews, however many messages), and every
path that shows stored messages calls it: history pages, resumed changes, new messages
and changes as they are broadcast, search results.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import sqlalchemy as sa

from .model import Reply, StoredMessage
from .schema import messages, reactions, users

#: how much of the original's current text a reply shows, in characters
PREVIEW = 100


def decorate(conn: sa.Connection, found: Sequence[StoredMessage]) -> list[StoredMessage]:
    """``found`` (stored rows, of any chats), each with its reactions and reply preview.
    A removed message shows neither."""
    live = [m for m in found if not m.removed]
    keys = list({(m.chat_id, m.id) for m in live})
    replied = list({(m.chat_id, m.reply_to) for m in live if m.reply_to is not None})
    by_message = _reactions(conn, keys) if keys else {}
    previews = _previews(conn, replied) if replied else {}
    out = []
    for m in found:
        if m.removed:
            out.append(m)
            continue
        shown = by_message.get((m.chat_id, m.id), {})
        reply = None if m.reply_to is None else previews.get(
            (m.chat_id, m.reply_to), Reply(m.reply_to, removed=True))
        if shown or reply is not None:
            m = dataclasses.replace(
                m, reactions=tuple((e, tuple(who)) for e, who in shown.items()), reply=reply)
        out.append(m)
    return out


def reaction_map(conn: sa.Connection, chat_id: int,
                 message_id: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """One message's reactions (see :func:`decorate`)."""
    shown = _reactions(conn, [(chat_id, message_id)]).get((chat_id, message_id), {})
    return tuple((e, tuple(who)) for e, who in shown.items())


def _reactions(conn: sa.Connection,
               keys: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, list[str]]]:
    """(chat id, message id) -> emoji -> logins, emoji in the order of their first
    reaction, logins in the order they reacted."""
    rows = conn.execute(
        sa.select(reactions.c.chat_id, reactions.c.message_id, reactions.c.emoji, users.c.login)
        .join(users, users.c.id == reactions.c.user_id)
        .where(sa.tuple_(reactions.c.chat_id, reactions.c.message_id).in_(keys))
        .order_by(reactions.c.chat_id, reactions.c.message_id, reactions.c.change))
    out: dict[tuple[int, int], dict[str, list[str]]] = {}
    for row in rows:
        out.setdefault((row.chat_id, row.message_id), {}).setdefault(
            row.emoji, []).append(row.login)
    return out


def _previews(conn: sa.Connection, keys: list[tuple[int, int]]) -> dict[tuple[int, int], Reply]:
    rows = conn.execute(
        sa.select(messages.c.chat_id, messages.c.id, messages.c.login, messages.c.text,
                  messages.c.removed)
        .where(sa.tuple_(messages.c.chat_id, messages.c.id).in_(keys)))
    return {
        (row.chat_id, row.id): Reply(row.id, removed=True) if row.removed
        else Reply(row.id, row.login, None if row.text is None else row.text[:PREVIEW])
        for row in rows
    }
