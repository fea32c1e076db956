"""The first schema: users, tokens, chats, members, messages, images.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("login", sa.String(32), nullable=False),
        sa.Column("login_key", sa.String(1024), nullable=False, unique=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "tokens",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "owner_id", sa.Integer, sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("password_hash", sa.Text, nullable=True),
        sa.Column("last_id", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        # A deleted chat's id is never given to a new chat: a socket still
        # holding the old id must not write into the new one.
        sqlite_autoincrement=True,
    )
    op.create_table(
        "members",
        sa.Column(
            "chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "messages",
        sa.Column(
            "chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("login", sa.String(32), nullable=False),
        sa.Column("text", sa.Text, nullable=True),
        sa.Column("image", sa.String(48), nullable=True),
        sa.Column("nonce", sa.String(64), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_index("messages_nonce", "messages", ["chat_id", "user_id", "nonce"], unique=True)
    op.create_table(
        "images",
        sa.Column(
            "chat_id", sa.Integer, sa.ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=True),
    )
    op.execute(
        sa.text("INSERT INTO chats (name, owner_id, password_hash, last_id, created_ms) "
                "VALUES ('general', NULL, NULL, 0, 0)")
    )


def downgrade() -> None:
    for table in ("images", "messages", "members", "chats", "tokens", "users"):
        op.drop_table(table)
