"""The workloads of DESIGN §8 that need a running server, each beside its bare baseline.

Each function runs one workload end to end — its own ``liveblog serve`` on a fresh SQLite
file, its load clients, its baseline — and returns the rows of the summary table. The
in-process workloads (rebuild, story growth, the write baseline) are in
``scripts/bench_inprocess.py``.
"""

from __future__ import annotations

import http.client
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from typing import Any

from scripts import bench_fanout as fanout
from scripts.bench_fanout import HOST, Children
from scripts.bench_inprocess import InProcessPoster
from scripts.bench_support import (
    BenchError,
    Client,
    Context,
    Meter,
    Project,
    Row,
    num,
    ratio,
    run_clients,
    settled_rss,
    spawn_server,
    start_project,
    start_ws_baseline,
    ws_messages,
)


def live_url(port: int, story_id: str) -> str:
    return f"ws://{HOST}:{port}/api/stories/{story_id}/live"


def seconds_between(results: list[dict[str, Any]]) -> float:
    """First reader's handshake to last reader's awaited message, over every client."""
    start: int = min(r["first_start"] for r in results)
    end: int = max(r["last_done"] for r in results)
    return (end - start) / 1e9


def client_errors(results: list[dict[str, Any]]) -> str:
    return "; ".join(f"{e} ×{n}" for r in results for e, n in r["errors"].items())


# -- 1. fan-out -----------------------------------------------------------------------------------


def fan_out(ctx: Context) -> list[Row]:
    """``scripts/bench_fanout.py``'s measurement, at this run's size, in paired rounds.

    One round is the project and the baseline, one after the other (their order turns
    each round); the goal is judged on the median of the rounds' p99 ratios. Twenty
    posts make p99 a figure of one or two posts, and this machine's speed drifts within
    seconds (see read_api): a single pair was 0.89-1.39x for the same code.
    """
    sizes = ctx.sizes
    readers, posts = sizes.fanout_readers, sizes.fanout_posts
    pairs: list[tuple[Any, Any]] = []
    template = None
    for n in range(sizes.fanout_rounds):
        options = fanout.Options(
            posts=posts,
            interval=0.5,
            batch=sizes.handshakes,
            work=ctx.folder(f"fan-out-{n}"),
            children=ctx.children,
        )  # a fresh store each round
        runs: dict[str, Any] = {}
        for side in ("project", "baseline") if n % 2 == 0 else ("baseline", "project"):
            if side == "project":
                runs[side] = fanout.attempt(
                    fanout.Run("project", readers, posts), fanout.run_project, readers, options
                )
                template = template or runs[side].sample
            else:
                runs[side] = fanout.attempt(
                    fanout.Run("baseline", readers, posts), fanout.run_baseline, readers,
                    options, template or fanout.synthetic_frame(),
                )  # fmt: skip
        print(fanout.table(runs["project"], runs["baseline"], options), flush=True)
        pairs.append((runs["project"], runs["baseline"]))
    shares = [ratio(p.percentile(99), b.percentile(99)) for p, b in pairs]
    share = statistics.median(shares)
    project_p99 = statistics.median(p.percentile(99) for p, _ in pairs)
    baseline_p99 = statistics.median(b.percentile(99) for _, b in pairs)
    complete = all(
        r.failure is None and r.received == r.expected and not r.duplicates
        for pair in pairs
        for r in pair
    )
    row = Row(
        f"fan-out p99, {readers:,} readers",
        f"{num(project_p99, 1)} ms", f"{num(baseline_p99, 1)} ms", share,
        "≤ 1.2× (median of rounds)", None if math.isnan(share) else share <= 1.2 and complete,
    )  # fmt: skip
    row.notes.append(
        f"{len(pairs)} rounds of {posts} posts 0.5 s apart per side; p99 ratio per round: "
        + ", ".join(f"{x:.2f}" for x in shares)
        + "; p99 ms per round (project/baseline): "
        + ", ".join(f"{num(p.percentile(99), 1)}/{num(b.percentile(99), 1)}" for p, b in pairs)
    )
    project, baseline = pairs[-1]
    row.notes.append(
        f"last round: p50 {num(project.percentile(50), 1)} vs "
        f"{num(baseline.percentile(50), 1)} ms; received {project.received:,}/"
        f"{project.expected:,} vs {baseline.received:,}/{baseline.expected:,}; "
        f"first reader (write path) p50 {num(fanout.percentile(project.first_ms, 50), 1)} ms; "
        f"server CPU {num(project.usage.server)} % vs {num(baseline.usage.server)} %, "
        f"client CPU {num(project.usage.client)} % / {num(baseline.usage.client)} %"
    )
    for pair in pairs:
        for run in pair:
            if run.failure:
                row.notes.append(f"{run.target} FAILED: {run.failure}")
    return [row]


# -- 2. capacity ----------------------------------------------------------------------------------


