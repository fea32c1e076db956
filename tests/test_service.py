"""Every command, in this process: raw frames into ``Service.receive``, exact JSON out.

The answers are those of docs/protocol.md. No server, no socket: see
``inprocess.py`` for what is real here (the service, SQLite, the broker, hub and
presence of one process) and what is not (the sockets).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from images_data import JPEG, PNG, b64, md5
from inprocess import PASSWORD, Frame, Parley, account, chat

DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def start(tmp_path: Path, template: Path, **settings: Any) -> Any:
    """A service with these settings (a limit under test), for ``async with``."""
    return Parley.running(tmp_path / "limited", template=template, **settings)


# -- frames ----------------------------------------------------------------------------

def answer(type_: str, command: str | None, status: str, **fields: Any) -> Frame:
    out: Frame = {"Type": type_}
    if command is not None:
        out["Command"] = command
    return {**out, "Status": status, **fields}


def joined(name: str, login: str | None) -> Frame:
    return chat("connected", Chat=name, Joined=login)


def left(name: str, login: str | None) -> Frame:
    return chat("connected", Chat=name, Left=login)


def info(name: str, owner: str | None = None, closed: bool = False) -> Frame:
    return {"name": name, "closed": closed, "owner": owner}


GENERAL = info("general")


def whole(*chats: Frame) -> Frame:
    return chat("list", Chats=[GENERAL, *chats])


def delta(added: list[Frame] | None = None, removed: list[str] | None = None) -> Frame:
    return chat("list", Added=added or [], Removed=removed or [])


#: the seed's answer for a chat that does not exist (no Command)
NO_CHAT = {"Type": "chat", "Status": "error"}
DENIED = {"Type": "chat", "Status": "access denied"}


def dated(frames: list[Frame]) -> list[Frame]:
    """The frames with every message's date checked and replaced by ``"DATE"``."""
    def fix(message: dict[str, Any]) -> dict[str, Any]:
        assert DATE.fullmatch(message["date"]), message
        return {**message, "date": "DATE"}

    out = []
    for frame in frames:
        if "Message" in frame:
            frame = {**frame, "Message": fix(frame["Message"])}
        if "Messages" in frame:
            frame = {**frame, "Messages": [fix(m) for m in frame["Messages"]]}
        out.append(frame)
    return out


def msg(id_: int, user: str | None, text: str | None = None, image: str | None = None) -> Frame:
    body: Frame = {"id": id_, "user": user, "date": "DATE"}
    if text is not None:
        body["text"] = text
    if image is not None:
        body["image"] = image
    return body


def live(id_: int, user: str | None, text: str | None = None,
         image: str | None = None) -> Frame:
    return chat("message", Message=msg(id_, user, text, image))


def page(command: str, name: str, messages: list[Frame], change: int = 0) -> Frame:
    """A ``choice`` (with the chat's ``Change``) or ``earlier`` answer."""
    if command == "choice":
        return chat(command, Chat=name, Messages=messages, Change=change)
    return chat(command, Chat=name, Messages=messages)


async def register(conn: Any, login: str, password: str = PASSWORD, **extra: Any) -> Frame:
    return await conn.ask(account("registration", Login=login, Password=password, **extra))  # type: ignore[no-any-return]


async def enter(conn: Any, name: str, password: str | None = None) -> list[Frame]:
    frame = chat("choice", Chat=name)
    if password is not None:
        frame["Password"] = password
    return await conn.request(frame)  # type: ignore[no-any-return]


async def fill(conn: Any, count: int, prefix: str = "m") -> None:
    """``count`` text messages from ``conn`` (pipelined, as a client sends them)."""
    for i in range(1, count + 1):
        await conn.send_raw(chat("message", Text=f"{prefix}{i}"))
    await conn.parley.settle()


# -- registration -------------------------------------------------------------------------

async def test_registration(parley: Parley) -> None:
    conn = parley.connect()
    reply = await register(conn, "alice")
    token = reply.pop("Token")
    assert reply == answer("account", "registration", "success", User="alice")
    assert isinstance(token, str)
    assert len(token) >= 40
    assert conn.take() == []  # no list after a registration
    assert await conn.ask(chat("list")) == whole()


async def test_registration_with_list_changes_takes_deltas(parley: Parley) -> None:
    bob = parley.connect()
    reply = await register(bob, "bob", ListChanges=True)
    assert reply["Status"] == "success"
    alice = await parley.user("alice")
    await alice.request(chat("create", Chat="Team"))
    assert bob.take() == [delta([info("Team", "alice")])]


async def test_registration_failures(parley: Parley) -> None:
    await parley.user("alice")
    await parley.user("Иван")
    conn = parley.connect()
    fail = {
        "user exist": [("ALICE", PASSWORD), ("иван", PASSWORD)],
        "Login is required": [("", PASSWORD), (None, PASSWORD), ("", "")],
        "Login must be at most 32 characters": [("x" * 33, PASSWORD)],
        "Login may contain only letters, digits, '_', '.' and '-'": [
            ("two words", PASSWORD), ("two words", "short")],  # the login is checked first
        "Password must be at least 8 characters": [("bob", "short"), ("bob", None)],
        "Password must be at most 1024 characters": [("bob", "p" * 1025)],
        "Login may not mix letters of different scripts": [("p\u0430ypal", PASSWORD)],
    }
    for expected, cases in fail.items():
        for login, password in cases:
            frame = account("registration")
            if login is not None:
                frame["Login"] = login
            if password is not None:
                frame["Password"] = password
            if expected == "user exist":
                want = answer("account", "registration", "user exist")
            else:
                want = answer("account", "registration", "error", Detail=expected)
            assert await conn.ask(frame) == want, (login, password)
    # after failed registrations the connection is as it was: anonymous
    assert await conn.ask(chat("list")) == answer("chat", "list", "error in chat or user")
    ok = await register(conn, "Иван_2")
    assert ok["Status"] == "success"
    assert ok["User"] == "Иван_2"


