"""The live WebSocket on liveblog's own connection (a ``LiveSocket``): no tasks, no ASGI
sends once the reader is caught up, since the hub then writes its frames itself."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from eventsourcing.persistence import PersistenceError
from starlette.datastructures import State
from starlette.types import Send

from liveblog.live.connection import LiveSocket
from liveblog.live.hub import Reader, ReaderEnded
from liveblog.live.resume import Plan
from liveblog.web.live_session import (
    CLOSE_GRACE_SECONDS,
    STORE_UNAVAILABLE,
    UNKNOWN_STORY,
    Session,
)
from projections.story_reads import StoryMissing

# A catch-up waits for its socket to drain past this much unsent (see send_now).
CATCH_UP_PENDING_BYTES = 64 * 1024

GONE = (1006, "connection lost")


class DirectSocket:
    """A live WebSocket on a ``LiveSocket``: one coroutine, then the hub's writes.

    The socket drops what the reader sends (``ignore_incoming``), so nothing here reads.
    The coroutine sends the catch-up, then hands the reader to the hub and waits until
    the hub ends it (slow, shutdown: this closes the socket) or the client goes (the
    socket's ``on_lost`` ends the reader with ``GONE``).
    """

    __slots__ = ("interrupted", "pending_limit", "reader", "send", "sending", "socket", "task")

    def __init__(self, socket: LiveSocket, send: Send) -> None:
        self.socket = socket
        self.send = send
        self.reader: Reader | None = None
        self.task: asyncio.Task[Any] | None = None
        self.sending = False
        self.interrupted = False
        self.pending_limit = CATCH_UP_PENDING_BYTES  # set from the reader's bound in run

    async def run(self, state: State, story_ref: str, since_raw: str | None) -> None:
        socket = self.socket
        socket.ignore_incoming()
        await self.send({"type": "websocket.accept"})
        session = Session(state, story_ref, since_raw, socket)
        session.on_end = self.on_end
        self.task = asyncio.current_task()
        reader, plan = session.attach()
        self.reader = reader
        # A catch-up waits for its socket past this much unsent: below the slow-reader
        # bound, so a live frame arriving meanwhile still fits. The connection pauses
        # (and ``drain`` waits) at that mark, not at the server's own write limit.
        self.pending_limit = min(CATCH_UP_PENDING_BYTES, reader.max_bytes // 2)
        socket.set_pending_limit(self.pending_limit)
        socket.on_lost(self.on_lost)
        try:
            await self.send_catch_up(session, plan)
            del plan
            while not session.go_direct():
                message = await session.next_message()
                await self.send_text(message.text)
                del message
            while reader.ending is None:  # idle: the hub writes, nothing runs here
                await reader.wait()
        except ReaderEnded:
            pass
        except asyncio.CancelledError:
            # on_end interrupted a send to a slow reader; any other cancel goes on.
            task = self.task
            if not self.interrupted or task is None or task.uncancel() > 0:
                raise
        except StoryMissing:
            with contextlib.suppress(Exception):
                await self.send({"type": "websocket.close", "code": UNKNOWN_STORY,
                                 "reason": "no such story"})  # fmt: skip
        except PersistenceError:
            code, reason = STORE_UNAVAILABLE
            with contextlib.suppress(Exception):
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:
            reader.end(GONE)  # the client went while we sent
        finally:
            session.detach()
            socket.on_lost(None)
            ending = reader.ending
            if ending is not None and ending is not GONE:
                # A slow reader's socket may be full: the close frame has a deadline,
                # after which the connection is dropped.
                with contextlib.suppress(Exception):
                    await socket.close(*ending, grace=CLOSE_GRACE_SECONDS)
            reader.mark_closed()

    async def send_catch_up(self, session: Session, plan: Plan) -> None:
        """What the reader missed, then ``live``: each batch of the catch-up in one
        write, as soon as the pacer lets it through."""
        async with contextlib.aclosing(session.catch_up(plan)) as batches:
            async for batch in batches:
                await self.send_now([message.data() for message in batch])
                del batch  # a reader may stay for hours: hold no copies of snapshots

    async def send_now(self, messages: list[bytes]) -> None:
        """Write catch-up messages at once, as the hub writes live frames; wait only
        when the socket holds more than it should (a slow reader).

        The ASGI ``send`` costs several times the write itself, and a resume's backlog
        is thousands of messages: a storm of resumes would be mostly that overhead.
        """
        if not messages:
            return
        socket = self.socket
        socket.write_many(messages)
        if socket.pending_bytes() > self.pending_limit:
            self.sending = True
            try:
                await socket.drain()
            finally:
                self.sending = False
        elif not socket.is_open():
            raise ConnectionError("the live WebSocket is closing")

    async def send_text(self, text: str) -> None:
        self.sending = True
        try:
            await self.send({"type": "websocket.send", "text": text})
        finally:
            self.sending = False

    def on_end(self) -> None:
        """The hub ended the reader: stop a send stuck on a slow reader's full socket."""
        if self.sending and self.task is not None:
            self.interrupted = True
            self.task.cancel()

    def on_lost(self) -> None:
        if self.reader is not None:
            self.reader.end(GONE)
