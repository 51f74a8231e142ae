"""Resume (DESIGN §8): 1,000 readers reconnect at once up to 1,000 versions behind:
database reads per reader (from ``/metrics``), each stream checked to be exactly what
was missed."""

from __future__ import annotations

import json
import math
import random
import time

from scripts.benchmarks.children import Client, client_errors, run_clients, seconds_between
from scripts.benchmarks.common import BenchError, num
from scripts.benchmarks.servers import Project, live_url, start_project
from scripts.benchmarks.workload import Context, Row


def wait_for_ring(project: Project, newest: int, timeout: float = 10.0) -> None:
    """Until the hub has published every frame up to ``newest`` (it follows the views)."""
    deadline = time.monotonic() + timeout
    while project.metrics().get("liveblog_live_frames_total", 0) < newest:
        if time.monotonic() > deadline:
            raise BenchError(f"the hub did not reach version {newest} in {timeout:g} s")
        time.sleep(0.05)  # polling /metrics


def run(ctx: Context) -> list[Row]:
    sizes = ctx.sizes
    readers = sizes.resume_readers
    folder = ctx.folder("resume")
    project = start_project(ctx.children, folder, "resume-project")
    try:
        story_id = project.open_story("bench-resume")
        project.seed(ctx.children, story_id, sizes.resume_posts)
        newest = project.version(story_id)
        wait_for_ring(project, newest)
        lags = random.Random(8).choices(range(1, sizes.resume_lag + 1), k=readers)
        since_file = folder / "since.json"
        since_file.write_text(json.dumps([newest - lag for lag in lags]))
        before = project.metrics()
        argv = [
            "ws", "--url", live_url(project.port, story_id), "--readers", str(readers),
            "--until", "live", "--since-file", str(since_file), "--newest", str(newest),
            "--concurrency", str(sizes.handshakes),
        ]  # fmt: skip
        client = Client(ctx.children, folder, "resume-client", argv, 120 + readers / 5)
        (results,) = run_clients([client], project.pid)
        seconds = seconds_between([results])
        after = project.metrics()
    finally:
        project.close()
    names = ("liveblog_live_store_backlog_reads_total", "liveblog_live_snapshot_view_reads_total")
    deltas = [after[n] - before[n] for n in names]
    per_reader = sum(deltas) / readers
    verified = results.get("verified", 0)
    row = Row(
        f"resume, {readers:,} readers ≤ {sizes.resume_lag:,} behind",
        f"{per_reader:g} DB reads/reader", "—", math.nan, "0 reads/reader",
        per_reader == 0 and verified == readers,
    )  # fmt: skip
    frames = results["messages"]
    row.notes.append(
        f"story at v{newest}; {verified:,}/{readers:,} readers got exactly since+1..{newest} "
        f"then live; backlog reads {deltas[0]:.0f}, snapshot reads {deltas[1]:.0f}; resume "
        f"took {seconds:.2f} s ({frames:,} messages, {num(frames / seconds)}/s; join p50/p99 "
        f"{num(results['join_p50_ms'])}/{num(results['join_p99_ms'])} ms); "
        f"{results['meter'].describe(client=results['cpu_share'])}"
    )
    if results.get("problems"):
        row.notes.append(f"problems: {results['problems'][:3]}")
    if results["errors"]:
        row.notes.append(f"reader errors: {client_errors([results])}")
    return [row]
