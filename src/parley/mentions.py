"""Mentions: ``@login`` in a message's text, found once, when the message is stored.

A mention is ``@`` followed by a login, compared case-insensitively (on login keys,
:func:`parley.rules.login_key`), where the ``@`` is not preceded by a letter or digit
and the login is not followed by a character allowed in logins (letters, digits,
``_``, ``.``, ``-``): the login is the whole run of such characters after the ``@``.
So ``mail@alice`` and ``@alice.`` mention no ``alice`` (the second names ``alice.``).
It names a user who is a member of the chat, or, in an open chat, any user; never
the author.

:func:`record` runs in the message writer's transaction (see
:func:`parley.message_rows.insert_batch`): it reads the users (and, for closed chats,
the members) named, in one query each, writes a ``mentions`` row for each, and says
whom each message mentions. Texts without ``@`` cost nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa

from .model import StoredMessage
from .rules import MAX_LOGIN, login_key
from .schema import chats, members, mentions, users

#: ``@``, not after a letter or digit, then a whole run of login characters
_MENTION = re.compile(r"(?<![^\W_])@([\w.-]+)")


def candidates(text: str | None) -> list[str]:
    """The login keys ``text`` names with ``@``, in order, each once."""
    if not text or "@" not in text:
        return []
    found: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        login = match.group(1)
        if len(login) <= MAX_LOGIN:
            found.setdefault(login_key(login), None)
    return list(found)


def record(conn: sa.Connection, stored: Sequence[StoredMessage]) -> list[tuple[int, ...]]:
    """Whom each newly stored message mentions (user ids, in the order named), with a
    ``mentions`` row written for each; in the caller's transaction."""
    named = [candidates(message.text) for message in stored]
    keys = {key for keys in named for key in keys}
    if not keys:
        return [() for _ in stored]
    ids: dict[str, int] = {
        row.login_key: row.id
        for row in conn.execute(
            sa.select(users.c.id, users.c.login_key).where(users.c.login_key.in_(keys)))
    }
    chat_ids = {m.chat_id for m, names in zip(stored, named, strict=True)
                if any(key in ids for key in names)}
    closed: set[int] = set()
    admitted: set[tuple[int, int]] = set()
    if chat_ids:
        closed = set(conn.execute(sa.select(chats.c.id).where(
            chats.c.id.in_(chat_ids), chats.c.password_hash.is_not(None))).scalars())
    if closed:
        admitted = {(row.chat_id, row.user_id) for row in conn.execute(
            sa.select(members.c.chat_id, members.c.user_id).where(
                members.c.chat_id.in_(closed), members.c.user_id.in_(set(ids.values()))))}
    out: list[tuple[int, ...]] = []
    rows: list[dict[str, int]] = []
    for message, names in zip(stored, named, strict=True):
        whom = tuple(
            uid for uid in (ids[key] for key in names if key in ids)
            if uid != message.user_id
            and (message.chat_id not in closed or (message.chat_id, uid) in admitted))
        out.append(whom)
        rows.extend({"user_id": uid, "chat_id": message.chat_id, "message_id": message.id}
                    for uid in whom)
    if rows:
        conn.execute(mentions.insert(), rows)
    return out
