"""What the tests of edits, removals, reactions and replies share (the in-process service
on either backend is conftest's ``served``): frames with their dates made comparable."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa

from inprocess import FakeConn, Frame, Parley, chat

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def undated(value: Any) -> Any:
    """``value`` with every ``date`` and ``edited`` (checked to be dates) as ``"DATE"``."""
    if isinstance(value, list):
        return [undated(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in ("date", "edited"):
                assert isinstance(item, str), (key, item)
                assert DATE.fullmatch(item), (key, item)
                item = "DATE"
            out[key] = undated(item)
        return out
    return value


def msg(id_: int, user: str, text: str | None = None, **more: Any) -> Frame:
    """A message object with its dates as ``"DATE"``."""
    body: Frame = {"id": id_, "user": user, "date": "DATE"}
    if text is not None:
        body["text"] = text
    return {**body, **more}


async def member(parley: Parley, name: str, chat_name: str = "general") -> FakeConn:
    """A new user ``name``'s socket in ``chat_name``, its frames taken."""
    conn = await parley.user(name)
    await conn.request(chat("choice", Chat=chat_name))
    await parley.settle()
    for c in parley.conns:
        c.take()
    return conn


async def post(parley: Parley, conn: FakeConn, text: str | None = None, **more: Any) -> int:
    """Send a message; its id. Everyone's frames taken."""
    frames = await conn.request(chat("message", **({"Text": text} if text else {}), **more))
    [frame] = [f for f in frames if f.get("Command") == "message"]
    for c in parley.conns:
        c.take()
    return int(frame["Message"]["id"])


async def stored_rows(parley: Parley, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows of a query on the service's database."""
    store = parley.service.ctx.store
    async with store.engine.connect() as conn:  # type: ignore[attr-defined]
        return [tuple(r) for r in await conn.execute(sa.text(sql), params)]


def apply_change(view: dict[int, Frame], frame: Frame) -> None:
    """Update ``view`` (message objects by id, as a client keeps them) with a change
    frame: an ``edit`` carries the whole new state, a ``react`` the whole reaction map,
    a ``remove`` leaves the tombstone."""
    command = frame["Command"]
    if command == "edit":
        view[frame["Message"]["id"]] = frame["Message"]
    elif command == "react":
        old = dict(view[frame["Id"]])
        old.pop("reactions", None)
        view[frame["Id"]] = {**old, "reactions": frame["Reactions"]} if frame["Reactions"] else old
    else:
        assert command == "remove", frame
        old = view[frame["Id"]]
        view[frame["Id"]] = {"id": old["id"], "user": old["user"], "date": old["date"],
                             "removed": True}
