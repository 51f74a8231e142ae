"""Write (DESIGN §8): ``POST …/updates`` from 8 reporters on SQLite: posts/s against the
application's own ``Newsroom.post_update`` + save, in-process; paired rounds in turns,
the median ratio counts."""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path
from typing import Any

from scripts.benchmarks.children import merged_statuses, run_clients
from scripts.benchmarks.common import num, ratio
from scripts.benchmarks.inprocess import WHO, body, newsroom_on, seed_story
from scripts.benchmarks.servers import start_project
from scripts.benchmarks.workload import Context, Row


class InProcessPoster:
    """The write baseline: ``Newsroom.post_update`` in a loop, one thread, one SQLite file.

    Kept open across the write workload's rounds, as the server under test is.
    """

    def __init__(self, path: Path) -> None:
        self._opened = newsroom_on(path)
        self.newsroom = self._opened.__enter__()
        self.story_id = seed_story(self.newsroom, "bench-write-inprocess", 0)
        self.newsroom.post_update(self.story_id, body="Warm-up.", actor=WHO, idempotency_key="w")
        self.next_seq = 0

    def rate(self, posts: int) -> float:
        """Posts per second over the next ``posts`` posts."""
        newsroom, story_id = self.newsroom, self.story_id
        started = time.perf_counter()
        for seq in range(self.next_seq, self.next_seq + posts):
            newsroom.post_update(story_id, body=body(seq), actor=WHO, idempotency_key=f"b-{seq}")
        seconds = time.perf_counter() - started
        self.next_seq += posts
        return posts / seconds

    def close(self) -> None:
        self._opened.__exit__(None, None, None)


def run(ctx: Context) -> list[Row]:
    """The project and the in-process baseline in alternating rounds (see ``read_api``).

    The baseline waits on fsync once per post, so other disk work on a shared machine
    slows it as much as the machine's drifting speed does: a pair of adjacent rounds
    sees the same conditions, and the median of the rounds' ratios is the figure.
    """
    posts, rounds = ctx.sizes.write_posts, ctx.sizes.write_rounds
    per_round = posts // rounds
    folder = ctx.folder("write")
    project = start_project(ctx.children, folder, "write-project")
    baseline = None
    try:
        story_id = project.open_story("bench-write")
        project.seed(ctx.children, story_id, len(project.reporters))  # one warm-up each
        baseline = InProcessPoster(folder / "write-inprocess.sqlite3")
        seq = len(project.reporters)
        mine: list[dict[str, Any]] = []
        bare: list[float] = []
        for n in range(rounds):
            for side in ("bare", "project") if n % 2 == 0 else ("project", "bare"):
                if side == "bare":
                    bare.append(baseline.rate(per_round))
                    continue
                client = project.post_client(
                    ctx.children, story_id, per_round, f"write-{n}", first_seq=seq
                )
                seq += per_round
                mine += run_clients([client], project.pid)
    finally:
        project.close()
        if baseline is not None:
            baseline.close()
    shares = [ratio(m["rate"], b) for m, b in zip(mine, bare, strict=True)]
    share = statistics.median(shares)
    rate = statistics.mean(m["rate"] for m in mine)
    statuses = merged_statuses([{"statuses": m["statuses"]} for m in mine])
    complete = statuses == {"201": per_round * rounds}
    row = Row(
        f"write, 8 reporters, {per_round * rounds:,} posts", f"{num(rate)} posts/s",
        f"{num(statistics.mean(bare))} posts/s", share, "≥ 0.5× (median of rounds)",
        None if math.isnan(share) else share >= 0.5 and complete,
    )  # fmt: skip
    row.notes.append(
        f"{rounds} rounds of {per_round:,} posts per side, in turns; statuses {statuses}; "
        f"POST p50/p99 per round (ms): "
        + ", ".join(f"{num(m['p50_ms'], 1)}/{num(m['p99_ms'], 1)}" for m in mine)
    )
    row.notes.append(
        "ratio per round: " + ", ".join(f"{x:.2f}" for x in shares)
        + "; posts/s per round (project/in-process): "
        + ", ".join(f"{num(m['rate'])}/{num(b)}" for m, b in zip(mine, bare, strict=True))
    )  # fmt: skip
    row.notes.append(
        f"project, last round: {mine[-1]['meter'].describe(client=mine[-1]['cpu_share'])}"
    )
    return [row]
