"""Stored membership and case-folded chat names.

- ``members.read_id``: the member's read pointer (the id of the last message read),
  for unread counts; 0 for a new member. Existing members start at their chat's
  ``last_id``: what was written before the upgrade does not turn up as unread.
- ``members_user``: the chats of one user, read by unread counts and the chat list.
- members of open chats: before this revision only owners and the users admitted
  to a closed chat were members; now whoever chose a chat is one. What is known
  of the past: the users who wrote in an open chat, and every chat's owner.
- ``chats.name_key``: the name after NFKC normalisation and case folding, unique,
  so that ``Team`` cannot be created while ``team`` exists. Older databases may
  hold two names with the same key: the first chat (lowest id) gets the key, the
  later ones keep their names with ``name_key`` NULL (a unique index allows any
  number of NULLs on SQLite and PostgreSQL); the store hands the key to such a
  chat when the chat holding it is deleted.

Revision ID: 0003_membership
Revises: 0002_tokens_by_user
Create Date: 2026-12-08
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003_membership"
down_revision = "0002_tokens_by_user"
branch_labels = None
depends_on = None


def _key(name: str) -> str:
    # (the rule of parley.rules.chat_key, written out: a migration never changes)
    return unicodedata.normalize("NFKC", name).casefold()


def upgrade() -> None:
    op.add_column("members", sa.Column("read_id", sa.BigInteger, nullable=False,
                                       server_default="0"))
    op.create_index("members_user", "members", ["user_id"])
    op.add_column("chats", sa.Column("name_key", sa.String(1024), nullable=True))
    bind = op.get_bind()
    taken: set[str] = set()
    for chat_id, name in bind.execute(sa.text("SELECT id, name FROM chats ORDER BY id")):
        key = _key(name)
        if key in taken:
            continue  # a later look-alike: kept, without a key
        taken.add(key)
        bind.execute(sa.text("UPDATE chats SET name_key = :key WHERE id = :id"),
                     {"key": key, "id": chat_id})
    op.create_index("chats_folded_name", "chats", ["name_key"], unique=True)
    bind.execute(sa.text(
        "INSERT INTO members (chat_id, user_id, read_id) "
        "SELECT DISTINCT m.chat_id, m.user_id, 0 FROM messages m "
        "JOIN chats c ON c.id = m.chat_id JOIN users u ON u.id = m.user_id "
        "WHERE c.password_hash IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM members x WHERE x.chat_id = m.chat_id AND x.user_id = m.user_id)"))
    bind.execute(sa.text(
        "INSERT INTO members (chat_id, user_id, read_id) "
        "SELECT c.id, c.owner_id, 0 FROM chats c "
        "WHERE c.owner_id IS NOT NULL AND NOT EXISTS "
        "(SELECT 1 FROM members x WHERE x.chat_id = c.id AND x.user_id = c.owner_id)"))
    bind.execute(sa.text(
        "UPDATE members SET read_id = "
        "(SELECT c.last_id FROM chats c WHERE c.id = members.chat_id)"))


def downgrade() -> None:
    op.drop_index("chats_folded_name", table_name="chats")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("name_key")
    op.drop_index("members_user", table_name="members")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("read_id")
