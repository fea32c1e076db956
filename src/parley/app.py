"""The aiohttp application: routes, and every resource's life in one place.

:func:`lifespan` opens the resources in order (store, images, broker, hub,
service, the reader of the admin command line's events, writer) and closes them in
reverse; routes find them on the app.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

import aiohttp
from aiohttp import WSCloseCode, web

from . import image_sweep
from .broker import Broker, MemoryBroker
from .config import Settings
from .connection import FLUSHER, LEAN, SERVICE, Conn, Heartbeat, serve_socket
from .context import Context
from .control import ControlReader
from .errors import Unavailable
from .gate import allowed
from .hub import Hub
from .images import CONTENT_TYPES, FILE_NAME, DatabaseImageStore, FileImageStore, ImageStore
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .outbox import Flusher
from .passwords import Hasher, token_digest
from .pools import WorkPool
from .presence import MemoryPresence, Presence, RedisPresence
from .queued_store import QueuedStore
from .rules import MAX_CHAT_NAME, MAX_LOGIN, MAX_NONCE, MAX_PASSWORD, MAX_TEXT, MIN_PASSWORD
from .service import Service

log = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
STATIC = Path(str(resources.files("parley") / "static"))


def make_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_frame)
    app[SETTINGS] = settings
    app.cleanup_ctx.append(lifespan)
    app.on_shutdown.append(_close_sockets)
    app.on_response_prepare.append(_revalidate_static)
    app.router.add_get("/ws", serve_socket)
    app.router.add_get("/", index)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/limits", limits)
    app.router.add_get("/images/{chat}/{name}", image)
    app.router.add_static("/static/", STATIC, follow_symlinks=False)
    return app


async def lifespan(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if settings.ws_engine == "lean" and not LEAN:
        log.warning("this aiohttp (%s) cannot hand a socket over: /ws runs on the "
                    "aiohttp engine", aiohttp.__version__)
    store = await QueuedStore.open(
        settings.db_url,
        sqlite_synchronous=settings.sqlite_synchronous,
        sqlite_busy_ms=settings.sqlite_busy_ms,
    )
    try:
        images: ImageStore = (
            DatabaseImageStore(store) if settings.images_in_database
            else FileImageStore(settings.image_dir)
        )
        if isinstance(images, FileImageStore):
            await asyncio.to_thread(image_sweep.sweep, images.root, await store.image_names())
        origin = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        broker, presence = _fan_out(settings, origin)
        hub = Hub(held_start=bool(settings.redis_url))
        hub.on_revoked = store.forget_user
        hub.busy = lambda: store.reads.waiting > 0
        metrics = Metrics()
        metrics.count_deliveries(lambda: hub.deliveries)
        metrics.count_broker(lambda: (broker.received, broker.received_bytes))
        hasher = await asyncio.to_thread(Hasher, settings.argon2_profile)
        image_pool = WorkPool("images", threads=settings.image_threads,
                              queue=settings.image_queue, budget=settings.image_memory)
        ctx = Context(settings, store, images, broker, hub, hasher, metrics, presence,
                      image_pool=image_pool)
        service = Service(ctx)
        await broker.start(hub.deliver)
        # what ``parley admin`` writes reaches this process's hub (see parley.control)
        control = ControlReader(store.engine, hub.deliver)
        try:
            await control.start()
            # (after the broker: a sanction published while they are read is not lost)
            await ctx.sanctions.start(store.sanctions)
            await presence.start(hub.presence, service.user_gone)
            heartbeat = Heartbeat(service, settings.heartbeat)
            try:
                ctx.writer.start()
                ctx.changes.start()
                ctx.seen.start()
                heartbeat.start()
                app[SERVICE] = service
                app[FLUSHER] = Flusher(asyncio.get_running_loop())
                # What start-up made (modules, the schema, compiled statements) lives as
                # long as the process: frozen, the collector's full passes no longer walk
                # it, which it did every few thousand messages (docs/benchmarks.md,
                # "Cost per stored message": about 8 µs of CPU per message).
                gc.collect()
                gc.freeze()
                yield
                await heartbeat.stop()
                await ctx.writer.close()
                await ctx.changes.close()
                await service.drain()
                await ctx.seen.close()
            finally:
                await asyncio.to_thread(ctx.hashing.close)
                await presence.close()
        finally:
            await ctx.sanctions.close()
            await control.close()
            await broker.close()
            await asyncio.to_thread(image_pool.close)
    finally:
        await store.close()


def _fan_out(settings: Settings, origin: str) -> tuple[Broker, Presence]:
    """In-process engines, or Redis ones when several processes make one server."""
    if settings.redis_url:
        from .redis_broker import RedisBroker

        prefix = settings.redis_prefix
        return (RedisBroker(settings.redis_url, origin, prefix=prefix),
                RedisPresence(settings.redis_url, origin, prefix=prefix,
                              ttl=settings.presence_ttl))
    return MemoryBroker(), MemoryPresence()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: everything queued goes out, then every socket is closed with 1001."""
    if FLUSHER not in app:
        return
    # New sockets are no longer accepted here. Store what senders are waiting on,
    # so that its broadcasts go out before the sockets close.
    await app[SERVICE].ctx.writer.idle()
    app[FLUSHER].flush()
    await asyncio.gather(
        *(conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")
          for conn in app[SERVICE].ctx.sockets if isinstance(conn, Conn)),
        return_exceptions=True,
    )


