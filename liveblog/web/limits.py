"""Per-address connection limits: no one anonymous client can hold the whole server.

Counted in two places, never both for one connection:

- a connection from a peer that is not a trusted proxy is the client's own: the HTTP
  protocol counts it from ``connection_made`` to ``connection_lost`` (a WebSocket keeps
  the count of the connection it was upgraded from). One past the limit is not counted;
  it is marked refused, and the app answers whatever it asks with ``429`` (HTTP) or
  close code 1008 (WebSocket), then it is closed.
- behind a trusted proxy, one connection carries many clients' requests, so the app
  counts each request (a live WebSocket or SSE stream is one long request) by the
  client X-Forwarded-For names, for as long as it runs.

Everything here runs on the event loop: plain dicts, no locks.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Receive, Scope, Send

from liveblog.settings import Network
from liveblog.web.clients import address_key, client_address, is_trusted, parse_address
from liveblog.web.errors import error_response
from liveblog.web.security import with_security_headers

Peer = tuple[str, int]


class ConnectionGate:
    """How many connections each client address holds, against one limit."""

    def __init__(self, limit: int, trusted_proxies: tuple[Network, ...] = ()) -> None:
        self.limit = limit  # 0: no limit
        self.trusted_proxies = trusted_proxies
        self.counts: dict[str, int] = {}
        # Direct connections that were over the limit when they opened, by peer.
        self.refused: set[Peer] = set()
        self.refusals = 0  # for /metrics
        self._trusted_peers: dict[str, bool] = {}

    # -- direct connections, from the protocol -----------------------------------------

    def peer_is_proxy(self, host: str) -> bool:
        if not self.trusted_proxies:
            return False
        known = self._trusted_peers.get(host)
        if known is None:
            known = is_trusted(parse_address(host), self.trusted_proxies)
            if len(self._trusted_peers) < 4096:  # proxies are few; other peers, bounded
                self._trusted_peers[host] = known
        return known

    def open_connection(self, peer: Peer | None) -> str | None:
        """A new connection: the key it is counted under, or None (a proxy's, or refused)."""
        if peer is None or self.limit <= 0 or self.peer_is_proxy(peer[0]):
            return None
        key = address_key(peer[0])
        if self.acquire(key):
            return key
        self.refused.add(peer)
        return None

    def close_connection(self, peer: Peer | None, key: str | None) -> None:
        if key is not None:
            self.release(key)
        elif peer is not None:
            self.refused.discard(peer)

    # -- requests through a trusted proxy, from the app --------------------------------

    def is_refused(self, peer: Peer | None) -> bool:
        return peer is not None and peer in self.refused

    def forwarded_client(
        self, peer: Peer | None, headers: Iterable[tuple[bytes, bytes]]
    ) -> str | None:
        """The client a trusted proxy forwarded this request for; None if not proxied."""
        if peer is None or not self.peer_is_proxy(peer[0]):
            return None
        return client_address(peer[0], headers, self.trusted_proxies)

    def acquire(self, key: str) -> bool:
        """Count one more connection for ``key``; False (and not counted) past the limit."""
        count = self.counts.get(key, 0)
        if 0 < self.limit <= count:
            self.refusals += 1
            return False
        self.counts[key] = count + 1
        return True

    def release(self, key: str) -> None:
        count = self.counts.get(key, 0) - 1
        if count > 0:
            self.counts[key] = count
        else:
            self.counts.pop(key, None)


TOO_MANY = "too many connections from your address"
RETRY_AFTER_SECONDS = "10"
POLICY_VIOLATION = 1008


async def refuse(scope: Scope, receive: Receive, send: Send, *, close: bool) -> None:
    """Answer a client past its limit: ``429`` (HTTP) or close code 1008 (WebSocket).

    ``close``: the connection is the client's own (not a proxy's shared one): end it.
    """
    if scope["type"] == "websocket":
        message = await receive()
        if message["type"] == "websocket.connect":
            # Accepted first: a close code can only be given to an open WebSocket, and
            # a reader's client should see 1008 rather than a failed handshake.
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": TOO_MANY})
        return
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    if close:
        headers["Connection"] = "close"
    response = error_response(429, "too_many_connections", TOO_MANY, headers)
    # Answered before the app's own wrapper, so the security headers are added here.
    await response(scope, receive, with_security_headers(send))
