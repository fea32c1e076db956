"""A small asyncio client of the Parley protocol, for tests, benchmarks and tools.

    async with await Client.connect("ws://127.0.0.1:8080/ws") as c:
        await c.register("alice", "correct horse")
        await c.choose("general")
        await c.say("hello")
        print(await c.recv())

:meth:`Client.recv` returns every frame in order, pushes included; the helper
methods send one request and return the next frame, which is its answer when
nothing else is in flight.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any

import aiohttp
import msgspec

Frame = dict[str, Any]

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


class Closed(Exception):
    """The server closed the socket; ``code`` is its close code."""

    def __init__(self, code: int | None) -> None:
        super().__init__(f"socket closed with code {code}")
        self.code = code


class Client:
    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse):
        self._session = session
        self.ws = ws
        #: set by a successful :meth:`register` or :meth:`login`
        self.user: str | None = None
        self.token: str | None = None
        #: the chat list that followed the last successful :meth:`login`
        self.chats: list[Frame] = []

    @classmethod
    async def connect(cls, url: str, *, max_msg_size: int = 64 * 1024 * 1024) -> Client:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(url, max_msg_size=max_msg_size, autoping=True)
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        await self.ws.close()
        await self._session.close()

    # -- frames -----------------------------------------------------------------------

    async def send(self, request: Frame) -> None:
        await self.ws.send_str(_encode(request).decode())

    async def send_raw(self, data: str | bytes) -> None:
        """Send a text frame (str) or a binary frame (bytes) exactly as given."""
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_str(data)

    async def recv(self, timeout: float = 10.0) -> Frame:
        """The next frame from the server, decoded; :class:`Closed` when the socket closes."""
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is aiohttp.WSMsgType.TEXT:
            frame = _decode(msg.data)
            assert isinstance(frame, dict), frame
            return frame
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                        aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            raise Closed(self.ws.close_code)
        raise AssertionError(f"unexpected frame {msg.type}: {msg.data!r}")

    async def request(self, request: Frame, timeout: float = 10.0) -> Frame:
        await self.send(request)
        return await self.recv(timeout)

    async def until(self, predicate: Any, timeout: float = 10.0) -> Frame:
        """Skip frames until one matches ``predicate``; return it."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.recv(timeout)
                if predicate(frame):
                    return frame

    async def silent(self, wait: float = 0.3) -> bool:
        """True when no frame arrives within ``wait`` seconds."""
        try:
            msg = await self.ws.receive(timeout=wait)
        except TimeoutError:
            return True
        raise AssertionError(f"expected silence, got {msg.type}: {msg.data!r}")

    # -- requests ----------------------------------------------------------------------

    async def register(self, login: str, password: str, *, list_changes: bool = False) -> Frame:
        """Register; with ``list_changes``, ask for the chat list's changes as deltas."""
        request: Frame = {
            "Type": "account", "Command": "registration", "Login": login, "Password": password}
        if list_changes:
            request["ListChanges"] = True
        answer = await self.request(request)
        if answer.get("Status") == "success":
            self.user, self.token = answer["User"], answer["Token"]
        return answer

    async def login(self, login: str | None = None, password: str | None = None, *,
                    token: str | None = None, list_changes: bool = False) -> Frame:
        """Log in; returns the answer (the chat list that follows success is read too,
        and kept in :attr:`chats`). With ``list_changes``, ask for the chat list's
        changes as deltas."""
        request: Frame = {"Type": "account", "Command": "login"}
        if list_changes:
            request["ListChanges"] = True
        if token is not None:
            request["Token"] = token
        else:
            request.update(Login=login, Password=password)
        answer = await self.request(request)
        if answer.get("Status") == "success":
            self.user, self.token = answer["User"], answer["Token"]
            self.chats = (await self.recv())["Chats"]
        return answer

    async def logout(self) -> Frame:
        return await self.request({"Type": "account", "Command": "logout"})

    async def create(self, chat: str, password: str | None = None) -> Frame:
        request: Frame = {"Type": "chat", "Command": "create", "Chat": chat}
        if password is not None:
            request["Password"] = password
        return await self.request(request)

    async def choose(self, chat: str, password: str | None = None,
                     after: int | None = None) -> Frame:
        request: Frame = {"Type": "chat", "Command": "choice", "Chat": chat}
        if password is not None:
            request["Password"] = password
        if after is not None:
            request["After"] = after
        return await self.request(request)

    async def say(self, text: str | None = None, image: str | None = None,
                  nonce: str | None = None) -> None:
        """Send a message; its broadcast arrives through :meth:`recv`."""
        request: Frame = {"Type": "chat", "Command": "message"}
        if text is not None:
            request["Text"] = text
        if image is not None:
            request["Image"] = image
        if nonce is not None:
            request["Nonce"] = nonce
        await self.send(request)
