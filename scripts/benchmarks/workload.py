"""What every workload of ``scripts/bench`` is given (sizes, a folder, the children) and
returns (rows of the summary table)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from scripts.benchmarks.common import Children


@dataclass
class Row:
    """One line of the summary table."""

    workload: str
    project: str = "n/a"
    baseline: str = "n/a"
    ratio: float = math.nan
    goal: str = ""
    met: bool | None = None  # None: not measured
    notes: list[str] = field(default_factory=list)
    # A row shown for comparison, with no goal: ``met`` says only that it was measured.
    report_only: bool = False

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "n/a"
        if self.report_only:
            return "—"
        return "yes" if self.met else "NO"


@dataclass(frozen=True)
class Sizes:
    """The workloads' sizes: DESIGN §8's (full), or smaller ones on the same code paths."""

    fanout_readers: int
    fanout_posts: int
    capacity_readers: int
    join_readers: int
    read_seconds: float
    write_posts: int
    rebuild_stories: int
    rebuild_events: int
    resume_readers: int
    growth_updates: int
    growth_measured: int
    story_updates: int = 300  # the join storm's and the read API's story
    read_rounds: int = 10  # read_seconds per target, split into alternating rounds
    write_rounds: int = 4  # write_posts per side, split into alternating rounds
    fanout_rounds: int = 5  # fan-out pairs (project and baseline), in turns
    rebuild_rounds: int = 3  # rebuild and raw-read pairs, in turns
    resume_posts: int = 1_050  # posted while the server runs: the ring holds them all
    resume_lag: int = 1_000  # readers resume up to this many versions behind
    handshakes: int = 200  # readers joining at once

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            fanout_readers=5_000, fanout_posts=20, capacity_readers=10_000, join_readers=2_000,
            read_seconds=10.0, write_posts=2_000, rebuild_stories=100, rebuild_events=100_000,
            resume_readers=1_000, growth_updates=10_000, growth_measured=500,
        )  # fmt: skip

    @classmethod
    def quick(cls) -> Sizes:
        """Every workload's code path, small: a smoke test that fits in CI (about a minute)."""
        return cls(
            fanout_readers=200, fanout_posts=4, capacity_readers=500, join_readers=300,
            read_seconds=1.5, write_posts=200, rebuild_stories=5, rebuild_events=5_000,
            resume_readers=100, growth_updates=1_000, growth_measured=100, story_updates=50,
            read_rounds=3, write_rounds=2, fanout_rounds=1, rebuild_rounds=1,
            resume_posts=120, resume_lag=100, handshakes=100,
        )  # fmt: skip


@dataclass
class Context:
    sizes: Sizes
    children: Children
    work: Path

    def folder(self, name: str) -> Path:
        path = self.work / name
        path.mkdir(parents=True, exist_ok=True)
        return path
