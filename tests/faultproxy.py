"""A small TCP fault proxy for outage tests: the server talks to the database through it.

Modes:

- ``pass``: bytes flow both ways;
- ``reset``: every connection is closed with a reset (RST), and new ones are reset as
  soon as they are accepted: the database is gone, and says so at once;
- ``blackhole``: connections are accepted and held, and nothing is forwarded either way
  (new ones are not even connected upstream): the database is silent. As on a network
  that drops packets for a while, what was held goes through once the mode is ``pass``
  again, unless an end gave up meanwhile.

It listens on 127.0.0.1 only. ``running_proxy()`` runs one in a thread of its own, with
its own event loop, so tests and scripts with or without a loop can steer it.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from enum import Enum

CHUNK = 65_536


class Mode(Enum):
    PASS = "pass"
    RESET = "reset"
    BLACKHOLE = "blackhole"


class FaultProxy:
    """Forwards 127.0.0.1:<port> to ``upstream``, failing as its mode says."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.mode = Mode.PASS
        self.port = 0
        self.accepted = 0
        self.resets = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.reset()
        if self._server is not None:
            await self._server.wait_closed()

    def set_mode(self, mode: Mode) -> None:
        """Switch modes (on the proxy's loop)."""
        self.mode = mode
        if mode is Mode.PASS:
            self._flowing.set()
            return
        self._flowing.clear()
        if mode is Mode.RESET:
            for link in list(self._links):
                link.reset()
                self.resets += 1

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        link = _Link(writer)
        if self.mode is Mode.RESET:
            link.reset()
            self.resets += 1
            return
        self._links.add(link)
        link.task = asyncio.current_task()
        try:
            await self._flowing.wait()  # black-holed: accepted, not connected upstream
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            link.upstream = up_writer
            pumps = [
                asyncio.create_task(self._pump(reader, up_writer)),
                asyncio.create_task(self._pump(up_reader, writer)),
            ]
            link.pumps = pumps
            _, pending = await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for pump in pending:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._links.discard(link)
            link.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(CHUNK):
            await self._flowing.wait()  # held while black-holed
            sink.write(data)
            await sink.drain()


class _Link:
    """One client connection and, once made, its upstream connection."""

    def __init__(self, client: asyncio.StreamWriter) -> None:
        self.client = client
        self.upstream: asyncio.StreamWriter | None = None
        self.pumps: list[asyncio.Task[None]] = []
        self.task: asyncio.Task[None] | None = None

    def reset(self) -> None:
        """Close both ends with a reset, as a dead server's host would."""
        for pump in self.pumps:
            pump.cancel()
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()


class ProxyThread:
    """A ``FaultProxy`` on an event loop in a daemon thread; ``set_mode`` from anywhere."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.proxy = FaultProxy(upstream_host, upstream_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        return self.proxy.port

    def start(self) -> ProxyThread:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)
        return self

    def set_mode(self, mode: Mode) -> None:
        async def switch() -> None:
            self.proxy.set_mode(mode)

        asyncio.run_coroutine_threadsafe(switch(), self._loop).result(timeout=10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@contextlib.contextmanager
def running_proxy(upstream_host: str, upstream_port: int) -> Iterator[ProxyThread]:
    proxy = ProxyThread(upstream_host, upstream_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
