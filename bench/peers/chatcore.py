"""The chat logic shared by the Python peer servers: Parley's protocol subset.

A peer accepts any login (the token is taken as the user name), keeps rooms in
memory, and broadcasts each message to every socket in the sender's room, the
sender included, as Parley does. Nothing is stored.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

_encode = msgspec.json.encode
_decode = msgspec.json.decode


@dataclass(eq=False)
class Conn:
    """One socket; `handle` is the server's own send object for it."""

    handle: Any
    user: str | None = None
    room: Room | None = None


@dataclass(eq=False)
class Room:
    name: str
    members: set[Conn] = field(default_factory=set)
    last_id: int = 0


class Hub:
    def __init__(self) -> None:
        self.rooms: dict[str, Room] = {}

    def leave(self, conn: Conn) -> None:
        if conn.room is not None:
            conn.room.members.discard(conn)
            conn.room = None

    def _enter(self, conn: Conn, room: Room) -> None:
        self.leave(conn)
        room.members.add(conn)
        conn.room = room

    def handle(self, conn: Conn, data: str | bytes) -> tuple[bytes | None, Room | None, bytes]:
        """Returns (answer to the sender, room to broadcast to, frame to broadcast)."""
        try:
            request = _decode(data)
        except msgspec.DecodeError:
            return _encode({"Type": "error", "Status": "error in json file"}), None, b""
        if not isinstance(request, dict):
            return _encode({"Type": "error", "Status": "error in json file"}), None, b""
        kind, command = request.get("Type"), request.get("Command")
        if kind == "account" and command in ("login", "registration"):
            user = request.get("Token") or request.get("Login") or "anonymous"
            conn.user = str(user)
            answer = {"Type": "account", "Command": command, "Status": "success"}
            return _encode({**answer, "User": conn.user, "Token": conn.user}), None, b""
        if kind != "chat" or conn.user is None:
            return _encode({"Type": "chat", "Status": "error in chat or user"}), None, b""
        name = request.get("Chat")
        if command == "create" and isinstance(name, str):
            if name in self.rooms:
                return (
                    _encode({"Type": "chat", "Command": "create", "Status": "chat exist"}),
                    None,
                    b"",
                )
            created = self.rooms[name] = Room(name)
            self._enter(conn, created)
            answer = {"Type": "chat", "Command": "create", "Status": "success", "Chat": name}
            return _encode(answer), None, b""
        if command == "choice" and isinstance(name, str):
            room = self.rooms.get(name)
            if room is None:
                return _encode({"Type": "chat", "Status": "error"}), None, b""
            self._enter(conn, room)
            answer = {"Type": "chat", "Command": "choice", "Chat": name, "Messages": []}
            return _encode(answer), None, b""
        if command == "message":
            room = conn.room
            text = request.get("Text")
            if room is None or not isinstance(text, str) or not text:
                answer = {"Type": "chat", "Command": "message", "Status": "error in chat or user"}
                return _encode(answer), None, b""
            room.last_id += 1
            message = {
                "id": room.last_id,
                "user": conn.user,
                "date": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "text": text,
            }
            frame = _encode({"Type": "chat", "Command": "message", "Message": message})
            return None, room, frame
        return _encode({"Type": "error", "Status": "error in json file"}), None, b""


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    return parser.parse_args()


def announce(host: str, port: int) -> None:
    print(f"peer: listening on http://{host}:{port}", flush=True)


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Runs the coroutine function `main` on uvloop when it is installed."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main())
    else:
        uvloop.run(main())
