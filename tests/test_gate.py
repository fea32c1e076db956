"""The connection gate's pure logic: networks, the client's address behind proxies, counts."""

from __future__ import annotations

from typing import ClassVar

import pytest

from parley.config import Settings, settings_from
from parley.gate import HEADROOM, Gate, client_address, networks, tcp_limit


def test_networks() -> None:
    assert networks("") == ()
    assert [str(n) for n in networks(" 10.0.0.0/8, 192.0.2.7 ,::1, 2001:db8::/32 ")] == [
        "10.0.0.0/8", "192.0.2.7/32", "::1/128", "2001:db8::/32"]
    assert [str(n) for n in networks("10.1.2.3/8")] == ["10.0.0.0/8"]
    for bad in ("nonsense", "10.0.0.0/33", "10.0.0.1-10.0.0.9"):
        with pytest.raises(ValueError, match="not an address or network"):
            networks(bad)


def test_settings_refuse_bad_networks() -> None:
    with pytest.raises(ValueError, match="not an address or network"):
        settings_from(trusted_proxy="10.0.0.0/8, proxy.example")
    with pytest.raises(ValueError, match="not an address or network"):
        settings_from(metrics_allow="everyone")
    assert settings_from(trusted_proxy="10.0.0.0/8").trusted_proxy == "10.0.0.0/8"
    assert Settings().head_timeout == 10.0


PROXIES = "10.0.0.0/8, 192.0.2.1"


@pytest.mark.parametrize(("remote", "forwarded", "expected"), [
    # no proxy configured, or a peer that is not one: the header is not read
    ("203.0.113.5", ["198.51.100.1"], "203.0.113.5"),
    # one proxy
    ("10.0.0.2", ["198.51.100.1"], "198.51.100.1"),
    # the client's own forged entries stand left of what the proxy appended
    ("10.0.0.2", ["1.2.3.4, 198.51.100.1"], "198.51.100.1"),
    ("10.0.0.2", ["1.2.3.4", "198.51.100.1"], "198.51.100.1"),
    # two proxies in a row: the right-most entry that is not a proxy
    ("10.0.0.2", ["198.51.100.1, 192.0.2.1"], "198.51.100.1"),
    ("10.0.0.2", ["198.51.100.1 , 10.9.9.9, 192.0.2.1"], "198.51.100.1"),
    # nothing usable: the proxy's address
    ("10.0.0.2", [], "10.0.0.2"),
    ("10.0.0.2", ["10.0.0.7"], "10.0.0.2"),
    ("10.0.0.2", ["1.2.3.4, unknown"], "10.0.0.2"),
    ("10.0.0.2", [""], "10.0.0.2"),
    # IPv6, and IPv4 written as IPv6
    ("10.0.0.2", ["2001:db8::1"], "2001:db8::1"),
    ("::ffff:10.0.0.2", ["::ffff:198.51.100.1"], "198.51.100.1"),
    (None, ["198.51.100.1"], ""),
])
def test_client_address(remote: str | None, forwarded: list[str], expected: str) -> None:
    trusted = PROXIES if remote != "203.0.113.5" else ""
    assert client_address(remote, forwarded, trusted) == expected
    assert client_address(remote, forwarded, "") == (remote or "")


class _Server:
    """Stands for aiohttp's server: the gate reads only the handler arguments."""

    _kwargs: ClassVar[dict[str, object]] = {}


def test_gate_counts_per_address() -> None:
    gate = Gate(_Server(), limit=2, head_timeout=10, trusted="10.0.0.1")  # type: ignore[arg-type]  # only its kwargs are read
    assert gate.admit("192.0.2.5")
    assert gate.admit("192.0.2.5")
    assert not gate.admit("192.0.2.5")
    assert gate.admit("192.0.2.6")
    assert gate.open.by_address() == {"192.0.2.5": 2, "192.0.2.6": 1}
    gate.release("192.0.2.5")
    assert gate.admit("192.0.2.5")
    for _ in range(5):
        assert gate.admit("10.0.0.1")  # a trusted proxy is not counted
    assert "10.0.0.1" not in gate.open.by_address()
    gate.release("192.0.2.6")
    assert gate.open.by_address() == {"192.0.2.5": 2}
    assert gate.refused == 1


def test_no_limit() -> None:
    gate = Gate(_Server(), limit=0, head_timeout=10)  # type: ignore[arg-type]  # only its kwargs are read
    assert all(gate.admit("192.0.2.5") for _ in range(1000))


def test_tcp_limit_leaves_room_above_the_socket_limit() -> None:
    assert tcp_limit(256) == 256 + HEADROOM
    assert tcp_limit(1) == 1 + HEADROOM
    assert tcp_limit(0) == 0