async def test_oversized_account_frames_are_not_read(parley: Parley) -> None:
    conn = parley.connect()
    too_long = "An account request must be at most 16384 characters"
    assert await conn.ask(account("registration", Login="x" * 20_000, Password=PASSWORD)) == \
        answer("account", "registration", "error", Detail=too_long)
    assert await conn.ask(account("login", Login="x" * 20_000, Password=PASSWORD)) == \
        answer("account", "login", "error", Detail=too_long)
    # under the cap, an impossible login fails like a wrong one
    assert await conn.ask(account("login", Login="x" * 16_000, Password=PASSWORD)) == \
        answer("account", "login", "error")
    # only account requests are capped so: a long chat request is read and answered
    alice = await parley.user("alice")
    assert await alice.ask(chat("create", Chat="c" * 20_000)) == answer(
        "chat", "create", "error", Detail="Chat name must be at most 64 characters")


async def test_registration_on_a_logged_in_socket_switches_and_leaves_the_chat(
        parley: Parley) -> None:
    amy = await parley.user("amy")
    ben = await parley.user("ben")
    await enter(amy, "general")
    await enter(ben, "general")
    amy.take()
    reply = await register(ben, "ben2")
    assert reply["User"] == "ben2"
    assert amy.take() == [left("general", "ben")]
    assert await ben.ask(chat("connected")) == answer("chat", "connected",
                                                      "error in chat or user")


# -- login ---------------------------------------------------------------------------------

async def test_login_by_password_then_by_token(parley: Parley) -> None:
    first = await register(parley.connect(), "alice")
    conn = parley.connect()
    reply, listed = await conn.request(account("login", Login="Alice", Password=PASSWORD))
    token = reply.pop("Token")
    assert reply == answer("account", "login", "success", User="alice")
    assert listed == whole()
    assert token != first["Token"]  # a new token each time
    for old_or_new in (first["Token"], token):  # and the earlier ones stay valid
        other = parley.connect()
        assert await other.request(account("login", Token=old_or_new, Login="x")) == [
            answer("account", "login", "success", User="alice", Token=old_or_new), whole()]


async def test_login_by_token_with_list_changes(parley: Parley) -> None:
    token = (await register(parley.connect(), "alice"))["Token"]
    conn = parley.connect()
    assert await conn.request(account("login", Token=token, ListChanges=True)) == [
        answer("account", "login", "success", User="alice", Token=token), whole()]
    bob = await parley.user("bob")
    await bob.request(chat("create", Chat="Team"))
    await bob.request(chat("delete", Chat="Team"))
    assert conn.take() == [delta([info("Team", "bob")]), delta(removed=["Team"])]
    # a login without ListChanges on the same socket goes back to whole lists
    await conn.request(account("login", Token=token))
    await bob.request(chat("create", Chat="Team"))
    assert conn.take() == [whole(info("Team", "bob"))]


async def test_login_failures_are_all_alike(parley: Parley) -> None:
    await parley.user("alice")
    conn = parley.connect()
    failed = answer("account", "login", "error")
    for frame in (
        account("login", Login="alice", Password="wrong password"),
        account("login", Login="nobody", Password=PASSWORD),
        account("login", Token="not-a-token"),
        account("login", Token=None, Login="alice"),
        account("login", Login="alice"),
        account("login"),
        account("login", Login="two words", Password=PASSWORD),
        account("login", Login="alice", Password=""),
        account("login", Login="alice", Password="p" * 1025),
    ):
        assert await conn.ask(frame) == failed, frame


async def test_failed_login_leaves_the_socket_as_it_was(parley: Parley) -> None:
    bob = await parley.user("bob")
    await enter(bob, "general")
    assert await bob.ask(account("login", Login="bob", Password="wrong password")) == \
        answer("account", "login", "error")
    assert await bob.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["bob"])


async def test_login_rate_limited(tmp_path: Path, template: Path) -> None:
    # per address a burst of 4 attempts, per address and account a burst of 1, and no
    # token back for 1,000 s: an attempt over is refused at once (its wait would pass
    # 5 s), whatever its password
    async with start(tmp_path, template, login_rate=0.001, login_burst=4) as parley:
        await parley.user("alice", address="10.0.0.1")
        guesser = parley.connect("10.0.0.2")
        failed = answer("account", "login", "error")
        limited = answer("account", "login", "rate limited")
        assert await guesser.ask(account("login", Login="alice", Password="guess 1")) == failed
        assert await guesser.ask(account("login", Login="alice", Password="guess 2")) == limited
        assert await guesser.ask(account("login", Login="alice", Password=PASSWORD)) == limited
        for _ in range(3):  # unknown accounts: the address's bucket only
            assert await guesser.ask(account("login", Login="nobody", Password="x" * 8)) == \
                failed
        assert await guesser.ask(account("login", Login="nobody", Password="x" * 8)) == limited
        assert await guesser.ask(account("registration", Login="bob", Password=PASSWORD)) == \
            answer("account", "registration", "rate limited")
        # another address is not held back by this one
        other = parley.connect("10.0.0.3")
        assert (await other.request(
            account("login", Login="alice", Password=PASSWORD)))[0]["Status"] == "success"


