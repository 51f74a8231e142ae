"""Measure a storm of far-back resumes: the read API's latency during it against idle,
and the server CPU it costs (DESIGN §9: "a storm of far-back resumes keeps the read API
within 2 × its idle latency").

    .venv/bin/python -m scripts.benchmarks.figures.resume_storm [--readers 200]
        [--updates 3000]
        [--checkout PATH]   # measure another checkout's server (e.g. an older commit)

It seeds a SQLite file with one story of ``--updates`` posts (longer than the hub's ring,
so a resume with ``since=1`` must read the store), starts ``liveblog serve`` on a loopback
port, times GETs of the story's updates page and of the story list while idle, then again
while ``--readers`` WebSocket readers resume with ``since=1`` at once, and prints both,
their ratio, the server's CPU seconds for the storm and its store reads. Everything talks
to 127.0.0.1 and stops by itself. One load process on the same 2-core box as the server:
compare figures within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing import Queue
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from liveblog.domain import Actor
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from scripts.benchmarks.common import ROOT, cpu_seconds, free_port

SLUG = "long-night"
STORM_DEADLINE = 300.0


def seed(database_url: str, updates: int) -> None:
    desk = Actor("p-storm-seed", "Night Desk")
    with Newsroom(env=Settings(database_url=database_url).eventsourcing_env()) as newsroom:
        story_id = newsroom.open_story(slug=SLUG, title="A long night", summary="", actor=desk)
        for n in range(updates):
            newsroom.post_update(
                story_id.story_id, body=f"<p>Update {n}: {'words ' * 30}</p>", actor=desk
            )


async def timed_gets(
    http: httpx.AsyncClient, stop: asyncio.Event | None, count: int
) -> list[tuple[float, int]]:
    """(seconds, status) of GETs in turn: ``count`` of them, or until ``stop`` is set."""
    paths = [f"/api/stories/{SLUG}/updates?limit=20", "/api/stories"]
    timings: list[tuple[float, int]] = []
    while (stop is None and len(timings) < count) or (stop is not None and not stop.is_set()):
        path = paths[len(timings) % 2]
        started = time.perf_counter()
        status = (await http.get(path)).status_code
        timings.append((time.perf_counter() - started, status))
        if stop is not None:
            await asyncio.sleep(0.01)  # a steady trickle, not a second storm
    return timings


async def resume(ws_url: str) -> int:
    """Messages received up to ``live``; -1 if the server dropped the reader before."""
    messages = 0
    try:
        async with connect(f"{ws_url}/api/stories/{SLUG}/live?since=1", proxy=None,
                           open_timeout=60, max_size=2**24) as ws:  # fmt: skip
            while True:
                message = orjson.loads(await ws.recv(decode=False))
                messages += 1
                if message["type"] == "live":
                    return messages
    except (OSError, WebSocketException, TimeoutError):
        return -1


def storm(ws_url: str, readers: int, results: Queue[list[int]]) -> None:
    """The readers, in a process of their own: parsing their messages must not delay the
    timed GETs, which run in the parent's event loop."""

    async def all_readers() -> list[int]:
        runs = (resume(ws_url) for _ in range(readers))
        return await asyncio.wait_for(asyncio.gather(*runs), STORM_DEADLINE)

    results.put(asyncio.run(all_readers()))


def metric(text: str, name: str) -> float | None:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def summary(timings: list[tuple[float, int]]) -> tuple[float, float]:
    seconds = sorted(t for t, _ in timings)
    p95 = seconds[min(len(seconds) - 1, int(len(seconds) * 0.95))]
    return statistics.median(seconds) * 1000, p95 * 1000


async def measure(base_url: str, ws_url: str, readers: int, pid: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        await timed_gets(http, None, 50)  # warm up
        idle = await timed_gets(http, None, 400)
        before = (await http.get("/metrics")).text
        cpu_before = cpu_seconds(pid)
        stop = asyncio.Event()
        gets = asyncio.ensure_future(timed_gets(http, stop, 0))
        results: Queue[list[int]] = multiprocessing.get_context("spawn").Queue()
        readers_process = multiprocessing.get_context("spawn").Process(
            target=storm, args=(ws_url, readers, results), daemon=True
        )
        started = time.perf_counter()
        readers_process.start()
        counts = await asyncio.to_thread(results.get, True, STORM_DEADLINE)
        wall = time.perf_counter() - started
        await asyncio.to_thread(readers_process.join, 10)
        stop.set()
        storm_timings = await gets
        cpu = cpu_seconds(pid) - cpu_before
        after = (await http.get("/metrics")).text
    idle_median, idle_p95 = summary(idle)
    storm_median, storm_p95 = summary(storm_timings)
    reads = [metric(text, "liveblog_live_backlog_store_reads_total") for text in (before, after)]
    store_reads = "n/a" if None in reads else f"{(reads[1] or 0) - (reads[0] or 0):.0f}"
    statuses = sorted({status for _, status in storm_timings})
    served = [count for count in counts if count >= 0]
    each = f"{min(served)}..{max(served)}" if served else "none"
    print(f"readers {readers}, dropped {len(counts) - len(served)}, messages each {each}, "
          f"storm {wall:.1f} s, "
          f"server CPU {cpu:.1f} s, backlog store reads {store_reads}")  # fmt: skip
    print(f"read API idle:  median {idle_median:.1f} ms, p95 {idle_p95:.1f} ms ({len(idle)} GETs)")
    print(f"read API storm: median {storm_median:.1f} ms, p95 {storm_p95:.1f} ms "
          f"({len(storm_timings)} GETs, statuses {statuses})")  # fmt: skip
    print(f"ratio storm/idle: median {storm_median / idle_median:.2f}x, "
          f"p95 {storm_p95 / idle_p95:.2f}x (goal: within 2x)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--updates", type=int, default=3_000)
    parser.add_argument("--checkout", type=Path, default=ROOT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        url = f"sqlite:///{Path(work) / 'storm.sqlite3'}"
        seed(url, args.updates)
        port = free_port()
        env = {
            **os.environ,
            "LIVEBLOG_DATABASE_URL": url,
            "PYTHONPATH": str(args.checkout),
            # Every reader comes from 127.0.0.1: lift the per-address connection limit.
            "LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "0",
        }
        log = (Path(work) / "server.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "liveblog.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=args.checkout, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base_url}/api/stories/{SLUG}", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                print((Path(work) / "server.log").read_text(), file=sys.stderr)
                return 1
            asyncio.run(measure(base_url, f"ws://127.0.0.1:{port}", args.readers, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=15)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
