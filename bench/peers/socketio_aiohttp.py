"""Peer: python-socketio's AsyncServer on aiohttp, rooms and `emit(to=room)`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web
from chatcore import announce, parse_args, run

sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"], cors_allowed_origins=[])
last_id: dict[str, int] = {}


async def join(sid: str, data: dict[str, Any]) -> None:
    room = str(data["room"])
    session = await sio.get_session(sid)
    previous = session.get("room")
    if previous is not None:
        await sio.leave_room(sid, previous)
    await sio.enter_room(sid, room)
    await sio.save_session(sid, {"room": room, "user": str(data.get("user", "anonymous"))})
    await sio.emit("joined", room, to=sid)


async def message(sid: str, text: str) -> None:
    session = await sio.get_session(sid)
    room = session.get("room")
    if room is None:
        await sio.emit("failure", "error in chat or user", to=sid)
        return
    last_id[room] = last_id.get(room, 0) + 1
    payload = {
        "id": last_id[room],
        "user": session["user"],
        "date": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "text": text,
    }
    await sio.emit("message", payload, to=room)


# Registered by call rather than by decorator: the decorator, untyped, would leave the
# handlers untyped too.
sio.on("join", join)
sio.on("message", message)


async def main() -> None:
    args = parse_args(__doc__ or "")
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=4096)
    await site.start()
    announce(args.host, runner.addresses[0][1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main)
