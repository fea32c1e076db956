"""A stateful property test: random sequences of protocol requests from four sockets
(three users, one of them with two tabs) against one real server, checked after
every step against a model of what each socket must have received.

The model predicts, for every step, the exact frames each socket gets: the answer
to the request, message broadcasts, presence deltas, chat lists and ``deleted``
notices. The actor's answer must come first on its socket, message broadcasts must
come in exactly the model's order on every socket (no loss, no duplicate, no
reordering, nothing from a chat the socket is not in), and the other pushes must
match as a multiset (a ``Left`` is published in the background, so its order
relative to a chat list in the same step is not part of the contract). A final
silence check at the end of every example catches frames nobody expected.

``activity`` pushes are left out of the model: they are coalesced by time (one
per chat and socket a second), so which of them arrive depends on the clock, not
on the steps. Every one that arrives is checked to be well formed and to come
from a user who may write in one of the machine's chats; their exact rules are
tested in ``tests/test_unread.py``.

Hypothesis drives the machine synchronously; the sockets live in an event loop of
their own in a thread, and every rule runs its coroutine there.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from conftest import FAST, ServerProcess
from loop_thread import LoopThread, run_machine
from parley.client import Client

PASSWORD = "correct horse"
SOCKETS = 4
USERS = 4
PAGE = 30
AFTER_PAGE = 100

Frame = dict[str, Any]


# -- the model ------------------------------------------------------------------------

@dataclass
class MChat:
    name: str
    owner: str
    password: str | None
    messages: list[tuple[int, str, str]] = field(default_factory=list)
    members: set[str] = field(default_factory=set)
    alive: bool = True


@dataclass
class MSocket:
    user: str | None = None
    token: str | None = None
    chat: str | None = None
    #: the chosen chat was deleted under this socket
    gone: bool = False
    #: where ``earlier`` without ``Before`` pages back from
    cursor: int | None = None


_examples = itertools.count(1)


def msg(message: tuple[int, str, str]) -> tuple[str, int, str, str]:
    return ("msg", *message)


class Expect:
    """The frames each socket should get in one step: the actor's answer first."""

    def __init__(self) -> None:
        self.frames: dict[int, list[Any]] = {i: [] for i in range(SOCKETS)}

    def add(self, sock: int, frame: Any) -> None:
        self.frames[sock].append(frame)


