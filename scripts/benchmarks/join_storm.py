"""Join storm (DESIGN §8): 2,000 readers join a story of 300 updates at once (200
handshakes in flight) and get their snapshot: joins/s against a bare starlette WebSocket
route on uvicorn sending the same bytes (and, for reference, a plain ``websockets``
server)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from scripts.benchmarks.children import Client, client_errors, run_clients, seconds_between
from scripts.benchmarks.common import HOST, Children, num, ratio
from scripts.benchmarks.servers import live_url, start_project, start_ws_baseline, ws_messages
from scripts.benchmarks.workload import Context, Row


def storm(ctx: Context, url: str, name: str, server_pid: int) -> dict[str, Any]:
    """Readers connect at once (``handshakes`` in flight) and wait for their snapshot."""
    readers = ctx.sizes.join_readers
    argv = [
        "ws", "--url", url, "--readers", str(readers), "--until", "first", "--first", "1",
        "--concurrency", str(ctx.sizes.handshakes),
    ]  # fmt: skip
    client = Client(ctx.children, ctx.folder("join-storm"), name, argv, 120 + readers / 20)
    (results,) = run_clients([client], server_pid)
    seconds = seconds_between([results])
    results["rate"] = results["ok"] / seconds if seconds > 0 else math.nan
    results["seconds"] = seconds
    return results


def bare_storm(ctx: Context, messages: Sequence[str], mode: str, name: str) -> dict[str, Any]:
    server, port = start_ws_baseline(ctx.children, ctx.folder("join-storm"), name, messages, mode)
    try:
        return storm(ctx, f"ws://{HOST}:{port}/live", name, server.pid)
    finally:
        Children.stop(server)


def run(ctx: Context) -> list[Row]:
    """The project against bare starlette on uvicorn (the goal), and plain websockets.

    The goal's baseline is the project's own server stack, uvicorn with
    ``server_config()``, under a bare starlette route sending the same bytes: what the
    project adds to a join is what the goal bounds, as for the read API. The plain
    ``websockets`` server is another stack (no ASGI, its newer asyncio implementation):
    it is measured in the same run and reported, without a goal.
    """
    readers = ctx.sizes.join_readers
    project = start_project(ctx.children, ctx.folder("join-storm"), "join-project")
    try:
        story_id = project.open_story("bench-join-storm")
        project.seed(ctx.children, story_id, ctx.sizes.story_updates)
        url = live_url(project.port, story_id)
        messages = ws_messages(url, 2)  # the bytes the baselines send; warms the cache
        reads = project.metrics()["liveblog_live_snapshot_view_reads_total"]
        mine = storm(ctx, url, "join-project", project.pid)
        reads = project.metrics()["liveblog_live_snapshot_view_reads_total"] - reads
    finally:
        project.close()
    bare = bare_storm(ctx, messages, "starlette-ws", "join-starlette")
    plain = bare_storm(ctx, messages, "ws", "join-websockets")
    share = ratio(mine["rate"], bare["rate"])
    complete = mine["ok"] == readers and bare["ok"] == readers
    row = Row(
        f"join storm, {readers:,} readers", f"{num(mine['rate'])} joins/s",
        f"{num(bare['rate'])} joins/s", share, "≥ 0.8× (bare starlette on uvicorn)",
        None if math.isnan(share) else share >= 0.8 and complete,
    )  # fmt: skip
    row.notes.append(
        f"story of {ctx.sizes.story_updates} updates, snapshot {len(messages[0]):,} B; "
        f"{ctx.sizes.handshakes} handshakes in flight; joined {mine['ok']:,} vs {bare['ok']:,} in "
        f"{mine['seconds']:.2f} vs {bare['seconds']:.2f} s; join p50/p99 "
        f"{num(mine['join_p50_ms'], 1)}/{num(mine['join_p99_ms'], 1)} vs "
        f"{num(bare['join_p50_ms'], 1)}/{num(bare['join_p99_ms'], 1)} ms; "
        f"snapshot reads from the views during the storm: {reads:.0f}"
    )
    plain_share = ratio(mine["rate"], plain["rate"])
    plain_row = Row(
        f"join storm, {readers:,} readers, vs plain websockets", f"{num(mine['rate'])} joins/s",
        f"{num(plain['rate'])} joins/s", plain_share, "report only",
        None if math.isnan(plain_share) else plain["ok"] == readers, report_only=True,
    )  # fmt: skip
    plain_row.notes.append(
        f"joined {plain['ok']:,} in {plain['seconds']:.2f} s; join p50/p99 "
        f"{num(plain['join_p50_ms'], 1)}/{num(plain['join_p99_ms'], 1)} ms"
    )
    # CPU per join holds up better than joins/s when other processes take the CPU.
    per_join = [1000 * r["meter"].cpu_used / max(1, r["ok"]) for r in (mine, bare, plain)]
    row.notes.append(
        "server CPU per join: {} ms vs {} ms (starlette), {} ms (websockets)".format(
            *(num(ms, 2) for ms in per_join)
        )
    )
    for target, results in (("project", mine), ("starlette", bare), ("websockets", plain)):
        row.notes.append(f"{target}: {results['meter'].describe(client=results['cpu_share'])}")
        if results["errors"]:
            row.notes.append(f"{target} reader errors: {client_errors([results])}")
    return [row, plain_row]
