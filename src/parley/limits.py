"""Limits on what one address or one login may ask for: no I/O, the clock passed in.

- :class:`Throttle` slows password guessing and mass registration: each
  attempt takes a token from its address's bucket (and, for a failed login,
  from the login's bucket). With the bucket empty the attempt waits until a
  token comes back; when that wait would be longer than ``max_wait`` the
  attempt is refused at once (``rate limited``). Guessing is slowed to the
  refill rate, not merely counted.
- :class:`ConnectionCount` counts open sockets per address.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

#: buckets kept at most; the least recently used are forgotten first
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class Buckets:
    """Token buckets by key, ``rate`` a second up to ``burst``, in bounded memory."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refilled(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self.burst, now)
            if len(self._buckets) > MAX_KEYS:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0: now)."""
        bucket = self._refilled(key, now)
        return 0.0 if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / self.rate

    def take(self, key: str, now: float) -> None:
        """Spend a token (the balance may go below zero: later attempts wait longer)."""
        self._refilled(key, now).tokens -= 1.0


class Throttle:
    """Attempts per address and failed logins per login."""

    def __init__(self, rate: float, burst: float, *, max_wait: float = 5.0) -> None:
        self.per_address = Buckets(rate, burst)
        # Failed logins of one account: a tenth of the address rate, a quarter of its burst.
        self.per_login = Buckets(rate / 10, max(1.0, burst / 4))
        self.max_wait = max_wait

    def admit(self, address: str, login_key: str | None, now: float) -> float | None:
        """Take an attempt: the seconds it must wait first, or None to refuse it."""
        wait = self.per_address.wait(address, now)
        if login_key is not None:
            wait = max(wait, self.per_login.wait(login_key, now))
        if wait > self.max_wait:
            return None
        self.per_address.take(address, now)
        return wait

    def failed(self, login_key: str, now: float) -> None:
        """A wrong password for this login: its own bucket pays."""
        self.per_login.take(login_key, now)


class ConnectionCount:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def open(self, address: str) -> bool:
        """Count a new socket from ``address``; False (and not counted) over the limit."""
        count = self._open.get(address, 0)
        if self.limit and count >= self.limit:
            return False
        self._open[address] = count + 1
        return True

    def close(self, address: str) -> None:
        count = self._open.get(address, 0) - 1
        if count > 0:
            self._open[address] = count
        else:
            self._open.pop(address, None)
