"""Live readers across two server processes on one PostgreSQL schema (DESIGN §5, §6, §9).

No sticky sessions: a reader may be served by either process and may move between them
with ``since``. Each process learns of the other's writes through LISTEN/NOTIFY, which
is at-most-once: when B's LISTEN connection is killed, B resubscribes from its position
and its readers lose nothing.

Each server gets its own ``application_name`` (libpq reads ``PGAPPNAME``), so the test
kills B's LISTEN connection and nobody else's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httpx
import psycopg
import pytest

from tests.databases import libpq_url
from tests.e2e.live_client import LiveReader, check_update_event, versions_of
from tests.e2e.server import LiveServer
from tests.helpers import Api, Doc, Tokens, issue_tokens

pytestmark = pytest.mark.postgres

FEED_RECONNECTS = "liveblog_feed_reconnects_total"


@dataclass(frozen=True)
class Pair:
    a: LiveServer
    b: LiveServer
    b_application_name: str
    database_url: str
    tokens: Tokens


def schema_of(url: str) -> str:
    return dict(parse_qsl(urlsplit(url).query))["schema"]


@pytest.fixture
def pair(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pair]:
    tokens = issue_tokens(fresh_postgres_url)
    schema = schema_of(fresh_postgres_url)
    started: list[LiveServer] = []
    try:
        names = []
        for label in ("a", "b"):
            name = f"lb-{label}-{schema}"
            monkeypatch.setenv("PGAPPNAME", name)  # read by LiveServer.start, then libpq
            server = LiveServer(fresh_postgres_url, tmp_path / f"{label}.log")
            started.append(server.start())
            names.append(name)
        monkeypatch.delenv("PGAPPNAME")
        yield Pair(started[0], started[1], names[1], fresh_postgres_url, tokens)
    finally:
        for server in started:
            server.stop()


@dataclass(frozen=True)
class Apis:
    a: Api
    b: Api


@pytest.fixture
async def apis(pair: Pair) -> AsyncIterator[Apis]:
    async with (
        httpx.AsyncClient(base_url=pair.a.base_url, timeout=30, trust_env=False) as a,
        httpx.AsyncClient(base_url=pair.b.base_url, timeout=30, trust_env=False) as b,
    ):
        yield Apis(Api(a, pair.tokens), Api(b, pair.tokens))


async def test_an_update_posted_through_one_process_reaches_readers_of_the_other(
    pair: Pair, apis: Apis
) -> None:
    await apis.a.open_story("across")
    on_a = await LiveReader.open(pair.a, "across")
    on_b = await LiveReader.open(pair.b, "across")
    for reader in (on_a, on_b):
        assert [m["type"] for m in await reader.until_live()] == ["snapshot", "live"]
        assert reader.texts[-1] == '{"type":"live","version":1}'

    through_a = await apis.a.post("across", "<p>Posted through A.</p>")
    through_b = await apis.b.post("across", "<p>Posted through B.</p>")
    for reader in (on_a, on_b):
        check_update_event(await reader.next(), 2, "update.posted", through_a)
        check_update_event(await reader.next(), 3, "update.posted", through_b)
    assert on_a.texts == on_b.texts  # the same frames, whichever process made them
    corrected = await apis.b.correct("across", through_a["id"], "<p>Fixed via B.</p>", "Typo.")
    for reader in (on_a, on_b):
        check_update_event(await reader.next(), 4, "update.corrected", corrected)
        await reader.close()


async def test_a_reader_resumes_exactly_on_the_other_process_with_since(
    pair: Pair, apis: Apis
) -> None:
    await apis.a.open_story("moving")
    await apis.a.post("moving", "<p>First.</p>")
    steady = await LiveReader.open(pair.a, "moving", since="0")
    assert versions_of(await steady.until_live()) == [1, 2]
    mover = await LiveReader.open(pair.a, "moving")
    snapshot, _ = await mover.until_live()
    assert snapshot["version"] == 2
    await mover.close()

    for n in range(3):
        await apis.a.post("moving", f"<p>Through A, {n}.</p>")
        await apis.b.post("moving", f"<p>Through B, {n}.</p>")
    missed = [await steady.next() for _ in range(6)]
    assert versions_of(missed) == [3, 4, 5, 6, 7, 8]

    moved = await LiveReader.open(pair.b, "moving", since="2")
    messages = await moved.until_live()
    assert versions_of(messages) == [3, 4, 5, 6, 7, 8]
    assert moved.texts[:-1] == steady.texts[-6:]
    assert messages[-1] == {"type": "live", "version": 8}

    # Straight after a write through A, B may not have heard of it yet: a cursor at the
    # newest version is still served exactly (from the store), never reset.
    quick_posts: list[Doc] = []
    for n in range(3):
        latest = await apis.a.post("moving", f"<p>Quick {n}.</p>")
        quick_posts.append(latest)
        version = latest["story_version"]
        quick = await LiveReader.open(pair.b, "moving", since=str(version))
        assert await quick.until_live() == [{"type": "live", "version": version}]
        await quick.close()
    quick_posts.append(await apis.a.post("moving", "<p>After the quick ones.</p>"))
    for version, answered in enumerate(quick_posts, start=9):
        check_update_event(await moved.next(), version, "update.posted", answered)
    for reader in (steady, moved):
        await reader.close()


def terminate_listen(database_url: str, application_name: str) -> int:
    """Kill the LISTEN connections of one server; how many were killed."""
    with psycopg.connect(libpq_url(database_url), autocommit=True, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = %s AND query ILIKE 'LISTEN%%'",
            (application_name,),
        ).fetchall()
    return sum(1 for (killed,) in rows if killed)


async def test_killing_the_listen_connection_loses_no_event_for_readers(
    pair: Pair, apis: Apis
) -> None:
    await apis.a.open_story("listen")
    readers = [
        await LiveReader.open(pair.b, "listen"),
        await LiveReader.open(pair.b, "listen", since="0"),
        await LiveReader.open(pair.b, "listen", since="1"),
    ]
    for reader in readers:
        assert (await reader.until_live())[-1] == {"type": "live", "version": 1}
    before = await apis.b.metrics()
    posted: dict[int, Doc] = {}

    async def post(n: int) -> None:
        update = await apis.a.post("listen", f"<p>Bulletin {n}.</p>")
        posted[update["story_version"]] = update

    for n in range(10):  # before
        await post(n)
    for reader in readers:
        assert versions_of([await reader.next() for _ in range(10)]) == list(range(2, 12))

    async def during() -> None:
        for n in range(10, 30):
            await post(n)

    posting = asyncio.ensure_future(during())
    while len(posted) < 15 and not posting.done():
        await asyncio.wait({posting}, timeout=0.01)  # let a few posts land first
    killed = await asyncio.to_thread(terminate_listen, pair.database_url, pair.b_application_name)
    assert killed >= 1, "found no LISTEN connection of server B"
    await asyncio.wait_for(posting, 60)
    await apis.b.wait_for_metric(FEED_RECONNECTS, before[FEED_RECONNECTS] + 1)
    for n in range(30, 40):  # after
        await post(n)

    newest = max(posted)
    assert sorted(posted) == list(range(2, newest + 1))
    for reader in readers:
        got = [await reader.next() for _ in range(newest - 11)]
        assert versions_of(got) == list(range(12, newest + 1))
        for message in got:
            version = message["version"]
            check_update_event(message, version, "update.posted", posted[version])
    # Nothing doubled behind them: the next message is the next version.
    sentinel = await apis.a.post("listen", "<p>Sentinel.</p>")
    for reader in readers:
        check_update_event(await reader.next(), newest + 1, "update.posted", sentinel)
        await reader.close()
    assert (await apis.a.metrics())[FEED_RECONNECTS] == 0  # A's LISTEN was left alone