class ChatMachine(RuleBasedStateMachine):
    server: ServerProcess
    loop: LoopThread

    def __init__(self) -> None:
        super().__init__()
        n = next(_examples)
        self.prefix = f"s{n}x"
        self.logins = [f"{self.prefix}{c}" for c in "abcd"]
        self.registered: set[str] = set()
        #: token -> (login, still valid)
        self.tokens: dict[str, tuple[str, bool]] = {}
        self.chats: dict[str, MChat] = {}
        self.order: list[str] = []  # chat names in creation order
        self.socks = [MSocket() for _ in range(SOCKETS)]
        self.clients: list[Client] = self.loop.run(self._open())
        self.burst_counter = itertools.count()

    async def _open(self) -> list[Client]:
        return [await Client.connect(self.server.ws) for _ in range(SOCKETS)]

    # -- helpers of the model ----------------------------------------------------------

    def room(self, chat: str) -> list[int]:
        """Sockets that receive the chat's broadcasts."""
        if not self.chats[chat].alive:
            return []
        return [i for i, s in enumerate(self.socks) if s.chat == chat and not s.gone]

    def logged_in(self) -> list[int]:
        return [i for i, s in enumerate(self.socks) if s.user is not None]

    def chat_list(self) -> tuple[str, ...]:
        """The chat list as compared: this example's chats, in creation order."""
        return ("list", *(json.dumps([n, self.chats[n].password is not None,
                                      self.chats[n].owner])
                          for n in self.order if self.chats[n].alive))

    def leave(self, sock: int, expect: Expect) -> None:
        """``sock`` leaves its chat; ``Left`` to the room if its user's last socket."""
        s = self.socks[sock]
        chat = s.chat
        if chat is not None and not s.gone and self.chats[chat].alive:
            others = [i for i in self.room(chat) if i != sock]
            if not any(self.socks[i].user == s.user for i in others):
                for i in others:
                    expect.add(i, presence(chat, "Left", s.user))
        s.chat = None
        s.gone = False
        s.cursor = None

    def enter(self, sock: int, chat: str, expect: Expect) -> None:
        s = self.socks[sock]
        first = not any(self.socks[i].user == s.user for i in self.room(chat))
        s.chat = chat
        s.gone = False
        if first:
            for i in self.room(chat):
                expect.add(i, presence(chat, "Joined", s.user))

    def list_to_all(self, expect: Expect) -> None:
        for i in self.logged_in():
            expect.add(i, self.chat_list())

    # -- talking to the server -----------------------------------------------------------

    def step(self, sock: int, request: Frame, expect: Expect) -> Frame:
        """Send ``request`` from ``sock``, read what the model expects on every socket,
        and compare; the actor's answer as received."""
        return self.loop.run(self._step(sock, request, expect))  # type: ignore[no-any-return]

    async def _step(self, sock: int, request: Frame, expect: Expect) -> Frame:
        await self.clients[sock].send(request)
        got = await asyncio.gather(*(self._read(i, len(expect.frames[i]))
                                     for i in range(SOCKETS)))
        for i in range(SOCKETS):
            compare(i, got[i], expect.frames[i], request, actor=i == sock)
        return got[sock][0][1] if got[sock] else {}

    async def _read(self, sock: int, n: int) -> list[tuple[Any, Frame]]:
        frames = []
        while len(frames) < n:
            frame = await self.clients[sock].recv(timeout=10)
            if not self._activity(frame):
                frames.append((self.canon(frame), frame))
        return frames

    def _activity(self, frame: Frame) -> bool:
        """True for an ``activity`` push (left out of the model; see the docstring)."""
        if frame.get("Command") != "activity":
            return False
        assert sorted(frame) == ["Chat", "Command", "Id", "Mention", "Type", "User"], frame
        assert frame["Type"] == "chat", frame
        assert frame["User"] in self.logins, frame
        assert isinstance(frame["Id"], int), frame
        assert frame["Id"] >= 1, frame
        assert frame["Mention"] is False, frame  # the machine's texts mention no one
        return True

    async def _quiet(self, client: Client) -> None:
        """Nothing is left for ``client`` but activity pushes."""
        while True:
            try:
                frame = await client.recv(timeout=0.05)
            except TimeoutError:
                return
            assert self._activity(frame), f"expected silence, got {frame}"

    def canon(self, frame: Frame) -> Any:
        """A comparable form: messages as (id, user, text); tokens and dates left out;
        chat lists cut to this example's chats."""
        if frame.get("Command") == "message" and "Message" in frame:
            assert set(frame) == {"Type", "Command", "Message"}, frame
            return msg(message_tuple(frame["Message"]))
        if frame.get("Command") == "list" and "Chats" in frame:
            return ("list", *(json.dumps([c["name"], c["closed"], c["owner"]])
                              for c in frame["Chats"] if c["name"].startswith(self.prefix)))
        frame = dict(frame)
        if "Messages" in frame:
            frame["Messages"] = [list(message_tuple(m)) for m in frame["Messages"]]
        if "Token" in frame:
            frame["Token"] = "*"
        return json.dumps(frame, sort_keys=True)

    # -- rules ---------------------------------------------------------------------------

    @initialize(history=st.integers(0, 70))
    def everyone_in_one_chat(self, history: int) -> None:
        """Three users registered (the fourth is left to the rules), socket 1 a second
        tab of socket 0's user, all four sockets in one open chat, and ``history``
        messages in it already (so that pages of 30 and ``earlier`` have work)."""
        self.registration(0, 0)
        self.login(1, 0, False, 0)
        self.registration(2, 1)
        self.registration(3, 2)
        self.create(0, False)
        for sock in (1, 2, 3):
            self.choice(sock, 0, None, None)
        while history > 0:
            self.burst([0, 2, 3], min(history, 6))
            history -= 6

    @rule(sock=st.integers(0, SOCKETS - 1), who=st.integers(0, USERS - 1))
    def registration(self, sock: int, who: int) -> None:
        login = self.logins[who]
        e = Expect()
        request = {"Type": "account", "Command": "registration", "Login": login,
                   "Password": PASSWORD}
        if login in self.registered:
            e.add(sock, answer("account", "registration", "user exist"))
            self.step(sock, request, e)
            return
        self.leave(sock, e)
        e.frames[sock].insert(0, answer("account", "registration", "success", User=login,
                                        Token="*"))
        got = self.step(sock, request, e)
        self.registered.add(login)
        self.tokens[got["Token"]] = (login, True)
        self.socks[sock].user, self.socks[sock].token = login, got["Token"]

    @rule(sock=st.integers(0, SOCKETS - 1), who=st.integers(0, USERS - 1),
          by_token=st.booleans(), pick=st.integers(0, 50))
    def login(self, sock: int, who: int, by_token: bool, pick: int) -> None:
        login = self.logins[who]
        request: Frame = {"Type": "account", "Command": "login"}
        token = None
        if by_token:
            mine = [t for t, (owner, _) in self.tokens.items() if owner == login]
            token = mine[pick % len(mine)] if mine else "no-such-token"
            request["Token"] = token
            ok = token in self.tokens and self.tokens[token][1]
        else:
            request.update(Login=login, Password=PASSWORD)
            ok = login in self.registered
        e = Expect()
        if not ok:
            e.add(sock, answer("account", "login", "error"))
            self.step(sock, request, e)
            return
        self.leave(sock, e)
        e.frames[sock][:0] = [
            answer("account", "login", "success", User=login, Token="*"), self.chat_list()]
        got = self.step(sock, request, e)
        if token is not None:
            assert got["Token"] == token  # login by token does not renew it
        else:
            assert got["Token"] not in self.tokens  # a new one every time
        self.tokens[got["Token"]] = (login, True)
        self.socks[sock].user, self.socks[sock].token = login, got["Token"]

    @rule(sock=st.integers(0, SOCKETS - 1), back_in=st.booleans(), by_token=st.booleans(),
          pick=st.integers(0, 50))
    def logout(self, sock: int, back_in: bool, by_token: bool, pick: int) -> None:
        """Log out; with ``back_in``, log in again at once as the same user (by password,
        or by one of the user's tokens, which may be the one just revoked)."""
        s = self.socks[sock]
        login = s.user
        self._logout(sock)
        if back_in and login is not None:
            self.login(sock, self.logins.index(login), by_token, pick)

    def _logout(self, sock: int) -> None:
        s = self.socks[sock]
        e = Expect()
        request = {"Type": "account", "Command": "logout"}
        if s.user is None:
            e.add(sock, answer("account", "logout", "error"))
            self.step(sock, request, e)
            return
        e.add(sock, answer("account", "logout", "success"))
        self.leave(sock, e)
        # the other sockets on the same token are logged out with it
        for i, other in enumerate(self.socks):
            if i != sock and other.token == s.token:
                e.add(i, answer("account", "logout", "logged out"))
                self.leave(i, e)
                other.user = other.token = None
        self.step(sock, request, e)
        assert s.token is not None
        self.tokens[s.token] = (s.user, False)  # revoked, for every socket that uses it
        s.user = s.token = None

    @rule(sock=st.integers(0, SOCKETS - 1), closed=st.booleans())
    def create(self, sock: int, closed: bool) -> None:
        s = self.socks[sock]
        name = f"{self.prefix}chat{len(self.order)}"
        password = f"pw-{name}" if closed else None
        request: Frame = {"Type": "chat", "Command": "create", "Chat": name}
        if password:
            request["Password"] = password
        e = Expect()
        if s.user is None:
            e.add(sock, answer("chat", "create", "error in chat or user"))
            self.step(sock, request, e)
            return
        e.add(sock, answer("chat", "create", "success", Chat=name))
        self.leave(sock, e)
        self.chats[name] = MChat(name, s.user, password)
        self.order.append(name)
        self.list_to_all(e)
        self.enter(sock, name, e)
        s.cursor = 1
        self.step(sock, request, e)

    @rule(sock=st.integers(0, SOCKETS - 1), pick=st.integers(0, 50),
          password=st.sampled_from(["right", "wrong", None]),
          after=st.none() | st.integers(0, 80))
    def choice(self, sock: int, pick: int, password: str | None, after: int | None) -> None:
        if not self.order:
            return
        s = self.socks[sock]
        chat = self.chats[self.order[pick % len(self.order)]]
        request: Frame = {"Type": "chat", "Command": "choice", "Chat": chat.name}
        if password is not None:
            request["Password"] = f"pw-{chat.name}" if password == "right" else "nope"
        if after is not None:
            after = min(after, len(chat.messages))
            request["After"] = after
        e = Expect()
        if s.user is None:
            e.add(sock, answer("chat", "choice", "error in chat or user"))
        elif not chat.alive:
            e.add(sock, answer("chat", None, "error"))
        elif (chat.password is not None and chat.owner != s.user
              and s.user not in chat.members and password != "right"):
            e.add(sock, answer("chat", None, "access denied"))
        else:
            if chat.password is not None and chat.owner != s.user:
                chat.members.add(s.user)
            if after is None:
                page = chat.messages[-PAGE:]
            else:
                page = chat.messages[after:after + AFTER_PAGE]
            e.add(sock, page_answer("choice", chat.name, page))
            if s.chat != chat.name or s.gone:
                self.leave(sock, e)
                self.enter(sock, chat.name, e)
            newest = len(chat.messages) if after is None else after
            s.cursor = page[0][0] if page else newest + 1
        self.step(sock, request, e)

    @rule(sock=st.integers(0, SOCKETS - 1), pick=st.integers(0, 50),
          password=st.sampled_from(["right", "wrong", None]),
          after=st.none() | st.integers(0, 80))
    def another_choice(self, sock: int, pick: int, password: str | None,
                       after: int | None) -> None:
        self.choice(sock, pick, password, after)

    @rule(sock=st.integers(0, SOCKETS - 1), count=st.integers(1, 8))
    def message(self, sock: int, count: int) -> None:
        s = self.socks[sock]
        for _ in range(count):
            e = Expect()
            text = f"{self.prefix} m{next(self.burst_counter)}"
            request = {"Type": "chat", "Command": "message", "Text": text}
            if s.user is None or s.chat is None:
                e.add(sock, answer("chat", "message", "error in chat or user"))
            elif s.gone:
                e.add(sock, answer("chat", None, "error"))
            else:
                chat = self.chats[s.chat]
                stored = (len(chat.messages) + 1, s.user, text)
                chat.messages.append(stored)
                e.add(sock, msg(stored))
                for i in self.room(chat.name):
                    if i != sock:
                        e.add(i, msg(stored))
            self.step(sock, request, e)

    @rule(sock=st.integers(0, SOCKETS - 1), count=st.integers(1, 8))
    def another_message(self, sock: int, count: int) -> None:
        """The same as :meth:`message`: messages are the point, so twice the weight."""
        self.message(sock, count)

    @rule(senders=st.lists(st.integers(0, SOCKETS - 1), min_size=2, max_size=4, unique=True),
          count=st.integers(1, 6))
    def burst(self, senders: list[int], count: int) -> None:
        """Several sockets send at once without waiting: the server picks the order, and
        every socket of a chat must see that same order, each sender's messages in the
        order it sent them, ids consecutive."""
        able = [i for i in senders if self.socks[i].chat is not None
                and self.socks[i].user is not None and not self.socks[i].gone]
        if not able:
            return
        texts = {i: [f"{self.prefix} b{next(self.burst_counter)}" for _ in range(count)]
                 for i in able}
        sent: dict[str, list[tuple[str, str]]] = {}
        for i in able:
            s = self.socks[i]
            assert s.chat is not None
            assert s.user is not None
            sent.setdefault(s.chat, []).extend((s.user, t) for t in texts[i])
        self.loop.run(self._burst(able, texts, sent))

    async def _burst(self, able: list[int], texts: dict[int, list[str]],
                     sent: dict[str, list[tuple[str, str]]]) -> None:
        async def send(i: int) -> None:
            for text in texts[i]:
                await self.clients[i].say(text)

        await asyncio.gather(*(send(i) for i in able))
        for chat_name, messages in sent.items():
            chat = self.chats[chat_name]
            room = self.room(chat_name)
            got = await asyncio.gather(*(self._read(i, len(messages)) for i in room))
            seen = [[c for c, _ in frames] for frames in got]
            first = seen[0]
            assert all(x == first for x in seen), "sockets of one chat disagree on order"
            start = len(chat.messages) + 1
            assert [c[0] for c in first] == ["msg"] * len(messages), first
            assert [c[1] for c in first] == list(range(start, start + len(messages))), first
            assert sorted((c[2], c[3]) for c in first) == sorted(messages)
            for i in able:
                mine = [c[3] for c in first if c[3] in texts[i]]
                if mine:
                    assert mine == texts[i], "a sender's messages out of order"
            chat.messages.extend((c[1], c[2], c[3]) for c in first)

    @rule(sock=st.integers(0, SOCKETS - 1), before=st.none() | st.integers(1, 90))
    def earlier(self, sock: int, before: int | None) -> None:
        s = self.socks[sock]
        request: Frame = {"Type": "chat", "Command": "earlier"}
        if before is not None:
            request["Before"] = before
        e = Expect()
        if s.user is None or s.chat is None:
            e.add(sock, answer("chat", "earlier", "error in chat or user"))
        elif s.gone:
            e.add(sock, answer("chat", None, "error"))
        else:
            chat = self.chats[s.chat]
            limit = before if before is not None else s.cursor
            assert limit is not None
            page = [m for m in chat.messages if m[0] < limit][-PAGE:]
            if page and (s.cursor is None or page[0][0] < s.cursor):
                s.cursor = page[0][0]
            e.add(sock, page_answer("earlier", chat.name, page))
        self.step(sock, request, e)

    @rule(sock=st.integers(0, SOCKETS - 1), pick=st.none() | st.integers(0, 50))
    def delete(self, sock: int, pick: int | None) -> None:
        s = self.socks[sock]
        request: Frame = {"Type": "chat", "Command": "delete"}
        e = Expect()
        if pick is not None and self.order:
            target: str | None = self.order[pick % len(self.order)]
            request["Chat"] = target
        else:
            target = s.chat
        if s.user is None or target is None:
            e.add(sock, answer("chat", "delete", "error in chat or user"))
            self.step(sock, request, e)
            return
        chat = self.chats[target]
        if not chat.alive or chat.owner != s.user:
            e.add(sock, answer("chat", "delete", "error"))
            self.step(sock, request, e)
            return
        e.add(sock, answer("chat", "delete", "success", Chat=chat.name))
        room = self.room(chat.name)
        chat.alive = False
        for i in room:
            if i != sock:
                e.add(i, answer("chat", "delete", "deleted", Chat=chat.name))
                self.socks[i].gone = True
        if s.chat == chat.name:
            s.chat, s.gone, s.cursor = None, False, None
        self.list_to_all(e)
        self.step(sock, request, e)

    @invariant()
    def ids_are_consecutive(self) -> None:
        for chat in self.chats.values():
            assert [m[0] for m in chat.messages] == list(range(1, len(chat.messages) + 1))

    def teardown(self) -> None:
        try:
            for client in self.clients:
                self.loop.run(self._quiet(client))  # nothing unexpected is left
            self.loop.run(self._check_stored())
        finally:
            for client in self.clients:
                self.loop.run(client.close())

    async def _check_stored(self) -> None:
        """The database holds exactly the model's messages of the chats still alive."""
        for chat in self.chats.values():
            if chat.alive:
                assert await self.server.texts(chat.name) == [m[2] for m in chat.messages]


