"""Hundreds of readers come and go at random while a newsroom works (DESIGN §9).

One server, one story. A few writers make at least 1,000 commands over HTTP (posts,
corrections, pins and key-event flags, retractions, the odd retitle); meanwhile 200
readers in this process connect, drop (cleanly or by cutting the TCP connection),
sometimes stay away while the story moves on, and come back with ``since`` = the last
version they saw. In the end every reader's view, stitched across its connections, is
contiguous with no duplicate, reaches the final version, and — folded client-side —
equals what the REST API says, which in turn equals what the writers did.

The seed is random per run, or ``LIVEBLOG_TEST_SEED`` if that is set; it is printed with
any failure, to replay the run with that variable.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from liveblog.live.hub import RING_SIZE
from tests.e2e.live_client import BACKLOG_READS, STORY_LISTS, live_path
from tests.e2e.server import LiveServer
from tests.helpers import Api, Doc, Tokens

READERS = 200
COMMANDS = 1_500
COMMUTERS = 5
COMMUTE = RING_SIZE + 100  # versions a commuter misses: more than the ring holds
WRITERS = 4
SLUG = "random-readers"
# A bound against a hang, for the whole run. What the run takes: about 40 s of CPU, the
# test process and the server together; 37-51 s on a 2-core machine shared with other
# work, 87 s with that machine loaded about three times over (load average 7). A
# loaded 2-core CI still finishes well within this.
TEST_DEADLINE = 300.0
STEP_TIMEOUT = 60.0  # any single wait (a message, a connect, a command)
SEED_ENV = "LIVEBLOG_TEST_SEED"


@pytest.fixture
def server(e2e_database_url: str, tokens: Tokens, tmp_path: Path) -> Iterator[LiveServer]:
    """The conftest's server, allowing all of this test's connections from 127.0.0.1:
    READERS readers, reconnecting, are more than the default per-address limit."""
    env = {"LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS": str(READERS * 4)}
    live = LiveServer(e2e_database_url, tmp_path / "server.log", env=env).start()
    yield live
    live.stop()


@pytest.fixture
def seed() -> int:
    """The run's seed: ``LIVEBLOG_TEST_SEED`` if set, else a new one.

    Printed, so that pytest shows it with any failure (whatever raised: an assertion, a
    reader's task, the deadline); set the variable to it to replay the run.
    """
    raw = os.environ.get(SEED_ENV)
    chosen = int(raw) if raw else random.randrange(2**32)
    print(f"{SEED_ENV}={chosen}")
    return chosen


@pytest.fixture
async def api(server: LiveServer, tokens: Tokens) -> AsyncIterator[Api]:
    limits = httpx.Limits(max_connections=WRITERS + 2)
    async with httpx.AsyncClient(
        base_url=server.base_url, timeout=STEP_TIMEOUT, limits=limits, trust_env=False
    ) as http:
        yield Api(http, tokens)


class Progress:
    """How far the writers have got: readers wait on it, never on the clock."""

    def __init__(self) -> None:
        self.committed = 1
        self.final: int | None = None
        self.finished = asyncio.Event()
        self._changed = asyncio.Condition()

    async def advance(self, version: int) -> None:
        async with self._changed:
            self.committed = max(self.committed, version)
            self._changed.notify_all()

    async def finish(self, final: int) -> None:
        async with self._changed:
            self.final = final
            self.finished.set()
            self._changed.notify_all()

    async def wait_until(self, version: int) -> None:
        """Until the story reaches ``version``, or the writers are done.

        Bounded by the run's deadline, not a step's: a commuter waits for more than a
        thousand commands, however long a loaded machine takes to make them.
        """
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(
                    lambda: self.committed >= version or self.finished.is_set()
                ),
                TEST_DEADLINE,
            )


# -- writers -----------------------------------------------------------------------------


@dataclass
class Expected:
    """What one writer did to one update: the REST API must end up saying the same."""

    body: str
    pinned: bool = False
    key_event: bool = False
    retracted: bool = False
    notes: list[str] = field(default_factory=list)  # the corrections' notes
    reason: str | None = None  # the retraction's, the last revision's note


async def write(
    api: Api, rng: random.Random, writer: int, commands: int, progress: Progress
) -> dict[str, Expected]:
    """``commands`` commands on this writer's own updates (no races between writers)."""
    mine: dict[str, Expected] = {}
    for n in range(commands):
        live = [u for u, e in mine.items() if not e.retracted]
        roll = rng.random()
        if not live or roll < 0.45:
            body = f"<p>Writer {writer}, bulletin {n}.</p>"
            answered = await api.post(SLUG, body)
            mine[answered["id"]] = Expected(body)
        elif roll < 0.7:
            update_id = rng.choice(live)
            body = f"<p>Writer {writer}, bulletin corrected at step {n}.</p>"
            note = f"Correction {n} by writer {writer}."
            answered = await api.correct(SLUG, update_id, body, note)
            mine[update_id].body = body
            mine[update_id].notes.append(note)
        elif roll < 0.9:
            update_id = rng.choice(live)
            expected = mine[update_id]
            if rng.random() < 0.5:
                expected.pinned = not expected.pinned
                answered = await api.flag(SLUG, update_id, pinned=expected.pinned)
            else:
                expected.key_event = not expected.key_event
                answered = await api.flag(SLUG, update_id, key_event=expected.key_event)
        elif roll < 0.98:
            update_id = rng.choice(live)
            reason = f"Withdrawn at step {n}."
            answered = await api.retract(SLUG, update_id, reason)
            mine[update_id] = Expected(
                "", retracted=True, notes=mine[update_id].notes, reason=reason
            )
        else:
            story = await api.edit(SLUG, title=f"Election night, take {writer}.{n}")
            await progress.advance(story["version"])
            continue
        await progress.advance(answered["story_version"])
    return mine


# -- readers -----------------------------------------------------------------------------


@dataclass
class Reader:
    """One reader's view across all its connections."""

    number: int
    rng: random.Random
    start: int | None = None  # the version its view begins at (snapshot V, or 0)
    last: int | None = None
    versions: list[int] = field(default_factory=list)
    updates: dict[str, Doc] = field(default_factory=dict)
    story: Doc = field(default_factory=dict)
    last_at: str | None = None
    connections: int = 0
    resets: int = 0
    problems: list[str] = field(default_factory=list)

    def take(self, message: Doc) -> None:
        kind = message["type"]
        if kind == "snapshot":
            if message.get("reset"):
                self.resets += 1
            if self.last is not None:
                self.problems.append(f"snapshot at {message['version']} after {self.last}")
            self.start = self.last = message["version"]
            story: Doc = message["story"]
            self.story = {k: v for k, v in story.items() if k not in STORY_LISTS}
            for update in [*story["updates"], *story["pinned"]]:
                self.updates[update["id"]] = update
            self.last_at = story["updated_at"]
        elif kind == "event":
            if self.last is None:
                self.start = self.last = 0
            if message["version"] != self.last + 1:
                self.problems.append(f"event {message['version']} after {self.last}")
            self.versions.append(message["version"])
            self.last = message["version"]
            self.last_at = message["at"]
            data: Doc = message["data"]
            if "update" in data:
                self.updates[data["update"]["id"]] = data["update"]
            else:
                self.story = data["story"]
        elif kind == "live":
            if message["version"] != self.last:
                self.problems.append(f"live at {message['version']} after {self.last}")
        else:
            self.problems.append(f"unexpected message {message!r}")

    def done(self, progress: Progress) -> bool:
        return progress.final is not None and self.last is not None and self.last >= progress.final


async def read(server: LiveServer, reader: Reader, progress: Progress) -> None:
    rng = reader.rng
    # A few "commuters" go offline early for longer than the ring holds: they must come
    # back through the store. The rest join now or later, with a snapshot or since=0.
    commuter = reader.number < COMMUTERS
    first = rng.random()
    since: str | None = None
    if commuter or first >= 0.6:
        since = "0"
    elif first < 0.25:  # joins late, with no cursor: a snapshot at whatever version it is
        await progress.wait_until(rng.randint(2, COMMANDS))
    while not reader.done(progress):
        ws = await connect(
            server.ws_url + live_path(SLUG, since),
            proxy=None,
            compression=None,
            open_timeout=STEP_TIMEOUT,
            max_size=2**22,
            # Unbounded: with websockets' flow control a clean close() that finds unread
            # messages waits out close_timeout (python-websockets/websockets#1555). The
            # story is finite, so is the queue.
            max_queue=None,
        )
        reader.connections += 1
        budget = rng.randint(1, 100 if commuter else 300)
        finished = asyncio.ensure_future(progress.finished.wait())
        try:
            while budget > 0 and not reader.done(progress):
                text = await next_text(ws, finished, reader, progress)
                if text is None:
                    break
                reader.take(orjson.loads(text))
                budget -= 1
        finally:
            finished.cancel()
            if rng.random() < 0.3:
                ws.transport.abort()  # a dropped connection, no goodbye
            await asyncio.wait_for(ws.close(), STEP_TIMEOUT)
        since = None if reader.last is None else str(reader.last)
        if reader.done(progress):
            break
        if commuter and reader.connections == 1:
            await progress.wait_until((reader.last or 0) + COMMUTE)
        elif rng.random() < 0.3:
            # Stay away while the story moves on: mostly a little, now and then a lot.
            lag = rng.randint(1, 60) if rng.random() < 0.9 else rng.randint(500, 1_500)
            await progress.wait_until((reader.last or 0) + lag)


async def next_text(
    ws: ClientConnection, finished: asyncio.Future[Any], reader: Reader, progress: Progress
) -> str | None:
    """The next message, or None once the writers are done and this reader has it all."""
    receiving = asyncio.ensure_future(ws.recv())
    while True:
        waits: set[asyncio.Future[Any]] = {receiving}
        if not finished.done():
            waits.add(finished)
        done, _ = await asyncio.wait(waits, timeout=STEP_TIMEOUT, return_when="FIRST_COMPLETED")
        if receiving in done:
            try:
                text = receiving.result()
            except ConnectionClosed as closed:
                raise AssertionError(
                    f"reader {reader.number}: the server closed on it ({closed.rcvd})"
                ) from None
            assert isinstance(text, str)
            return text
        if not done:
            receiving.cancel()
            raise AssertionError(
                f"reader {reader.number}: nothing for {STEP_TIMEOUT}s at {reader.last}"
            )
        if reader.done(progress):
            receiving.cancel()  # safe: websockets' recv() loses nothing when cancelled
            return None


# -- the run -----------------------------------------------------------------------------


async def all_updates(api: Api) -> dict[str, Doc]:
    """Every update of the story as the REST API gives it, paging newest to oldest."""
    found: dict[str, Doc] = {}
    params = {"limit": "100"}
    while True:
        page = await api.call("GET", f"/api/stories/{SLUG}/updates?{urlencode(params)}", None)
        for update in page["updates"]:
            found[update["id"]] = update
        if page["next"] is None:
            return found
        params["before"] = page["next"]


async def test_every_reader_ends_with_exactly_every_version_whatever_its_disconnects(
    api: Api, server: LiveServer, seed: int
) -> None:
    await api.open_story(SLUG)
    master = random.Random(seed)
    progress = Progress()
    readers = [Reader(n, random.Random(master.getrandbits(64))) for n in range(READERS)]
    writer_rngs = [random.Random(master.getrandbits(64)) for _ in range(WRITERS)]

    async def writers() -> list[dict[str, Expected]]:
        done = await asyncio.gather(
            *(
                write(api, rng, w, COMMANDS // WRITERS, progress)
                for w, rng in enumerate(writer_rngs)
            )
        )
        story = await api.story(SLUG)
        await progress.finish(story["version"])
        return done

    async def run() -> list[dict[str, Expected]]:
        writing = asyncio.ensure_future(writers())
        reading = [asyncio.ensure_future(read(server, r, progress)) for r in readers]
        try:
            # A failure anywhere ends the run at once rather than at the deadline.
            done, _ = await asyncio.wait([writing, *reading], return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in [writing, *reading]:
                task.cancel()
            await asyncio.gather(writing, *reading, return_exceptions=True)
        return writing.result()

    before = await api.metrics()
    written = await asyncio.wait_for(run(), TEST_DEADLINE)
    after = await api.metrics()

    final = progress.final
    assert final is not None
    assert final >= 1 + COMMANDS, f"seed {seed}: only {final} versions"
    expected: dict[str, Expected] = {}
    for mine in written:
        expected.update(mine)
    story = await api.story(SLUG)
    updates = await all_updates(api)
    assert story["version"] == final

    # The REST API says what the writers did.
    assert set(updates) == set(expected), f"seed {seed}"
    for update_id, wanted in expected.items():
        got = updates[update_id]
        label = f"seed {seed}, update {update_id}"
        assert got["status"] == ("retracted" if wanted.retracted else "published"), label
        assert got["body"] == wanted.body, label
        assert (got["pinned"], got["key_event"]) == (wanted.pinned, wanted.key_event), label
        assert [c["note"] for c in got["corrections"]] == wanted.notes, label
    for update_id in [u for u, e in expected.items() if e.notes][:40]:
        history = await api.call("GET", f"/api/stories/{SLUG}/updates/{update_id}/revisions", None)
        retraction = [] if expected[update_id].reason is None else [expected[update_id].reason]
        notes = [None, *expected[update_id].notes, *retraction]
        assert [r["note"] for r in history["revisions"]] == notes
    assert [u["id"] for u in story["updates"]] == list(updates)[: len(story["updates"])]

    # Every reader: one contiguous run to the final version, and the same final state.
    story_fields = {k: v for k, v in story.items() if k not in STORY_LISTS}
    steady = ("id", "slug", "title", "summary", "status", "created_at")
    for reader in readers:
        label = f"seed {seed}, reader {reader.number} ({reader.connections} connections)"
        assert reader.problems == [], label
        assert reader.resets == 0, label
        assert reader.start is not None, label
        assert reader.versions == list(range(reader.start + 1, final + 1)), label
        assert reader.last_at == story["updated_at"], label
        assert {k: reader.story[k] for k in steady} == {k: story_fields[k] for k in steady}
        assert reader.updates, label
        for update_id, update in reader.updates.items():
            assert update == updates[update_id], f"{label}, update {update_id}"
        # The snapshot and the events between them cover the newest page.
        assert set(reader.updates) >= {u["id"] for u in story["updates"]}, label

    connections = sum(r.connections for r in readers)
    assert connections >= 3 * READERS, f"seed {seed}: only {connections} connections"
    assert after["liveblog_live_joins_total"] - before["liveblog_live_joins_total"] == connections
    assert after["liveblog_live_slow_readers_total"] == before["liveblog_live_slow_readers_total"]
    # The commuters came back through the store; everyone else was served from memory or
    # a snapshot (a store read per reconnect would be the thing DESIGN §8 forbids).
    store_reads = after[BACKLOG_READS] - before[BACKLOG_READS]
    assert COMMUTERS <= store_reads < connections // 10, f"seed {seed}: {store_reads}"
