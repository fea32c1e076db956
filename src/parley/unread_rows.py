"""Read pointers, unread counts and the members of a chat, for :class:`parley.store.SqlStore`
(which takes these methods from :class:`ReadPointers`).

Unread counts are counted when asked, in one statement for all of a user's chats, not
kept as counters: a counter per member would cost every stored message a write per
member of its chat (thousands in ``general``), on the message path, while counting
costs only the asker, a range scan of the messages' primary key (chat, id) after the
pointer and of the mentions' key (user, chat, message) per chat of the user.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from .model import Unread
from .rows import Transactions
from .schema import chats, members, mentions, messages


class ReadPointers(Transactions):
    """The read pointers and unread counts of :class:`~parley.store.SqlStore`."""

    async def mark_read(self, chat_id: int, user_id: int, message_id: int) -> int | None:
        """Move the user's pointer in the chat forward to ``message_id`` (capped at the
        chat's newest id, never backwards); the pointer after it, or None when the user
        is not a member."""
        last = sa.select(chats.c.last_id).where(chats.c.id == chat_id).scalar_subquery()
        wanted = sa.cast(sa.literal(message_id, sa.BigInteger), sa.BigInteger)
        capped = sa.case((wanted < last, wanted), else_=last)
        mine = sa.and_(members.c.chat_id == chat_id, members.c.user_id == user_id)
        async with self._tx() as conn:
            moved = (await conn.execute(
                members.update().where(mine, members.c.read_id < capped)
                .values(read_id=capped).returning(members.c.read_id))).first()
            if moved is not None:
                return int(moved.read_id)
            row = (await conn.execute(sa.select(members.c.read_id).where(mine))).first()
            return None if row is None else int(row.read_id)

    async def unread(self, user_id: int) -> list[Unread]:
        """Every chat the user is a member of, in chat id order, with its newest id, the
        user's pointer and what came after it from others: one statement."""
        after = messages.alias("after")
        unread = (sa.select(sa.func.count()).select_from(after).where(
            after.c.chat_id == members.c.chat_id, after.c.id > members.c.read_id,
            after.c.user_id != user_id, after.c.removed == sa.false(),
        ).scalar_subquery())
        mentioned = (sa.select(sa.func.count()).select_from(mentions).where(
            mentions.c.user_id == user_id, mentions.c.chat_id == members.c.chat_id,
            mentions.c.message_id > members.c.read_id,
        ).scalar_subquery())
        query = (sa.select(chats.c.name, chats.c.last_id, members.c.read_id,
                           unread.label("unread"), mentioned.label("mentions"))
                 .select_from(members.join(chats, chats.c.id == members.c.chat_id))
                 .where(members.c.user_id == user_id).order_by(chats.c.id))
        async with self._tx() as conn:
            rows = (await conn.execute(query)).all()
        return [Unread(r.name, int(r.last_id), int(r.read_id), int(r.unread), int(r.mentions))
                for r in rows]

    async def member_ids(self, chat_id: int) -> list[int]:
        """The ids of the chat's members."""
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(members.c.user_id).where(members.c.chat_id == chat_id))
            return [int(uid) for uid in rows.scalars()]

    async def member_chats(self, user_ids: Sequence[int]) -> dict[int, list[int]]:
        """The ids of the chats each user is a member of (the ``members_user`` index), for
        many users in one statement; a user of no chat is not in it."""
        found: dict[int, list[int]] = {}
        async with self._tx() as conn:
            rows = await conn.execute(
                sa.select(members.c.user_id, members.c.chat_id)
                .where(members.c.user_id.in_(list(user_ids))))
            for user_id, chat_id in rows:
                found.setdefault(int(user_id), []).append(int(chat_id))
        return found
