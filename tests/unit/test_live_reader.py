"""The hub's Reader (bounded buffer, endings, wake-ups) and the live path's parsing."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest

from liveblog.live.frames import Frame
from liveblog.live.hub import Reader, ReaderEnded
from liveblog.web.stream import live_story_ref, query_since


async def test_a_reader_hands_out_its_frames_in_order_and_waits_for_the_next() -> None:
    reader = Reader(uuid4())
    assert not reader.buffered()
    assert reader.push(Frame(1, "a")) is False
    assert reader.push(Frame(2, "b")) is False
    assert reader.buffered()
    assert (await reader.next_frame()).version == 1
    assert (await reader.next_frame()).version == 2
    assert not reader.buffered()
    waiting = asyncio.ensure_future(reader.next_frame())
    await asyncio.sleep(0)
    assert not waiting.done()
    reader.push(Frame(3, "c"))
    assert (await waiting).version == 3


async def test_a_full_buffer_ends_the_reader_as_a_slow_consumer_once() -> None:
    ended: list[int] = []
    reader = Reader(uuid4(), capacity=2)
    reader.on_end = lambda: ended.append(1)
    assert reader.push(Frame(1, "a")) is False
    assert reader.push(Frame(2, "b")) is False
    assert reader.push(Frame(3, "c")) is True
    assert reader.push(Frame(4, "d")) is False  # already ended: not counted again
    assert ended == [1]
    with pytest.raises(ReaderEnded) as raised:
        await reader.next_frame()
    assert (raised.value.code, raised.value.reason) == (1013, "slow consumer")


async def test_closing_wakes_a_waiting_reader_and_shutdown_waits_until_it_is_closed() -> None:
    reader = Reader(uuid4())
    waiting = asyncio.ensure_future(reader.next_frame())
    await asyncio.sleep(0)
    reader.close(1001, "server shutting down")
    with pytest.raises(ReaderEnded) as raised:
        await waiting
    assert raised.value.code == 1001
    closed = asyncio.ensure_future(reader.wait_closed())
    await asyncio.sleep(0)
    assert not closed.done()
    reader.mark_closed()
    await closed
    await reader.wait_closed()  # at once, now


def test_the_live_path_is_matched_as_the_route_would() -> None:
    def scope(path: str, root: str = "") -> dict[str, object]:
        return {"type": "websocket", "path": path, "root_path": root}

    assert live_story_ref(scope("/api/stories/kg-protests/live")) == "kg-protests"
    assert live_story_ref(scope("/x/api/stories/kg/live", "/x")) == "kg"
    for path in ("/api/stories//live", "/api/stories/a/b/live", "/api/stories/a/live/sse"):
        assert live_story_ref(scope(path)) is None


def test_since_is_read_from_the_query_string_the_last_one_winning() -> None:
    assert query_since({"query_string": b""}) is None
    assert query_since({"query_string": b"since=12"}) == "12"
    assert query_since({"query_string": b"a=1&since=3&since=4"}) == "4"
    assert query_since({"query_string": b"since="}) == ""


async def test_a_reader_is_too_slow_once_its_unsent_bytes_would_pass_the_bound() -> None:
    reader = Reader(uuid4(), max_bytes=100)
    assert reader.push(Frame(1, "a" * 60)) is False
    assert reader.push(Frame(2, "b" * 30)) is False  # 90 bytes wait
    assert reader.push(Frame(3, "c" * 20)) is True  # 110 would
    assert reader.ended_pending == 90
    with pytest.raises(ReaderEnded) as raised:
        await reader.next_frame()
    assert (raised.value.code, raised.value.reason) == (1013, "slow consumer")


async def test_sent_frames_no_longer_count_and_one_big_frame_fits_when_nothing_waits() -> None:
    reader = Reader(uuid4(), max_bytes=100)
    assert reader.push(Frame(1, "a" * 90)) is False
    assert (await reader.next_frame()).version == 1
    assert reader.push(Frame(2, "b" * 500)) is False  # bigger than the bound, but alone
    assert reader.push(Frame(3, "c")) is True


class _Backlogged:
    """A connection whose socket holds ``size`` unsent bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    def write(self, message: bytes) -> None:
        self.size += len(message)

    def pending_bytes(self) -> int:
        return self.size


async def test_what_waits_in_the_socket_counts_against_the_bound() -> None:
    reader = Reader(uuid4(), max_bytes=100)
    reader.connection = _Backlogged(95)
    assert reader.pending_bytes() == 95
    assert reader.push(Frame(1, "a" * 10)) is True
    assert reader.ended_pending == 95


def test_a_frame_is_counted_in_utf8_bytes() -> None:
    assert Frame(1, "abc").size == 3
    assert Frame(1, "Бишкек").size == 12
