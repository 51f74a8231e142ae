"""The live hub on its own (``liveblog.live.hub``): fan-out, resync, slow readers, shutdown.

No server and no socket: events come in through ``on_applied`` as the feed hands them
over, and a caught-up reader's connection is a fake that records what the hub wrote and
says how many bytes wait unsent in it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import cast
from uuid import UUID, uuid4

import orjson
import pytest

from liveblog.live.hub import MAX_CHANNELS, Hub, Reader, ReaderEnded
from projections.states import Applied
from projections.story import StoryView

STORY = uuid4()
OTHER_STORY = uuid4()
SLOW = (1013, "slow consumer")
RESYNC = (1013, "resync")


def applied(story_id: UUID, version: int) -> Applied:
    """A story event as the feed hands it over (the hub reads only its wire fields)."""
    return Applied(
        notification_id=version,
        story_id=story_id,
        version=version,
        name="story.updated",
        at=datetime(2020, 10, 6, 2, 0, tzinfo=UTC),
        data={"story": {"title": f"take {version}"}},
        story=cast(StoryView, None),
        update=None,
    )


async def publish(hub: Hub, *versions: int, story_id: UUID = STORY) -> None:
    """Hand the hub events as the feed's thread does, and let the loop take them."""
    hub.on_applied([applied(story_id, v) for v in versions])
    # The hub hands them to the loop with call_soon_threadsafe: a callback queued after
    # that runs after them.
    taken = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().call_soon(taken.set_result, None)
    await taken


class FakeConnection:
    """A caught-up reader's connection as the hub writes to it (``DirectConnection``):
    the texts written, and the bytes a test says wait unsent in its socket."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.unsent = 0

    def write(self, message: bytes) -> None:
        self.texts.append(message.decode())

    def pending_bytes(self) -> int:
        return self.unsent

    def versions(self) -> list[int]:
        return [orjson.loads(text)["version"] for text in self.texts]


def go_direct(hub: Hub, reader: Reader, connection: FakeConnection, last_sent: int) -> bool:
    return hub.go_direct(reader, connection, last_sent)


async def buffered_versions(reader: Reader) -> list[int]:
    versions = []
    while reader.buffered():
        versions.append((await reader.next_frame()).version)
    return versions


async def ending_of(reader: Reader) -> tuple[int, str]:
    """How the hub let go of ``reader``, as its writer learns it."""
    assert reader.ending is not None, "the hub has not let go of it"
    with pytest.raises(ReaderEnded) as ended:
        await reader.next_frame()
    return ended.value.code, ended.value.reason


@pytest.fixture
async def hub() -> Hub:
    """A hub on the test's loop; a reader may have 1,000 bytes waiting for it, at most."""
    made = Hub(slow_reader_bytes=1_000)
    made.bind(asyncio.get_running_loop())
    return made


# -- fan-out ------------------------------------------------------------------------------


async def test_every_reader_of_a_story_gets_each_frame_once_in_order(hub: Hub) -> None:
    await publish(hub, 1)
    catching_up, _ = hub.attach(STORY)
    caught_up, ring = hub.attach(STORY)
    assert [frame.version for frame in ring] == [1]
    connection = FakeConnection()
    assert go_direct(hub, caught_up, connection, last_sent=1)
    elsewhere, _ = hub.attach(OTHER_STORY)

    await publish(hub, 2, 3)
    await publish(hub, 2, 3)  # a batch delivered again changes nothing
    await publish(hub, 4)

    assert await buffered_versions(catching_up) == [2, 3, 4]
    assert connection.versions() == [2, 3, 4]
    assert not caught_up.buffered()  # written straight to its connection
    assert not elsewhere.buffered()
    assert hub.stats.frames_published == 4
    assert hub.reader_count() == 3
    hub.detach(catching_up)
    assert hub.reader_count() == 2


async def test_a_join_copies_the_ring_as_it_stands_and_buffers_what_follows(hub: Hub) -> None:
    await publish(hub, 1, 2)
    reader, ring = hub.attach(STORY)
    await publish(hub, 3)
    assert [frame.version for frame in ring] == [1, 2]
    assert await buffered_versions(reader) == [3]
    assert hub.stats.joins == 1


async def test_only_a_reader_with_exactly_the_newest_frame_and_nothing_buffered_goes_direct(
    hub: Hub,
) -> None:
    await publish(hub, 1, 2)
    reader, _ = hub.attach(STORY)
    assert not go_direct(hub, reader, FakeConnection(), last_sent=1)  # one frame behind
    await publish(hub, 3)
    assert not go_direct(hub, reader, FakeConnection(), last_sent=3)  # 3 still buffered
    assert await buffered_versions(reader) == [3]
    assert go_direct(hub, reader, FakeConnection(), last_sent=3)
    ended, _ = hub.attach(STORY)
    ended.close(1001, "server shutting down")
    assert not go_direct(hub, ended, FakeConnection(), last_sent=3)


# -- resync -------------------------------------------------------------------------------


