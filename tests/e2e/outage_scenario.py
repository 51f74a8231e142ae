"""A database outage, end to end: the real server on PostgreSQL through a fault proxy.

``run_outage`` starts ``liveblog serve`` (uvicorn, a subprocess) whose database URL points
at a ``tests.faultproxy`` proxy in front of the real PostgreSQL, opens a story with live
readers, then cuts the database twice: connections reset, then packets black-holed.
Throughout, a reporter posts (each post retried with its ``Idempotency-Key`` until it is
answered 201), a client reads the timeline, another polls ``/readyz``, and new readers
join. It records what every request answered and how long it took, what every reader
received, and how every join ended; ``tests/e2e/test_outage.py`` asserts on that record,
``python -m scripts.benchmarks.figures.outage`` turns it into figures. Nothing here asserts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from liveblog.settings import DB_DEADLINE_ENV
from tests.e2e.server import LiveServer
from tests.faultproxy import Mode, ProxyThread, running_proxy
from tests.helpers import EDITOR, issue_token, open_newsroom

# A client that waits this long has seen a hang, not a deadline: it gives up and says so.
CLIENT_TIMEOUT = 60.0
READERS = 4
POST_PAUSE = 0.2
READ_PAUSE = 0.5
READYZ_PAUSE = 0.25
# An SSE stream that opened instead of failing would never end: stop waiting after this.
SSE_GIVE_UP_SECONDS = 20.0
# How long the scenario waits for things that must happen (recovery, readers catching up).
SETTLE_SECONDS = 30.0
STORY = "outage"
COLD_STORY = "outage-cold"  # never read through the server: its snapshot is not cached


@dataclass
class Answer:
    """One HTTP request: when it started (seconds since the scenario began), how long it
    took, what it answered (status 0: no answer before CLIENT_TIMEOUT or a broken socket)."""

    kind: str  # write | read | readyz
    started: float
    seconds: float
    status: int
    body: Any
    retry_after: str | None


@dataclass
class Join:
    phase: str
    story: str
    since: int | None
    outcome: str  # snapshot | resumed | closed | dropped
    close_code: int | None = None
    close_reason: str = ""
    first_version: int | None = None


@dataclass
class ReaderTrace:
    """What one live reader received: ``versions`` in order (snapshot's first)."""

    versions: list[int] = field(default_factory=list)
    closes: list[tuple[int | None, str]] = field(default_factory=list)


@dataclass
class Phase:
    mode: str
    cut: float
    restored: float


@dataclass
class Observations:
    deadline: float
    phases: list[Phase] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    joins: list[Join] = field(default_factory=list)
    readers: list[ReaderTrace] = field(default_factory=list)
    acked: dict[str, str] = field(default_factory=dict)  # Idempotency-Key → update id
    final_version: int = 0
    update_ids: list[str] = field(default_factory=list)  # every update the story shows
    proxy_accepted: int = 0


def via_proxy(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the proxy's."""
    parts = urlsplit(url)
    userinfo, _, _ = parts.netloc.rpartition("@")
    host = f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}" if userinfo else host))


class Scenario:
    def __init__(self, proxy: ProxyThread, server: LiveServer, deadline: float) -> None:
        self.proxy = proxy
        self.server = server
        self.seen = Observations(deadline)
        self.began = time.monotonic()
        self.editor = ""
        self.reporter = ""
        self.http = httpx.AsyncClient(base_url=server.base_url, timeout=CLIENT_TIMEOUT)
        self.post_number = 0
        self.pending_key: str | None = None

    def now(self) -> float:
        return time.monotonic() - self.began

    async def request(
        self, kind: str, method: str, path: str, token: str = "", **options: Any
    ) -> Answer:
        headers = dict(options.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        started = self.now()
        try:
            response = await self.http.request(method, path, headers=headers, **options)
            status, retry_after = response.status_code, response.headers.get("retry-after")
            body = orjson.loads(response.content) if response.content else None
        except httpx.HTTPError:
            status, retry_after, body = 0, None, None
        answer = Answer(kind, started, self.now() - started, status, body, retry_after)
        self.seen.answers.append(answer)
        return answer

    # -- the reporter --------------------------------------------------------------------

    async def post_once(self) -> bool:
        """One attempt at the pending post (a new one if none is pending); True if 201."""
        if self.pending_key is None:
            self.post_number += 1
            self.pending_key = f"post-{self.post_number}-{uuid.uuid4().hex[:8]}"
        key = self.pending_key
        answer = await self.request(
            "write", "POST", f"/api/stories/{STORY}/updates", self.reporter,
            headers={"Idempotency-Key": key}, json={"body": f"<p>{key}</p>"},
        )  # fmt: skip
        if answer.status == 201:
            self.seen.acked[key] = answer.body["id"]
            self.pending_key = None
            return True
        return False

    async def keep_posting(self, until: Callable[[], bool]) -> None:
        while not until():
            await self.post_once()
            await asyncio.sleep(POST_PAUSE)

    # -- other clients -------------------------------------------------------------------

    async def keep_reading(self, until: Callable[[], bool]) -> None:
        while not until():
            await self.request("read", "GET", f"/api/stories/{STORY}/updates?limit=5")
            await asyncio.sleep(READ_PAUSE)

    async def keep_probing(self, until: Callable[[], bool]) -> None:
        while not until():
            await self.request("readyz", "GET", "/readyz")
            await asyncio.sleep(READYZ_PAUSE)

    async def join(self, phase: str, story: str, since: int | None) -> None:
        """A new reader joins, reads until ``live`` or a close, and leaves."""
        query = "" if since is None else f"?since={since}"
        record = Join(phase, story, since, "dropped")
        try:
            async with connect(
                f"{self.server.ws_url}/api/stories/{story}/live{query}",
                proxy=None, compression=None, open_timeout=CLIENT_TIMEOUT, max_size=2**24,
            ) as ws:  # fmt: skip
                while True:
                    message = orjson.loads(await asyncio.wait_for(ws.recv(), CLIENT_TIMEOUT))
                    if record.first_version is None and "version" in message:
                        record.first_version = message["version"]
                        record.outcome = "snapshot" if message["type"] == "snapshot" else "resumed"
                    if message["type"] == "live":
                        break
        except ConnectionClosed as closed:
            record.outcome = "closed" if closed.rcvd is not None else "dropped"
            if closed.rcvd is not None:
                record.close_code, record.close_reason = closed.rcvd.code, closed.rcvd.reason
        except (OSError, TimeoutError):
            record.outcome = "dropped"
        self.seen.joins.append(record)

    async def join_sse(self, story: str) -> None:
        """A new SSE reader of a story only the store holds: answered, or given up on."""
        started = self.now()
        status, retry_after, body = 0, None, None
        with contextlib.suppress(httpx.HTTPError, TimeoutError):
            async with asyncio.timeout(SSE_GIVE_UP_SECONDS):
                path = f"/api/stories/{story}/live/sse"
                async with self.http.stream("GET", path) as response:
                    status, retry_after = response.status_code, response.headers.get("retry-after")
                    if status != 200:  # a stream that opened never ends: not read
                        body = orjson.loads(await response.aread())
        self.seen.answers.append(
            Answer("sse", started, self.now() - started, status, body, retry_after)
        )

    async def read_live(self, trace: ReaderTrace, stop: asyncio.Event) -> None:
        """A reader that stays: reconnects with ``since`` if it is ever closed."""
        while not stop.is_set():
            since = trace.versions[-1] if trace.versions else None
            query = "" if since is None else f"?since={since}"
            try:
                async with connect(
                    f"{self.server.ws_url}/api/stories/{STORY}/live{query}",
                    proxy=None, compression=None, open_timeout=CLIENT_TIMEOUT,
                    max_size=2**24,
                ) as ws:  # fmt: skip
                    await self._receive(ws, trace, stop)
                    return
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                trace.closes.append((code, closed.rcvd.reason if closed.rcvd else ""))
            except OSError as error:
                trace.closes.append((None, str(error)))
            await asyncio.sleep(0.2)

    @staticmethod
    async def _receive(ws: ClientConnection, trace: ReaderTrace, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                text = await asyncio.wait_for(ws.recv(), 0.5)
                message = orjson.loads(text)
                if message["type"] in ("snapshot", "event"):
                    trace.versions.append(message["version"])

    # -- the story -----------------------------------------------------------------------

    async def story_version(self) -> int:
        answer = await self.request("read", "GET", f"/api/stories/{STORY}")
        return int(answer.body["version"]) if answer.status == 200 else 0

    async def cache_story(self) -> None:
        """Have the server render (and cache) the story at its newest version."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            version = await self.story_version()
            if version >= 1 + len(self.seen.acked):
                return
            await asyncio.sleep(0.1)  # the feed brings the views up to the last write

    async def all_update_ids(self) -> list[str]:
        ids: list[str] = []
        path = f"/api/stories/{STORY}/updates?limit=100"
        while True:
            answer = await self.request("read", "GET", path)
            ids.extend(update["id"] for update in answer.body["updates"])
            if answer.body["next"] is None:
                return ids
            path = f"/api/stories/{STORY}/updates?limit=100&before={answer.body['next']}"


async def _until(condition: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(0.1)  # polling for an outcome, with a bound
    return False


async def run_outage(
    postgres_url: str,
    workdir: Path,
    *,
    deadline: float = 2.0,
    reset_seconds: float = 10.0,
    blackhole_seconds: float = 20.0,
) -> Observations:
    """The whole scenario on ``postgres_url`` (its schema must exist and be empty)."""
    parts = urlsplit(postgres_url)
    with running_proxy(parts.hostname or "127.0.0.1", parts.port or 5432) as proxy:
        server = LiveServer(
            via_proxy(postgres_url, proxy.port), workdir / "server.log",
            env={DB_DEADLINE_ENV: str(deadline)},
        )  # fmt: skip
        editor = issue_token(postgres_url, "Erin Editor", "editor")
        reporter = issue_token(postgres_url, "Rashid Reporter", "reporter")
        await asyncio.to_thread(server.start)
        scenario = Scenario(proxy, server, deadline)
        scenario.editor, scenario.reporter = editor, reporter
        try:
            await _run(scenario, postgres_url, reset_seconds, blackhole_seconds)
        finally:
            await scenario.http.aclose()
            await asyncio.to_thread(server.stop)
        scenario.seen.proxy_accepted = proxy.proxy.accepted
        return scenario.seen


async def _run(
    scenario: Scenario, postgres_url: str, reset_seconds: float, blackhole_seconds: float
) -> None:
    seen = scenario.seen
    created = await scenario.request(
        "write", "POST", "/api/stories", scenario.editor, json={"slug": STORY, "title": "Outage"}
    )
    if created.status != 201:
        raise RuntimeError(f"could not open the story: {created.status} {created.body}")
    _open_cold_story(postgres_url)  # straight to the database, never read by the server
    for _ in range(3):
        await scenario.post_once()
    stop_readers = asyncio.Event()
    traces = [ReaderTrace() for _ in range(READERS)]
    seen.readers = traces
    readers = [asyncio.ensure_future(scenario.read_live(t, stop_readers)) for t in traces]

    for mode, seconds in ((Mode.RESET, reset_seconds), (Mode.BLACKHOLE, blackhole_seconds)):
        await scenario.cache_story()
        known = await scenario.story_version()
        scenario.proxy.set_mode(mode)
        phase = Phase(mode.value, scenario.now(), 0.0)
        seen.phases.append(phase)
        ends = scenario.now() + seconds

        def outage_over(ends: float = ends) -> bool:
            return scenario.now() >= ends

        # Clients go on as before; new readers join: on the story whose render the hub
        # holds, resuming from the hub's ring, and on a story only the store holds.
        await asyncio.gather(
            scenario.join(mode.value, STORY, None),
            scenario.join(mode.value, STORY, max(known - 2, 1)),
            scenario.join(mode.value, COLD_STORY, None),
            scenario.join_sse(COLD_STORY),
            scenario.keep_posting(outage_over),
            scenario.keep_reading(outage_over),
            scenario.keep_probing(outage_over),
        )
        scenario.proxy.set_mode(Mode.PASS)
        phase.restored = scenario.now()
        recovered = len(seen.acked)

        def written(recovered: int = recovered, phase: Phase = phase) -> bool:
            return len(seen.acked) > recovered or scenario.now() > phase.restored + SETTLE_SECONDS

        await asyncio.gather(scenario.keep_posting(written), scenario.keep_probing(written))

        async def ready() -> bool:
            return (await scenario.request("readyz", "GET", "/readyz")).status == 200

        await _until(ready, SETTLE_SECONDS)

    for _ in range(2):
        await scenario.post_once()
    await scenario.cache_story()
    seen.final_version = await scenario.story_version()

    async def readers_done() -> bool:
        return all(t.versions and t.versions[-1] >= seen.final_version for t in traces)

    await _until(readers_done, SETTLE_SECONDS)
    stop_readers.set()
    await asyncio.gather(*readers)
    seen.update_ids = await scenario.all_update_ids()


def _open_cold_story(postgres_url: str) -> None:
    with open_newsroom(postgres_url) as newsroom:
        newsroom.open_story(slug=COLD_STORY, title="Cold", summary="", actor=EDITOR)
