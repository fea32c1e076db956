"""Prometheus metrics, in a registry of the app's own."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.connections = Gauge(
            "parley_connections", "Open WebSocket connections", registry=self.registry
        )
        self.messages_stored = Counter(
            "parley_messages_stored", "Messages stored", registry=self.registry
        )
        self.changes_stored = Counter(
            "parley_changes_stored", "Edits, removals and reactions stored",
            registry=self.registry
        )
        self.errors = Counter(
            "parley_errors", "Error answers by status", ["status"], registry=self.registry
        )
        self.slow_drops = Counter(
            "parley_slow_consumers_dropped", "Sockets closed for falling behind",
            registry=self.registry,
        )

    def count_deliveries(self, read: Callable[[], int]) -> None:
        """Expose ``parley_deliveries_total``, read from the hub's own counter at scrape time
        (the hot path adds to a plain int, not to a metric)."""
        self.registry.register(_Deliveries(read))

    def count_broker(self, read: Callable[[], tuple[Mapping[str, int], int]]) -> None:
        """Expose ``parley_broker_received_events_total{kind=...}`` and
        ``parley_broker_received_bytes_total``: what reached this process from the other
        processes' fan-out (Redis), which it decodes whether or not a socket of its
        wanted it (see :mod:`parley.redis_broker`); read at scrape time."""
        self.registry.register(_Received(read))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Deliveries(Collector):
    def __init__(self, read: Callable[[], int]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "parley_deliveries", "Frames pushed to sockets by broadcasts", value=self._read()
        )


class _Received(Collector):
    def __init__(self, read: Callable[[], tuple[Mapping[str, int], int]]) -> None:
        self._read = read

    def collect(self) -> Iterator[CounterMetricFamily]:
        kinds, size = self._read()
        events = CounterMetricFamily(
            "parley_broker_received_events", "Events received from the fan-out (Redis), by kind",
            labels=["kind"])
        for kind, count in sorted(kinds.items()):
            events.add_metric([kind], count)
        yield events
        yield CounterMetricFamily(
            "parley_broker_received_bytes", "Bytes of events received from the fan-out (Redis)",
            value=size)
