"""The rebuild's writer process, on a real SQLite file: it writes, and when it fails the
rebuild says so, with the views left at the last chunk it committed.

The rebuild as a whole (row for row against the feed's views) is tested in
``test_rebuild.py``; on a SQLite file every one of those rebuilds goes through this
writer.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

import liveblog.rebuild
import projections.views.rebuilding
from liveblog.bootstrap import Parts
from liveblog.rebuild import rebuild
from liveblog.rebuild_writer import ProcessChunkWriter, RebuildWriteError, sqlite_file_of
from projections.states import StoryStates
from projections.views import ALL_VIEWS, TIMELINE
from projections.views.rebuilding import ChunkRows, ThreadChunkWriter, pack_chunk
from tests.integration.processes import Processes, open_stories
from tests.integration.views_oracle import write_scenario


@pytest.fixture
def parts(sqlite_url: str) -> Iterator[Parts]:
    processes = Processes(sqlite_url)
    try:
        made, _ = processes.build(start=False)
        open_stories(made.newsroom, 2)
        write_scenario(made.newsroom)
        yield made
    finally:
        processes.close_all()


@pytest.fixture(autouse=True)
def writer_process_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(liveblog.rebuild, "PROCESS_WRITER_FROM", 0)


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[ProcessChunkWriter]:
    """Every writer the rebuild makes, in order."""
    writers: list[ProcessChunkWriter] = []

    class Recorded(ProcessChunkWriter):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            writers.append(self)

    monkeypatch.setattr(liveblog.rebuild, "ProcessChunkWriter", Recorded)
    return writers


def writer_for(parts: Parts) -> ProcessChunkWriter:
    datastore = sqlite_file_of(parts.views)
    assert datastore is not None
    return ProcessChunkWriter(datastore, list(ALL_VIEWS))


@contextlib.contextmanager
def first_chunk_committed(parts: Parts) -> Iterator[ProcessChunkWriter]:
    """A child writer that has committed a first chunk (every view at position 3);
    closed at the end."""
    writer = writer_for(parts)
    try:
        writer.send(packed(3, drop=True))
        writer.wait()
        yield writer
    finally:
        writer.close()


def packed(position: int, *, drop: bool = False) -> bytes:
    """A chunk with no rows that moves every view to ``position``."""
    return pack_chunk(drop, position, ChunkRows([], [], []))


def test_a_rebuild_on_a_sqlite_file_writes_in_a_child_that_then_exits(
    parts: Parts, made: list[ProcessChunkWriter]
) -> None:
    top = parts.newsroom.recorder.max_notification_id()

    rebuild(parts.newsroom, parts.views)

    assert len(made) == 1
    assert made[0].returncode == 0
    assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, top)


def test_a_small_log_is_rebuilt_without_a_child(
    parts: Parts, made: list[ProcessChunkWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    top = parts.newsroom.recorder.max_notification_id() or 0
    monkeypatch.setattr(liveblog.rebuild, "PROCESS_WRITER_FROM", top + 1)

    rebuild(parts.newsroom, parts.views)

    assert made == []
    assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, top)


def test_the_in_memory_store_has_no_file_for_a_child() -> None:
    processes = Processes("memory://")
    try:
        made, _ = processes.build(start=False)
        assert sqlite_file_of(made.views) is None
    finally:
        processes.close_all()


def test_a_chunk_the_child_cannot_write_fails_with_its_error_and_keeps_the_last_commit(
    parts: Parts,
) -> None:
    with first_chunk_committed(parts) as writer:
        writer.send(b"this is not a packed chunk")
        writer.send(packed(9))  # queued behind it: chunks commit in order, so never
        with pytest.raises(RebuildWriteError, match="JSONDecodeError"):
            writer.wait()
    assert writer.returncode == 1
    assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, 3)


def test_the_thread_writer_writes_no_chunk_after_one_that_failed(parts: Parts) -> None:
    with parts.views.rebuild_transactions() as transaction:
        writer = ThreadChunkWriter(parts.views, transaction, ALL_VIEWS)
        try:
            writer.send(packed(3, drop=True))
            writer.send(b"this is not a packed chunk")
            writer.send(packed(9))
            writer.wait()
            with pytest.raises(orjson.JSONDecodeError):
                writer.wait()
            with pytest.raises(RuntimeError, match="an earlier chunk of this rebuild failed"):
                writer.wait()
        finally:
            writer.close()
    assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, 3)


def test_a_child_that_dies_makes_the_rebuild_fail_saying_so(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(liveblog.rebuild, "PAGE_SIZE", 2)
    monkeypatch.setattr(projections.views.rebuilding, "REBUILD_CHUNK", 2)
    real_send = ProcessChunkWriter.send
    sent = 0

    def send_then_kill(self: ProcessChunkWriter, data: bytes) -> None:
        nonlocal sent
        sent += 1
        if sent == 3:
            os.kill(self.pid, signal.SIGKILL)
        real_send(self, data)

    monkeypatch.setattr(ProcessChunkWriter, "send", send_then_kill)
    with pytest.raises(RebuildWriteError, match=f"exited with code -{signal.SIGKILL}"):
        rebuild(parts.newsroom, parts.views)

    # The two chunks committed before the child died hold their rows and positions.
    positions = parts.views.positions()
    assert positions == dict.fromkeys(ALL_VIEWS, positions[TIMELINE])
    assert 0 < positions[TIMELINE] < (parts.newsroom.recorder.max_notification_id() or 0)


def test_a_child_killed_by_the_os_is_reported_with_its_exit_and_closing_then_is_quiet(
    parts: Parts,
) -> None:
    with first_chunk_committed(parts) as writer:  # closing it raises nothing
        os.kill(writer.pid, signal.SIGKILL)  # as the kernel's OOM killer would
        writer.send(packed(5))
        with pytest.raises(RebuildWriteError, match=f"exited with code -{signal.SIGKILL}"):
            writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, 3)


def test_a_fold_that_fails_stops_the_child_after_its_last_chunk(
    parts: Parts, made: list[ProcessChunkWriter], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_advance(self: Any, event: Any) -> Any:
        msg = "the fold failed"
        raise RuntimeError(msg)

    monkeypatch.setattr(StoryStates, "advance", failing_advance)
    with pytest.raises(RuntimeError, match="the fold failed"):
        rebuild(parts.newsroom, parts.views)

    assert made[0].returncode == 0  # told to stop, it stopped cleanly