# -- logout ----------------------------------------------------------------------------------

async def test_logout(parley: Parley) -> None:
    token = (await register(parley.connect(), "alice"))["Token"]
    conn, same_token, other_token, watcher = (
        parley.connect(), parley.connect(), parley.connect(), await parley.user("watcher"))
    await conn.request(account("login", Token=token))
    await same_token.request(account("login", Token=token))
    await other_token.request(account("login", Login="alice", Password=PASSWORD))
    for c in (conn, same_token, watcher):
        await enter(c, "general")
    for c in (conn, same_token, watcher):
        c.take()
    assert await conn.request(account("logout")) == [answer("account", "logout", "success")]
    assert same_token.take() == [answer("account", "logout", "logged out")]
    assert same_token.closed == []
    assert watcher.take() == [left("general", "alice")]
    assert other_token.take() == []
    # the token is revoked for everyone; the sockets on it are anonymous
    assert await parley.connect().ask(account("login", Token=token)) == \
        answer("account", "login", "error")
    for anonymous in (conn, same_token):
        assert await anonymous.ask(chat("list")) == answer("chat", "list",
                                                           "error in chat or user")
    assert await other_token.ask(chat("list")) == whole()


async def test_logout_when_not_logged_in(parley: Parley) -> None:
    conn = parley.connect()
    for frame in (account("logout"), account("logout", Everywhere=True)):
        assert await conn.ask(frame) == answer("account", "logout", "error")


async def test_logout_everywhere(parley: Parley) -> None:
    conn = await parley.user("alice")
    others = [parley.connect(), parley.connect()]
    for other in others:
        await other.request(account("login", Login="alice", Password=PASSWORD))
    watcher = await parley.user("watcher")
    await enter(watcher, "general")
    await enter(others[0], "general")
    watcher.take()
    others[0].take()
    assert await conn.request(account("logout", Everywhere=True)) == [
        answer("account", "logout", "success")]
    for other in others:
        assert other.take() == []  # nothing but the close
        assert other.closed == [(4001, "logged out")]
        assert not other.open
    assert watcher.take() == [left("general", "alice")]
    assert await conn.ask(chat("list")) == answer("chat", "list", "error in chat or user")
    # the password still works (a new token)
    again = parley.connect()
    assert (await again.request(account("login", Login="alice", Password=PASSWORD)))[0][
        "Status"] == "success"
    # Everywhere false is a plain logout
    assert await again.ask(account("logout", Everywhere=False)) == answer("account", "logout",
                                                                         "success")


# -- password ----------------------------------------------------------------------------------

async def test_password_change(parley: Parley) -> None:
    first = await register(parley.connect(), "alice")
    conn = parley.connect()
    await conn.request(account("login", Token=first["Token"]))
    same_token = parley.connect()
    await same_token.request(account("login", Token=first["Token"]))
    await enter(conn, "general")
    reply = await conn.ask(account("password", Old=PASSWORD, New="a new horse staple"))
    token = reply.pop("Token")
    assert reply == answer("account", "password", "success")
    assert same_token.closed == [(4001, "logged out")]
    # this socket stays logged in and in its chat
    assert await conn.ask(chat("connected")) == chat("connected", Chat="general",
                                                     Online=["alice"])
    check = parley.connect()
    assert await check.ask(account("login", Token=first["Token"])) == \
        answer("account", "login", "error")
    assert await check.ask(account("login", Login="alice", Password=PASSWORD)) == \
        answer("account", "login", "error")
    assert (await check.request(account("login", Token=token)))[0]["Status"] == "success"
    assert (await check.request(
        account("login", Login="alice", Password="a new horse staple")))[0]["Status"] == "success"


async def test_password_failures(parley: Parley) -> None:
    anonymous = parley.connect()
    assert await anonymous.ask(account("password", Old=PASSWORD, New="a new horse staple")) \
        == answer("account", "password", "error in chat or user")
    conn = await parley.user("alice")
    for fields, detail in (
        ({"Old": PASSWORD, "New": "short"}, "Password must be at least 8 characters"),
        ({"Old": PASSWORD}, "Password must be at least 8 characters"),
        ({"Old": "wrong", "New": "short"}, "Password must be at least 8 characters"),
        ({"Old": PASSWORD, "New": "p" * 1025}, "Password must be at most 1024 characters"),
        ({"Old": "wrong password", "New": "a new horse staple"}, None),
        ({"New": "a new horse staple"}, None),
    ):
        expected = (answer("account", "password", "error", Detail=detail) if detail
                    else answer("account", "password", "error"))
        assert await conn.ask(account("password", **fields)) == expected, fields
    # nothing changed
    assert (await parley.connect().request(
        account("login", Login="alice", Password=PASSWORD)))[0]["Status"] == "success"


async def test_password_rate_limited(tmp_path: Path, template: Path) -> None:
    async with start(tmp_path, template, login_rate=0.001, login_burst=1) as parley:
        conn = await parley.user("alice")  # the registration took the address's one token
        assert await conn.ask(account("password", Old=PASSWORD, New="a new horse staple")) \
            == answer("account", "password", "rate limited")


# -- chats: anonymous, list, create -----------------------------------------------------------

async def test_chat_commands_need_a_login(parley: Parley) -> None:
    conn = parley.connect()
    for command, fields in (("list", {}), ("create", {"Chat": "x"}),
                            ("choice", {"Chat": "general"}), ("earlier", {}),
                            ("connected", {}), ("delete", {"Chat": "x"}),
                            ("leave", {"Chat": "general"}), ("message", {"Text": "x"})):
        assert await conn.ask(chat(command, **fields)) == answer(
            "chat", command, "error in chat or user"), command


