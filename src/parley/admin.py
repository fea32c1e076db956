"""``parley admin``: the operator's commands, run against the database of running servers.

It takes the database settings of ``parley serve`` (``--data-dir``, ``--database-url``,
``PARLEY_*``), and ``--redis-url``/``--redis-prefix`` to clear a deleted chat's presence.
It never migrates: a database that lacks migrations is refused with one line telling to
run ``parley migrate``. Running servers learn of each change within two seconds through
the ``control`` table (see :mod:`parley.control`); no Redis and no socket to them is
needed.

Output: plain text for people, or with ``--json`` one JSON document on stdout for
scripts. A failure is one line on stderr and exit status 1: an unknown login or chat,
a database that cannot be reached, one that lacks migrations or is newer than this
release. The database work is in :mod:`parley.admin_rows`; this module parses, runs,
and formats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from . import admin_rows as rows
from . import migrate
from .config import DATABASE_SETTINGS, Settings, add_arguments
from .errors import Unavailable
from .images import FileImageStore
from .migrations import NewerSchema
from .passwords import Hasher
from .store import SqlStore

#: the settings ``parley admin`` takes
ADMIN_SETTINGS = (*DATABASE_SETTINGS, "redis_url", "redis_prefix", "image_store",
                  "argon2_profile")
#: characters of a new random password (URL-safe base64: about 6 bits each)
NEW_PASSWORD_CHARS = 20

POSTGRES_SPACE = (
    "PostgreSQL: autovacuum marks the deleted rows' space reusable by these tables; it is "
    "not returned to the operating system. `VACUUM FULL messages` returns it, but locks "
    "the table while it runs.")

Output = dict[str, Any]
Command = Callable[[AsyncEngine, Settings, argparse.Namespace], Awaitable[Output]]


def add_parser(commands: Any) -> None:
    """The ``admin`` command and its subcommands, on ``parley``'s subparsers."""
    admin = commands.add_parser(
        "admin", help="manage users and chats of a (running) server",
        description="Manage users and chats, against the database of the running servers; "
        "they learn of each change within 2 seconds. Exit status 1, with one line on "
        "stderr, for an unknown login or chat or a database that cannot be used.")
    add_arguments(admin.add_argument_group("database settings"), ADMIN_SETTINGS)
    admin.add_argument("--json", action="store_true",
                       help="print one JSON document on stdout, for scripts")
    sub = admin.add_subparsers(dest="admin_command", required=True)
    sub.add_parser("users", help="every user: admin, disabled, last seen")
    for name, text in (("grant", "make LOGIN a server admin"),
                       ("revoke", "LOGIN is no longer a server admin"),
                       ("disable", "LOGIN may not log in; their tokens are revoked and "
                        "their sockets closed (code 4003)"),
                       ("enable", "LOGIN may log in again"),
                       ("reset-password", "print a new random password for LOGIN, once; "
                        "their tokens are revoked and their sockets logged out")):
        sub.add_parser(name, help=text).add_argument("login", metavar="LOGIN")
    sub.add_parser("chats", help="every chat: owner, members, messages")
    sub.add_parser("delete-chat", help="delete the chat NAME as its owner would").add_argument(
        "chat", metavar="NAME")
    purge = sub.add_parser(
        "purge-chat", help="delete the chat's messages older than DATE, and free the disk")
    purge.add_argument("chat", metavar="NAME")
    purge.add_argument("--before", required=True, type=instant, metavar="DATE",
                       help="ISO date or date and time (UTC unless it has a zone)")


