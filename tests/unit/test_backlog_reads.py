"""Far-back resumes share one bounded read of the store per story (sans-I/O but for the
event loop: the store read is a function the test counts)."""

from __future__ import annotations

import asyncio
import threading
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import PersistenceError

from liveblog.live.backlog import BacklogReads, Span
from liveblog.live.frames import Frame
from liveblog.web.live_session import backlog_reads

STORY = uuid4()


class FakeStore:
    """A story of ``newest`` events; counts reads, and can hold them until released."""

    def __init__(self, newest: int) -> None:
        self.newest = newest
        self.reads: list[int] = []
        self.probes: list[int] = []
        self.release = threading.Event()
        self.release.set()
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    async def reaches(self, story_id: UUID, version: int) -> bool:
        self.probes.append(version)
        return version <= self.newest

    def read(self, story_id: UUID, after: int) -> list[Frame] | None:
        with self._lock:
            self.reads.append(after)
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.release.wait(5)
            if after > self.newest:
                return None
            return [Frame(v, f"e{v}") for v in range(after + 1, self.newest + 1)]
        finally:
            with self._lock:
                self.running -= 1


async def in_thread(read: object, story_id: UUID, after: int) -> list[Frame] | None:
    assert callable(read)
    result: list[Frame] | None = await asyncio.to_thread(read, story_id, after)
    return result


def reads_of(store: FakeStore, **options: int) -> BacklogReads:
    return BacklogReads(store.read, in_thread, reaches=store.reaches, **options)


async def test_concurrent_resumes_of_one_story_share_one_read() -> None:
    store = FakeStore(newest=3_000)
    store.release.clear()
    backlogs = reads_of(store)
    ring = Span(1_977, 3_000)
    resumes = [
        asyncio.ensure_future(backlogs.frames_after(STORY, since, 3_000, ring))
        for since in [1] * 150 + list(range(2, 52))
    ]
    await asyncio.sleep(0.05)
    store.release.set()
    results = await asyncio.gather(*resumes)
    assert len(store.reads) == 1
    assert backlogs.stats.store_reads == 1
    for since, frames in zip([1] * 150 + list(range(2, 52)), results, strict=True):
        assert frames is not None
        assert [f.version for f in frames] == list(range(since + 1, 3_001))


async def test_a_later_resume_reuses_the_kept_backlog_while_the_ring_joins_it() -> None:
    store = FakeStore(newest=2_000)
    backlogs = reads_of(store)
    first = await backlogs.frames_after(STORY, 10, 2_000, Span(977, 2_000))
    again = await backlogs.frames_after(STORY, 500, 2_010, Span(987, 2_010))
    assert first is not None
    assert again is not None
    assert [f.version for f in again] == list(range(501, 2_001))  # the ring has the rest
    assert len(store.reads) == 1
    # Once the ring has moved past the kept backlog, it no longer serves: read again.
    store.newest = 4_000
    later = await backlogs.frames_after(STORY, 500, 4_000, Span(2_977, 4_000))
    assert later is not None
    assert [f.version for f in later][:1] == [501]
    assert len(store.reads) == 2


async def test_a_cursor_further_back_than_the_bound_is_a_reset_without_a_read() -> None:
    store = FakeStore(newest=10_000)
    backlogs = reads_of(store, max_frames=1_000)
    assert await backlogs.frames_after(STORY, 1, 10_000, Span(8_977, 10_000)) is None
    assert store.reads == []
    assert backlogs.stats.too_far_back == 1
    within = await backlogs.frames_after(STORY, 9_500, 10_000, None)
    assert within is not None
    assert len(within) == 500
    assert store.reads == [9_000]  # as far back as the bound allows, to serve the most


async def test_a_story_this_process_does_not_know_is_still_bounded_by_what_it_holds() -> None:
    store = FakeStore(newest=3_000)
    backlogs = reads_of(store, max_frames=1_000)
    assert await backlogs.frames_after(STORY, 1, 0, None) is None
    assert backlogs.stats.too_far_back == 1


async def test_a_cursor_beyond_the_story_is_a_reset() -> None:
    store = FakeStore(newest=50)
    backlogs = reads_of(store)
    assert await backlogs.frames_after(STORY, 10**9, 50, None) is None
    assert await backlogs.frames_after(STORY, 10**9, 50, None) is None  # kept or not


async def test_reads_of_many_stories_run_at_most_two_at_once() -> None:
    store = FakeStore(newest=100)
    store.release.clear()
    backlogs = reads_of(store)
    resumes = [
        asyncio.ensure_future(backlogs.frames_after(uuid4(), 1, 100, None)) for _ in range(6)
    ]
    await asyncio.sleep(0.05)
    store.release.set()
    await asyncio.gather(*resumes)
    assert len(store.reads) == 6
    assert store.most_at_once <= 2


async def test_a_failed_read_fails_every_resume_that_shared_it_and_the_next_reads_again() -> None:
    calls = 0

    def broken(story_id: UUID, after: int) -> list[Frame] | None:
        nonlocal calls
        calls += 1
        raise LookupError("no such story")

    backlogs = BacklogReads(broken, in_thread, reaches=FakeStore(10).reaches)
    shared = [asyncio.ensure_future(backlogs.frames_after(STORY, 1, 10, None)) for _ in range(5)]
    for outcome in await asyncio.gather(*shared, return_exceptions=True):
        assert isinstance(outcome, LookupError)
    with pytest.raises(LookupError):
        await backlogs.frames_after(STORY, 1, 10, None)
    assert calls == 2


async def test_a_cursor_beyond_the_story_in_the_store_is_a_reset_without_a_read() -> None:
    store = FakeStore(newest=100)
    backlogs = reads_of(store)
    for _ in range(5):  # a client looping on such a cursor costs a probe, never a fold
        assert await backlogs.frames_after(STORY, 10**9, 100, Span(1, 100)) is None
    assert store.reads == []
    assert store.probes == [10**9] * 5


async def test_a_cursor_another_process_wrote_a_moment_ago_is_served_exactly() -> None:
    # This process knows the story up to 100; another one has just written 101..103,
    # and the reader, who saw 102 there, moves here before the notification does.
    store = FakeStore(newest=103)
    backlogs = reads_of(store)
    frames = await backlogs.frames_after(STORY, 102, 100, Span(1, 100))
    assert frames is not None
    assert [f.version for f in frames] == [103]
    assert store.probes == [102]
    assert len(store.reads) == 1
    at_newest = await backlogs.frames_after(STORY, 103, 100, Span(1, 100))
    assert at_newest == []  # at the newest version: nothing missed, and no reset


async def test_a_backlog_the_fold_refuses_fails_as_a_store_failure_so_joins_close_1013() -> None:
    class Unfoldable:
        """A story whose stored events the fold refuses (not a Story event at all)."""

        def story_events(self, story_id: UUID, upto: int | None = None) -> list[object]:
            return [object()]

    backlogs = backlog_reads(Unfoldable(), max_frames=100)  # type: ignore[arg-type]
    with pytest.raises(PersistenceError):
        await backlogs.frames_after(STORY, 0, 0, None)
