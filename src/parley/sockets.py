"""Every open socket of this process, and how many each address has open."""

from __future__ import annotations

from collections.abc import Iterator

from .limits import ConnectionCount
from .metrics import Metrics
from .peer import Peer


class Sockets:
    """The registry of this process's sockets, logged in or not.

    An address is counted from the upgrade request (:meth:`admit`) to the end of its
    socket (:meth:`let_go`), whether or not the handshake made a socket; a socket is
    registered from its first frame's reading (:meth:`opened`) to its end (:meth:`closed`).
    """

    def __init__(self, per_address: int, metrics: Metrics) -> None:
        self._open: set[Peer] = set()
        self._addresses = ConnectionCount(per_address)
        self._metrics = metrics

    def admit(self, address: str) -> bool:
        """Count a socket from ``address``; False (and not counted) over the limit."""
        return self._addresses.open(address)

    def let_go(self, address: str) -> None:
        """A socket :meth:`admit` counted is gone."""
        self._addresses.close(address)

    def opened(self, peer: Peer) -> None:
        self._open.add(peer)
        self._metrics.connections.inc()

    def closed(self, peer: Peer) -> None:
        if peer in self._open:
            self._open.discard(peer)
            self._metrics.connections.dec()

    def __contains__(self, peer: object) -> bool:
        return peer in self._open

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[Peer]:
        """The open sockets, as they are now (sockets may close meanwhile)."""
        return iter(list(self._open))