def instant(text: str) -> datetime:
    """An ISO date or date and time; UTC when it names no zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO date or date and time: {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the command; its exit status."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        output = asyncio.run(_command(args, settings))
    except rows.Refused as exc:
        return migrate.fail(str(exc))
    except (rows.Pending, NewerSchema, migrate.Unreachable) as exc:
        return migrate.fail(str(exc))
    if args.json:
        print(json.dumps(output["json"], ensure_ascii=False), flush=True)
    else:
        print(output["text"], flush=True)
    return 0


async def _command(args: argparse.Namespace, settings: Settings) -> Output:
    url = settings.db_url
    if not settings.database_url and not settings.database_file.exists():
        raise rows.Pending(f"there is no database at {settings.database_file}: "
                           "run `parley migrate` first")
    engine = rows.engine_for(url)
    try:
        await rows.check_schema(engine)
        return await COMMANDS[args.admin_command](engine, settings, args)
    except (OSError, sa.exc.SQLAlchemyError, Unavailable) as exc:
        cause = exc.__cause__ if isinstance(exc, Unavailable) and exc.__cause__ else exc
        raise migrate.unreachable(url, cause) from exc
    finally:
        await engine.dispose()


def _out(text: str, document: Any) -> Output:
    return {"text": text, "json": document}


def _when(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(header: list[str], lines: list[list[str]]) -> str:
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines, strict=True)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                     .rstrip() for line in [header, *lines])


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# -- the commands ---------------------------------------------------------------------


async def users(engine: AsyncEngine, settings: Settings, args: argparse.Namespace) -> Output:
    found = await rows.list_users(engine)
    text = _table(["LOGIN", "ADMIN", "DISABLED", "LAST SEEN"],
                  [[u.login, _yes(u.admin), _yes(u.disabled), _when(u.seen_ms) or "never"]
                   for u in found])
    return _out(text, {"users": [{"login": u.login, "admin": u.admin, "disabled": u.disabled,
                                  "last_seen": _when(u.seen_ms)} for u in found]})


def _flag(column: str, value: bool, said: str) -> Command:
    async def command(engine: AsyncEngine, settings: Settings,
                      args: argparse.Namespace) -> Output:
        login = await rows.set_flag(engine, args.login, column, value)
        return _out(said.format(login=login), {"login": login, column: value})

    return command


async def reset_password(engine: AsyncEngine, settings: Settings,
                         args: argparse.Namespace) -> Output:
    await rows.user_exists(engine, args.login)  # before the (slow) hash
    password = secrets.token_urlsafe(NEW_PASSWORD_CHARS)[:NEW_PASSWORD_CHARS]
    hasher = await asyncio.to_thread(Hasher, settings.argon2_profile)
    password_hash = await asyncio.to_thread(hasher.hash, password)
    login = await rows.reset_password(engine, args.login, password_hash)
    return _out(f"new password for {login} (shown only now): {password}\n"
                f"every token of {login} is revoked; their sockets are logged out",
                {"login": login, "password": password})


async def chats(engine: AsyncEngine, settings: Settings, args: argparse.Namespace) -> Output:
    found = await rows.list_chats(engine)
    text = _table(["NAME", "OWNER", "MEMBERS", "MESSAGES"],
                  [[c.name, c.owner or "-", str(c.members), str(c.messages)] for c in found])
    return _out(text, {"chats": [{"name": c.name, "owner": c.owner, "members": c.members,
                                  "messages": c.messages, "direct": c.direct}
                                 for c in found]})


async def delete_chat(engine: AsyncEngine, settings: Settings,
                      args: argparse.Namespace) -> Output:
    """As the owner's ``delete``: the rows (``SqlStore.delete_chat``) with the events every
    process delivers in the same transaction, then the image files and the chat's
    presence in Redis."""
    name = args.chat
    chat_id = await rows.deletable_chat(engine, name)
    if not await SqlStore(engine).delete_chat(chat_id, rows.announce_deleted(chat_id, name)):
        raise rows.Refused(f"no chat {name!r}")
    if not settings.images_in_database:
        await asyncio.to_thread(FileImageStore(settings.image_dir).drop_chat, chat_id)
    if settings.redis_url:
        from .presence import RedisPresence

        presence = RedisPresence(settings.redis_url, f"admin-{os.getpid()}",
                                 prefix=settings.redis_prefix)
        await presence.forget_chat(chat_id)
        await presence.close()
    return _out(f"deleted the chat {name}", {"chat": name, "deleted": True})


async def purge_chat(engine: AsyncEngine, settings: Settings,
                     args: argparse.Namespace) -> Output:
    name = args.chat
    before: datetime = args.before
    cutoff = int(before.timestamp() * 1000)
    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        await rows.checkpoint_sqlite(engine)
    file = Path(engine.url.database or "") if sqlite else None
    size_before = file.stat().st_size if file is not None else 0
    purged = await rows.purge(engine, name, cutoff)
    if not settings.images_in_database and purged.images:
        await _drop_files(engine, FileImageStore(settings.image_dir), purged)
    stamp = before.astimezone(UTC).isoformat().replace("+00:00", "Z")
    document: dict[str, Any] = {
        "chat": name, "before": stamp, "messages": purged.messages,
        "reactions": purged.reactions, "mentions": purged.mentions,
        "images": len(purged.images), "database": engine.dialect.name}
    text = (f"purged {purged.messages} messages of {name} created before {stamp}, with "
            f"{purged.reactions} reactions, {purged.mentions} mentions and "
            f"{len(purged.images)} images no remaining message shows\n")
    if file is not None:
        await rows.vacuum_sqlite(engine)
        size_after = file.stat().st_size
        document.update(size_before=size_before, size_after=size_after,
                        freed_bytes=size_before - size_after)
        text += (f"VACUUM: the database file {file} went from {size_before} to "
                 f"{size_after} bytes ({size_before - size_after} bytes freed)")
    else:
        document["vacuum"] = POSTGRES_SPACE
        text += POSTGRES_SPACE
    return _out(text, document)


async def _drop_files(engine: AsyncEngine, files: FileImageStore, purged: rows.Purged) -> None:
    """Delete the freed images' files, each unless a message stored since shows it again
    (checked under the chat's lock, as a removal's image is: ``drop_unused_image``)."""
    store = SqlStore(engine)
    for image in purged.images:
        async def discard(name: str = image) -> None:
            await asyncio.to_thread(files.discard, purged.chat_id, name)

        await store.drop_unused_image(purged.chat_id, image, discard)


COMMANDS: dict[str, Command] = {
    "users": users,
    "grant": _flag("admin", True, "{login} is now a server admin"),
    "revoke": _flag("admin", False, "{login} is no longer a server admin"),
    "disable": _flag("disabled", True, "{login} is disabled: every token is revoked, and "
                     "their sockets close within 2 seconds"),
    "enable": _flag("disabled", False, "{login} may log in again"),
    "reset-password": reset_password,
    "chats": chats,
    "delete-chat": delete_chat,
    "purge-chat": purge_chat,
}
