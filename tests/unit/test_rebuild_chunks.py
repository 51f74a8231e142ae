"""Where a rebuild cuts its chunks: every REBUILD_CHUNK notifications, halving near the
end so that the last write, which nothing overlaps, is short."""

from __future__ import annotations

import pytest

import projections.views
from projections.views import ALL_VIEWS, Rebuilding, read_frame


class RecordingWriter:
    """A ChunkWriter that keeps each frame's drop flag and position."""

    def __init__(self) -> None:
        self.chunks: list[tuple[bool, int]] = []

    def send(self, frame: bytes) -> None:
        drop, position, *_ = read_frame(frame)
        self.chunks.append((drop, position))

    def wait(self) -> None:
        pass

    def close(self) -> None:
        pass


def cuts(top: int, pages: list[int]) -> list[tuple[bool, int]]:
    writer = RecordingWriter()
    rebuilding = Rebuilding(ALL_VIEWS, writer, top)
    for position in pages:
        rebuilding.page_done(position)
    rebuilding.finish()
    return writer.chunks


@pytest.fixture(autouse=True)
def chunk_of_40(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projections.views, "REBUILD_CHUNK", 40)


def test_chunks_halve_towards_the_top() -> None:
    assert cuts(100, list(range(10, 101, 10))) == [
        (True, 40), (False, 70), (False, 90), (False, 100)
    ]  # fmt: skip


def test_without_a_known_top_chunks_are_whole_and_the_rest_goes_last() -> None:
    assert cuts(0, list(range(10, 101, 10))) == [(True, 40), (False, 80), (False, 100)]


def test_an_empty_log_still_sends_one_chunk_that_empties_the_views() -> None:
    assert cuts(0, []) == [(True, 0)]
