"""``parley backup`` while a real server keeps storing messages (with images): every
message acknowledged before the backup began is in the archive, and the archive is one
snapshot: each chat's ``last_id`` is its newest message in the archive, its ids run
without a gap up to it, and every image row of the archive has its bytes."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec

from backup_kit import PASSWORD, answer
from conftest import FAST, MakeServer, ServerProcess
from images_data import b64, image_bytes
from parley.archive import IMAGE_MEMBER, TABLE_MEMBER, members, verify
from parley.client import Client


class Writer:
    """A user sending messages to a chat one after another, each after the previous one
    was acknowledged; every few an image never sent before."""

    def __init__(self, chat: str, images: bool) -> None:
        self.chat, self.images = chat, images
        self.acked: list[tuple[float, int]] = []  # (when, id)
        self.stop = asyncio.Event()
        self.warm = asyncio.Event()  # 20 messages acknowledged

    async def run(self, ws: str, login: str) -> None:
        client = await Client.connect(ws)
        try:
            assert (await client.register(login, PASSWORD))["Status"] == "success"
            create = {"Type": "chat", "Command": "create", "Chat": self.chat}
            assert (await answer(client, create))["Status"] == "success"
            n = 0
            while not self.stop.is_set():
                n += 1
                text = f"{self.chat} {n}"
                request: dict[str, Any] = {"Type": "chat", "Command": "message", "Text": text}
                if self.images and n % 5 == 0:
                    request["Image"] = b64(image_bytes(size=(4 + n, 4)))
                await client.send(request)
                frame = await client.until(
                    lambda f, text=text: f.get("Command") == "message"
                    and f["Message"].get("text") == text)
                self.acked.append((time.monotonic(), int(frame["Message"]["id"])))
                if len(self.acked) == 20:
                    self.warm.set()
        finally:
            await client.close()


def read_archive(path: Path) -> tuple[dict[str, list[dict[str, Any]]], dict[tuple[int, str], int]]:
    """The archive's rows by table, and the size of each image member."""
    verify(path)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    images = {}
    for name, data in members(path):
        table = TABLE_MEMBER.fullmatch(name)
        image = IMAGE_MEMBER.fullmatch(name)
        if table:
            rows[table[1]] += [msgspec.json.decode(line) for line in data.splitlines()]
        elif image:
            images[(int(image[1]), image[2])] = len(data)
    return rows, images


def settings_of(server: ServerProcess) -> list[str]:
    out = ["--data-dir", str(server.data_dir)]
    if server.backend.postgres is not None:
        out += ["--database-url", server.db_url]
    return out


async def test_backup_under_write_load(make_server: MakeServer, tmp_path: Path) -> None:
    server = make_server(*FAST)
    writers = [Writer("busy", images=False), Writer("pictures", images=True),
               Writer("third", images=False)]
    tasks = [asyncio.create_task(w.run(server.ws, f"writer{i}")) for i, w in enumerate(writers)]
    try:
        await asyncio.wait_for(asyncio.gather(*(w.warm.wait() for w in writers)), 30)
        began = time.monotonic()
        archive = tmp_path / "busy.tar.gz"
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "parley", "backup", str(archive), *settings_of(server),
            env={**os.environ, "PARLEY_LOG_LEVEL": "WARNING"},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await child.communicate()
        ended = time.monotonic()
        assert child.returncode == 0, err
        await asyncio.sleep(0.3)
    finally:
        for w in writers:
            w.stop.set()
        await asyncio.gather(*tasks)
    # the server kept storing while the backup ran
    assert all(any(began < when < ended for when, _ in w.acked) for w in writers)

    rows, images = read_archive(archive)
    chat_ids = {c["name"]: c["id"] for c in rows["chats"]}
    stored: dict[int, list[int]] = defaultdict(list)
    for message in rows["messages"]:
        stored[message["chat_id"]].append(message["id"])
    for w in writers:
        chat_id = chat_ids[w.chat]
        before = [id_ for when, id_ in w.acked if when < began]
        assert set(before) <= set(stored[chat_id]), w.chat
    for chat in rows["chats"]:
        ids = sorted(stored[chat["id"]])
        assert ids == list(range(1, chat["last_id"] + 1)), chat["name"]
    assert {(r["chat_id"], r["name"]): r["size"] for r in rows["images"]} == images
    shown = {(m["chat_id"], m["image"]) for m in rows["messages"] if m["image"]}
    assert shown == set(images)
    assert len(images) >= 4
    assert out.decode().startswith("parley: backup of revision 0010_search_backlog written to ")
