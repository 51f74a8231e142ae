"""Rebuilding the views from the log gives, row for row, what the feed built incrementally.

The suite is ``RebuildSuite``; each ``TestRebuild…`` subclass gives it a store. The views
are first built by a running feed while writers in several threads post, correct,
retract, pin and edit on several stories; then the feed stops (a rebuild runs with
the servers stopped) and the rebuild must reproduce every row. The ``liveblog rebuild``
command is tested on a SQLite file, in a subprocess.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

import liveblog.rebuild
import projections.views.rebuilding
import projections.views.rows
from liveblog.bootstrap import Parts
from liveblog.feed import Feed
from liveblog.rebuild import progress_bar, rebuild
from projections.states import StoryStates
from projections.views import ALL_VIEWS, REVISIONS, STORY_LIST, TIMELINE
from tests.e2e.server import liveblog_command
from tests.integration.processes import (
    TIMEOUT,
    Processes,
    busy_newsrooms,
    open_stories,
    story_versions,
)
from tests.integration.views_oracle import fold_rows, views_rows, write_scenario


@dataclass(frozen=True)
class Built:
    """A process whose views the feed built while writers ran; its feed now stopped."""

    parts: Parts
    dump: dict[str, list[tuple[Any, ...]]]
    events: int  # story events in the log
    top: int  # the log's newest notification id


class RebuildSuite:
    """``rebuild``; subclasses supply the ``database_url`` fixture."""

    workers: ClassVar[int] = 4
    rounds: ClassVar[int] = 4

    @pytest.fixture
    def built(self, processes: Processes) -> Built:
        parts, _ = processes.build()
        story_ids = open_stories(parts.newsroom, 3)
        write_scenario(parts.newsroom)
        busy_newsrooms([parts.newsroom], story_ids, workers=self.workers, rounds=self.rounds)
        assert parts.feed.catch_up(TIMEOUT)
        parts.feed.stop()
        top = parts.newsroom.recorder.max_notification_id()
        assert top is not None
        assert parts.views.positions() == dict.fromkeys(ALL_VIEWS, top)
        events = sum(len(v) for v in story_versions(parts.newsroom).values())
        return Built(parts, parts.views.dump(), events, top)

    def test_the_incrementally_built_views_equal_the_fold(self, built: Built) -> None:
        assert views_rows(built.parts.views) == fold_rows(built.parts.newsroom)
        assert all(built.dump[view] for view in ALL_VIEWS)

    def test_rebuilding_every_view_gives_every_row_again(self, built: Built) -> None:
        result = rebuild(built.parts.newsroom, built.parts.views)

        assert result.events == built.events
        assert built.parts.views.dump() == built.dump
        assert built.parts.views.positions() == dict.fromkeys(ALL_VIEWS, built.top)

    def test_rebuilding_the_timeline_alone_gives_its_rows_and_leaves_the_others(
        self, built: Built
    ) -> None:
        views = built.parts.views
        # Emptied beforehand, the story list shows whether the rebuild touched it.
        views.drop([STORY_LIST])

        result = rebuild(built.parts.newsroom, views, names=[TIMELINE])

        assert result.events == built.events
        dumped = views.dump()
        assert dumped[TIMELINE] == built.dump[TIMELINE]
        assert dumped[REVISIONS] == built.dump[REVISIONS]
        assert dumped[STORY_LIST] == []
        assert views.positions() == {STORY_LIST: 0, TIMELINE: built.top, REVISIONS: built.top}

    def test_progress_is_reported_page_by_page_up_to_the_top(
        self, built: Built, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(liveblog.rebuild, "PAGE_SIZE", 7)
        calls: list[tuple[int, int, float]] = []

        rebuild(
            built.parts.newsroom,
            built.parts.views,
            progress=lambda done, total, elapsed: calls.append((done, total, elapsed)),
        )

        positions = [done for done, _, _ in calls]
        assert len(calls) >= built.top // 7
        assert positions == sorted(set(positions))  # strictly increasing
        assert positions[-1] == built.top
        assert {total for _, total, _ in calls} == {built.top}
        elapsed = [seconds for _, _, seconds in calls]
        assert elapsed == sorted(elapsed)
        assert elapsed[0] >= 0
        # Small pages or one big one: the same rows.
        assert built.parts.views.dump() == built.dump

    def test_small_chunks_and_statements_give_the_same_rows(
        self, built: Built, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Many commits, several multi-row statements each, and updates changed again in
        # later chunks (the scenario corrects and flags them after posting).
        monkeypatch.setattr(liveblog.rebuild, "PAGE_SIZE", 5)
        monkeypatch.setattr(projections.views.rebuilding, "REBUILD_CHUNK", 11)
        monkeypatch.setattr(projections.views.rows, "BULK_PARAMETERS", 30)

        result = rebuild(built.parts.newsroom, built.parts.views)

        assert result.events == built.events
        assert built.parts.views.dump() == built.dump
        assert built.parts.views.positions() == dict.fromkeys(ALL_VIEWS, built.top)

    def test_a_failed_rebuild_leaves_views_at_a_consistent_position(
        self, built: Built, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(liveblog.rebuild, "PAGE_SIZE", 5)
        monkeypatch.setattr(projections.views.rebuilding, "REBUILD_CHUNK", 11)
        real_advance = StoryStates.advance
        seen = 0

        def failing_advance(self: StoryStates, event: Any) -> Any:
            nonlocal seen
            seen += 1
            if seen > built.events // 2:
                msg = "the fold failed"
                raise RuntimeError(msg)
            return real_advance(self, event)

        monkeypatch.setattr(StoryStates, "advance", failing_advance)
        with pytest.raises(RuntimeError, match="the fold failed"):
            rebuild(built.parts.newsroom, built.parts.views)

        # The chunks committed so far hold their positions; a feed carries on from
        # there and ends with every row.
        positions = built.parts.views.positions()
        assert 0 < positions[TIMELINE] < built.top
        assert positions == dict.fromkeys(ALL_VIEWS, positions[TIMELINE])
        monkeypatch.undo()
        feed = Feed(built.parts.newsroom, built.parts.views)
        feed.start()
        try:
            assert feed.catch_up(TIMEOUT)
        finally:
            feed.stop()
        assert built.parts.views.dump() == built.dump
        assert built.parts.views.positions() == dict.fromkeys(ALL_VIEWS, built.top)

    def test_rebuilding_an_empty_log_leaves_empty_views(self, processes: Processes) -> None:
        parts, _ = processes.build(start=False)
        calls: list[int] = []

        result = rebuild(parts.newsroom, parts.views, progress=lambda d, t, e: calls.append(d))

        assert result.events == 0
        assert calls == []
        assert parts.views.dump() == {view: [] for view in ALL_VIEWS}


class TestRebuildInMemory(RebuildSuite):
    @pytest.fixture
    def database_url(self) -> str:
        return "memory://"


def run_rebuild_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``liveblog rebuild ARGS``; both streams kept (the progress bar is on stderr)."""
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": database_url}
    done = subprocess.run(
        liveblog_command("rebuild", *args),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


class TestRebuildOnSQLite(RebuildSuite):
    @pytest.fixture
    def database_url(self, sqlite_url: str) -> str:
        return sqlite_url

    @pytest.fixture(autouse=True)
    def writer_process_always(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # These logs are small: without this, the rows would be written from a thread.
        monkeypatch.setattr(liveblog.rebuild, "PROCESS_WRITER_FROM", 0)

    def test_the_connection_settings_are_put_back(self, built: Built) -> None:
        datastore = built.parts.views.datastore

        def settings() -> list[tuple[int, int]]:
            # Every connection of the pool, each checked out while holding the others.
            with contextlib.ExitStack() as held:
                connections = [
                    held.enter_context(datastore.get_connection(commit=False)) for _ in range(3)
                ]
                found = []
                for connection in connections:
                    cursor = connection.cursor()
                    cursor.execute("PRAGMA synchronous")
                    synchronous = cursor.fetchone()[0]
                    cursor.execute("PRAGMA cache_size")
                    found.append((synchronous, cursor.fetchone()[0]))
                return found

        before = settings()
        rebuild(built.parts.newsroom, built.parts.views)
        assert settings() == before

    def test_the_rebuild_command_prints_progress_and_a_completion_line(
        self, built: Built, database_url: str
    ) -> None:
        built.parts.views.drop()  # the command must bring every row back

        done = run_rebuild_cli(database_url)

        last = done.stdout.strip().splitlines()[-1]
        assert last.startswith(
            f"rebuilt story_list, timeline, revisions from {built.events:,} events in "
        )
        assert last.endswith("events/s)")
        assert "events" in done.stderr
        assert "/s" in done.stderr
        assert "ETA" in done.stderr
        assert f"{built.top:,}/{built.top:,} events" in done.stderr
        assert built.parts.views.dump() == built.dump
        assert built.parts.views.positions() == dict.fromkeys(ALL_VIEWS, built.top)

    def test_the_rebuild_command_can_rebuild_one_projection(
        self, built: Built, database_url: str
    ) -> None:
        built.parts.views.drop()

        done = run_rebuild_cli(database_url, "--projection", "revisions")

        assert (
            done.stdout.strip()
            .splitlines()[-1]
            .startswith(f"rebuilt revisions from {built.events:,} events")
        )
        dumped = built.parts.views.dump()
        assert dumped[REVISIONS] == built.dump[REVISIONS]
        assert dumped[STORY_LIST] == dumped[TIMELINE] == []


@pytest.mark.postgres
class TestRebuildOnPostgreSQL(RebuildSuite):
    @pytest.fixture
    def database_url(self, fresh_postgres_url: str) -> str:
        return fresh_postgres_url


def test_the_progress_bar_shows_count_rate_and_time_left() -> None:
    stream = io.StringIO()
    show = progress_bar(stream, width=10)

    show(250, 1_000, 0.5)
    assert stream.getvalue() == "\r[##........] 250/1,000 events  500/s  ETA 2s"
    show(1_000, 1_000, 2.0)
    assert stream.getvalue().endswith("\r[##########] 1,000/1,000 events  500/s  ETA 0s\n")
