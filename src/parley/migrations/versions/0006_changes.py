"""Changes to existing messages: edits, removals, reactions, replies, change numbers.

``chats.last_change`` is the chat's newest change number: a change (edit, removal,
reaction) raises it in the transaction that stores the change, which takes the chat's
row lock, as ``last_id`` does for new messages, so change numbers are gap-free and in
commit order on every process. ``messages.change`` is the newest change that touched a
message (NULL: never changed), indexed with the chat for resuming (``choice`` with
``Changes``). ``edited_ms`` is the time of the last edit, ``removed`` marks a tombstone
(its text and image are NULL), ``reply_to`` the id of the message it answers.
A reaction is a row per message, user and emoji; its ``change`` orders the users who
reacted with one emoji. Messages stored before this revision are unchanged: no edits,
no reactions, no replies.

Revision ID: 0006_changes
Revises: 0005_mentions
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_changes"
down_revision = "0005_mentions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chats", sa.Column("last_change", sa.BigInteger, nullable=False,
                                     server_default="0"))
    op.add_column("messages", sa.Column("edited_ms", sa.BigInteger, nullable=True))
    op.add_column("messages", sa.Column("removed", sa.Boolean, nullable=False,
                                        server_default=sa.false()))
    op.add_column("messages", sa.Column("reply_to", sa.BigInteger, nullable=True))
    op.add_column("messages", sa.Column("change", sa.BigInteger, nullable=True))
    op.create_index("messages_change", "messages", ["chat_id", "change"])
    op.create_table(
        "reactions",
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("message_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("emoji", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("change", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reactions")
    op.drop_index("messages_change", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("change")
        batch.drop_column("reply_to")
        batch.drop_column("removed")
        batch.drop_column("edited_ms")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("last_change")
