"""Readiness from the background check: the store, the feed, and a check that is stuck."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import pytest
from eventsourcing.persistence import OperationalError

from liveblog import deadline, health
from liveblog.feed import Feed
from liveblog.health import HealthMonitor


@dataclass
class FakeFollower:
    position: int = 0
    problem: str | None = None


def monitor(newest: Any, feed: FakeFollower) -> HealthMonitor:
    return HealthMonitor(newest, cast(Feed, feed))


def test_not_checked_yet_is_not_ready() -> None:
    readiness = monitor(lambda: 0, FakeFollower()).readiness()
    assert not readiness.ready
    assert readiness.reason == "not checked yet"


def test_a_reachable_store_and_a_following_feed_are_ready() -> None:
    checked = monitor(lambda: 3, FakeFollower(position=3))
    checked.check()
    assert checked.readiness().ready


def test_an_unreachable_store_is_not_ready_and_says_so() -> None:
    def newest() -> int:
        raise OperationalError("connection refused")

    checked = monitor(newest, FakeFollower())
    checked.check()
    readiness = checked.readiness()
    assert not readiness.ready
    assert "store is unavailable" in readiness.reason


def test_the_store_check_runs_under_its_own_deadline() -> None:
    seen: list[float | None] = []

    def newest() -> int:
        seen.append(deadline.remaining())
        return 0

    monitor(newest, FakeFollower()).check()
    assert seen[0] is not None
    assert 0 < seen[0] <= health.CHECK_DEADLINE_SECONDS


def test_a_failing_feed_is_not_ready() -> None:
    checked = monitor(lambda: 0, FakeFollower(problem="the feed cannot read the log"))
    checked.check()
    assert checked.readiness().reason == "the feed cannot read the log"


def test_a_feed_behind_the_log_for_too_long_is_not_ready(monkeypatch: pytest.MonkeyPatch) -> None:
    feed = FakeFollower(position=1)
    checked = monitor(lambda: 5, feed)
    checked.check()
    assert checked.readiness().ready  # a moment behind is a burst of writes
    monkeypatch.setattr(health, "FEED_LAG_SECONDS", -1.0)
    checked.check()
    assert checked.readiness().reason == "the feed is 4 events behind the log"
    feed.position = 5
    checked.check()
    assert checked.readiness().ready


def test_a_check_that_has_not_finished_lately_is_not_trusted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked = monitor(lambda: 0, FakeFollower())
    checked.check()
    monkeypatch.setattr(health, "STALE_SECONDS", -1.0)
    assert "has not finished" in checked.readiness().reason
