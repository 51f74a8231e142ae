"""The write rate limit's token buckets, driven by a clock the test moves."""

from __future__ import annotations

import pytest

from liveblog.rate_limit import RateLimiter, TokenBucket, retry_after
from liveblog.settings import Settings, SettingsError


def test_a_full_bucket_allows_its_burst_at_once_then_asks_to_wait() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=3, now=0.0)

    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(1.0)


def test_the_bucket_refills_at_its_rate_and_never_beyond_its_burst() -> None:
    bucket = TokenBucket.full(rate=2.0, burst=2, now=0.0)
    bucket.take(0.0)
    bucket.take(0.0)

    assert bucket.take(0.25) == pytest.approx(0.25)  # half a token back: wait for the rest
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) == 0.0
    assert bucket.take(100.0) > 0.0  # an hour idle still gives only the burst


def test_a_clock_that_steps_back_refills_nothing() -> None:
    bucket = TokenBucket.full(rate=1.0, burst=1, now=10.0)
    bucket.take(10.0)

    assert bucket.take(5.0) == pytest.approx(1.0)
    assert bucket.take(10.5) == pytest.approx(0.5)


def test_sixty_a_minute_with_a_burst_of_twenty() -> None:
    limiter = RateLimiter(rate=1.0, burst=20)
    allowed = [limiter.check("aida", 0.0) == 0.0 for _ in range(25)]
    assert allowed.count(True) == 20
    assert allowed[-1] is False

    # A busy reporter posting once every two seconds is never held back.
    steady = RateLimiter(rate=1.0, burst=20)
    assert all(steady.check("aida", t * 2.0) == 0.0 for t in range(600))


def test_each_key_has_its_own_bucket() -> None:
    limiter = RateLimiter(rate=1.0, burst=1)

    assert limiter.check("aida", 0.0) == 0.0
    assert limiter.check("aida", 0.0) > 0.0
    assert limiter.check("erin", 0.0) == 0.0
    assert limiter.refused == 1


def test_full_buckets_are_dropped_when_there_are_too_many() -> None:
    limiter = RateLimiter(rate=1.0, burst=2, max_keys=3)
    limiter.check("busy", 0.0)
    limiter.check("busy", 0.0)
    for key in ("a", "b"):
        limiter.check(key, 0.0)

    limiter.check("c", 10.0)  # by now "a" and "b" are full again, and "busy" has refilled

    assert len(limiter) <= 3
    limiter.check("busy", 10.0)
    limiter.check("busy", 10.0)
    assert limiter.check("busy", 10.0) > 0.0  # a dropped bucket comes back full, no fuller


def test_an_empty_bucket_is_never_dropped_to_make_room() -> None:
    limiter = RateLimiter(rate=0.001, burst=1, max_keys=2)
    limiter.check("spent", 0.0)
    for n in range(10):
        limiter.check(f"other-{n}", 0.0)

    assert limiter.check("spent", 1.0) > 0.0


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 1), (-1.0, 1), (1.0, 0)])
def test_a_limit_needs_a_positive_rate_and_burst(rate: float, burst: int) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        RateLimiter(rate=rate, burst=burst)


@pytest.mark.parametrize(("wait", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.5, "60")])
def test_retry_after_is_whole_seconds_rounded_up(wait: float, header: str) -> None:
    assert retry_after(wait) == header


def test_by_default_a_token_writes_twenty_times_at_once_then_once_a_second() -> None:
    settings = Settings.from_environ({})
    assert settings.write_rate is not None
    limiter = RateLimiter(settings.write_rate, settings.write_burst)
    assert [limiter.check("aida", 0.0) for _ in range(20)] == [0.0] * 20
    assert limiter.check("aida", 0.0) == pytest.approx(1.0)
    assert limiter.check("aida", 1.0) == 0.0
    assert limiter.check("aida", 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("raw", "per_second"),
    [("60/min", 1.0), ("2/s", 2.0), ("7200/h", 2.0), (" 30/minute ", 0.5), ("0.5/sec", 0.5),
     ("off", None), ("OFF", None), ("none", None)],
)  # fmt: skip
def test_the_write_rate_is_read_from_the_environment(raw: str, per_second: float | None) -> None:
    settings = Settings.from_environ({"LIVEBLOG_WRITE_RATE": raw, "LIVEBLOG_WRITE_BURST": "5"})
    assert settings.write_rate == (None if per_second is None else pytest.approx(per_second))
    assert settings.write_burst == 5


@pytest.mark.parametrize(
    ("name", "raw"),
    [("LIVEBLOG_WRITE_RATE", "60"), ("LIVEBLOG_WRITE_RATE", "0"),
     ("LIVEBLOG_WRITE_RATE", "60/day"), ("LIVEBLOG_WRITE_RATE", "many/min"),
     ("LIVEBLOG_WRITE_RATE", "-1/s"), ("LIVEBLOG_WRITE_RATE", "nan/s"),
     ("LIVEBLOG_WRITE_BURST", "0"), ("LIVEBLOG_WRITE_BURST", "-3"),
     ("LIVEBLOG_WRITE_BURST", "lots")],
)  # fmt: skip
def test_a_bad_limit_setting_is_refused_naming_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_environ({name: raw})
