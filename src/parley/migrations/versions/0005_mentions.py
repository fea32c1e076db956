"""Mentions: who each stored message mentions, for unread counts and activity pushes.

A row (user_id, chat_id, message_id) for each user a message mentions (``@login``,
see :mod:`parley.mentions`), written by the message writer in the transaction that
stores the message, so that counting never parses texts again. The key leads with
the user: the ``unread`` command counts one user's mentions per chat after a pointer.
Messages stored before this revision have no rows: they mention no one.

(Independent of the direct chats' revision; the merge re-parents this one after it.)

Revision ID: 0005_mentions
Revises: 0004_direct_chats
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_mentions"
down_revision = "0004_direct_chats"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mentions",
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("message_id", sa.BigInteger, primary_key=True, autoincrement=False),
    )


def downgrade() -> None:
    op.drop_table("mentions")
