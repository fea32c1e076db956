"""Limits on what one address or one user may ask for: no I/O, the clock passed in.

- :class:`Throttle` slows password guessing and mass registration. Every
  attempt takes a token from its *source*'s bucket (an address; for chat
  passwords, a user). An attempt on a *target* (an existing account; a closed
  chat) also takes one from the bucket of that source on that target, and, when
  that source has failed on that target recently, from the target's own bucket.
  Tokens are taken when the attempt is admitted, before its password is
  checked, so that concurrent attempts cannot all slip through; a right
  password gives them back. With a bucket empty the attempt waits until a token
  comes back; when that wait would be longer than ``max_wait`` the attempt is
  refused at once (``rate limited``) and takes nothing.
- :class:`ConnectionCount` counts open sockets per address.
- :class:`Spacing` lets one event per key through every so often and drops the
  rest (typing notices, per user per chat).

What :class:`Throttle` guarantees, for one target and any stretch of ``t``
seconds (``b`` and ``r`` are the target rate and burst: a quarter of the
source burst, a tenth of the source rate):

- a source checks at most ``b + r*t`` wrong passwords on the target;
- all sources together check at most ``b + r*t`` wrong passwords on the
  target, plus one for each source that had no recent failure on it (a source
  that fails is "recent" until its bucket on the target has refilled: at
  least ``1/r`` seconds);
- a source without a recent failure on the target is held back only by its
  own buckets: a right password from it is never refused because of others'
  guessing;
- memory: a bucket exists only once a token has been taken from it, is
  forgotten once it has refilled, and each kind is capped at ``max_keys``. The
  target and pair buckets never forget a bucket that has not refilled: when
  they are full of those, new attempts on other targets are refused instead.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

#: buckets kept at most, per kind
MAX_KEYS = 100_000


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class Buckets:
    """Token buckets by key, ``rate`` a second up to ``burst``, in bounded memory.

    A key has a bucket only after a token was taken from it (:meth:`wait` and
    :meth:`holds` only look), and a bucket that has refilled is forgotten. At
    most ``max_keys`` buckets are kept: over that, the least recently used one is
    forgotten (``evict``), or, without ``evict``, :meth:`take` of a new key fails.
    """

    def __init__(self, rate: float, burst: float, *, max_keys: int = MAX_KEYS,
                 evict: bool = True) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.evict = evict
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens(self, bucket: _Bucket, now: float) -> float:
        return min(self.burst, bucket.tokens + max(0.0, now - bucket.stamp) * self.rate)

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` has a token (0: now). Stores nothing."""
        bucket = self._buckets.get(key)
        tokens = self.burst if bucket is None else self._tokens(bucket, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate

    def holds(self, key: str, now: float) -> bool:
        """Whether ``key`` has spent tokens that have not come back yet. Stores nothing."""
        bucket = self._buckets.get(key)
        return bucket is not None and self._tokens(bucket, now) < self.burst

    def take(self, key: str, now: float) -> bool:
        """Spend a token (the balance may go below zero: later attempts wait longer).

        False, and nothing spent, only when ``key`` is new and the store is full
        of buckets that have not refilled and may not be forgotten."""
        bucket = self._buckets.get(key)
        if bucket is None:
            self._forget_refilled(now)
            if len(self._buckets) >= self.max_keys:
                if not self.evict:
                    return False
                self._buckets.popitem(last=False)
            bucket = self._buckets[key] = _Bucket(self.burst, now)
        else:
            bucket.tokens = self._tokens(bucket, now)
            bucket.stamp = now
            self._buckets.move_to_end(key)
        bucket.tokens -= 1.0
        return True

    def give(self, key: str, now: float) -> None:
        """Give a token back; a bucket full again is forgotten."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return
        bucket.tokens = self._tokens(bucket, now) + 1.0
        bucket.stamp = now
        if bucket.tokens >= self.burst:
            del self._buckets[key]

    def _forget_refilled(self, now: float) -> None:
        """Forget the least recently used buckets while they have refilled."""
        buckets = self._buckets
        while buckets:
            key, bucket = next(iter(buckets.items()))
            if self._tokens(bucket, now) < self.burst:
                return
            del buckets[key]


@dataclass(frozen=True)
class Attempt:
    """An admitted attempt: what it was charged to, and how long it must wait first."""

    source: str
    target: str | None
    #: the target's own bucket was charged (the source had failed on it recently)
    charged_target: bool
    wait: float


class Throttle:
    """Password attempts per source, per source on a target, and per target."""

    def __init__(self, rate: float, burst: float, *, max_wait: float = 5.0,
                 max_keys: int = MAX_KEYS) -> None:
        self.per_source = Buckets(rate, burst, max_keys=max_keys)
        # Wrong passwords on one target: a tenth of the source rate, a quarter of its burst.
        target_rate, target_burst = rate / 10, max(1.0, burst / 4)
        self.per_pair = Buckets(target_rate, target_burst, max_keys=max_keys, evict=False)
        self.per_target = Buckets(target_rate, target_burst, max_keys=max_keys, evict=False)
        self.max_wait = max_wait

    def admit(self, source: str, target: str | None, now: float) -> Attempt | None:
        """Charge an attempt of ``source`` (on ``target``, None: no target): the
        :class:`Attempt`, or None to refuse it (then nothing is charged)."""
        source = source_key(source)
        wait = self.per_source.wait(source, now)
        suspect = False
        pair = ""
        if target is not None:
            pair = f"{target}\n{source}"
            wait = max(wait, self.per_pair.wait(pair, now))
            suspect = self.per_pair.holds(pair, now)
            if suspect:
                wait = max(wait, self.per_target.wait(target, now))
        if wait > self.max_wait:
            return None
        if target is not None:
            if not self.per_pair.take(pair, now):
                return None
            if suspect and not self.per_target.take(target, now):
                self.per_pair.give(pair, now)
                return None
        self.per_source.take(source, now)
        return Attempt(source, target, suspect, wait)

    def succeeded(self, attempt: Attempt, now: float) -> None:
        """The password was right: the target's and the pair's tokens come back."""
        if attempt.target is not None:
            self.per_pair.give(f"{attempt.target}\n{attempt.source}", now)
            if attempt.charged_target:
                self.per_target.give(attempt.target, now)

    def unchecked(self, attempt: Attempt, now: float) -> None:
        """The password was never checked (the attempt was refused later): every token
        comes back."""
        self.succeeded(attempt, now)
        self.per_source.give(attempt.source, now)

    def __len__(self) -> int:
        """Buckets kept, of every kind."""
        return len(self.per_source) + len(self.per_pair) + len(self.per_target)


def source_key(address: str) -> str:
    """The key an address is limited by: an IPv6 address by its /64 (one host
    usually holds a whole /64); anything else as it is."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class ConnectionCount:
    """Open connections per address, at most ``limit`` each (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def open(self, address: str) -> bool:
        """Count a new connection from ``address``; False (and not counted) over the limit."""
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

    def by_address(self) -> dict[str, int]:
        """The open connections of every address that has any."""
        return dict(self._open)


class Spacing:
    """At most one event per key every ``interval`` seconds; the others are dropped.

    Memory: once the map has grown to twice its size after the last pruning (and at
    least ``prune_at``), the keys quiet for ``interval`` are forgotten, so it holds
    about twice the keys that had an event in the last interval, at a cost of O(1)
    per event on average."""

    def __init__(self, interval: float, *, prune_at: int = 1024) -> None:
        self.interval = interval
        #: key -> when its last event was let through
        self.stamps: dict[tuple[int, int], float] = {}
        self._floor = prune_at
        self._prune_at = prune_at

    def take(self, key: tuple[int, int], now: float) -> bool:
        """True: let this event through (and count it); False: drop it."""
        last = self.stamps.get(key)
        if last is not None and now - last < self.interval:
            return False
        self.stamps[key] = now
        if len(self.stamps) >= self._prune_at:
            self.stamps = {k: t for k, t in self.stamps.items() if now - t < self.interval}
            self._prune_at = max(self._floor, 2 * len(self.stamps))
        return True
