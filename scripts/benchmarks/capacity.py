"""Capacity (DESIGN §8): server RSS per idle reader at 10,000 readers on one story, beside
a bare ``websockets`` server that sends the same snapshot (report only: another stack)."""

from __future__ import annotations

import math
import time
from typing import Any

from scripts.benchmarks.children import Client, client_errors, run_clients, seconds_between
from scripts.benchmarks.common import HOST, Children, num, ratio, settled_rss
from scripts.benchmarks.servers import live_url, start_project, start_ws_baseline, ws_messages
from scripts.benchmarks.workload import Context, Row


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


def run(ctx: Context) -> list[Row]:
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