async def test_list_in_creation_order_with_closed_chats(parley: Parley) -> None:
    alice = await parley.user("alice")
    await alice.request(chat("create", Chat="Team"))
    await alice.request(chat("create", Chat="secret", Password="open sesame"))
    await alice.request(chat("create", Chat="open", Password=""))
    assert await alice.ask(chat("list")) == whole(
        info("Team", "alice"), info("secret", "alice", closed=True), info("open", "alice"))


async def test_create(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    carl = await parley.user("carl", list_changes=True)
    anonymous = parley.connect()
    await enter(alice, "general")
    await enter(bob, "general")
    alice.take()
    assert await alice.request(chat("create", Chat="Team")) == [
        answer("chat", "create", "success", Chat="Team"),
        whole(info("Team", "alice")),
        joined("Team", "alice"),
    ]
    assert bob.take() == [left("general", "alice"), whole(info("Team", "alice"))]
    assert carl.take() == [delta([info("Team", "alice")])]
    assert anonymous.take() == []
    assert await alice.ask(chat("connected")) == chat("connected", Chat="Team",
                                                      Online=["alice"])
    assert await alice.request(chat("create", Chat="secret", Password="open sesame")) == [
        answer("chat", "create", "success", Chat="secret"),
        whole(info("Team", "alice"), info("secret", "alice", closed=True)),
        joined("secret", "alice"),
    ]
    # names may be of any one script
    for name in ("Team 2", "Общий чат №1 🚀"):
        assert (await alice.request(chat("create", Chat=name)))[0] == answer(
            "chat", "create", "success", Chat=name)


async def test_create_failures_push_nothing(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="Team"))
    bob.take()
    cases: list[tuple[Frame, Frame]] = [
        ({"Chat": "Team"}, answer("chat", "create", "chat exist")),
        ({"Chat": "general"}, answer("chat", "create", "chat exist")),
    ]
    for fields, detail in (
        ({"Chat": ""}, "Chat name is required"),
        ({}, "Chat name is required"),
        ({"Chat": None}, "Chat name is required"),
        ({"Chat": "x" * 65}, "Chat name must be at most 64 characters"),
        ({"Chat": ".."}, "Chat name cannot be '.' or '..'"),
        ({"Chat": "."}, "Chat name cannot be '.' or '..'"),
        ({"Chat": "a/b"}, "Chat name cannot contain '/' or '\\'"),
        ({"Chat": "a\\b"}, "Chat name cannot contain '/' or '\\'"),
        ({"Chat": "tab\there"}, "Chat name cannot contain control characters"),
        ({"Chat": "long pw", "Password": "p" * 1025}, "Password must be at most 1024 characters"),
        ({"Chat": "short pw", "Password": "seven77"}, "Password must be at least 8 characters"),
        ({"Chat": "g\u0435neral"}, "Chat name may not mix letters of different scripts"),
        ({"Chat": "room\u202e1"},
         "Chat name may not contain invisible or text-direction characters"),
    ):
        cases.append((fields, answer("chat", "create", "error", Detail=detail)))
    for fields, expected in cases:
        assert await alice.request(chat("create", **fields)) == [expected], fields
    assert bob.take() == []
    assert await alice.ask(chat("connected")) == chat("connected", Chat="Team",
                                                      Online=["alice"])


async def test_owned_chats_are_capped(tmp_path: Path, template: Path) -> None:
    async with start(tmp_path, template, max_chats_per_user=2) as parley:
        alice = await parley.user("alice")
        for name in ("one", "two"):
            assert (await alice.request(chat("create", Chat=name)))[0]["Status"] == "success"
        assert await alice.request(chat("create", Chat="three")) == [answer(
            "chat", "create", "error", Detail="You may own at most 2 chats")]
        await alice.request(chat("delete", Chat="one"))
        assert (await alice.request(chat("create", Chat="three")))[0]["Status"] == "success"
        # the cap is per owner
        bob = await parley.user("bob")
        assert (await bob.request(chat("create", Chat="four")))[0]["Status"] == "success"


async def test_creates_and_deletes_rate_limited(tmp_path: Path, template: Path) -> None:
    # a burst of 3 and one more in 1,000 minutes
    async with start(tmp_path, template, chat_rate=0.001, chat_burst=3) as parley:
        alice = await parley.user("alice")
        bob = await parley.user("bob")
        assert (await alice.request(chat("create", Chat="mine")))[0]["Status"] == "success"
        # a refused create uses up its turn too
        assert await alice.ask(chat("create", Chat="general")) == answer(
            "chat", "create", "chat exist")
        assert (await alice.request(chat("create", Chat="more")))[0]["Status"] == "success"
        bob.take()
        assert await alice.ask(chat("create", Chat="one more")) == answer(
            "chat", "create", "rate limited")
        assert await alice.ask(chat("delete", Chat="mine")) == answer(
            "chat", "delete", "rate limited")
        assert bob.take() == []
        # per user
        assert (await bob.request(chat("create", Chat="bob's")))[0]["Status"] == "success"
        assert await bob.ask(chat("list")) == whole(
            info("mine", "alice"), info("more", "alice"), info("bob's", "bob"))


# -- choice -----------------------------------------------------------------------------------

