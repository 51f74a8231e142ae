"""The pace of an editors' replay, on a fake clock: SPEED, the gaps, the cap, ``max``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from liveblog.replay_clock import (
    MAX_GAP_SECONDS,
    BadSpeed,
    ReplayClock,
    parse_speed,
    scaled_gap,
)

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


class FakeClock:
    """Time that passes only when the replay waits (or a test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def times(*seconds: float) -> list[datetime]:
    return [START + timedelta(seconds=s) for s in seconds]


def paced(speed: float | None, stamps: list[datetime], clock: FakeClock) -> list[float]:
    """What a replay waits before each event, sent as soon as it is due."""
    pace = ReplayClock(speed, clock)
    waits = []
    for at in stamps:
        wait = pace.wait_before(at)
        waits.append(wait)
        clock.sleep(wait)
    return waits


@pytest.mark.parametrize(
    ("raw", "speed"),
    [("1", 1.0), ("60", 60.0), ("2.5", 2.5), ("10000", 10000.0), ("max", None)],
)
def test_a_speed_is_a_number_from_1_to_10000_or_max(raw: str, speed: float | None) -> None:
    assert parse_speed(raw) == speed


@pytest.mark.parametrize(
    "raw",
    ["0", "0.5", "10001", "-1", "+5", " 5", "1e3", "1e999", "inf", "NaN", "nan", "1_0",
     "abc", "", "MAX", "５", "0x10", "1.2345", "99999999999"],
)  # fmt: skip
def test_any_other_speed_is_refused(raw: str) -> None:
    with pytest.raises(BadSpeed, match="a number from 1 to 10,000 or max"):
        parse_speed(raw)


def test_each_wait_is_the_original_gap_divided_by_the_speed() -> None:
    clock = FakeClock()
    waits = paced(60, times(0, 60, 90, 390, 391.2), clock)
    assert waits == [0.0, 1.0, 0.5, 5.0, pytest.approx(0.02)]


def test_a_wait_is_capped_at_ten_seconds_after_scaling() -> None:
    clock = FakeClock()
    # 20 minutes at 60×: 20 s, capped; 9 minutes at 60×: 9 s, not capped.
    waits = paced(60, times(0, 1200, 1740, 1740 + 86400), clock)
    assert waits == [0.0, MAX_GAP_SECONDS, 9.0, MAX_GAP_SECONDS]
    # At 1×, any gap over ten seconds is ten seconds.
    assert paced(1, times(0, 11, 21), FakeClock()) == [0.0, 10.0, 10.0]


def test_max_never_waits() -> None:
    clock = FakeClock()
    assert paced(None, times(0, 3600, 7200), clock) == [0.0, 0.0, 0.0]
    assert clock.now == 1000.0


def test_time_spent_sending_is_taken_from_the_next_wait() -> None:
    clock = FakeClock()
    pace = ReplayClock(10, clock)
    first, second, third = times(0, 50, 100)
    assert pace.wait_before(first) == 0.0
    clock.now += 2.0  # a slow page read
    assert pace.wait_before(second) == 3.0
    clock.sleep(3.0)
    clock.now += 7.0  # a send slower than the gap: the next event is late, sent at once
    assert pace.wait_before(third) == 0.0


def test_an_event_stamped_before_the_one_it_follows_waits_for_nothing() -> None:
    earlier, later = times(0, 30)
    assert scaled_gap(later, earlier, 1) == 0.0
    assert paced(1, [later, earlier], FakeClock()) == [0.0, 0.0]
