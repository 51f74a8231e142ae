"""A live client's side of the protocol (DESIGN §5): WebSocket and SSE readers, and checks
of the messages they get against what the API answered."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close

from tests.e2e.server import LiveServer
from tests.helpers import Doc

RECV_TIMEOUT = 10.0
STORY_LISTS = ("pinned", "key_events", "updates", "next")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)")
# The hub's figures in /metrics.
BACKLOG_READS = "liveblog_live_store_backlog_reads_total"
SNAPSHOT_READS = "liveblog_live_snapshot_view_reads_total"
SLOW_READERS = "liveblog_live_slow_readers_total"
SLOW_READER_PENDING = "liveblog_live_slow_reader_pending_bytes_max"
JOINS = "liveblog_live_joins_total"
READERS = "liveblog_live_readers"


# -- what the API answered, as events carry it --------------------------------------------


def without_story_version(update: Doc) -> Doc:
    """An update as the API answers a command, minus the story version it adds."""
    return {k: v for k, v in update.items() if k != "story_version"}


def story_fields(story: Doc) -> Doc:
    """What ``story.*`` events carry: the story without its update lists."""
    return {k: v for k, v in story.items() if k not in STORY_LISTS}


def find_update(story: Doc, update_id: str) -> Doc:
    for update in story["updates"]:
        if update["id"] == update_id:
            found: Doc = update
            return found
    raise AssertionError(f"update {update_id} not on the story's first page")


def assert_rfc3339(value: object) -> None:
    assert isinstance(value, str)
    assert RFC3339.fullmatch(value), value
    assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


# -- the reader's side -------------------------------------------------------------------


def live_path(story: str, since: str | None = None) -> str:
    query = "" if since is None else "?" + urlencode({"since": since})
    return f"/api/stories/{story}/live{query}"


class LiveReader:
    """A WebSocket reader that keeps every text message it got, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.texts: list[str] = []

    @classmethod
    async def open(
        cls, server: LiveServer, story: str, since: str | None = None, **options: Any
    ) -> LiveReader:
        ws = await connect(
            server.ws_url + live_path(story, since),
            proxy=None,
            compression=None,
            open_timeout=RECV_TIMEOUT,
            max_size=2**24,
            **options,
        )
        return cls(ws)

    async def next(self, seconds: float = RECV_TIMEOUT) -> Doc:
        text = await asyncio.wait_for(self.ws.recv(), seconds)
        assert isinstance(text, str)
        self.texts.append(text)
        message: Doc = orjson.loads(text)
        return message

    async def until_live(self, seconds: float = RECV_TIMEOUT) -> list[Doc]:
        """Every message up to and including ``live``."""
        messages: list[Doc] = []
        while not messages or messages[-1]["type"] != "live":
            messages.append(await self.next(seconds))
        return messages

    async def until_closed(self, seconds: float = RECV_TIMEOUT) -> tuple[list[Doc], Close]:
        """Every message until the server closes the connection, and its close frame."""
        messages: list[Doc] = []
        close: Close | None = None
        while close is None:
            try:
                messages.append(await self.next(seconds))
            except ConnectionClosed as closed:
                close = closed.rcvd or Close(1006, "no close frame from the server")
        return messages, close

    async def close(self) -> None:
        await asyncio.wait_for(self.ws.close(), RECV_TIMEOUT)


def check_event(message: Doc, version: int, name: str) -> Doc:
    """An event message with the right shape, version and name; its ``data``."""
    assert set(message) == {"type", "version", "event", "at", "data"}, message
    assert message["type"] == "event"
    assert (message["version"], message["event"]) == (version, name)
    assert_rfc3339(message["at"])
    data: Doc = message["data"]
    return data


def check_update_event(message: Doc, version: int, name: str, answered: Doc) -> Doc:
    """``{"update": Update}`` equal to what the API answered for the command."""
    data = check_event(message, version, name)
    assert answered["story_version"] == version
    assert data == {"update": without_story_version(answered)}
    assert message["at"] == data["update"]["updated_at"]
    update: Doc = data["update"]
    return update


def check_story_event(message: Doc, version: int, name: str, answered: Doc) -> None:
    """``{"story": fields}`` equal to the story the API answered with."""
    data = check_event(message, version, name)
    assert answered["version"] == version
    assert data == {"story": story_fields(answered)}
    assert message["at"] == answered["updated_at"]


def versions_of(messages: list[Doc]) -> list[int]:
    return [m["version"] for m in messages if m["type"] == "event"]


# -- Server-Sent Events ------------------------------------------------------------------


@dataclass(frozen=True)
class SseMessage:
    id: str | None
    data: str

    def json(self) -> Doc:
        doc: Doc = orjson.loads(self.data)
        return doc


class SseReader:
    """Parses a text/event-stream body into messages (comments skipped)."""

    def __init__(self, lines: AsyncIterator[str]) -> None:
        self.lines = lines

    async def next(self, seconds: float = RECV_TIMEOUT) -> SseMessage | None:
        """The next message; None when the stream ends."""
        fields: dict[str, str] = {}
        data: list[str] = []
        while True:
            try:
                line = await asyncio.wait_for(anext(self.lines), seconds)
            except StopAsyncIteration:
                return None
            if line == "":
                if data or fields:
                    return SseMessage(fields.get("id"), "\n".join(data))
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                data.append(value)
            else:
                fields[name] = value

    async def until_live(self) -> list[SseMessage]:
        messages: list[SseMessage] = []
        while not messages or messages[-1].json()["type"] != "live":
            message = await self.next()
            assert message is not None, "the stream ended before live"
            messages.append(message)
        return messages


async def sse_until_live(live: LiveServer, story: str, last_event_id: str) -> list[Doc]:
    """The messages of an SSE stream resumed with ``Last-Event-ID``, up to ``live``; each
    event's ``id:`` is its version."""
    path = f"/api/stories/{story}/live/sse"
    async with (
        httpx.AsyncClient(base_url=live.base_url, timeout=RECV_TIMEOUT) as http,
        http.stream("GET", path, headers={"Last-Event-ID": last_event_id}) as response,
    ):
        assert response.status_code == 200
        sse = await SseReader(response.aiter_lines()).until_live()
    for message in sse[:-1]:
        assert message.id == str(message.json()["version"])
    return [message.json() for message in sse]
