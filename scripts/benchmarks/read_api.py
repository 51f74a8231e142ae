"""Read API (DESIGN §8): ``GET /api/stories/{story}`` on 50 keep-alive connections:
requests/s against a bare starlette app on uvicorn returning the same bytes, and the 304
path; paired short rounds in turns, the median ratio counts."""

from __future__ import annotations

import http.client
import math
import statistics
from collections.abc import Sequence
from typing import Any

from scripts.benchmarks.children import Client, merged_statuses
from scripts.benchmarks.common import HOST, BenchError, Children, Meter, num, ratio
from scripts.benchmarks.servers import start_baseline, start_project
from scripts.benchmarks.workload import Context, Row


def hammer(
    ctx: Context, port: int, path: str, name: str, server_pid: int, *, seconds: float,
    warmup: float = 1.0, headers: Sequence[str] = (),
) -> dict[str, Any]:  # fmt: skip
    """50 keep-alive connections GETting ``path`` back to back for ``seconds``."""
    argv = ["get", "--port", str(port), "--path", path, "--conns", "50",
            "--seconds", str(seconds), "--warmup", str(warmup)]  # fmt: skip
    for header in headers:
        argv += ["--header", header]
    client = Client(ctx.children, ctx.folder("read-api"), name, argv, 60 + seconds)
    client.expect("PREPARED", 120)
    client.say("GO")
    client.expect("MEASURING")
    meter = Meter(server_pid)
    client.expect("MEASURED")
    meter.stop()
    results = client.results()
    results["meter"] = meter
    return results


def start_http_baseline(
    ctx: Context, body: bytes, tag: str, media_type: str = "application/json",
    name: str = "read-api",
) -> tuple[Any, int]:  # fmt: skip
    """Bare starlette on uvicorn answering the story's path (and the reader page's) with
    the project's bytes."""
    folder = ctx.folder(name)
    file = folder / "answer.bytes"
    file.write_bytes(body)
    options = ("--body", str(file), "--etag", tag, "--media-type", media_type)
    return start_baseline(ctx.children, folder, f"{name}-bare", "http", *options)


READ_TARGETS = ("project", "bare", "cached")


def run(ctx: Context) -> list[Row]:
    """Both servers run side by side; rounds alternate between them.

    This machine's speed drifts by a third within a minute (shared hosts): one long
    run of each, one after the other, compared the drift as much as the servers.
    Paired short rounds, in turns, see the same drift, and the median of the
    rounds' ratios is the figure.
    """
    project = start_project(ctx.children, ctx.folder("read-api"), "read-project")
    server = None
    try:
        story_id = project.open_story("bench-read-api")
        project.seed(ctx.children, story_id, ctx.sizes.story_updates)
        path = f"/api/stories/{story_id}"
        status, headers, body = project.request("GET", path)
        if status != 200:
            raise BenchError(f"GET story answered {status}")
        tag = headers["etag"]
        server, port = start_http_baseline(ctx, body, tag)
        conn = http.client.HTTPConnection(HOST, port, timeout=30)
        conn.request("GET", path)
        answer = conn.getresponse()
        names = sorted(name.lower() for name, _ in answer.getheaders())
        same = answer.read() == body and names == sorted(headers)
        conn.close()
        seconds = ctx.sizes.read_seconds / ctx.sizes.read_rounds
        where = {"project": (project.port, project.pid, ()), "bare": (port, server.pid, ()),
                 "cached": (project.port, project.pid, (f"If-None-Match: {tag}",))}  # fmt: skip
        rounds: dict[str, list[dict[str, Any]]] = {target: [] for target in READ_TARGETS}
        for n in range(ctx.sizes.read_rounds):
            # Turn the order each round, so that no target always comes first.
            order = READ_TARGETS[n % 3 :] + READ_TARGETS[: n % 3]
            for target in order:
                target_port, pid, extra = where[target]
                # Once every server has warmed up, a short warm-up opens the connections.
                rounds[target].append(
                    hammer(ctx, target_port, path, f"read-{target}-{n}", pid,
                           seconds=seconds, warmup=1.0 if n == 0 else 0.3, headers=extra)
                )  # fmt: skip
    finally:
        project.close()
        if server is not None:
            Children.stop(server)
    mine, bare, cached = (rounds[target] for target in READ_TARGETS)
    shares = [ratio(p["rps"], b["rps"]) for p, b in zip(mine, bare, strict=True)]
    cached_shares = [ratio(c["rps"], p["rps"]) for c, p in zip(cached, mine, strict=True)]
    share, cached_share = statistics.median(shares), statistics.median(cached_shares)
    rps = {target: statistics.mean(r["rps"] for r in rounds[target]) for target in READ_TARGETS}
    rows = [
        Row("read API GET story, 200", f"{num(rps['project'])} req/s",
            f"{num(rps['bare'])} req/s", share, "≥ 0.8× (median of rounds)",
            None if math.isnan(share) else share >= 0.8),
        Row("read API GET story, 304", f"{num(rps['cached'])} req/s",
            f"{num(rps['project'])} req/s (project 200)", cached_share,
            "> 1× the 200 path (median of rounds)", cached_share > 1),
    ]  # fmt: skip
    statuses = {target: merged_statuses(rounds[target]) for target in READ_TARGETS}
    rows[0].notes.append(
        f"body {len(body):,} B, same bytes and header names in the baseline: "
        f"{'yes' if same else 'NO'}; 50 keep-alive connections; {ctx.sizes.read_rounds} rounds "
        f"of {seconds:g} s per target (after a 1 s, then 0.3 s warm-up), in turns; statuses "
        f"{statuses['project']} vs {statuses['bare']}"
    )
    rows[0].notes.append(
        "ratio per round: " + ", ".join(f"{x:.2f}" for x in shares)
        + "; rates per round: " + ", ".join(
            f"{num(p['rps'])}/{num(b['rps'])}" for p, b in zip(mine, bare, strict=True))
    )  # fmt: skip
    for target, results in (("project", mine[0]), ("bare", bare[0])):
        rows[0].notes.append(
            f"{target}, first round: {results['meter'].describe(client=results['cpu_share'])}"
        )
    rows[1].notes.append(
        f"If-None-Match: {tag}; statuses {statuses['cached']}; ratio per round: "
        + ", ".join(f"{x:.2f}" for x in cached_shares)
        + f"; first round: {cached[0]['meter'].describe(client=cached[0]['cpu_share'])}"
    )
    for results in (*mine, *bare, *cached):
        if results["errors"]:
            rows[0].notes.append(f"client errors: {results['errors']}")
    return rows
