"""Reader page (DESIGN §8): ``GET /stories/{slug}`` on 50 keep-alive connections:
requests/s against a bare starlette app on uvicorn returning the same bytes; paired
short rounds in turns (as the read API's), the median ratio counts.

The page is rendered once per story version (``liveblog.web.page_render``), so what is
measured is the routed path to a kept render: routing, the query check, the hub's
current version, the render cache, and the public answer's headers.
"""

from __future__ import annotations

import math
import statistics
from typing import Any

from scripts.benchmarks.common import BenchError, Children, num, ratio
from scripts.benchmarks.read_api import hammer, start_http_baseline
from scripts.benchmarks.servers import start_project
from scripts.benchmarks.workload import Context, Row

SLUG = "bench-reader-page"
TARGETS = ("project", "bare")


def run(ctx: Context) -> list[Row]:
    project = start_project(ctx.children, ctx.folder("reader-page"), "page-project")
    server = None
    try:
        story_id = project.open_story(SLUG)
        project.seed(ctx.children, story_id, ctx.sizes.story_updates)
        path = f"/stories/{SLUG}"
        status, headers, body = project.request("GET", path)
        if status != 200:
            raise BenchError(f"GET reader page answered {status}")
        server, port = start_http_baseline(
            ctx, body, headers["etag"], headers["content-type"], "reader-page"
        )
        seconds = ctx.sizes.read_seconds / ctx.sizes.read_rounds
        where = {"project": (project.port, project.pid), "bare": (port, server.pid)}
        rounds: dict[str, list[dict[str, Any]]] = {target: [] for target in TARGETS}
        for n in range(ctx.sizes.read_rounds):
            for target in TARGETS if n % 2 == 0 else TARGETS[::-1]:
                target_port, pid = where[target]
                rounds[target].append(
                    hammer(ctx, target_port, path, f"page-{target}-{n}", pid,
                           seconds=seconds, warmup=1.0 if n == 0 else 0.3)
                )  # fmt: skip
    finally:
        project.close()
        if server is not None:
            Children.stop(server)
    mine, bare = rounds["project"], rounds["bare"]
    shares = [ratio(p["rps"], b["rps"]) for p, b in zip(mine, bare, strict=True)]
    share = statistics.median(shares)
    rps = {target: statistics.mean(r["rps"] for r in rounds[target]) for target in TARGETS}
    row = Row("reader page GET, 200", f"{num(rps['project'])} req/s",
              f"{num(rps['bare'])} req/s", share, "≥ 0.8× (median of rounds)",
              None if math.isnan(share) else share >= 0.8)  # fmt: skip
    row.notes.append(
        f"page {len(body):,} B of HTML ({ctx.sizes.story_updates} updates, the newest 20 "
        f"shown), the same bytes from the baseline; 50 keep-alive connections; "
        f"{ctx.sizes.read_rounds} rounds of {seconds:g} s per target, in turns; ratio per "
        "round: " + ", ".join(f"{x:.2f}" for x in shares)
    )
    for results in (*mine, *bare):
        if results["errors"]:
            row.notes.append(f"client errors: {results['errors']}")
    return [row]