async def test_a_gap_in_versions_restarts_the_ring_and_sends_direct_readers_to_resync(
    hub: Hub,
) -> None:
    await publish(hub, 1, 2)
    buffered, _ = hub.attach(STORY)
    direct, _ = hub.attach(STORY)
    connection = FakeConnection()
    assert go_direct(hub, direct, connection, last_sent=2)

    await publish(hub, 5)  # 3 and 4 never came: the ring cannot stay contiguous

    assert await ending_of(direct) == RESYNC
    assert connection.texts == []  # nothing after the hole reached it
    # A buffering reader gets the frame: its own merge finds the hole (a reset snapshot).
    assert await buffered_versions(buffered) == [5]
    _, ring = hub.attach(STORY)
    assert [frame.version for frame in ring] == [5]


# -- slow readers -------------------------------------------------------------------------


async def test_a_direct_reader_whose_socket_holds_too_much_is_dropped_and_the_rest_go_on(
    hub: Hub,
) -> None:
    await publish(hub, 1)
    slow, _ = hub.attach(STORY)
    fine, _ = hub.attach(STORY)
    stalled, flowing = FakeConnection(), FakeConnection()
    ended: list[Reader] = []
    slow.on_end = lambda: ended.append(slow)
    assert go_direct(hub, slow, stalled, last_sent=1)
    assert go_direct(hub, fine, flowing, last_sent=1)

    stalled.unsent = 990  # the next frame (about 110 bytes) would pass the bound
    await publish(hub, 2)
    await publish(hub, 3)

    assert ended == [slow]  # told once, at once: its writer may be stuck on the socket
    assert await ending_of(slow) == SLOW
    assert stalled.texts == []
    assert flowing.versions() == [2, 3]
    assert hub.stats.readers_dropped_slow == 1
    assert hub.stats.slow_reader_pending_bytes_max == 990


async def test_a_direct_reader_with_some_bytes_unsent_still_gets_frames_within_the_bound(
    hub: Hub,
) -> None:
    await publish(hub, 1)
    reader, _ = hub.attach(STORY)
    connection = FakeConnection()
    assert go_direct(hub, reader, connection, last_sent=1)
    connection.unsent = 500  # and a frame of about 110 bytes: within the bound
    await publish(hub, 2)
    assert connection.versions() == [2]
    assert reader.ending is None
    assert hub.stats.readers_dropped_slow == 0


async def test_a_buffering_reader_that_falls_too_far_behind_is_dropped_and_counted(
    hub: Hub,
) -> None:
    behind, _ = hub.attach(STORY)
    keeping_up, _ = hub.attach(STORY)
    published = 0
    while behind.ending is None:  # it never reads: its unsent frames pile up
        published += 1
        await publish(hub, published)
        assert (await keeping_up.next_frame()).version == published
        assert published < 100, "never dropped"
    assert await ending_of(behind) == SLOW
    assert hub.stats.readers_dropped_slow == 1
    assert 0 < hub.stats.slow_reader_pending_bytes_max <= 1_000
    await publish(hub, published + 1)  # the others go on
    assert (await keeping_up.next_frame()).version == published + 1


async def test_idle_channels_are_let_go_when_there_are_too_many_but_watched_ones_stay(
    hub: Hub,
) -> None:
    watched, _ = hub.attach(STORY)
    for _ in range(MAX_CHANNELS - 1):
        hub.channel(uuid4())
    assert len(hub.channels) == MAX_CHANNELS
    hub.channel(OTHER_STORY)  # one more: idle ones go, down to half
    assert len(hub.channels) == MAX_CHANNELS // 2
    assert STORY in hub.channels
    assert OTHER_STORY in hub.channels
    await publish(hub, 1)
    assert await buffered_versions(watched) == [1]


# -- shutdown -----------------------------------------------------------------------------


async def test_close_all_with_no_readers_returns_at_once(hub: Hub) -> None:
    await publish(hub, 1)
    await hub.close_all(1001, "server shutting down", grace=60)


async def test_close_all_ends_every_reader_and_waits_until_their_connections_close(
    hub: Hub,
) -> None:
    await publish(hub, 1)
    buffered, _ = hub.attach(STORY)
    direct, _ = hub.attach(OTHER_STORY)
    assert not go_direct(hub, direct, FakeConnection(), last_sent=1)  # other story: at 0
    assert go_direct(hub, direct, FakeConnection(), last_sent=0)
    closing = asyncio.ensure_future(hub.close_all(1001, "server shutting down", grace=60))
    await asyncio.sleep(0)
    assert await ending_of(buffered) == (1001, "server shutting down")
    assert await ending_of(direct) == (1001, "server shutting down")
    assert not closing.done()  # waiting for the connections
    buffered.mark_closed()
    direct.mark_closed()
    await closing


async def test_close_all_gives_up_on_a_connection_that_never_closes_after_the_grace(
    hub: Hub,
) -> None:
    stuck, _ = hub.attach(STORY)
    await hub.close_all(1001, "server shutting down", grace=0.01)
    assert stuck.ending == (1001, "server shutting down")


# -- the feed's side ----------------------------------------------------------------------


def test_events_before_the_hub_has_a_loop_or_after_it_closed_are_dropped_quietly() -> None:
    hub = Hub()
    hub.on_applied([applied(STORY, 1)])  # not bound yet: nothing to hand it to
    loop = asyncio.new_event_loop()
    hub.bind(loop)
    loop.close()
    hub.on_applied([applied(STORY, 1)])  # the server has stopped: no error in the feed
    assert hub.stats.frames_published == 0
