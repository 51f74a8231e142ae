"""Where a rebuild cuts its chunks: growing from REBUILD_FIRST_CHUNK notifications to
REBUILD_CHUNK, so that the writer starts early, and halving near the end, so that the
last write, which nothing overlaps, is short. At most CHUNKS_IN_FLIGHT are outstanding."""

from __future__ import annotations

import pytest

import projections.views.rebuilding
from projections.views import ALL_VIEWS
from projections.views.rebuilding import Rebuilding, unpack_chunk


class RecordingWriter:
    """A ChunkWriter that keeps each packed chunk's drop flag and position, and counts the
    chunks sent and not waited for."""

    def __init__(self) -> None:
        self.chunks: list[tuple[bool, int]] = []
        self.outstanding = 0
        self.most_outstanding = 0

    def send(self, packed: bytes) -> None:
        drop, position, *_ = unpack_chunk(packed)
        self.chunks.append((drop, position))
        self.outstanding += 1
        self.most_outstanding = max(self.most_outstanding, self.outstanding)

    def wait(self) -> None:
        assert self.outstanding > 0, "waited for a chunk never sent"
        self.outstanding -= 1

    def close(self) -> None:
        pass


def cuts(top: int, pages: list[int]) -> list[tuple[bool, int]]:
    return run(top, pages).chunks


def run(top: int, pages: list[int]) -> RecordingWriter:
    writer = RecordingWriter()
    rebuilding = Rebuilding(ALL_VIEWS, writer, top)
    for position in pages:
        rebuilding.page_done(position)
    rebuilding.finish()
    return writer


@pytest.fixture(autouse=True)
def chunk_of_40(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projections.views.rebuilding, "REBUILD_CHUNK", 40)
    monkeypatch.setattr(projections.views.rebuilding, "REBUILD_FIRST_CHUNK", 40)


def test_chunks_grow_from_the_first_size_then_halve_towards_the_top(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projections.views.rebuilding, "REBUILD_FIRST_CHUNK", 10)
    assert cuts(200, list(range(10, 201, 10))) == [
        (True, 10), (False, 30), (False, 70), (False, 110), (False, 150), (False, 180),
        (False, 190), (False, 200),
    ]  # fmt: skip


def test_two_chunks_at_most_are_outstanding_and_none_after_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(projections.views.rebuilding, "REBUILD_FIRST_CHUNK", 10)
    writer = run(200, list(range(10, 201, 10)))
    assert writer.most_outstanding == projections.views.rebuilding.CHUNKS_IN_FLIGHT == 2
    assert writer.outstanding == 0


def test_chunks_halve_towards_the_top() -> None:
    assert cuts(100, list(range(10, 101, 10))) == [
        (True, 40), (False, 70), (False, 90), (False, 100)
    ]  # fmt: skip


def test_without_a_known_top_chunks_are_whole_and_the_rest_goes_last() -> None:
    assert cuts(0, list(range(10, 101, 10))) == [(True, 40), (False, 80), (False, 100)]


def test_an_empty_log_still_sends_one_chunk_that_empties_the_views() -> None:
    assert cuts(0, []) == [(True, 0)]