async def test_choice(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="Team"))
    await alice.request(chat("message", Text="welcome"))
    bob.take()
    assert dated(await enter(bob, "Team")) == [
        page("choice", "Team", [msg(1, "alice", "welcome")]), joined("Team", "bob")]
    assert alice.take() == [joined("Team", "bob")]
    # again: the page again, no Joined
    assert dated(await enter(bob, "Team")) == [
        page("choice", "Team", [msg(1, "alice", "welcome")])]
    # a second socket of bob's: no Joined either
    bob2 = parley.connect()
    await bob2.request(account("login", Login="bob", Password=PASSWORD))
    assert len(await enter(bob2, "Team")) == 1
    assert alice.take() == []
    assert await alice.ask(chat("connected")) == chat("connected", Chat="Team",
                                                      Online=["alice", "bob"])
    # choosing another chat leaves this one; the last of bob's sockets makes the Left
    await enter(bob2, "general")
    assert alice.take() == []
    await enter(bob, "general")
    assert alice.take() == [left("Team", "bob")]


async def test_choice_of_a_missing_chat(parley: Parley) -> None:
    bob = await parley.user("bob")
    await enter(bob, "general")
    for frame in (chat("choice", Chat="nope"), chat("choice"), chat("choice", Chat="")):
        assert await bob.ask(frame) == NO_CHAT, frame
    # a refused choice leaves the connection where it was
    assert await bob.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["bob"])


async def test_choice_of_a_closed_chat(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="secret", Password="open sesame"))
    await alice.request(chat("create", Chat="open"))
    await enter(bob, "general")
    bob.take()
    assert await enter(bob, "secret") == [DENIED]
    assert await enter(bob, "secret", "wrong one") == [DENIED]
    assert await bob.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["bob"])
    assert await enter(bob, "secret", "open sesame") == [
        page("choice", "secret", []), joined("secret", "bob")]
    # a member now: on any socket, without the password
    bob2 = parley.connect()
    await bob2.request(account("login", Login="bob", Password=PASSWORD))
    assert await enter(bob2, "secret") == [page("choice", "secret", [])]
    # the owner never needs it; a password with an open chat is ignored
    await enter(alice, "general")
    assert (await enter(alice, "secret"))[0] == page("choice", "secret", [])
    bob.take()
    assert (await enter(bob, "open", "whatever it is"))[0] == page("choice", "open", [])


async def test_closed_chat_passwords_rate_limited(tmp_path: Path, template: Path) -> None:
    # one user: a burst of 4 password attempts; on one chat: a burst of 1, then one
    # every 10,000 s: the second wrong password on the chat is refused at once
    async with start(tmp_path, template, login_rate=0.001, login_burst=4) as parley:
        alice = await parley.user("alice", address="10.0.0.1")
        await alice.request(chat("create", Chat="secret", Password="open sesame"))
        bob = await parley.user("bob", address="10.0.0.2")
        assert await enter(bob, "secret", "guess 1") == [DENIED]
        limited = answer("chat", "choice", "rate limited")
        assert await enter(bob, "secret", "guess 2") == [limited]
        assert await enter(bob, "secret", "open sesame") == [limited]
        # without a password nothing is checked, nor limited
        assert await enter(bob, "secret") == [DENIED]


async def test_choice_after_and_earlier(parley: Parley) -> None:
    writer = await parley.user("writer")
    await writer.request(chat("create", Chat="log"))
    await fill(writer, 105)
    writer.take()
    reader = await parley.user("reader")

    def ids(frames: list[Frame], command: str) -> list[int]:
        assert frames[0]["Command"] == command, frames[0]
        assert frames[0]["Chat"] == "log"
        return [m["id"] for m in frames[0]["Messages"]]

    frames = await enter(reader, "log")
    assert dated(frames)[0]["Messages"][0] == msg(76, "writer", "m76")
    assert ids(frames, "choice") == list(range(76, 106))
    assert frames[1:] == [joined("log", "reader")]
    assert ids(await reader.request(chat("earlier")), "earlier") == list(range(46, 76))
    assert ids(await reader.request(chat("earlier")), "earlier") == list(range(16, 46))
    assert ids(await reader.request(chat("earlier")), "earlier") == list(range(1, 16))
    assert ids(await reader.request(chat("earlier")), "earlier") == []
    assert ids(await reader.request(chat("earlier", Before=10)), "earlier") == list(range(1, 10))
    # After: oldest first, at most 100
    assert ids(await reader.request(chat("choice", Chat="log", After=0)), "choice") == \
        list(range(1, 101))
    assert ids(await reader.request(chat("choice", Chat="log", After=100)), "choice") == \
        list(range(101, 106))
    assert ids(await reader.request(chat("choice", Chat="log", After=105)), "choice") == []
    # after a choice with After, earlier goes back from the first message of its answer
    await reader.request(chat("choice", Chat="log", After=62))
    assert ids(await reader.request(chat("earlier")), "earlier") == list(range(33, 63))


async def test_earlier_from_an_empty_chat_skips_live_messages(parley: Parley) -> None:
    writer = await parley.user("writer")
    await writer.request(chat("create", Chat="empty"))
    reader = await parley.user("reader")
    assert await enter(reader, "empty") == [page("choice", "empty", []), joined("empty", "reader")]
    await writer.request(chat("message", Text="live"))
    assert dated(reader.take()) == [live(1, "writer", "live")]
    assert await reader.ask(chat("earlier")) == page("earlier", "empty", [])


async def test_earlier_and_connected_need_a_chat(parley: Parley) -> None:
    conn = await parley.user("bob")
    for command in ("earlier", "connected", "message"):
        assert await conn.ask(chat(command, Text="x")) == answer(
            "chat", command, "error in chat or user")
    assert await conn.ask(chat("delete")) == answer("chat", "delete", "error in chat or user")


