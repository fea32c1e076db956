"""Users by prefix in code point order on PostgreSQL, whatever the database's collation.

The ``users`` command finds logins by a range of login keys, ``key >= P AND key < P'``
ordered by key, which is right only in code point order. SQLite compares text with
``BINARY``, and so does a PostgreSQL database created with the ``C`` or ``C.UTF-8``
collation; one created with ``en_US.UTF-8`` or an ICU locale sorts ``_``, ``-``, ``.``
and digits otherwise. The store compares the keys ``COLLATE "C"`` on PostgreSQL, and
this index lets that comparison and its order be one range scan. (SQLite: nothing to do.)

Revision ID: 0008_users_prefix
Revises: 0007_search
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0008_users_prefix"
down_revision = "0007_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute('CREATE INDEX users_login_key_c ON users (login_key COLLATE "C")')


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX users_login_key_c")
