"""The HTTP edge: what a TCP connection must do to be served, before aiohttp sees it.

- :class:`Gate` makes the protocol of every accepted connection. It counts
  open TCP connections per address (every connection: page loads, health
  checks, sockets) and closes one over :func:`tcp_limit` at once, before
  reading anything: ``--max-connections-per-ip`` plus :data:`HEADROOM`, so that
  an address at its socket limit still loads pages and gets its ``429``.
  Connections from a trusted proxy are not counted here: they carry many
  clients, which only ``X-Forwarded-For`` tells apart (see
  :func:`client_address`).
- :class:`GatedHandler` gives a connection ``--head-timeout`` seconds to deliver
  its first request head, and aiohttp's keep-alive timeout (set to the same
  figure) closes it when the next head does not follow a response in time.
  A malformed request is logged as one line, not a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from .limits import ConnectionCount

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.lru_cache(maxsize=8)
def networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` as networks (a bare address is a /32 or /128).

    Raises ValueError for anything that is not an address or a network."""
    found = []
    for part in text.split(","):
        part = part.strip()
        if part:
            try:
                found.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network (CIDR): {part!r}") from None
    return tuple(found)


def parse_address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def within(address: Address | None, nets: tuple[Network, ...]) -> bool:
    return address is not None and any(address in net for net in nets)


def client_address(remote: str | None, forwarded_for: list[str], trusted: str) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the
    right-most ``X-Forwarded-For`` entry that is not itself a trusted proxy (entries
    further left were written by whoever the proxies talked to, and may be forged).
    With no such entry, or one that is not an address, the peer's address."""
    peer = remote or ""
    nets = networks(trusted)
    if not nets or not within(parse_address(peer), nets):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return peer
        if not within(address, nets):
            return str(address)
    return peer


def request_client(request: web.BaseRequest, trusted: str) -> str:
    """:func:`client_address` of a request."""
    return client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                          trusted)


def refusal(response: web.HTTPException) -> web.HTTPException:
    """The same answer, with ``Connection: close``: the connection ends with it."""
    response.force_close()
    return response


def allowed(request: web.BaseRequest, allow: str, trusted: str) -> bool:
    """Whether the client is inside ``allow`` (empty: everyone is)."""
    nets = networks(allow)
    return not nets or within(parse_address(request_client(request, trusted)), nets)


#: TCP connections one address may open beyond its WebSocket limit
HEADROOM = 16


def tcp_limit(max_sockets: int) -> int:
    """Open TCP connections allowed from one address (0: no limit)."""
    return max_sockets + HEADROOM if max_sockets > 0 else 0


class Gate:
    """The protocol factory of the listening socket: one :class:`GatedHandler` per
    connection, counted per address."""

    def __init__(self, server: web.Server, *, limit: int, head_timeout: float,
                 trusted: str = "") -> None:
        self.server = server
        self.limit = limit
        self.head_timeout = head_timeout
        self.trusted = networks(trusted)
        self.open = ConnectionCount(limit)
        self.refused = 0
        # The keyword arguments the runner gave its server (access log, keep-alive ...).
        self._kwargs: dict[str, Any] = dict(getattr(server, "_kwargs", {}))

    def __call__(self) -> GatedHandler:
        return GatedHandler(self, self.server, loop=asyncio.get_running_loop(), **self._kwargs)

    def admit(self, peer: str) -> bool:
        """Count a new connection from ``peer``; False (not counted) over the limit."""
        if not self.limit or (self.trusted and within(parse_address(peer), self.trusted)):
            return True
        if not self.open.open(peer):
            self.refused += 1
            return False
        return True

    def release(self, peer: str) -> None:
        self.open.close(peer)


def lean_supported() -> bool:
    """Whether this aiohttp lets :meth:`GatedHandler.hand_over` take a socket from it
    (it reads aiohttp's unread bytes past the request head, a private slot)."""
    return "_message_tail" in getattr(web.RequestHandler, "__slots__", ())


class GatedHandler(web.RequestHandler):
    __slots__ = ("_gate", "_head_handle", "_peer")

    def __init__(self, gate: Gate, server: web.Server, **kwargs: Any) -> None:
        super().__init__(server, **kwargs)
        self._gate = gate
        self._peer: str | None = None  # None: not admitted (or not yet)
        self._head_handle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._gate.admit(address):
            transport.close()
            return
        self._peer = address
        super().connection_made(transport)
        timeout = self._gate.head_timeout
        if timeout > 0:
            self._head_handle = self._loop.call_later(timeout, self._head_late)

    def hand_over(self) -> tuple[bytes, tuple[Gate, str] | None]:
        """The socket leaves aiohttp for another protocol (:mod:`parley.wsengine`):
        returns what aiohttp read past the request head, and this connection's
        count at the gate, now the new protocol's to release. aiohttp lets go of
        its objects for the connection and neither writes to it nor closes it."""
        tail = self._message_tail
        self._message_tail = b""
        counted = (self._gate, self._peer) if self._peer is not None else None
        self._peer = None
        if self._head_handle is not None:
            self._head_handle.cancel()
            self._head_handle = None
        self.transport = None
        web.RequestHandler.connection_lost(self, None)
        return tail, counted

    def _head_late(self) -> None:
        """The first request head did not arrive in time."""
        self._head_handle = None
        if self._request_count == 0 and self.transport is not None:
            self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._peer is None:
            return  # refused at the door: aiohttp never saw it
        self._gate.release(self._peer)
        self._peer = None
        if self._head_handle is not None:
            self._head_handle.cancel()
            self._head_handle = None
        super().connection_lost(exc)

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # Garbage on the port is the internet's weather, not a bug of ours: one line.
        self._malformed(exc)
        response = web.Response(status=status, text="bad request\n")
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kw: Any) -> None:
        exc = kw.get("exc_info")
        if isinstance(exc, HttpProcessingError):
            self._malformed(exc)
            return
        super().log_exception(*args, **kw)

    def _malformed(self, exc: HttpProcessingError) -> None:
        log.info("malformed HTTP request from %s: %s %.200r", self._peer or "?",
                 type(exc).__name__, str(exc.message))
