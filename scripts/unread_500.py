"""Time ``unread`` for a user who is a member of 500 chats (SQLite file, or PostgreSQL
with ``--database-url``): 500 chats of 40 messages each, half read, some mentioning."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from parley.model import Draft, now_ms
from parley.store import SqlStore


async def main(url: str) -> None:
    store = await SqlStore.open(url)
    try:
        me = await store.create_user("me", "me", "hash")
        other = await store.create_user("other", "other", "hash")
        assert me is not None
        assert other is not None
        for n in range(500):
            chat = await store.create_chat(f"c{n}", other.id, None)
            assert chat is not None
            await store.add_member(chat.id, me.id)
            drafts = [Draft(chat.id, chat.name, other.id if i % 3 else me.id,
                            "other" if i % 3 else "me",
                            f"text {i} @me" if i % 7 == 0 else f"text {i}", None, 0, None,
                            None, now_ms()) for i in range(40)]
            await store.insert_messages(drafts)
            await store.mark_read(chat.id, me.id, 20)
        for _ in range(3):
            await store.unread(me.id)
        runs = []
        for _ in range(20):
            start = time.perf_counter()
            rows = await store.unread(me.id)
            runs.append(time.perf_counter() - start)
        runs.sort()
        print(f"{store.dialect}: {len(rows)} chats, first {rows[0]}; unread: "
              f"median {runs[10] * 1000:.1f} ms, best {runs[0] * 1000:.1f} ms, "
              f"worst {runs[-1] * 1000:.1f} ms")
    finally:
        await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'u.db'}"))