async def _revalidate_static(request: web.Request, response: web.StreamResponse) -> None:
    """The web client's files change with every upgrade: browsers must ask before reuse."""
    if request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-cache"


#: the web client's page: its own scripts and styles only, sockets to this server only,
#: never inside another site's frame
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def _is_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


async def index(request: web.Request) -> web.StreamResponse:
    if _is_upgrade(request):
        return await serve_socket(request)
    page = STATIC / "index.html"
    if not page.is_file():
        return web.Response(text="<!doctype html><title>Parley</title><p>Parley is running.",
                            content_type="text/html", headers=PAGE_HEADERS)
    return web.FileResponse(page, headers=PAGE_HEADERS)


async def healthz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICE].ctx.store.ping()
    except Unavailable:
        return web.Response(status=503, text="database unreachable\n")
    return web.Response(text="ok\n")


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not allowed(request, settings.metrics_allow, settings.trusted_proxy):
        raise web.HTTPForbidden(text="metrics are not served to your address\n")
    service = request.app[SERVICE]
    return web.Response(body=service.ctx.metrics.render(),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})


async def limits(request: web.Request) -> web.Response:
    """What this server accepts, for clients to check before sending (the web client's
    image size and text length come from here)."""
    s = request.app[SETTINGS]
    return web.json_response({
        "max_frame": s.max_frame, "max_image_bytes": s.max_image_bytes,
        "max_image_pixels": s.max_image_pixels, "image_types": list(CONTENT_TYPES.values()),
        "max_text": MAX_TEXT, "max_nonce": MAX_NONCE, "max_login": MAX_LOGIN,
        "min_password": MIN_PASSWORD, "max_password": MAX_PASSWORD,
        "max_chat_name": MAX_CHAT_NAME,
    }, headers={"Cache-Control": "no-cache"})


#: the cookie that carries a user's token to image requests (or ``Authorization: Bearer``)
TOKEN_COOKIE = "parley_token"
#: images of closed and direct chats: kept by the browser only, and not for long
PRIVATE_CACHE = "private, max-age=3600"


async def _member(request: web.Request, chat_id: int) -> bool:
    """The request presents the token of a member of the chat: ``Authorization: Bearer``
    or the :data:`TOKEN_COOKIE` cookie."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get(TOKEN_COOKIE, "")
    token = token.strip()
    if not token or len(token) > 256:
        return False
    store = request.app[SERVICE].ctx.store
    user = await store.user_by_token(token_digest(token))
    return (user is not None and not user.disabled
            and await store.is_member(chat_id, user.id))


async def image(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not FILE_NAME.fullmatch(name):
        raise web.HTTPNotFound()
    service = request.app[SERVICE]
    try:
        chat = await service.ctx.store.find_chat(request.match_info["chat"])
    except Unavailable:
        raise web.HTTPServiceUnavailable() from None
    if chat is None:
        raise web.HTTPNotFound()
    headers = {
        "Content-Type": CONTENT_TYPES[name.rsplit(".", 1)[1]],
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "public, max-age=31536000, immutable",
    }
    try:
        if chat.private:  # a closed or direct chat: its members only, else as if missing
            if not await _member(request, chat.id):
                raise web.HTTPNotFound()
            headers["Cache-Control"] = PRIVATE_CACHE
            headers["Vary"] = "Authorization, Cookie"
        found = await service.ctx.images.read(chat.id, name)
    except Unavailable:
        raise web.HTTPServiceUnavailable() from None
    if found is None:
        raise web.HTTPNotFound()
    if isinstance(found, Path):
        return web.FileResponse(found, headers=headers)
    return web.Response(body=found, headers=headers)
