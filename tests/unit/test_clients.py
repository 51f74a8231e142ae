"""Who the client is (X-Forwarded-For only from trusted proxies), and the per-address gate."""

from __future__ import annotations

import pytest

from liveblog.settings import Settings, SettingsError, parse_networks
from liveblog.web.clients import address_key, client_address, forwarded_scheme, parse_address
from liveblog.web.limits import ConnectionGate

PROXIES = parse_networks("10.0.0.5, 192.168.0.0/16, fd00::/8", "test")


def xff(*values: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode("latin-1")) for value in values]


def test_a_peer_that_is_not_a_trusted_proxy_is_the_client_whatever_it_claims() -> None:
    assert client_address("203.0.113.9", xff("198.51.100.1"), PROXIES) == "203.0.113.9"
    assert client_address("203.0.113.9", xff("198.51.100.1"), ()) == "203.0.113.9"


def test_behind_a_trusted_proxy_the_client_is_the_rightmost_hop_it_did_not_write() -> None:
    # The client put 1.2.3.4 there itself; the proxy appended what it saw, 198.51.100.7.
    assert client_address("10.0.0.5", xff("1.2.3.4, 198.51.100.7"), PROXIES) == "198.51.100.7"


def test_trusted_proxies_in_a_chain_are_walked_past() -> None:
    hops = xff("6.6.6.6, 198.51.100.7, 192.168.1.20")
    assert client_address("10.0.0.5", hops, PROXIES) == "198.51.100.7"


def test_several_headers_are_one_list_in_order() -> None:
    hops = xff("6.6.6.6", "198.51.100.7, 192.168.3.3")
    assert client_address("10.0.0.5", hops, PROXIES) == "198.51.100.7"


def test_a_proxied_request_without_the_header_is_the_proxy_itself() -> None:
    assert client_address("10.0.0.5", [], PROXIES) == "10.0.0.5"
    assert client_address("10.0.0.5", xff(""), PROXIES) == "10.0.0.5"


@pytest.mark.parametrize(
    "header",
    [
        "not-an-address",
        "198.51.100.7, garbage",
        "1.2.3.4, \x00\x01",
        "999.1.1.1",
        "[::1",
        "unknown",
        ", , ,",
        "1.2.3.4;rm -rf",
        "\u00e9\u00e9",
    ],
)
def test_garbage_is_never_believed_as_a_client(header: str) -> None:
    """Garbage where the proxy wrote its peer: the client is the nearest believed hop."""
    client = client_address("10.0.0.5", xff(header), PROXIES)
    assert client == "10.0.0.5"


def test_garbage_left_of_the_real_client_does_not_matter() -> None:
    assert client_address("10.0.0.5", xff("garbage, 198.51.100.7"), PROXIES) == "198.51.100.7"


def test_a_long_forged_header_is_read_only_from_the_right() -> None:
    forged = ", ".join(["192.168.0.1"] * 10_000 + ["198.51.100.7"])
    assert client_address("10.0.0.5", xff(forged), PROXIES) == "198.51.100.7"
    # Only trusted hops, far more than are read: the leftmost one read is the answer.
    only_proxies = ", ".join(f"192.168.0.{n % 250}" for n in range(10_000))
    assert client_address("10.0.0.5", xff(only_proxies), PROXIES).startswith("192.168.0.")


def test_addresses_are_read_as_proxies_write_them() -> None:
    assert str(parse_address("198.51.100.7:4431")) == "198.51.100.7"
    assert str(parse_address("[2001:db8::1]:443")) == "2001:db8::1"
    assert str(parse_address(" 2001:db8::1 ")) == "2001:db8::1"
    assert str(parse_address("::ffff:198.51.100.7")) == "198.51.100.7"
    assert parse_address("") is None


def test_an_ipv6_client_is_counted_by_its_slash_64() -> None:
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("198.51.100.7") == "198.51.100.7"