# -- delete ------------------------------------------------------------------------------------

async def test_delete_the_chosen_chat(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    carl = await parley.user("carl")
    dave = await parley.user("dave", list_changes=True)
    await alice.request(chat("create", Chat="pics & more"))
    await enter(bob, "pics & more")
    for c in (alice, bob, carl, dave):
        c.take()
    assert await alice.request(chat("delete")) == [
        answer("chat", "delete", "success", Chat="pics & more"), whole()]
    assert bob.take() == [answer("chat", "delete", "deleted", Chat="pics & more"), whole()]
    assert carl.take() == [whole()]
    assert dave.take() == [delta(removed=["pics & more"])]
    # the owner has no chat chosen now
    assert await alice.ask(chat("message", Text="x")) == answer(
        "chat", "message", "error in chat or user")
    # bob sits in a chat that no longer exists
    for frame in (chat("message", Text="anyone?"), chat("earlier"), chat("connected"),
                  chat("choice", Chat="pics & more")):
        assert await bob.ask(frame) == NO_CHAT, frame
    # the name is free again; the new chat does not let the old sockets in
    await alice.request(chat("create", Chat="pics & more"))
    bob.take()
    assert await bob.ask(chat("message", Text="anyone?")) == NO_CHAT
    assert await bob.ask(chat("delete")) == answer("chat", "delete", "error")
    await enter(bob, "pics & more")
    assert alice.take() == [joined("pics & more", "bob")]


async def test_delete_by_name_from_outside(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="mine"))
    await enter(bob, "mine")
    await enter(alice, "general")
    alice.take()
    bob.take()
    assert await alice.request(chat("delete", Chat="mine")) == [
        answer("chat", "delete", "success", Chat="mine"), whole()]
    assert bob.take() == [answer("chat", "delete", "deleted", Chat="mine"), whole()]
    assert alice.take() == []  # no Left for a deleted chat, and alice is still in general
    assert await alice.ask(chat("connected")) == chat("connected", Chat="general",
                                                      Online=["alice"])


async def test_delete_failures(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="mine"))
    await enter(bob, "mine")
    alice.take()
    refused = answer("chat", "delete", "error")
    for conn, frame in ((bob, chat("delete")), (bob, chat("delete", Chat="mine")),
                        (alice, chat("delete", Chat="general")),
                        (alice, chat("delete", Chat="no such chat"))):
        assert await conn.ask(frame) == refused, frame
    assert await bob.ask(chat("list")) == whole(info("mine", "alice"))


# -- membership ---------------------------------------------------------------------------------

async def test_create_refuses_a_name_equal_after_case_folding(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="team"))
    bob.take()
    # NFKC and case folding: "Team", "TEAM", "team" in fullwidth letters, "GENERAL"
    for name in ("Team", "TEAM", "\uff54\uff45\uff41\uff4d", "GENERAL", "team"):
        assert await bob.request(chat("create", Chat=name)) == [
            answer("chat", "create", "chat exist")], name
    assert bob.take() == []
    # choice by name stays exact
    assert await enter(bob, "Team") == [NO_CHAT]
    assert await enter(bob, "team") == [page("choice", "team", []), joined("team", "bob")]


async def test_leave(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="Team"))
    await enter(bob, "Team")
    await enter(bob, "general")
    alice.take()
    bob.take()
    # not in the chat now: the answer alone, nothing else changes
    assert await bob.request(chat("leave", Chat="Team")) == [
        answer("chat", "leave", "success", Chat="Team")]
    assert alice.take() == []
    assert await bob.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["bob"])
    # not a member: succeeds, changes nothing
    assert await bob.request(chat("leave", Chat="Team")) == [
        answer("chat", "leave", "success", Chat="Team")]
    # general may be left too, and the socket that had it chosen has no chat now
    assert await bob.request(chat("leave", Chat="general")) == [
        answer("chat", "leave", "success", Chat="general")]
    for command in ("connected", "earlier", "message"):
        assert await bob.ask(chat(command, Text="x")) == answer(
            "chat", command, "error in chat or user"), command
    # choosing it again makes a member again
    assert (await enter(bob, "general"))[0]["Command"] == "choice"


