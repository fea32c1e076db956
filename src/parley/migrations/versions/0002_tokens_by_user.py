"""An index on tokens.user_id: revoking every token of a user reads only that user's.

Revision ID: 0002_tokens_by_user
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0002_tokens_by_user"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("tokens_user", "tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index("tokens_user", table_name="tokens")