def hold_readers(
    ctx: Context, pid: int, url: str, readers: int, name: str
) -> tuple[float, dict[str, Any]]:
    """KiB of server RSS per idle reader, and what the clients saw.

    RSS is read once before (after a warm-up reader came and went) and once after every
    reader has its snapshot and ``live``, each time when it holds still; nothing forces
    a collection in either server.
    """
    before = settled_rss(pid, least=1.0)
    processes = max(1, math.ceil(readers / 5_000))
    clients = []
    for index in range(processes):
        share = readers // processes + (1 if index < readers % processes else 0)
        argv = [
            "ws", "--url", url, "--readers", str(share), "--until", "first", "--first", "2",
            "--concurrency", str(max(1, ctx.sizes.handshakes // processes)), "--hold",
        ]  # fmt: skip
        deadline = 120 + readers / 20
        clients.append(
            Client(ctx.children, ctx.folder("capacity"), f"{name}-{index}", argv, deadline)
        )
    results = run_clients(clients)
    held = sum(r["ok"] for r in results)
    after = settled_rss(pid)
    info = {
        "held": held, "before": before, "after": after, "seconds": seconds_between(results),
        "errors": client_errors(results), "clients": clients,
    }  # fmt: skip
    return (after - before) / readers, info


def release(info: dict[str, Any]) -> None:
    for client in info["clients"]:
        client.say("STOP")
    for client in info["clients"]:
        Children.stop(client.process)


def capacity(ctx: Context) -> list[Row]:
    readers = ctx.sizes.capacity_readers
    project = start_project(ctx.children, ctx.folder("capacity"), "capacity-project")
    try:
        story_id = project.open_story("bench-capacity")
        project.seed(ctx.children, story_id, 20)
        url = live_url(project.port, story_id)
        messages = ws_messages(url, 2)  # a warm-up reader: snapshot and live
        time.sleep(1.0)
        per_reader, mine = hold_readers(ctx, project.pid, url, readers, "capacity-project")
        counted = project.metrics().get("liveblog_live_readers", math.nan)
        release(mine)
    finally:
        project.close()
    server, port = start_ws_baseline(ctx.children, ctx.folder("capacity"), "cap-bare", messages)
    try:
        ws_messages(f"ws://{HOST}:{port}/live", 2)  # the same warm-up reader
        time.sleep(1.0)
        bare_url = f"ws://{HOST}:{port}/live"
        bare_per_reader, bare = hold_readers(ctx, server.pid, bare_url, readers, "cap-bare")
        release(bare)
    finally:
        Children.stop(server)
    all_held = mine["held"] == readers and counted == readers
    row = Row(
        f"capacity, {readers:,} idle readers", f"{per_reader:.1f} KiB/reader",
        f"{bare_per_reader:.1f} KiB/reader", ratio(per_reader, bare_per_reader),
        "≤ 30 KiB/reader (ratio: report only)", per_reader <= 30 and all_held,
    )  # fmt: skip
    row.notes.append(
        f"held {mine['held']:,} (server counts {num(counted)}) vs {bare['held']:,}; "
        f"RSS {mine['before'] / 1024:.0f} → {mine['after'] / 1024:.0f} MiB vs "
        f"{bare['before'] / 1024:.0f} → {bare['after'] / 1024:.0f} MiB; "
        f"connecting took {mine['seconds']:.1f} s vs {bare['seconds']:.1f} s"
    )
    for info in (mine, bare):
        if info["errors"]:
            row.notes.append(f"reader errors: {info['errors']}")
    return [row]


# -- 3. join storm --------------------------------------------------------------------------------


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


def join_storm(ctx: Context) -> list[Row]:
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


# -- 4. read API ----------------------------------------------------------------------------------


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


def start_http_baseline(ctx: Context, body: bytes, tag: str) -> tuple[Any, int]:
    folder = ctx.folder("read-api")
    file = folder / "story.json"
    file.write_bytes(body)
    port = fanout.free_port()
    argv = [
        sys.executable, "-m", "scripts.bench_baselines", "--port", str(port),
        "http", "--body", str(file), "--etag", tag,
    ]  # fmt: skip
    return spawn_server(ctx.children, argv, folder / "read-bare.log", port), port


READ_TARGETS = ("project", "bare", "cached")


def read_api(ctx: Context) -> list[Row]:
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


def merged_statuses(results: Sequence[dict[str, Any]]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for one in results:
        for status, count in one["statuses"].items():
            merged[status] = merged.get(status, 0) + count
    return merged


# -- 5. write -------------------------------------------------------------------------------------


def write(ctx: Context) -> list[Row]:
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


# -- 7. resume ------------------------------------------------------------------------------------


def wait_for_ring(project: Project, newest: int, timeout: float = 10.0) -> None:
    """Until the hub has published every frame up to ``newest`` (it follows the views)."""
    deadline = time.monotonic() + timeout
    while project.metrics().get("liveblog_live_frames_total", 0) < newest:
        if time.monotonic() > deadline:
            raise BenchError(f"the hub did not reach version {newest} in {timeout:g} s")
        time.sleep(0.05)  # polling /metrics


def resume(ctx: Context) -> list[Row]:
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
