"""Who is online in a chat, across every server process.

The hub counts a user's sockets in a chat within one process; a
:class:`Presence` counts the processes that have the user there. The service
asks it only when a process's count for a user goes from 0 to 1 (``arrived``)
or from 1 to 0 (``departed``), and pushes ``Joined``/``Left`` when the answer
says the user's first socket anywhere came or the last one went.

:class:`MemoryPresence` is the one-process engine. :class:`RedisPresence`
keeps, per chat, a hash of login -> number of processes, and per process the
list of what it added. Every process refreshes a heartbeat key; when one dies
without saying goodbye its heartbeat expires and a live process takes its
entries back out (and pushes ``Left`` for those users). When Redis itself
restarts empty, each process puts its entries back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from typing import Protocol

import redis.asyncio as redis
from redis.exceptions import RedisError

from . import tasks

log = logging.getLogger(__name__)

#: (chat id, chat name, login): a user's last socket in a chat is gone (found by a reaper)
OnGone = Callable[[int, str, str], None]


class Presence(Protocol):
    async def start(self, local: Callable[[], Iterable[tuple[int, str, str]]],
                    on_gone: OnGone) -> None: ...

    async def arrived(self, chat_id: int, chat: str, login: str) -> bool:
        """This process now has ``login`` in the chat; True if no process had."""
        ...

    async def departed(self, chat_id: int, chat: str, login: str) -> bool:
        """This process no longer has ``login`` in the chat; True if no process has."""
        ...

    async def online(self, chat_id: int, local: list[str]) -> list[str]: ...

    async def forget_chat(self, chat_id: int) -> None: ...

    async def close(self) -> None: ...


class MemoryPresence:
    """One process: the hub's own counts are the whole truth."""

    async def start(self, local: Callable[[], Iterable[tuple[int, str, str]]],
                    on_gone: OnGone) -> None:
        return None

    async def arrived(self, chat_id: int, chat: str, login: str) -> bool:
        return True

    async def departed(self, chat_id: int, chat: str, login: str) -> bool:
        return True

    async def online(self, chat_id: int, local: list[str]) -> list[str]:
        return local

    async def forget_chat(self, chat_id: int) -> None:
        return None

    async def close(self) -> None:
        return None




class RedisPresence:
    def __init__(self, url: str, origin: str, *, prefix: str = "parley",
                 ttl: float = 10.0) -> None:
        #: a process silent this long is taken for dead; it beats three times as often
        self._ttl = ttl
        self._redis: redis.Redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True)
        self._origin = origin
        self._p = prefix
        self._task: asyncio.Task[None] | None = None
        self._local: Callable[[], Iterable[tuple[int, str, str]]] = lambda: ()
        self._on_gone: OnGone = lambda chat_id, chat, login: None

    def _online(self, chat_id: int) -> str:
        return f"{self._p}:online:{chat_id}"

    def _mine(self, origin: str) -> str:
        return f"{self._p}:mine:{origin}"

    def _alive(self, origin: str) -> str:
        return f"{self._p}:alive:{origin}"

    @property
    def _origins(self) -> str:
        return f"{self._p}:origins"

    async def start(self, local: Callable[[], Iterable[tuple[int, str, str]]],
                    on_gone: OnGone) -> None:
        self._local = local
        self._on_gone = on_gone
        with contextlib.suppress(RedisError, OSError):
            await self._beat()
        self._task = asyncio.create_task(self._heartbeat(), name="presence-heartbeat")

    async def close(self) -> None:
        await tasks.stop(self._task)
        self._task = None
        with contextlib.suppress(RedisError, OSError):
            # Leaving cleanly: take our entries out now rather than at expiry.
            await self._reap(self._origin)
        await self._redis.aclose()

    async def arrived(self, chat_id: int, chat: str, login: str) -> bool:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(self._online(chat_id), login, 1)
                pipe.hset(self._mine(self._origin), f"{chat_id}\t{login}", chat)
                count, _ = await pipe.execute()
            return int(count) == 1
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis unreachable (%s); counting this process only", exc)
            return True

    async def departed(self, chat_id: int, chat: str, login: str) -> bool:
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(self._online(chat_id), login, -1)
                pipe.hdel(self._mine(self._origin), f"{chat_id}\t{login}")
                count, _ = await pipe.execute()
            if int(count) <= 0:
                await self._redis.hdel(self._online(chat_id), login)
                return True
            return False
        except (RedisError, OSError) as exc:
            log.warning("presence: Redis unreachable (%s); counting this process only", exc)
            return True

    async def online(self, chat_id: int, local: list[str]) -> list[str]:
        try:
            counts = await self._redis.hgetall(self._online(chat_id))
        except (RedisError, OSError):
            return local
        return sorted({str(login) for login, n in counts.items() if int(n) > 0} | set(local))

    async def forget_chat(self, chat_id: int) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._online(chat_id))

    # -- liveness -------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                await self._beat()
            except (RedisError, OSError) as exc:
                log.warning("presence heartbeat failed: %s", exc)

    async def _beat(self) -> None:
        r = self._redis
        await r.set(self._alive(self._origin), "1", px=int(self._ttl * 1000))
        await r.sadd(self._origins, self._origin)
        await self._restore()
        for member in await r.smembers(self._origins):
            origin = str(member)
            if origin == self._origin or await r.exists(self._alive(origin)):
                continue
            # One live process takes a dead one's entries out.
            if await r.set(f"{self._p}:reaping:{origin}", "1", nx=True, ex=30):
                await self._reap(origin)

    async def _restore(self) -> None:
        """Put this process's entries back if Redis lost them (it restarted empty)."""
        entries = list(self._local())
        if not entries or await self._redis.exists(self._mine(self._origin)):
            return
        log.info("presence: restoring %d entries into Redis", len(entries))
        async with self._redis.pipeline(transaction=True) as pipe:
            for chat_id, chat, login in entries:
                pipe.hincrby(self._online(chat_id), login, 1)
                pipe.hset(self._mine(self._origin), f"{chat_id}\t{login}", chat)
            await pipe.execute()

    async def _reap(self, origin: str) -> None:
        r = self._redis
        entries = await r.hgetall(self._mine(origin))
        for key, value in entries.items():
            chat_id_text, login = str(key).split("\t", 1)
            chat = str(value)
            chat_id = int(chat_id_text)
            count = await r.hincrby(self._online(chat_id), login, -1)
            if int(count) <= 0:
                await r.hdel(self._online(chat_id), login)
                if origin != self._origin:
                    self._on_gone(chat_id, chat, login)
        await r.delete(self._mine(origin))
        await r.srem(self._origins, origin)
