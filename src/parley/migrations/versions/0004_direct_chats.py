"""Direct chats.

- ``chats.direct_key``: for a direct chat, its member set (the members' user ids,
  ascending, joined by ``,``), unique, so that concurrent ``direct`` requests for the
  same people cannot make two chats; NULL for every other chat (a unique index allows
  any number of NULLs on SQLite and PostgreSQL). No existing row changes.
- ``chats.name`` grows to 400 characters on PostgreSQL: a direct chat's name holds up
  to ten logins (``@`` + 10 x 32 + 9 commas = 330). SQLite does not enforce lengths.

Revision ID: 0004_direct_chats
Revises: 0003_membership
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_direct_chats"
down_revision = "0003_membership"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("chats", sa.Column("direct_key", sa.String(1024), nullable=True))
    op.create_index("chats_direct_key", "chats", ["direct_key"], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("chats", "name", type_=sa.String(400),
                        existing_type=sa.String(64), existing_nullable=False)


def downgrade() -> None:
    bind = op.get_bind()
    # direct chats go with the column that tells them apart (their rows cascade)
    for table in ("messages", "images", "members"):
        bind.execute(sa.text(f"DELETE FROM {table} WHERE chat_id IN "
                             "(SELECT id FROM chats WHERE direct_key IS NOT NULL)"))
    bind.execute(sa.text("DELETE FROM chats WHERE direct_key IS NOT NULL"))
    if bind.dialect.name == "postgresql":
        op.alter_column("chats", "name", type_=sa.String(64),
                        existing_type=sa.String(400), existing_nullable=False)
    op.drop_index("chats_direct_key", table_name="chats")
    with op.batch_alter_table("chats") as batch:
        batch.drop_column("direct_key")
