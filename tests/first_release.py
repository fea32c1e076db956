"""The database of the first release (revision 0001) as it wrote it, and what today's
server must still do with it: log in with the old password and the old token, give
the old messages back exactly, serve the old image."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import aiohttp

from conftest import ServerProcess
from images_data import PNG
from parley.client import Client
from parley.passwords import Hasher, token_digest
from parley.presenter import image_url, iso_date

REVISION = "0001"
T0 = 1_795_534_662_000
PASSWORD = "old password"
TOKEN = "an-old-token-of-alice"
IMAGE = hashlib.md5(PNG).hexdigest() + ".png"
#: (id, login)
USERS = [(1, "alice"), (2, "bob")]
#: (id, name, owner, closed): general (id 1) is made by the revision itself
CHATS = [(2, "Team", 1, False), (3, "secret", 2, True)]
MEMBERS = [(2, 1), (3, 2)]
#: (chat, id, user, text, image)
MESSAGES = [(1, 1, 1, "hello", None), (1, 2, 2, "a picture", IMAGE), (1, 3, 1, None, IMAGE),
            (2, 1, 1, "in Team", None), (3, 1, 2, "in secret", None)]


def seed(dialect: str, data_dir: Path) -> list[tuple[str, dict[str, Any]]]:
    """The rows (and, with images as files, the files) the first release wrote."""
    hasher = Hasher("test")
    out: list[tuple[str, dict[str, Any]]] = []
    for id_, login in USERS:
        out.append(("INSERT INTO users (id, login, login_key, password_hash, created_ms) "
                    "VALUES (:id, :login, :login, :hash, :t)",
                    {"id": id_, "login": login, "hash": hasher.hash(PASSWORD), "t": T0}))
    out.append(("INSERT INTO tokens (digest, user_id, expires_ms) VALUES (:d, 1, :e)",
                {"d": token_digest(TOKEN), "e": 4_102_444_800_000}))
    out.append(("INSERT INTO tokens (digest, user_id, expires_ms) VALUES (:d, 2, :e)",
                {"d": token_digest("bob's token"), "e": 4_102_444_800_000}))
    for id_, name, owner, closed in CHATS:
        out.append(("INSERT INTO chats (id, name, owner_id, password_hash, last_id, created_ms) "
                    "VALUES (:id, :name, :owner, :pw, 0, :t)",
                    {"id": id_, "name": name, "owner": owner,
                     "pw": hasher.hash("chat password") if closed else None, "t": T0}))
    for chat_id, user_id in MEMBERS:
        out.append(("INSERT INTO members (chat_id, user_id) VALUES (:c, :u)",
                    {"c": chat_id, "u": user_id}))
    for chat_id, id_, user_id, text, image in MESSAGES:
        out.append(("INSERT INTO messages (chat_id, id, user_id, login, text, image, nonce, "
                    "created_ms) VALUES (:c, :i, :u, :login, :text, :image, :nonce, :t)",
                    {"c": chat_id, "i": id_, "u": user_id, "login": USERS[user_id - 1][1],
                     "text": text, "image": image, "nonce": f"n{id_}", "t": T0 + id_}))
        out.append(("UPDATE chats SET last_id = :i WHERE id = :c", {"c": chat_id, "i": id_}))
    in_database = dialect != "sqlite"
    out.append(("INSERT INTO images (chat_id, name, size, data) VALUES (1, :n, :s, :d)",
                {"n": IMAGE, "s": len(PNG), "d": PNG if in_database else None}))
    if not in_database:
        (data_dir / "images" / "1").mkdir(parents=True)
        (data_dir / "images" / "1" / IMAGE).write_bytes(PNG)
    else:  # (the rows were inserted with their ids)
        out += [("SELECT setval('users_id_seq', 2)", {}), ("SELECT setval('chats_id_seq', 3)", {})]
    return out


def old_messages() -> list[dict[str, Any]]:
    """General's messages as a ``choice`` answer gives them."""
    out: list[dict[str, Any]] = []
    for chat_id, id_, user_id, text, image in MESSAGES:
        if chat_id != 1:
            continue
        message: dict[str, Any] = {"id": id_, "user": USERS[user_id - 1][1],
                                   "date": iso_date(T0 + id_)}
        if text is not None:
            message["text"] = text
        if image is not None:
            message["image"] = image_url("general", image)
        out.append(message)
    return out


async def choose(client: Client, chat: str, password: str | None = None) -> dict[str, Any]:
    """The answer to a ``choice``, past the pushes about who joined."""
    request: dict[str, Any] = {"Type": "chat", "Command": "choice", "Chat": chat}
    if password is not None:
        request["Password"] = password
    await client.send(request)
    answer: dict[str, Any] = await client.until(
        lambda f: f.get("Command") == "choice" or "Status" in f)
    return answer


async def served(server: ServerProcess) -> None:
    """The upgraded database behind a real ``parley serve``."""
    async with await Client.connect(server.ws) as by_password:
        answer = await by_password.login("alice", PASSWORD)
        assert (answer["Status"], answer["User"]) == ("success", "alice"), answer
        chosen = await choose(by_password, "general")
        assert (chosen["Command"], chosen["Chat"]) == ("choice", "general"), chosen
        assert chosen["Messages"] == old_messages()
    async with await Client.connect(server.ws) as by_token:
        answer = await by_token.login(token=TOKEN)
        assert (answer["Status"], answer["User"]) == ("success", "alice"), answer
        chosen = await choose(by_token, "Team")
        assert chosen["Messages"] == [
            {"id": 1, "user": "alice", "date": iso_date(T0 + 1), "text": "in Team"}]
        assert await choose(by_token, "secret") == {"Type": "chat", "Status": "access denied"}
        chosen = await choose(by_token, "secret", "chat password")
        assert chosen["Messages"] == [
            {"id": 1, "user": "bob", "date": iso_date(T0 + 1), "text": "in secret"}]
    async with (aiohttp.ClientSession() as http,
                http.get(server.http + image_url("general", IMAGE)) as response):
        assert response.status == 200
        assert await response.read() == PNG
