"""The ``messages`` and ``images`` tables: numbering, nonces, history pages, image rows.

Functions on a connection that :class:`~parley.store.SqlStore` has opened in a
transaction; they take and return :mod:`~parley.model` values only.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from . import mentions
from .model import Draft, Stored, StoredMessage
from .schema import chats, images, messages

#: the columns a :class:`StoredMessage` is read from
_COLUMNS = (
    messages.c.id,
    messages.c.user_id,
    messages.c.login,
    messages.c.text,
    messages.c.image,
    messages.c.nonce,
    messages.c.created_ms,
)


def _stored(chat_id: int, row: Any) -> StoredMessage:
    """The message of a row of :data:`_COLUMNS`."""
    return StoredMessage(chat_id, row.id, row.user_id, row.login, row.text, row.image,
                         row.nonce, row.created_ms)


#: the columns a message is read from, and how: public for the queries of other tables
#: that return messages (search), so that they read them as history does
COLUMNS = _COLUMNS
stored = _stored


async def page(
    conn: AsyncConnection, chat_id: int, *, before: int | None, after: int | None, limit: int
) -> list[StoredMessage]:
    """A page of messages, oldest first: the newest ``limit`` before ``before``,
    or the oldest ``limit`` after ``after``."""
    query = sa.select(*_COLUMNS).where(messages.c.chat_id == chat_id)
    if after is not None:
        query = query.where(messages.c.id > after).order_by(messages.c.id).limit(limit)
    else:
        if before is not None:
            query = query.where(messages.c.id < before)
        query = query.order_by(messages.c.id.desc()).limit(limit)
    rows = list((await conn.execute(query)).all())
    if after is None:
        rows.reverse()
    return [_stored(chat_id, r) for r in rows]


async def image(conn: AsyncConnection, chat_id: int, name: str) -> tuple[int, bytes | None] | None:
    """The image's size and its bytes (None when kept as a file), or None: no such image."""
    row = (await conn.execute(
        sa.select(images.c.size, images.c.data)
        .where(images.c.chat_id == chat_id, images.c.name == name))).first()
    if row is None:
        return None
    return int(row.size), None if row.data is None else bytes(row.data)


def insert_batch(conn: sa.Connection, drafts: Sequence[Draft]) -> list[Stored]:
    """Store a batch of messages in one transaction, in order.

    Ids come from each chat's ``last_id``, raised first thing in the
    transaction (so the write lock is taken before anything is read). A
    draft whose ``nonce`` was stored before (or earlier in the batch) is
    not stored again: its result is the stored message, ``duplicate``.
    An image's row is written with its message, its bytes too when the draft
    carries them; so are the rows of whom it mentions (:func:`parley.mentions.record`).
    """
    if not drafts:
        return []
    by_chat: dict[int, list[int]] = {}
    for index, draft in enumerate(drafts):
        by_chat.setdefault(draft.chat_id, []).append(index)
    results: list[Stored | None] = [None] * len(drafts)
    rows: list[tuple[Any, ...]] = []
    image_rows: list[dict[str, Any]] = []
    fresh_messages: list[tuple[int, StoredMessage]] = []
    # One statement raises every chat's last id (in id order, the same order in
    # every process, so concurrent writers on PostgreSQL never deadlock).
    ids = sorted(by_chat)
    mark = _marks(conn.dialect.paramstyle)
    n = itertools.count(1)
    cases = " ".join(f"WHEN {mark(next(n))} THEN CAST({mark(next(n))} AS BIGINT)" for _ in ids)
    members_ = ", ".join(mark(next(n)) for _ in ids)
    params: list[int] = [v for chat_id in ids for v in (chat_id, len(by_chat[chat_id]))] + ids
    tops: dict[int, int] = dict(
        conn.exec_driver_sql(
            f"UPDATE chats SET last_id = last_id + CASE id {cases} END "
            f"WHERE id IN ({members_}) RETURNING id, last_id",
            tuple(params),
        ).all()
    )
    for chat_id in ids:
        indexes = by_chat[chat_id]
        top = tops.get(chat_id)
        if top is None:
            for index in indexes:
                results[index] = Stored(None)
            continue
        base = int(top) - len(indexes)
        seen = _known_nonces(conn, chat_id, [drafts[i] for i in indexes])
        fresh = 0
        for index in indexes:
            draft = drafts[index]
            key = (draft.user_id, draft.nonce)
            if draft.nonce is not None and key in seen:
                results[index] = Stored(seen[key], duplicate=True)
                continue
            fresh += 1
            message = StoredMessage(chat_id, base + fresh, draft.user_id, draft.login,
                                    draft.text, draft.image, draft.nonce, draft.created_ms)
            results[index] = Stored(message)
            fresh_messages.append((index, message))
            if draft.nonce is not None:
                seen[key] = message
            rows.append((chat_id, base + fresh, draft.user_id, draft.login, draft.text,
                         draft.image, draft.nonce, draft.created_ms))
            if draft.image is not None:
                image_rows.append(
                    {
                        "chat_id": chat_id,
                        "name": draft.image,
                        "size": draft.image_size,
                        "data": draft.image_data,
                    }
                )
        if fresh != len(indexes):
            conn.execute(chats.update().where(chats.c.id == chat_id).values(last_id=base + fresh))
    if rows:
        # The hot statement, in the driver's own SQL: no compiling, no dicts.
        conn.exec_driver_sql(_insert_messages_sql(conn.dialect.paramstyle), rows)
    if image_rows:
        _add_images(conn, image_rows)
    whom = mentions.record(conn, [message for _, message in fresh_messages])
    for (index, message), mentioned in zip(fresh_messages, whom, strict=True):
        if mentioned:
            results[index] = Stored(message, mentions=mentioned)
    return [r if r is not None else Stored(None) for r in results]


def _marks(paramstyle: str) -> Callable[[int], str]:
    """The driver's placeholder for the n-th parameter (1-based)."""
    if paramstyle == "qmark":
        return lambda n: "?"
    if paramstyle in ("numeric_dollar", "numeric"):
        prefix = "$" if paramstyle == "numeric_dollar" else ":"
        return lambda n: f"{prefix}{n}"
    if paramstyle == "format":
        return lambda n: "%s"
    raise ValueError(f"unsupported paramstyle {paramstyle!r}")


@functools.cache
def _insert_messages_sql(paramstyle: str) -> str:
    mark = _marks(paramstyle)
    columns = "chat_id, id, user_id, login, text, image, nonce, created_ms"
    return (f"INSERT INTO messages ({columns}) "
            f"VALUES ({', '.join(mark(n) for n in range(1, 9))})")


def _known_nonces(
    conn: sa.Connection, chat_id: int, drafts: list[Draft]
) -> dict[tuple[int, str | None], StoredMessage]:
    wanted = {(d.user_id, d.nonce) for d in drafts if d.nonce is not None}
    if not wanted:
        return {}
    rows = (
        conn.execute(
            sa.select(*_COLUMNS).where(
                messages.c.chat_id == chat_id,
                sa.tuple_(messages.c.user_id, messages.c.nonce).in_(list(wanted)),
            )
        )
    ).all()
    return {(r.user_id, r.nonce): _stored(chat_id, r) for r in rows}


def _add_images(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    unique = {(r["chat_id"], r["name"]): r for r in rows}
    existing = (
        conn.execute(
            sa.select(images.c.chat_id, images.c.name).where(
                sa.tuple_(images.c.chat_id, images.c.name).in_(list(unique))
            )
        )
    ).all()
    for row in existing:
        unique.pop((row.chat_id, row.name), None)
    if unique:
        conn.execute(images.insert(), list(unique.values()))
