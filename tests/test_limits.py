"""Per-address and per-user limits: connections, chats owned, password attempts."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from conftest import PASSWORD, Connect, MakeServer, unique, user
from parley.client import Client
from parley.limits import Buckets, ConnectionCount, Throttle


async def test_connections_per_address(make_server: MakeServer, connect: Connect) -> None:
    proc = make_server("--max-connections-per-ip", "3")
    held = [await connect(proc.ws) for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await Client.connect(proc.ws)
    assert refused.value.status == 429
    # a closed socket frees its place
    await held[0].close()
    for _ in range(50):
        try:
            again = await Client.connect(proc.ws)
            break
        except aiohttp.WSServerHandshakeError:
            await asyncio.sleep(0.05)
    else:
        raise AssertionError("the freed place was not given back")
    try:
        assert (await again.request({"Type": "chat", "Command": "list"}))["Status"] == \
            "error in chat or user"
    finally:
        await again.close()


async def test_chats_owned_per_user(make_server: MakeServer, connect: Connect) -> None:
    proc = make_server("--max-chats-per-user", "2")
    owner = await user(connect, proc.ws)
    names = [unique("room") for _ in range(3)]
    for name in names[:2]:
        assert (await owner.create(name))["Status"] == "success"
        await owner.until(lambda f: f.get("Joined") == owner.user)
    assert await owner.create(names[2]) == {
        "Type": "chat", "Command": "create", "Status": "error",
        "Detail": "You may own at most 2 chats"}
    # deleting one makes room for another
    assert (await owner.request(
        {"Type": "chat", "Command": "delete", "Chat": names[0]}))["Status"] == "success"
    await owner.until(lambda f: f.get("Command") == "list")
    assert (await owner.create(names[2]))["Status"] == "success"


async def test_password_guessing_of_one_account_is_refused(make_server: MakeServer,
                                                            connect: Connect) -> None:
    # failed logins of one account: a tenth of --login-rate, a quarter of --login-burst
    proc = make_server("--login-rate", "0.5", "--login-burst", "8")
    victim = await user(connect, proc.ws)
    guesser = await connect(proc.ws)
    failed = {"Type": "account", "Command": "login", "Status": "error"}
    assert await guesser.login(victim.user, "guess one") == failed
    assert await guesser.login(victim.user, "guess two") == failed
    # the account's bucket is empty and refills one guess per 20 s: refused at once
    assert await guesser.login(victim.user, "guess three") == {
        "Type": "account", "Command": "login", "Status": "rate limited"}
    assert (await guesser.login(victim.user.upper(), PASSWORD))["Status"] == "rate limited"
    # other accounts are not held back by it
    other = await user(connect, proc.ws)
    assert (await guesser.login(other.user, PASSWORD))["Status"] == "success"


@pytest.mark.timing
async def test_attempts_from_one_address_are_slowed_then_refused(
    make_server: MakeServer, connect: Connect
) -> None:
    # one attempt at once, then one every 4 s; an attempt waits at most 5 s
    proc = make_server("--login-rate", "0.25", "--login-burst", "1")
    first = await connect(proc.ws)
    started = time.monotonic()  # before the first attempt took the one token
    assert (await first.register(unique(), PASSWORD))["Status"] == "success"
    # three more at once, from three sockets of the same address: the first of them
    # waits for the next token (4 s after the first attempt); the others would wait
    # 8 s and 12 s: refused (as long as they come within 3 s of the first attempt)
    others = [await connect(proc.ws) for _ in range(3)]
    answers = await asyncio.gather(*(c.register(unique(), PASSWORD) for c in others))
    statuses = sorted(a["Status"] for a in answers)
    assert statuses == ["rate limited", "rate limited", "success"]
    waited = time.monotonic() - started  # seconds
    # the one let in waited for its token, due 4 s after the first attempt
    assert waited >= 3.5, f"let in {waited:.2f} s after the first attempt (at least 3.5 s)"
    for answer in answers:
        if answer["Status"] == "rate limited":
            assert answer == {"Type": "account", "Command": "registration",
                              "Status": "rate limited"}


def test_buckets_refill_and_forget() -> None:
    buckets = Buckets(rate=2.0, burst=3.0)
    for _ in range(3):
        assert buckets.wait("a", 0.0) == 0.0
        buckets.take("a", 0.0)
    assert buckets.wait("a", 0.0) == pytest.approx(0.5)
    assert buckets.wait("a", 0.5) == 0.0
    assert buckets.wait("b", 0.0) == 0.0  # keys are independent


def test_throttle_waits_then_refuses() -> None:
    throttle = Throttle(rate=1.0, burst=1.0, max_wait=2.0)

    def wait(source: str) -> float | None:
        attempt = throttle.admit(source, None, 0.0)
        return None if attempt is None else attempt.wait

    assert wait("ip") == 0.0
    assert wait("ip") == pytest.approx(1.0)
    assert wait("ip") == pytest.approx(2.0)
    assert wait("ip") is None  # 3 s away: refused, not counted
    assert wait("other ip") == 0.0


def test_a_peek_or_a_refused_attempt_stores_nothing() -> None:
    buckets = Buckets(rate=1.0, burst=2.0)
    assert buckets.wait("x" * 1_000_000, 0.0) == 0.0
    assert buckets.holds("x" * 1_000_000, 0.0) is False
    assert len(buckets) == 0
    throttle = Throttle(rate=1.0, burst=1.0, max_wait=0.5)
    assert throttle.admit("ip", None, 0.0) is not None
    assert len(throttle) == 1
    # the address's bucket is empty: every further attempt is refused and leaves nothing
    for n in range(1000):
        assert throttle.admit("ip", f"account {n}", 0.0) is None
    assert len(throttle) == 1


def test_refilled_buckets_are_forgotten() -> None:
    buckets = Buckets(rate=1.0, burst=2.0)
    buckets.take("a", 0.0)
    buckets.take("b", 0.5)
    assert len(buckets) == 2
    # at 1.0 "a" is full again; "b" is not yet: a new key makes room by forgetting "a"
    buckets.take("c", 1.0)
    assert len(buckets) == 2
    assert buckets.holds("a", 1.0) is False
    assert buckets.holds("b", 1.0) is True
    # a token given back that fills a bucket forgets it
    buckets.give("c", 1.0)
    assert len(buckets) == 1


def test_wrong_passwords_are_charged_at_admission() -> None:
    # 30 guesses of one account admitted before any of them is checked: the pair
    # (address, account) allows a quarter of the burst
    throttle = Throttle(rate=1.0, burst=20.0, max_wait=5.0)
    admitted = [a for a in (throttle.admit("guesser", "7", 0.0) for _ in range(30)) if a]
    assert len(admitted) == 5
    # from a second address the account's own bucket (5, spent 4) lets one more in
    assert throttle.admit("second", "7", 0.0) is not None  # its first: no failure yet
    assert throttle.admit("second", "7", 0.0) is not None  # the account's last token
    assert throttle.admit("second", "7", 0.0) is None
    # a third, clean address is held back by nothing of theirs: the owner logs in
    owner = throttle.admit("owner", "7", 0.0)
    assert owner is not None
    assert owner.wait == 0.0
    throttle.succeeded(owner, 0.0)
    assert throttle.admit("owner", "7", 0.0) is not None


def test_a_right_password_gives_its_tokens_back() -> None:
    throttle = Throttle(rate=1.0, burst=40.0, max_wait=0.0)
    for _ in range(10):
        attempt = throttle.admit("ip", "7", 0.0)
        assert attempt is not None
        throttle.succeeded(attempt, 0.0)
    assert len(throttle.per_pair) == len(throttle.per_target) == 0
    unchecked = throttle.admit("ip", "8", 0.0)
    assert unchecked is not None
    throttle.unchecked(unchecked, 0.0)
    assert len(throttle.per_pair) == 0


def test_account_buckets_are_not_evicted_by_other_attempts() -> None:
    throttle = Throttle(rate=1.0, burst=20.0, max_wait=5.0, max_keys=100)
    while throttle.admit("guesser", "victim", 0.0) is not None:
        pass
    # a flood of cheap attempts: unknown accounts (no target), other addresses,
    # other accounts; none pushes the victim's buckets out
    for n in range(100_000):
        throttle.admit(f"10.0.{n // 250}.{n % 250}", None if n % 2 else f"other {n}", 1.0)
    assert len(throttle.per_pair) <= 100
    assert len(throttle.per_target) <= 100
    assert throttle.admit("guesser", "victim", 1.0) is None


def test_ipv6_addresses_are_limited_by_their_64() -> None:
    throttle = Throttle(rate=1.0, burst=1.0, max_wait=0.0)
    assert throttle.admit("2001:db8:1:2::1", None, 0.0) is not None
    assert throttle.admit("2001:db8:1:2:ffff::9", None, 0.0) is None
    assert throttle.admit("2001:db8:1:3::1", None, 0.0) is not None
    assert throttle.admit("::ffff:10.0.0.1", None, 0.0) is not None
    assert throttle.admit("::ffff:10.0.0.2", None, 0.0) is not None


def test_connection_count() -> None:
    count = ConnectionCount(2)
    assert count.open("a")
    assert count.open("a")
    assert not count.open("a")
    assert count.open("b")
    count.close("a")
    assert count.open("a")
    unlimited = ConnectionCount(0)
    assert all(unlimited.open("a") for _ in range(1000))