async def test_leave_the_chosen_chat_from_every_socket(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    bob2 = parley.connect()
    await bob2.request(account("login", Login="bob", Password=PASSWORD))
    bob3 = parley.connect()
    await bob3.request(account("login", Login="bob", Password=PASSWORD))
    await alice.request(chat("create", Chat="Team"))
    await enter(bob, "Team")
    await enter(bob2, "Team")
    await enter(bob3, "general")
    for c in (alice, bob, bob2, bob3):
        c.take()
    assert await bob.request(chat("leave", Chat="Team")) == [
        answer("chat", "leave", "success", Chat="Team")]
    # the other socket in the chat is out of it and told so; one elsewhere is not touched
    assert bob2.take() == [answer("chat", "leave", "left", Chat="Team")]
    assert bob3.take() == []
    assert alice.take() == [left("Team", "bob")]
    assert await alice.ask(chat("connected")) == chat("connected", Chat="Team",
                                                      Online=["alice"])
    for conn in (bob, bob2):
        assert await conn.ask(chat("message", Text="x")) == answer(
            "chat", "message", "error in chat or user")
    assert await bob3.ask(chat("connected")) == chat("connected", Chat="general",
                                                     Online=["bob"])


async def test_leave_a_closed_chat_needs_the_password_again(parley: Parley) -> None:
    alice = await parley.user("alice")
    bob = await parley.user("bob")
    await alice.request(chat("create", Chat="secret", Password="open sesame"))
    bob.take()
    assert (await enter(bob, "secret", "open sesame"))[0] == page("choice", "secret", [])
    assert await enter(bob, "secret") == [page("choice", "secret", [])]
    assert await bob.request(chat("leave", Chat="secret")) == [
        answer("chat", "leave", "success", Chat="secret")]
    assert await enter(bob, "secret") == [DENIED]
    assert (await enter(bob, "secret", "open sesame"))[0] == page("choice", "secret", [])
    # the owner never needs it, even after leaving
    alice.take()
    assert await alice.request(chat("leave", Chat="secret")) == [
        answer("chat", "leave", "success", Chat="secret")]
    assert (await enter(alice, "secret"))[0] == page("choice", "secret", [])


async def test_leave_failures(parley: Parley) -> None:
    anonymous = parley.connect()
    assert await anonymous.ask(chat("leave", Chat="general")) == answer(
        "chat", "leave", "error in chat or user")
    bob = await parley.user("bob")
    await enter(bob, "general")
    bob.take()
    assert await bob.ask(chat("leave", Chat="nope")) == NO_CHAT
    for fields, detail in (({}, "Chat name is required"), ({"Chat": ""}, "Chat name is required"),
                           ({"Chat": None}, "Chat name is required"),
                           ({"Chat": "x" * 65}, "Chat name must be at most 64 characters")):
        assert await bob.ask(chat("leave", **fields)) == answer(
            "chat", "leave", "error", Detail=detail), fields
    assert await bob.ask(chat("leave", Chat=5)) == {
        "Type": "error", "Status": "error in json file",
        "Detail": "Expected `str | null`, got `int` - at `$.Chat`"}
    # a failed leave leaves the socket where it was
    assert await bob.ask(chat("connected")) == chat("connected", Chat="general",
                                                    Online=["bob"])


# -- messages ----------------------------------------------------------------------------------

async def test_text_message(parley: Parley) -> None:
    amy = await parley.user("amy")
    ben = await parley.user("ben")
    outside = await parley.user("outside")
    await amy.request(chat("create", Chat="room"))
    await enter(ben, "room")
    for c in (amy, ben, outside):
        c.take()
    frames = await amy.request(chat("message", Text="Hey, there is somebody?"))
    assert dated(frames) == [live(1, "amy", "Hey, there is somebody?")]
    assert ben.take() == frames
    assert outside.take() == []
    # stored as sent, up to 4000 characters; unknown keys ignored
    for id_, text in enumerate(("  ", "я" * 4000, "a\u0001b"), start=2):
        sent = await amy.request(chat("message", Text=text, Colour="red",
                                      Message={"user": "someone else"}))
        assert dated(sent) == [live(id_, "amy", text)]
        assert ben.take() == sent


async def test_message_failures(parley: Parley) -> None:
    amy = await parley.user("amy")
    ben = await parley.user("ben")
    await amy.request(chat("create", Chat="room"))
    await enter(ben, "room")
    amy.take()
    for fields, detail in (
        ({}, "A message needs a non-empty Text or an Image"),
        ({"Text": ""}, "A message needs a non-empty Text or an Image"),
        ({"Text": "", "Image": ""}, "A message needs a non-empty Text or an Image"),
        ({"Text": "x" * 4001}, "Text must be at most 4000 characters"),
        ({"Text": "x", "Nonce": "n" * 65}, "Nonce must be 1 to 64 characters"),
        ({"Text": "x", "Nonce": ""}, "Nonce must be 1 to 64 characters"),
        ({"Text": "before\x00after"}, "A request may not contain the character U+0000"),
        ({"Text": "x", "Nonce": "\x00"}, "A request may not contain the character U+0000"),
    ):
        assert await amy.ask(chat("message", **fields)) == answer(
            "chat", "message", "error", Detail=detail), fields
    attach = answer("chat", "message", "failed to attach image")
    for fields in ({"Image": "WW91IGEgcGlkb3IK"}, {"Image": "WW91IGEgcGlkb3IK", "Text": "LOL"},
                   {"Image": "not base64 at all!"},
                   {"Image": "Qk3GAAAAAAAAADYAAAAoAAAA"}):
        assert await amy.ask(chat("message", **fields)) == attach, fields
    assert ben.take() == []
    # nothing was stored: the next message is the chat's first
    assert dated(await amy.request(chat("message", Text="first"))) == [live(1, "amy", "first")]


async def test_image_messages(parley: Parley) -> None:
    amy = await parley.user("amy")
    ben = await parley.user("ben")
    await amy.request(chat("create", Chat="pics & more"))
    await enter(ben, "pics & more")
    amy.take()
    png = f"/images/pics%20%26%20more/{md5(PNG)}.png"
    jpg = f"/images/pics%20%26%20more/{md5(JPEG)}.jpg"
    for fields, expected in (
        ({"Image": b64(PNG)}, live(1, "amy", image=png)),
        ({"Text": "LOL", "Image": "data:image/jpeg;base64," + b64(JPEG)},
         live(2, "amy", "LOL", jpg)),
        ({"Text": "just text", "Image": ""}, live(3, "amy", "just text")),
        ({"Image": b64(PNG)}, live(4, "amy", image=png)),  # the same picture, stored once
    ):
        sent = await amy.request(chat("message", **fields))
        assert dated(sent) == [expected], fields
        assert ben.take() == sent
    chat_dir = parley.service.ctx.settings.image_dir
    assert sorted(p.name for p in chat_dir.glob("*/*")) == sorted(
        [f"{md5(PNG)}.png", f"{md5(JPEG)}.jpg"])


async def test_nonce_retry(parley: Parley) -> None:
    amy = await parley.user("amy")
    ben = await parley.user("ben")
    await amy.request(chat("create", Chat="room"))
    await enter(ben, "room")
    amy.take()
    first = await amy.request(chat("message", Text="once", Nonce="k-1"))
    # the sender's own sockets get its nonce back, no one else does
    own = live(1, "amy", "once")
    own["Message"]["nonce"] = "k-1"
    assert dated(first) == [own]
    assert dated(ben.take()) == [live(1, "amy", "once")]
    # a retry, even with another text, gets the stored message, on this socket only
    assert await amy.request(chat("message", Text="twice?", Nonce="k-1")) == first
    assert ben.take() == []
    # per user, and per chat
    mine = live(2, "ben", "mine")
    mine["Message"]["nonce"] = "k-1"
    assert dated(await ben.request(chat("message", Text="mine", Nonce="k-1"))) == [mine]
    amy.take()
    await enter(amy, "general")
    here = live(1, "amy", "here")
    here["Message"]["nonce"] = "k-1"
    assert dated(await amy.request(chat("message", Text="here", Nonce="k-1"))) == [here]


async def test_messages_rate_limited(tmp_path: Path, template: Path) -> None:
    async with start(tmp_path, template, rate_limit=0.001, rate_burst=3) as parley:
        ana = await parley.user("ana")
        bob = await parley.user("bob")
        await ana.request(chat("create", Chat="room"))
        await enter(bob, "room")
        ana.take()
        await fill(ana, 3)
        assert dated(ana.take()) == [live(i, "ana", f"m{i}") for i in (1, 2, 3)]
        bob.take()
        assert await ana.ask(chat("message", Text="m4")) == answer(
            "chat", "message", "rate limited")
        assert bob.take() == []
        # per user
        sent = await bob.request(chat("message", Text="bob is not limited"))
        assert dated(sent) == [live(4, "bob", "bob is not limited")]


async def test_refusal_of_a_pipelined_message_comes_in_its_turn(
        tmp_path: Path, template: Path) -> None:
    """docs/protocol.md: everything a request causes on its own socket is queued before
    anything caused by the next request (the rate-limit example: m0, m1, m2, then
    ``rate limited``)."""
    async with start(tmp_path, template, rate_limit=0.001, rate_burst=3) as parley:
        ana = await parley.user("ana")
        await enter(ana, "general")
        ana.take()
        await fill(ana, 4)
        assert dated(ana.take()) == [
            *(live(i, "ana", f"m{i}") for i in (1, 2, 3)),
            answer("chat", "message", "rate limited")]


async def test_nul_refused_in_every_request(parley: Parley) -> None:
    conn = parley.connect()
    nul = "A request may not contain the character U+0000"
    assert await conn.ask(account("registration", Login="bob\x00", Password=PASSWORD)) == \
        answer("account", "registration", "error", Detail=nul)
    await register(conn, "bob")
    assert await conn.ask(chat("create", Chat="room\x00")) == answer(
        "chat", "create", "error", Detail=nul)
    # in an unknown key it is ignored with the key; an escaped backslash is no NUL
    assert (await conn.request(chat("create", Chat="room", Extra="\x00")))[0][
        "Status"] == "success"
    assert dated(await conn.request(chat("message", Text="a\\u0000b"))) == [
        live(1, "bob", "a\\u0000b")]


# -- frames that are not requests --------------------------------------------------------------

async def test_malformed_frames(parley: Parley) -> None:
    conn = await parley.user("zed")
    for frame, detail in (
        ("{not json", "malformed JSON: JSON is malformed: object keys must be strings (byte 1)"),
        ("", "malformed JSON: Input data was truncated"),
        ("[1, 2]", "a request must be a JSON object"),
        ("{}", "Object missing required field `Command`"),
        ('{"Type": "chat"}', "Object missing required field `Command`"),
        ('{"Type": "chat", "Command": "dance"}',
         "unknown Type/Command: Invalid value 'dance' - at `$.Command`"),
        ('{"Type": "weather", "Command": "list"}', "unknown Type/Command: 'weather'/'list'"),
        ('{"Type": "account", "Command": "message", "Text": "x"}',
         "unknown Type/Command: 'account'/'message'"),
        ('{"Type": "chat", "Command": "message", "Text": 5}',
         "Expected `str | null`, got `int` - at `$.Text`"),
        ('{"Type": "chat", "Command": "create", "Chat": 7}',
         "Expected `str | null`, got `int` - at `$.Chat`"),
        ('{"Type": "chat", "Command": "earlier", "Before": "x"}',
         "Expected `int | null`, got `str` - at `$.Before`"),
        ('{"Type": "chat", "Command": "choice", "Chat": "general", "After": -1}',
         "Expected `int` >= 0 - at `$.After`"),
    ):
        assert await conn.ask(frame) == answer("error", None, "error in json file",
                                               Detail=detail), frame
    # not UTF-8: the same answer
    reply = await conn.ask(b'{"Type": "chat", "Command": "create", "Chat": "\xff"}')
    assert {k: v for k, v in reply.items() if k != "Detail"} == answer(
        "error", None, "error in json file")
    # the socket is still open and logged in
    assert conn.closed == []
    assert await conn.ask(chat("list")) == whole()

