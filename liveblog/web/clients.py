"""Who the client is: the peer's address, or, behind a trusted proxy, X-Forwarded-For's.

``X-Forwarded-For`` is a list each proxy appends its peer's address to, so only the
hops that trusted proxies wrote can be believed: walking it from the right, the first
address that is not a trusted proxy is the client. Anything to its left was written
by the client itself and may be anything. A peer that is not a trusted proxy is the
client, whatever it claims in the header (DESIGN §7).

Addresses are grouped as limits count them (``address_key``): an IPv6 client usually
holds a whole /64, so one client is one /64, not one of its 2^64 addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from liveblog.settings import Network

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Only the rightmost hops can have been written by our proxies; a longer header is the
# client's own, and walking it further would cost time for nothing.
MAX_HOPS = 16
UNKNOWN = "unknown"


def parse_address(raw: str) -> IPAddress | None:
    """One hop as proxies write it: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:80``."""
    text = raw.strip()
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # IPv4 with a port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_trusted(address: IPAddress | None, trusted: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in trusted)


def forwarded_hops(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """Every ``X-Forwarded-For`` hop, in order, over all such headers (they concatenate)."""
    hops: list[str] = []
    for name, value in headers:
        if name == b"x-forwarded-for":
            hops.extend(value.decode("latin-1").split(","))
    return hops


def client_address(
    peer: str | None, headers: Iterable[tuple[bytes, bytes]], trusted: tuple[Network, ...]
) -> str:
    """The client's address: the peer's, or the rightmost hop no trusted proxy wrote."""
    peer_address = parse_address(peer) if peer else None
    if peer_address is None:
        return peer or UNKNOWN
    if not trusted or not is_trusted(peer_address, trusted):
        return str(peer_address)
    client = peer_address  # the nearest hop we believe so far
    for raw in reversed(forwarded_hops(headers)[-MAX_HOPS:]):
        hop = parse_address(raw)
        if hop is None:
            break  # garbage: nothing at or left of it can be believed
        client = hop
        if not is_trusted(hop, trusted):
            break
    return str(client)


def address_key(address: str) -> str:
    """What a per-address limit counts: the address, or its /64 for IPv6."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def forwarded_scheme(headers: Iterable[tuple[bytes, bytes]], websocket: bool) -> str | None:
    """The scheme a trusted proxy says the client used (``X-Forwarded-Proto``), if valid.

    Only the last value counts: a proxy that sets the header (nginx's ``$scheme``)
    writes the last one. Anything but http or https is ignored.
    """
    proto = None
    for name, value in headers:
        if name == b"x-forwarded-proto":
            proto = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
    if proto not in ("http", "https"):
        return None
    if websocket:
        return "wss" if proto == "https" else "ws"
    return proto
