"""The live WebSocket connection of ``liveblog.web.uvicorn_adapter``, on a transport in
memory: what it writes, what it drops, how it closes. These are the uvicorn internals the
adapter leans on (``handle_connect``, ``send_receive_event_to_app``, ``close_sent``...):
an upgrade of uvicorn that changes them fails here first.

The same paths on a real server: tests/e2e/test_live.py, tests/e2e/test_fast_paths.py.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from uvicorn.server import ServerState

from liveblog.live.connection import LIVE_SOCKET, LiveSocket
from liveblog.web.uvicorn_adapter import LiveWebSocketProtocol

HANDSHAKE = (
    b"GET /api/stories/s/live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
NO_MASK = b"\x00\x00\x00\x00"  # a client's frames are masked; a zero key leaves them as is


def client_frame(opcode: int, payload: bytes) -> bytes:
    return bytes((0x80 | opcode, 0x80 | len(payload))) + NO_MASK + payload


class MemoryTransport(asyncio.Transport):
    """What the connection writes; closing or aborting it loses the connection, as a
    socket's transport does, on the next turn of the loop."""

    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__()
        self.protocol = protocol
        self.written = bytearray()
        self.reading_paused = False
        self.closing = False
        self.aborted = False
        self.high_water: int | None = None

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        peers = {"peername": ("198.51.100.7", 5000), "sockname": ("127.0.0.1", 8000)}
        return peers.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def taken(self) -> bytes:
        """What was written since the last call."""
        data = bytes(self.written)
        self.written.clear()
        return data

    def close(self) -> None:
        self._lose()

    def abort(self) -> None:
        self.aborted = True
        self._lose()

    def _lose(self) -> None:
        if not self.closing:
            self.closing = True
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        self.reading_paused = True

    def resume_reading(self) -> None:
        self.reading_paused = False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.high_water = high

    def get_write_buffer_size(self) -> int:
        return 0


class LiveApp:
    """Takes the offered socket, accepts, and holds the connection until told."""

    def __init__(self) -> None:
        self.socket: asyncio.Future[LiveSocket] = asyncio.get_running_loop().create_future()
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        socket: LiveSocket = scope["extensions"][LIVE_SOCKET]["socket"]
        socket.ignore_incoming()
        await send({"type": "websocket.accept"})
        self.socket.set_result(socket)
        await self.release.wait()


@pytest.fixture
async def connected() -> AsyncIterator[tuple[LiveSocket, MemoryTransport]]:
    app = LiveApp()
    config = uvicorn.Config(
        app, ws=LiveWebSocketProtocol, ws_ping_interval=None, lifespan="off", log_level="error"
    )
    protocol = LiveWebSocketProtocol(config, ServerState(), {})
    transport = MemoryTransport(protocol)
    protocol.connection_made(transport)
    protocol.data_received(HANDSHAKE)
    socket = await asyncio.wait_for(app.socket, 5)
    assert transport.taken().startswith(b"HTTP/1.1 101 ")
    yield socket, transport
    app.release.set()
    await asyncio.sleep(0)


async def test_a_live_socket_writes_whole_text_frames(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    assert socket.is_open()
    socket.write(b'{"type":"event"}')
    assert transport.taken() == b"\x81\x10" + b'{"type":"event"}'
    socket.set_pending_limit(1024)
    assert transport.high_water == 1024
    assert socket.pending_bytes() == 0


class CountingTransport(MemoryTransport):
    def __init__(self, protocol: asyncio.Protocol) -> None:
        super().__init__(protocol)
        self.writes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        super().write(data)


async def test_a_chunk_of_messages_goes_out_in_one_write_in_order(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    counting = CountingTransport(transport.protocol)
    transport.protocol.transport = counting  # type: ignore[attr-defined]
    messages = [b'{"version":%d}' % n for n in range(1, 33)]
    socket.write_many(messages)
    assert counting.writes == 1
    expected = b"".join(bytes((0x81, len(m))) + m for m in messages)
    assert counting.taken() == expected
    socket.write_many([])
    assert counting.writes == 1  # nothing to send: no write at all


async def test_what_the_peer_sends_is_dropped_and_reading_goes_on(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    transport.protocol.data_received(client_frame(0x1, b"hello"))
    assert not transport.reading_paused  # uvicorn pauses reading until the app receives
    transport.protocol.data_received(client_frame(0x9, b"p"))  # a ping is still answered
    assert transport.taken() == b"\x8a\x01p"
    assert socket.is_open()


async def test_closing_sends_a_close_frame_and_drops_a_peer_that_does_not_answer(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    lost: list[int] = []
    socket.on_lost(lambda: lost.append(1))
    await asyncio.wait_for(socket.close(1013, "slow consumer", grace=0.01), 5)
    reason = b"slow consumer"
    assert transport.taken() == bytes((0x88, 2 + len(reason))) + struct.pack("!H", 1013) + reason
    assert transport.aborted
    assert lost == [1]
    assert not socket.is_open()
    socket.write(b"late")
    socket.write_many([b"late", b"later"])
    assert transport.taken() == b""
    with pytest.raises(ConnectionError):
        await socket.drain()


async def test_a_peer_that_answers_the_close_is_not_dropped(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    closing = asyncio.ensure_future(socket.close(1001, "going away", grace=60))
    await asyncio.sleep(0)
    transport.protocol.data_received(client_frame(0x8, struct.pack("!H", 1001)))
    await asyncio.wait_for(closing, 5)
    assert transport.closing
    assert not transport.aborted


async def test_a_peer_that_goes_is_reported(
    connected: tuple[LiveSocket, MemoryTransport],
) -> None:
    socket, transport = connected
    gone = asyncio.get_running_loop().create_future()
    socket.on_lost(lambda: gone.set_result(None))
    transport.close()
    await asyncio.wait_for(gone, 5)
    assert not socket.is_open()
