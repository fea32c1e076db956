"""Moderation and the admin command line: roles, sanctions, the control queue.

Server admins, disabled accounts and last seen, the chats' moderators, bans and mutes,
and the control queue:

- ``users.admin``: a server admin (granted with ``parley admin grant``), moderator of
  every chat; ``users.disabled``: the account may not log in (``parley admin disable``);
  ``users.seen_ms``: when the user was last connected (NULL: not since this revision).
- ``moderators``: who moderates which chat, granted by its owner or an admin.
- ``sanctions``: a ban or a mute (``kind``) of a user in a chat, until ``until_ms``
  (NULL: until lifted). An expired row is as good as none: every check compares it with
  the time, so no process has to be awake when it ends.
- ``control``: what ``parley admin`` asks of the running servers (an encoded broker event
  per row), which every server process reads each second from the row after the last one
  it read (see :mod:`parley.control`).

Existing users are neither admins nor disabled; no chat has moderators or sanctions.

Revision ID: 0009_moderation
Revises: 0008_users_prefix
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_moderation"
down_revision = "0008_users_prefix"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("admin", sa.Boolean, nullable=False,
                                     server_default=sa.false()))
    op.add_column("users", sa.Column("disabled", sa.Boolean, nullable=False,
                                     server_default=sa.false()))
    op.add_column("users", sa.Column("seen_ms", sa.BigInteger, nullable=True))
    op.create_table(
        "moderators",
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_table(
        "sanctions",
        sa.Column("chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("until_ms", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "control",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("event", sa.LargeBinary, nullable=False),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("control")
    op.drop_table("sanctions")
    op.drop_table("moderators")
    with op.batch_alter_table("users") as users:
        users.drop_column("seen_ms")
        users.drop_column("disabled")
        users.drop_column("admin")
