"""Peer: the `websockets` library (asyncio API) with its `broadcast()`."""

from __future__ import annotations

import asyncio

from chatcore import Conn, Hub, announce, parse_args, run
from websockets.asyncio.server import ServerConnection, broadcast, serve

hub = Hub()


async def handler(ws: ServerConnection) -> None:
    conn = Conn(ws)
    try:
        async for data in ws:
            answer, room, frame = hub.handle(conn, data)
            if answer is not None:
                await ws.send(answer.decode())
            if room is not None:
                broadcast([member.handle for member in room.members], frame.decode())
    finally:
        hub.leave(conn)


async def main() -> None:
    args = parse_args(__doc__ or "")
    async with serve(
        handler, args.host, args.port, compression=None, backlog=4096, max_size=2**24
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        announce(args.host, port)
        await asyncio.Event().wait()


if __name__ == "__main__":
    run(main)