def test_the_gate_counts_connections_per_address_and_refuses_past_the_limit() -> None:
    gate = ConnectionGate(2)
    first = gate.open_connection(("198.51.100.7", 1))
    second = gate.open_connection(("198.51.100.7", 2))
    assert first == second == "198.51.100.7"
    assert gate.open_connection(("198.51.100.7", 3)) is None
    assert gate.is_refused(("198.51.100.7", 3))
    assert gate.open_connection(("198.51.100.8", 1)) == "198.51.100.8"  # another client
    gate.close_connection(("198.51.100.7", 3), None)
    gate.close_connection(("198.51.100.7", 1), first)
    assert not gate.is_refused(("198.51.100.7", 3))
    assert gate.open_connection(("198.51.100.7", 4)) == "198.51.100.7"  # a slot again
    assert gate.refusals == 1


def test_the_gate_leaves_a_trusted_proxy_to_be_counted_per_request() -> None:
    gate = ConnectionGate(1, PROXIES)
    assert gate.open_connection(("10.0.0.5", 1)) is None
    assert gate.open_connection(("10.0.0.5", 2)) is None
    assert not gate.is_refused(("10.0.0.5", 2))
    client = gate.forwarded_client(("10.0.0.5", 2), xff("198.51.100.7"))
    assert client == "198.51.100.7"
    assert gate.forwarded_client(("198.51.100.9", 2), xff("198.51.100.7")) is None
    assert gate.acquire(client)
    assert not gate.acquire(client)  # full
    gate.release(client)
    assert gate.acquire(client)  # a slot again


def test_a_limit_of_zero_counts_nothing() -> None:
    gate = ConnectionGate(0)
    assert all(gate.open_connection(("198.51.100.7", n)) is None for n in range(1_000))
    assert not gate.refused


def test_settings_read_the_limits_from_the_environment() -> None:
    settings = Settings.from_environ(
        {
            "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "50",
            "LIVEBLOG_TRUSTED_PROXIES": "10.0.0.5, 172.16.0.0/12",
            "LIVEBLOG_HEADER_TIMEOUT_SECONDS": "2.5",
            "LIVEBLOG_KEEP_ALIVE_SECONDS": "3",
            "LIVEBLOG_SLOW_READER_BYTES": "65536",
        }
    )
    assert settings.max_connections_per_address == 50
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.5/32", "172.16.0.0/12"]
    assert settings.header_timeout_seconds == 2.5
    assert settings.keep_alive_seconds == 3
    assert settings.slow_reader_bytes == 65536
    defaults = Settings.from_environ({})
    assert defaults.max_connections_per_address == 200
    assert defaults.trusted_proxies == ()
    assert defaults.slow_reader_bytes == 256 * 1024


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS", "-1"),
        ("LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS", "lots"),
        ("LIVEBLOG_HEADER_TIMEOUT_SECONDS", "nan"),
        ("LIVEBLOG_HEADER_TIMEOUT_SECONDS", "inf"),
        ("LIVEBLOG_HEADER_TIMEOUT_SECONDS", "0"),
        ("LIVEBLOG_KEEP_ALIVE_SECONDS", "0.5"),
        ("LIVEBLOG_SLOW_READER_BYTES", "12"),
        ("LIVEBLOG_TRUSTED_PROXIES", "10.0.0.5, nginx.local"),
        ("LIVEBLOG_TRUSTED_PROXIES", "10.0.0.0/33"),
    ],
)
def test_settings_refuse_values_they_cannot_use_and_say_which(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_environ({name: value})


def test_the_scheme_is_the_last_x_forwarded_proto_and_only_http_or_https() -> None:
    def proto(*values: str) -> list[tuple[bytes, bytes]]:
        return [(b"x-forwarded-proto", v.encode()) for v in values]

    assert forwarded_scheme(proto("https"), websocket=False) == "https"
    assert forwarded_scheme(proto("https"), websocket=True) == "wss"
    assert forwarded_scheme(proto("HTTP"), websocket=True) == "ws"
    assert forwarded_scheme(proto("http", "https"), websocket=False) == "https"
    assert forwarded_scheme(proto("http, https"), websocket=False) == "https"
    assert forwarded_scheme(proto("javascript"), websocket=False) is None
    assert forwarded_scheme([], websocket=False) is None
