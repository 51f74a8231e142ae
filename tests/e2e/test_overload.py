"""No anonymous client can hold the server (DESIGN §7): deadlines and per-address limits,
against a real server, with real sockets from distinct loopback addresses.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a client socket bound to
127.0.0.N is a client at address 127.0.0.N: each test uses addresses of its own, and
the server trusts 127.0.0.2 as its reverse proxy. Every wait has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.e2e.server import LiveServer
from tests.helpers import bearer, issue_token

HEADER_DEADLINE = 2.0
KEEP_ALIVE = 1
LIMIT = 5
PROXY = "127.0.0.2"
ADMIN = "127.0.0.3"  # the test's own API calls: an address of their own
SLOWLORIS_SOCKETS = 50
GRACE = 5.0  # "did not hang" margin on top of a deadline
TIMEOUT = 10.0
SLUG = "crowded"


@dataclass(frozen=True)
class Guarded:
    server: LiveServer
    editor: str


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Guarded]:
    folder = tmp_path_factory.mktemp("overload")
    url = f"sqlite:///{folder / 'e2e.sqlite3'}"
    editor = issue_token(url, "Erin Editor", "editor")
    env = {
        "LIVEBLOG_HEADER_TIMEOUT_SECONDS": str(HEADER_DEADLINE),
        "LIVEBLOG_KEEP_ALIVE_SECONDS": str(KEEP_ALIVE),
        "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": str(LIMIT),
        "LIVEBLOG_TRUSTED_PROXIES": PROXY,
    }
    live = LiveServer(url, folder / "server.log", env=env).start()
    with httpx.Client(
        base_url=live.base_url, timeout=TIMEOUT, transport=httpx.HTTPTransport(local_address=ADMIN)
    ) as http:
        response = http.post(
            "/api/stories",
            json={"slug": SLUG, "title": "Crowded square"},
            headers=bearer(editor),
        )
        assert response.status_code == 201, response.text
    yield Guarded(live, editor)
    live.stop()


def http_from(server: LiveServer, address: str) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=server.base_url, timeout=TIMEOUT, transport=transport)


async def socket_from(server: LiveServer, address: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((address, 0))
    sock.setblocking(False)
    await asyncio.wait_for(
        asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port)), TIMEOUT
    )
    return sock


async def reader_from(
    server: LiveServer, address: str, forwarded_for: str | None = None
) -> ClientConnection:
    """A live reader connected from ``address``; the first message is already read."""
    headers = {} if forwarded_for is None else {"X-Forwarded-For": forwarded_for}
    ws = await connect(
        f"{server.ws_url}/api/stories/{SLUG}/live",
        sock=await socket_from(server, address),
        proxy=None,
        compression=None,
        open_timeout=TIMEOUT,
        additional_headers=headers,
    )
    await asyncio.wait_for(ws.recv(), TIMEOUT)  # the snapshot: the server counts it now
    return ws


async def refused_with_1008(
    server: LiveServer, address: str, forwarded_for: str | None = None
) -> None:
    with pytest.raises(ConnectionClosed) as closed:
        await reader_from(server, address, forwarded_for)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1008,
        "too many connections from your address",
    )


def assert_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "too_many_connections"
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["x-content-type-options"] == "nosniff"  # answered early: still


@contextlib.asynccontextmanager
async def readers(
    server: LiveServer, address: str, count: int, forwarded_for: str | None = None
) -> AsyncIterator[list[ClientConnection]]:
    opened = [await reader_from(server, address, forwarded_for) for _ in range(count)]
    try:
        yield opened
    finally:
        for ws in opened:
            await asyncio.wait_for(ws.close(), TIMEOUT)


async def eventually_admitted(server: LiveServer, address: str, forwarded: str | None) -> None:
    """A slot comes back once the server has seen a connection go (no fixed wait)."""
    deadline = asyncio.get_running_loop().time() + TIMEOUT
    while True:
        try:
            ws = await reader_from(server, address, forwarded)
        except ConnectionClosed:
            assert asyncio.get_running_loop().time() < deadline, "the slot never came back"
            await asyncio.sleep(0.05)  # polling until a deadline, not timing an outcome
            continue
        await ws.close()
        return


# -- deadlines ---------------------------------------------------------------------------


async def test_sockets_that_never_finish_their_headers_are_closed_with_408(
    guarded: Guarded,
) -> None:
    server = guarded.server
    loop = asyncio.get_running_loop()
    # Each from an address of its own: the header deadline, not the limit, must end them.
    socks = [await socket_from(server, f"127.0.1.{n + 1}") for n in range(SLOWLORIS_SOCKETS)]

    async def dribble(sock: socket.socket) -> bytes:
        """Headers a line at a time, for ever; what the server says before it closes."""
        await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: liveblog\r\n")
        received = b""
        while True:
            try:
                chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), 0.5)
            except TimeoutError:
                await loop.sock_sendall(sock, b"X-Dribble: still typing\r\n")
                continue
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk

    try:
        answers = await asyncio.wait_for(
            asyncio.gather(*(dribble(sock) for sock in socks)), HEADER_DEADLINE + GRACE
        )
        # Meanwhile, and after, a client that sends whole requests is answered.
        async with http_from(server, ADMIN) as http:
            assert (await http.get("/healthz")).status_code == 200
    finally:
        for sock in socks:
            sock.close()
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:100]
        assert b'"code":"request_timeout"' in answer
        assert b"x-content-type-options: nosniff\r\n" in answer.lower()


async def test_a_connection_that_says_nothing_is_closed_at_the_header_deadline(
    guarded: Guarded,
) -> None:
    loop = asyncio.get_running_loop()
    sock = await socket_from(guarded.server, "127.0.2.1")
    try:
        answer = await asyncio.wait_for(loop.sock_recv(sock, 4096), HEADER_DEADLINE + GRACE)
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert await asyncio.wait_for(loop.sock_recv(sock, 4096), TIMEOUT) == b""
    finally:
        sock.close()


async def test_an_idle_keep_alive_connection_is_closed(guarded: Guarded) -> None:
    loop = asyncio.get_running_loop()
    sock = await socket_from(guarded.server, "127.0.2.2")
    try:
        await loop.sock_sendall(sock, b"GET /healthz HTTP/1.1\r\nHost: liveblog\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):  # the JSON body, whole (it may come in parts)
            chunk = await asyncio.wait_for(loop.sock_recv(sock, 4096), TIMEOUT)
            assert chunk, answer
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200 ")
        assert b"connection: close" not in answer.lower()  # kept alive, for a while
        closed = await asyncio.wait_for(loop.sock_recv(sock, 4096), KEEP_ALIVE + GRACE)
        assert closed == b""
    finally:
        sock.close()


# -- per-address limits ------------------------------------------------------------------


async def test_one_address_gets_its_limit_of_streams_and_then_1008_and_429(
    guarded: Guarded,
) -> None:
    server = guarded.server
    crowd = "127.0.3.1"
    async with readers(server, crowd, LIMIT):
        await refused_with_1008(server, crowd)
        async with http_from(server, crowd) as http:
            response = await http.get(f"/api/stories/{SLUG}")
            assert_429(response)
            assert response.headers["connection"] == "close"
        # Another address is not affected.
        async with readers(server, "127.0.3.2", 1):
            pass
    # The streams are gone: the address has its slots back.
    await eventually_admitted(server, crowd, None)


async def test_an_sse_stream_holds_a_slot_like_a_websocket(guarded: Guarded) -> None:
    server = guarded.server
    crowd = "127.0.3.3"
    sse = f"/api/stories/{SLUG}/live/sse"
    async with (
        readers(server, crowd, LIMIT - 1),
        http_from(server, crowd) as http,
        http.stream("GET", sse) as stream,
    ):
        assert stream.status_code == 200
        lines = stream.aiter_lines()
        assert (await asyncio.wait_for(anext(lines), TIMEOUT)).startswith("id: ")
        await refused_with_1008(server, crowd)


async def test_a_forged_x_forwarded_for_from_an_untrusted_peer_changes_nothing(
    guarded: Guarded,
) -> None:
    server = guarded.server
    crowd = "127.0.3.4"
    opened = [
        await reader_from(server, crowd, forwarded_for=f"198.51.100.{n}") for n in range(LIMIT)
    ]
    try:
        await refused_with_1008(server, crowd, forwarded_for="198.51.100.200")
    finally:
        for ws in opened:
            await ws.close()


async def test_behind_the_trusted_proxy_each_forwarded_client_has_its_own_limit(
    guarded: Guarded,
) -> None:
    server = guarded.server
    client, neighbour = "203.0.113.7", "203.0.113.8"
    # More connections from the proxy than the limit: the proxy itself is not limited.
    async with readers(server, PROXY, LIMIT, forwarded_for=f"10.9.9.9, {client}"):
        await refused_with_1008(server, PROXY, forwarded_for=client)
        async with http_from(server, PROXY) as http:
            forwarded = {"X-Forwarded-For": client}
            response = await http.get(f"/api/stories/{SLUG}", headers=forwarded)
            assert_429(response)
            assert "connection" not in response.headers  # the proxy's connection stays
            other = await http.get(f"/api/stories/{SLUG}", headers={"X-Forwarded-For": neighbour})
            assert other.status_code == 200
        async with readers(server, PROXY, 2, forwarded_for=neighbour):
            pass
    await eventually_admitted(server, PROXY, client)