def answer(type_: str, command: str | None, status: str, **extra: Any) -> str:
    frame: Frame = {"Type": type_, "Status": status, **extra}
    if command is not None:
        frame["Command"] = command
    return json.dumps(frame, sort_keys=True)


def page_answer(command: str, chat: str, page: list[tuple[int, str, str]]) -> str:
    frame: Frame = {"Type": "chat", "Command": command, "Chat": chat,
                    "Messages": [list(m) for m in page]}
    if command == "choice":
        frame["Change"] = 0  # (nothing here is ever changed)
    return json.dumps(frame, sort_keys=True)


def presence(chat: str, kind: str, login: str | None) -> str:
    return json.dumps({"Type": "chat", "Command": "connected", "Chat": chat, kind: login},
                      sort_keys=True)


def message_tuple(message: Frame) -> tuple[int, str, str]:
    assert set(message) == {"id", "user", "date", "text"}, message
    return (message["id"], message["user"], message["text"])


def compare(sock: int, got: list[tuple[Any, Frame]], expected: list[Any],
            request: Frame, *, actor: bool) -> None:
    """The actor's answer first; messages in exactly the expected order; other pushes
    as a multiset (presence deltas are paced, so they may come after a chat list)."""
    canon = [c for c, _ in got]
    where = f"socket {sock} after {request}"
    if actor and expected and canon[:1] != expected[:1]:
        raise AssertionError(f"{where}: first frame {canon[:1]}, expected {expected[:1]}")
    got_messages = [c for c in canon if isinstance(c, tuple) and c[0] == "msg"]
    want_messages = [c for c in expected if isinstance(c, tuple) and c[0] == "msg"]
    assert got_messages == want_messages, f"{where}: messages"
    others = Counter(c for c in canon if not (isinstance(c, tuple) and c[0] == "msg"))
    want_others = Counter(c for c in expected if not (isinstance(c, tuple) and c[0] == "msg"))
    assert others == want_others, f"{where}: pushes"


@pytest.fixture(scope="module")
def stateful_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("stateful"), *FAST).start()
    yield proc
    assert proc.stop() == 0


def test_random_sessions_match_the_model(stateful_server: ServerProcess) -> None:
    run_machine(ChatMachine, stateful_server, examples=25, steps=30)
