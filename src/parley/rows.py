"""What every part of :class:`~parley.store.SqlStore` runs its queries in.

The store's methods are spread over a few classes by table (direct chats in
:mod:`parley.direct_rows`, read pointers in :mod:`parley.unread_rows`, the rest in
:mod:`parley.store`); each of them builds on :class:`Transactions`, the one place a
transaction is opened and a database failure becomes :class:`~parley.errors.Unavailable`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from .errors import Unavailable


class Transactions:
    """Transactions on ``engine``: a failure of the database is :class:`Unavailable`
    (an integrity error stays itself: the caller knows what it means)."""

    engine: AsyncEngine

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[AsyncConnection]:
        try:
            async with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except (DBAPIError, SQLAlchemyError, OSError, MemoryError) as exc:
            raise Unavailable() from exc

    async def _first(self, query: sa.Select[Any]) -> sa.Row[Any] | None:
        """The first row of a read-only query, in a transaction of its own."""
        async with self._tx() as conn:
            row: sa.Row[Any] | None = (await conn.execute(query)).first()
            return row
