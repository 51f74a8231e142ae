"""LiveHttpProtocol's header deadline and connection counting, with a transport in memory.

The real-socket versions (slowloris sockets, limits over WebSocket and SSE) are in
tests/e2e/test_overload.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.server import ServerState

from liveblog.web.limits import ConnectionGate
from liveblog.web.uvicorn_adapter import LiveHttpProtocol

DEADLINE = 0.2


class MemoryTransport(asyncio.Transport):
    """What the protocol writes and whether it closed; a fixed peer."""

    def __init__(self, peer: tuple[str, int]) -> None:
        super().__init__()
        self.peer = peer
        self.written = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": self.peer, "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def is_closing(self) -> bool:
        return self.closed.done()

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0


class App:
    """An ASGI app with what the protocol reads from liveblog's: its gate and deadline."""

    def __init__(self, gate: ConnectionGate) -> None:
        self.gate = gate
        self.header_timeout_seconds = DEADLINE

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def connect(
    gate: ConnectionGate, peer: tuple[str, int] = ("198.51.100.7", 1)
) -> tuple[LiveHttpProtocol, MemoryTransport]:
    config = uvicorn.Config(App(gate), http=LiveHttpProtocol, lifespan="off", log_level="error")
    config.load()
    protocol = LiveHttpProtocol(config, ServerState(), {})
    transport = MemoryTransport(peer)
    protocol.connection_made(transport)
    return protocol, transport


def armed(protocol: LiveHttpProtocol) -> bool:
    return protocol._header_timer is not None


async def test_a_request_whose_headers_never_finish_gets_408_and_is_closed() -> None:
    protocol, transport = connect(ConnectionGate(0))
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n")
    for _ in range(5):  # dribbling more header bytes does not buy time
        protocol.data_received(b"X-a: b\r\n")
    await asyncio.wait_for(transport.closed, DEADLINE + 5)
    assert transport.written.startswith(b"HTTP/1.1 408 ")
    assert b'"code":"request_timeout"' in transport.written
    protocol.connection_lost(None)


async def test_a_connection_that_never_sends_anything_is_closed() -> None:
    protocol, transport = connect(ConnectionGate(0))
    await asyncio.wait_for(transport.closed, DEADLINE + 5)
    protocol.connection_lost(None)


async def test_complete_headers_stop_the_deadline() -> None:
    protocol, transport = connect(ConnectionGate(0))
    protocol.data_received(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not armed(protocol)
    await asyncio.sleep(DEADLINE * 3)  # past the deadline: the answer, and no 408
    assert transport.written.startswith(b"HTTP/1.1 204 ")
    assert b" 408 " not in transport.written
    # The next request's first byte starts its own deadline.
    protocol.data_received(b"GET / HTTP/1.1\r\n")
    assert armed(protocol)
    protocol.connection_lost(None)
    assert not armed(protocol)


async def test_connections_are_counted_until_lost_and_one_past_the_limit_is_refused() -> None:
    gate = ConnectionGate(1)
    first, first_transport = connect(gate, ("198.51.100.7", 1))
    second, second_transport = connect(gate, ("198.51.100.7", 2))
    assert gate.counts == {"198.51.100.7": 1}
    assert gate.is_refused(("198.51.100.7", 2))
    assert second._refused
    second.connection_lost(None)
    assert not gate.refused
    first.connection_lost(None)
    assert gate.counts == {}
    for transport in (first_transport, second_transport):
        transport.close()
