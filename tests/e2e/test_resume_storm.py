"""A storm of far-back resumes costs one read of the store, and the read API stays up.

DESIGN §7 and §9: far-back resumes share one bounded backlog read per story. 200 readers
resume with ``since=1`` on a story longer than the hub's ring at once, while a client
keeps reading the API; every reader gets exactly versions 2..N, the story's backlog is
read from the store once (the counter in ``/metrics``), and no read answers 503. A
cursor further back than ``LIVEBLOG_MAX_BACKLOG`` gets a reset snapshot, with no read.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import orjson
from websockets.asyncio.client import connect

from liveblog.live.hub import RING_SIZE
from tests.e2e.server import LiveServer
from tests.helpers import REPORTER, open_newsroom

SLUG = "long-night"
UPDATES = RING_SIZE + 80  # longer than the ring: a resume from 1 must read the store
NEWEST = UPDATES + 1
READERS = 200
STORE_READS = "liveblog_live_backlog_store_reads_total"
TOO_FAR_BACK = "liveblog_live_backlog_too_far_back_total"
DEADLINE = 120.0  # for the whole storm: a bound against a hang, not a measurement


def seed_long_story(database_url: str) -> None:
    with open_newsroom(database_url) as newsroom:
        story_id = newsroom.open_story(
            slug=SLUG, title="A long night", summary="", actor=REPORTER
        ).story_id
        for n in range(UPDATES):
            newsroom.post_update(story_id, body=f"<p>Update {n}.</p>", actor=REPORTER)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found is not None, name
    return float(found.group(1))


async def resume(live: LiveServer, since: int) -> list[int | str]:
    """Versions of every message up to ``live``; a snapshot shows as "snapshot"."""
    url = f"{live.ws_url}/api/stories/{SLUG}/live?since={since}"
    seen: list[int | str] = []
    async with connect(url, proxy=None, open_timeout=30, max_size=2**24) as ws:
        while True:
            message = orjson.loads(await ws.recv(decode=False))
            if message["type"] == "live":
                return seen
            seen.append("snapshot" if message["type"] == "snapshot" else message["version"])


async def keep_reading(http: httpx.AsyncClient, stop: asyncio.Event) -> list[int]:
    statuses = []
    paths = [f"/api/stories/{SLUG}", "/api/stories", f"/api/stories/{SLUG}/updates?limit=5"]
    while not stop.is_set():
        for path in paths:
            statuses.append((await http.get(path)).status_code)
    return statuses


async def test_200_resumes_from_far_back_share_one_store_read_and_reads_stay_up(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'storm.sqlite3'}"
    await asyncio.to_thread(seed_long_story, url)
    # 200 readers and the reading client share one address: lift the per-address limit.
    unlimited = {"LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": "0"}
    live = LiveServer(url, tmp_path / "server.log", env=unlimited).start()
    try:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
            before = (await http.get("/metrics")).text
            stop = asyncio.Event()
            reads = asyncio.ensure_future(keep_reading(http, stop))
            storm = asyncio.gather(*(resume(live, 1) for _ in range(READERS)))
            results = await asyncio.wait_for(storm, DEADLINE)
            stop.set()
            statuses = await reads
            after = (await http.get("/metrics")).text
    finally:
        live.stop()
    expected: list[int | str] = list(range(2, NEWEST + 1))
    assert all(result == expected for result in results)
    assert statuses
    assert set(statuses) == {200}
    assert metric(after, STORE_READS) - metric(before, STORE_READS) == 1
    assert metric(after, TOO_FAR_BACK) == metric(before, TOO_FAR_BACK)


async def test_a_resume_further_back_than_the_bound_gets_a_reset_snapshot_without_a_read(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bound.sqlite3'}"
    await asyncio.to_thread(seed_long_story, url)
    bound = 100
    live = LiveServer(url, tmp_path / "server.log", env={"LIVEBLOG_MAX_BACKLOG": str(bound)})
    live.start()
    try:
        async with httpx.AsyncClient(base_url=live.base_url, timeout=30) as http:
            before = (await http.get("/metrics")).text
            assert await resume(live, 1) == ["snapshot"]  # far back: a reset snapshot
            # Within the ring, the bound does not matter: it costs no read either.
            assert await resume(live, NEWEST - RING_SIZE) == list(
                range(NEWEST - RING_SIZE + 1, NEWEST + 1)
            )
            after = (await http.get("/metrics")).text
    finally:
        live.stop()
    assert metric(after, STORE_READS) == metric(before, STORE_READS)
    assert metric(after, TOO_FAR_BACK) - metric(before, TOO_FAR_BACK) == 1
