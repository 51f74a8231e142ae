"""Write rate limits: a token bucket per API token, sans I/O (the caller passes the time).

Each token may write ``burst`` times at once, then ``rate`` times a second on average. The
buckets live in memory, one set per process: a limit is per process, which a deployment
of N processes multiplies by N at most (a token usually talks to one process at a time).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` a second; one taken per write."""

    rate: float
    burst: int
    tokens: float
    updated: float

    @classmethod
    def full(cls, rate: float, burst: int, now: float) -> TokenBucket:
        return cls(rate, burst, float(burst), now)

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)  # a clock that steps back refills nothing
        self.tokens = min(float(self.burst), self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def take(self, now: float) -> float:
        """0.0 when a write may go ahead (and is counted); else the seconds until one may."""
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self.refill(now)
        return self.tokens >= self.burst


class RateLimiter:
    """One bucket per key (a token's id), created full on first use.

    A full bucket is the same as no bucket, so when there are more than ``max_keys``
    the full ones are dropped. Keys are the ids of valid tokens (the limit applies after
    authentication), so only tokens an admin issued can make buckets at all.
    """

    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1:
            msg = "a rate limit needs a positive rate and a burst of at least 1"
            raise ValueError(msg)
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.refused = 0  # writes answered 429 so far, for /metrics
        self._buckets: dict[Hashable, TokenBucket] = {}

    def check(self, key: Hashable, now: float) -> float:
        """0.0 when ``key`` may write now (counted); else the seconds to wait."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._drop_full(now)
            bucket = self._buckets[key] = TokenBucket.full(self.rate, self.burst, now)
        wait = bucket.take(now)
        if wait > 0:
            self.refused += 1
        return wait

    def __len__(self) -> int:
        return len(self._buckets)

    def _drop_full(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            if bucket.is_full(now):
                del self._buckets[key]


def retry_after(wait: float) -> str:
    """A ``Retry-After`` value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(wait)))
