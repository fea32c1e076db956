"""Peer: a hand-written broadcast loop on aiohttp (one send per member)."""

from __future__ import annotations

import asyncio

from aiohttp import WSMsgType, web
from chatcore import Conn, Hub, announce, parse_args, run

hub = Hub()


async def websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(compress=False)
    await ws.prepare(request)
    conn = Conn(ws)
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            answer, room, frame = hub.handle(conn, msg.data)
            if answer is not None:
                await ws.send_str(answer.decode())
            if room is not None:
                text = frame.decode()
                for member in list(room.members):
                    if not member.handle.closed:
                        await member.handle.send_str(text)
    finally:
        hub.leave(conn)
    return ws


async def main() -> None:
    args = parse_args(__doc__ or "")
    app = web.Application()
    app.router.add_get("/ws", websocket)
    app.router.add_get("/", websocket)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=4096)
    await site.start()
    announce(args.host, runner.addresses[0][1])
    await asyncio.Event().wait()


if __name__ == "__main__":
    run(main)
