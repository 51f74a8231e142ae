"""Story growth (DESIGN §8): the cost of a post on a story of 10,000 updates against one
on a fresh story, interleaved in one process."""

from __future__ import annotations

import os
import statistics
import time
from uuid import UUID

from scripts.benchmarks.common import Meter, ratio
from scripts.benchmarks.inprocess import WHO, body, newsroom_on, seed_story
from scripts.benchmarks.workload import Context, Row


def run(ctx: Context) -> list[Row]:
    updates, measured = ctx.sizes.growth_updates, ctx.sizes.growth_measured
    with newsroom_on(ctx.folder("growth") / "growth.sqlite3") as newsroom:
        fresh = seed_story(newsroom, "bench-growth-fresh", 0)
        long = seed_story(newsroom, "bench-growth-long", updates)
        costs: dict[UUID, list[float]] = {fresh: [], long: []}
        for story_id in costs:  # warm-up: the aggregate cache now holds both
            newsroom.post_update(story_id, body="Warm-up.", actor=WHO)
        meter = Meter(os.getpid())
        for seq in range(measured):  # interleaved, so drift in the machine hits both
            for story_id, spent in costs.items():
                started = time.perf_counter()
                newsroom.post_update(story_id, body=body(seq), actor=WHO)
                spent.append((time.perf_counter() - started) * 1000)
        meter.stop()
    mean_fresh, mean_long = statistics.fmean(costs[fresh]), statistics.fmean(costs[long])
    share = ratio(mean_long, mean_fresh)
    row = Row(
        f"story growth, post at {updates:,} updates vs fresh", f"{mean_long:.3f} ms/post",
        f"{mean_fresh:.3f} ms/post", share, "≤ 1.5×", share <= 1.5,
    )  # fmt: skip
    row.notes.append(
        f"{measured} posts on each, interleaved; median {statistics.median(costs[long]):.3f} "
        f"vs {statistics.median(costs[fresh]):.3f} ms, max {max(costs[long]):.1f} vs "
        f"{max(costs[fresh]):.1f} ms (every 100th post takes a snapshot of the story); "
        f"{meter.describe('bench process')}"
    )
    return [row]
