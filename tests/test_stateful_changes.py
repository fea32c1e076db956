"""A stateful property test of edits, removals, reactions, replies and resuming:
random sequences of them from four sockets (three users, the chat's owner with two
tabs) in one chat of a real server, against the model in ``tests/stateful_model.py``.

After every step each socket must have received exactly the model's frames: the
broadcast of a change (or of a message) on every socket in the chat, the requester's
included, and a refusal on the requester's alone. Presence, chat lists and activity
pushes are left out (``tests/test_stateful.py`` models them). Every socket keeps its
view of the chat (messages by id, as the frames it received left them), and the view
must equal the model's messages after every step. A ``reconnect`` drops a socket while
others change things, then comes back: token login, ``choice`` with ``After`` and
``Changes`` (asking again while ``More``), and its resumed view equals the model.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from changes_kit import undated
from conftest import FAST, PASSWORD, ServerProcess
from loop_thread import LoopThread, run_machine
from parley.client import Client
from stateful_model import Frame, MChat, chat

#: socket -> the user (index in ``logins``): the owner has sockets 0 and 3
USER_OF = (0, 1, 2, 0)
SOCKETS = len(USER_OF)
#: pushes this machine does not model
NOISE = ("connected", "list", "activity")
EMOJI = ("👍", "🎉", "❤\ufe0f", "👍🏽", "x1")

_examples = itertools.count(1)
picks = st.integers(0, 1000)
away_op = st.tuples(st.sampled_from(["send", "edit", "remove", "react"]),
                    st.integers(0, SOCKETS - 1), picks, st.sampled_from(EMOJI))


class ChangesMachine(RuleBasedStateMachine):
    server: ServerProcess
    loop: LoopThread

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"c{next(_examples)}x"
        self.logins = [f"{self.prefix}{c}" for c in "abc"]
        self.model = MChat(f"{self.prefix}room", self.logins[0])
        self.texts = itertools.count()
        self.clients: list[Client] = []
        self.tokens: list[str] = []
        #: what each socket knows of the chat: message objects by id, dates undated
        self.views: list[dict[int, Frame]] = [{} for _ in range(SOCKETS)]

    def user(self, sock: int) -> str:
        return self.logins[USER_OF[sock]]

    # -- talking to the server -----------------------------------------------------------

    async def _read(self, sock: int, n: int) -> list[Frame]:
        """The next ``n`` frames of ``sock`` the model is about, dates undated."""
        frames = []
        while len(frames) < n:
            frame = await self.clients[sock].recv(timeout=10)
            if frame.get("Command") not in NOISE:
                frames.append(undated(frame))
        return frames

    def step(self, sock: int, request: Frame, result: tuple[Frame, bool],
             present: list[int]) -> None:
        """Send ``request`` from ``sock``; ``result``'s frame must reach every socket of
        ``present`` (when it is a broadcast) or ``sock`` alone (a refusal)."""
        frame, to_all = result
        receivers = present if to_all else [sock]
        got = self.loop.run(self._step(sock, request, receivers))
        for i, frames in zip(receivers, got, strict=True):
            [one] = frames
            if frame.get("Status") == "error":
                assert isinstance(one.pop("Detail"), str), one
            assert one == frame, f"socket {i} after {request}: {one}, expected {frame}"
            if to_all:
                self.apply(i, one)

    async def _step(self, sock: int, request: Frame, receivers: list[int]) -> list[Any]:
        await self.clients[sock].send(request)
        return list(await asyncio.gather(*(self._read(i, 1) for i in receivers)))

    def apply(self, sock: int, frame: Frame) -> None:
        """A broadcast as a client applies it to its view."""
        view = self.views[sock]
        command = frame["Command"]
        if command in ("message", "edit"):
            view[frame["Message"]["id"]] = frame["Message"]
        elif command == "remove":
            old = view[frame["Id"]]
            view[frame["Id"]] = {"id": old["id"], "user": old["user"], "date": "DATE",
                                 "removed": True}
        else:
            assert command == "react", frame
            shown = {k: v for k, v in view[frame["Id"]].items() if k != "reactions"}
            view[frame["Id"]] = {**shown, **({"reactions": frame["Reactions"]}
                                             if frame["Reactions"] else {})}

    def act(self, kind: str, sock: int, pick: int, emoji: str, present: list[int]) -> None:
        """One request of ``kind`` from ``sock`` about the message ``pick`` chooses."""
        user, m = self.user(sock), self.model.get(pick)
        text = f"{self.prefix} t{next(self.texts)}"
        if kind == "send":
            reply = None if pick % 3 == 0 else m  # (some plain messages too)
            request = chat("message", Text=text,
                           **({} if reply is None else {"Reply": reply.id}))
            self.step(sock, request, self.model.send(user, text, reply), present)
            return
        assert m is not None  # (the machine starts with messages)
        if kind == "edit":
            self.step(sock, chat("edit", Id=m.id, Text=text), self.model.edit(user, m, text),
                      present)
        elif kind == "remove":
            self.step(sock, chat("remove", Id=m.id), self.model.remove(user, m), present)
        else:
            self.step(sock, chat("react", Id=m.id, Emoji=emoji),
                      self.model.react(user, m, emoji), present)

    # -- rules ---------------------------------------------------------------------------

    @initialize()
    def everyone_in_one_chat(self) -> None:
        self.loop.run(self._setup())
        for n in range(3):
            self.act("send", n, 0, "", list(range(SOCKETS)))  # (pick 0: no reply)

    async def _setup(self) -> None:
        self.clients = [await Client.connect(self.server.ws) for _ in range(SOCKETS)]
        for n in range(3):
            answer = await self.clients[n].register(self.logins[n], PASSWORD)
            assert answer["Status"] == "success", answer
        assert (await self.clients[3].login(self.logins[0], PASSWORD))["Status"] == "success"
        self.tokens = [c.token or "" for c in self.clients]
        await self.clients[0].send(chat("create", Chat=self.model.name))
        assert await self._read(0, 1) == [chat("create", Status="success",
                                               Chat=self.model.name)]
        for sock in (1, 2, 3):
            await self.clients[sock].send(chat("choice", Chat=self.model.name))
            assert await self._read(sock, 1) == [chat("choice", Chat=self.model.name,
                                                      Messages=[], Change=0)]

    @rule(sock=st.integers(0, SOCKETS - 1), pick=picks)
    def send(self, sock: int, pick: int) -> None:
        """A message, or a reply (to a removed one: ``not found``, nothing stored)."""
        self.act("send", sock, pick, "", list(range(SOCKETS)))

    @rule(sock=st.integers(0, SOCKETS - 1), pick=picks)
    def edit(self, sock: int, pick: int) -> None:
        self.act("edit", sock, pick, "", list(range(SOCKETS)))

    @rule(sock=st.integers(0, SOCKETS - 1), pick=picks)
    def remove(self, sock: int, pick: int) -> None:
        self.act("remove", sock, pick, "", list(range(SOCKETS)))

    @rule(sock=st.integers(0, SOCKETS - 1), pick=picks, emoji=st.sampled_from(EMOJI))
    def react(self, sock: int, pick: int, emoji: str) -> None:
        self.act("react", sock, pick, emoji, list(range(SOCKETS)))

    @rule(sock=st.integers(0, SOCKETS - 1), meanwhile=st.lists(away_op, max_size=6))
    def reconnect(self, sock: int, meanwhile: list[tuple[str, int, int, str]]) -> None:
        """``sock`` drops; the others act meanwhile; it comes back and resumes."""
        after, changes = len(self.model.messages), self.model.change
        self.loop.run(self.clients[sock].close())
        present = [i for i in range(SOCKETS) if i != sock]
        for kind, actor, pick, emoji in meanwhile:
            if actor != sock:
                self.act(kind, actor, pick, emoji, present)
        self.loop.run(self._resume(sock, after, changes))

    async def _resume(self, sock: int, after: int, changes: int) -> None:
        client = self.clients[sock] = await Client.connect(self.server.ws)
        assert (await client.login(token=self.tokens[sock]))["Status"] == "success"
        expected = self.model.resumed(after, changes)
        while True:
            await client.send(chat("choice", Chat=self.model.name, After=after,
                                   Changes=changes))
            [answer] = await self._read(sock, 1)
            more = answer.pop("More", False)
            if not more:
                assert answer == expected
            view = self.views[sock]
            for m in [*answer["Messages"], *answer["Changed"]]:
                view[m["id"]] = m
            changes = answer["Change"]
            if not more:
                return

    @invariant()
    def every_view_is_the_model(self) -> None:
        """Each socket's view is the model's messages (a reply as its id: the quoted
        original as it was when the reply came; history shows it as it is now, which
        :meth:`_check_stored` compares)."""
        if self.model.messages:
            want = bare({m.id: self.model.shown(m) for m in self.model.messages})
            for sock in range(SOCKETS):
                assert bare(self.views[sock]) == want, f"socket {sock}"

    def teardown(self) -> None:
        try:
            for client in self.clients:
                self.loop.run(self._quiet(client))
            self.loop.run(self._check_stored())
        finally:
            for client in self.clients:
                self.loop.run(client.close())

    async def _quiet(self, client: Client) -> None:
        """Nothing is left for ``client`` but pushes the model leaves out."""
        while True:
            try:
                frame = await client.recv(timeout=0.05)
            except TimeoutError:
                return
            assert frame.get("Command") in NOISE, f"expected silence, got {frame}"

    async def _check_stored(self) -> None:
        """History shows exactly the model's messages, replies quoting the originals as
        they are now; the database holds their texts (a removed message's: none)."""
        if not self.model.messages:
            return
        await self.clients[0].send(chat("choice", Chat=self.model.name, After=0))
        [history] = await self._read(0, 1)
        assert history == chat("choice", Chat=self.model.name, Change=self.model.change,
                               Messages=[self.model.shown(m) for m in self.model.messages])
        assert await self.server.texts(self.model.name) == [
            None if m.removed else m.text for m in self.model.messages]


def bare(view: dict[int, Frame]) -> dict[int, Frame]:
    return {i: {**m, "reply": {"id": m["reply"]["id"]}} if "reply" in m else m
            for i, m in view.items()}


@pytest.fixture(scope="module")
def changes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("stateful_changes"), *FAST).start()
    yield proc
    assert proc.stop() == 0


def test_random_changes_match_the_model(changes_server: ServerProcess) -> None:
    run_machine(ChangesMachine, changes_server, examples=20, steps=25)
