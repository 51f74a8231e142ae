"""The live protocol (DESIGN §5) against a real server, with a real WebSocket client.

Most tests share one server (each opens a story of its own; counters are compared as
differences); those that stop or restart the server get one of their own. Every wait
has a deadline; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import asyncio
import random
import socket
import string
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import httpx
import orjson
import pytest
from websockets.asyncio.client import connect

from liveblog.live.hub import RING_SIZE, SLOW_READER_BYTES
from tests.e2e.live_client import (
    BACKLOG_READS,
    JOINS,
    READERS,
    RECV_TIMEOUT,
    SLOW_READER_PENDING,
    SLOW_READERS,
    SNAPSHOT_READS,
    LiveReader,
    SseMessage,
    SseReader,
    check_event,
    check_story_event,
    check_update_event,
    find_update,
    live_path,
    story_fields,
    versions_of,
)
from tests.e2e.server import LiveServer
from tests.helpers import Api, Doc


def body_of(size: int, seed: int) -> str:
    """A paragraph of ``size`` characters of varied words (nothing compresses it away)."""
    rng = random.Random(seed)
    words: list[str] = []
    length = 7  # "<p>" + "</p>"
    while length < size:
        word = "".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 10)))
        words.append(word)
        length += len(word) + 1
    return "<p>" + " ".join(words)[: size - 7] + "</p>"


# -- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def extra_servers() -> Iterator[list[LiveServer]]:
    """Servers a test starts itself; stopped at the end whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.stop()


# -- a fresh reader ----------------------------------------------------------------------


async def test_a_fresh_reader_gets_the_snapshot_then_live_then_every_event(
    api: Api, live: LiveServer
) -> None:
    await api.open_story("fresh-reader")
    first = await api.post("fresh-reader", "<p>Crowds gather on Ala-Too square.</p>")
    story = await api.story("fresh-reader")
    assert story["version"] == 2

    reader = await LiveReader.open(live, "fresh-reader")
    snapshot, went_live = await reader.until_live()
    assert snapshot == {"type": "snapshot", "version": 2, "story": story}
    assert went_live == {"type": "live", "version": 2}

    posted = await api.post("fresh-reader", "<p>Polls closed at 20:00.</p>", title="Polls close")
    update = check_update_event(await reader.next(), 3, "update.posted", posted)
    assert update["title"] == "Polls close"
    assert update == find_update(await api.story("fresh-reader"), posted["id"])

    corrected = await api.correct(
        "fresh-reader", posted["id"], "<p>Polls closed at 20:00 local time.</p>", "Time zone."
    )
    update = check_update_event(await reader.next(), 4, "update.corrected", corrected)
    assert update["revision"] == 2
    assert [c["note"] for c in update["corrections"]] == ["Time zone."]

    steps = [
        ({"pinned": True}, "update.pinned"),
        ({"key_event": True}, "update.key_event_set"),
        ({"pinned": False}, "update.unpinned"),
        ({"key_event": False}, "update.key_event_unset"),
    ]
    for version, (flags, name) in enumerate(steps, start=5):
        flagged = await api.flag("fresh-reader", posted["id"], **flags)
        update = check_update_event(await reader.next(), version, name, flagged)
        for flag, value in flags.items():
            assert update[flag] is value
        assert update == find_update(await api.story("fresh-reader"), posted["id"])

    retracted = await api.retract("fresh-reader", first["id"], "Unverified crowd figure.")
    update = check_update_event(await reader.next(), 9, "update.retracted", retracted)
    assert update["status"] == "retracted"
    assert update["body"] == ""
    assert update["retraction"]["reason"] == "Unverified crowd figure."

    edited = await api.edit("fresh-reader", title="Kyrgyzstan election protests")
    check_story_event(await reader.next(), 10, "story.updated", edited)
    closed = await api.close("fresh-reader")
    check_story_event(await reader.next(), 11, "story.closed", closed)
    assert closed["status"] == "closed"
    reopened = await api.reopen("fresh-reader")
    check_story_event(await reader.next(), 12, "story.reopened", reopened)
    assert reopened["status"] == "live"
    assert story_fields(reopened) == story_fields(await api.story("fresh-reader"))

    # Nothing extra or doubled came in between: the next message is the next version.
    last = await api.post("fresh-reader", "<p>Results are due in the morning.</p>")
    check_update_event(await reader.next(), 13, "update.posted", last)
    await reader.close()


async def test_an_unknown_story_closes_the_socket_with_4404_and_the_sse_stream_is_404(
    api: Api, live: LiveServer
) -> None:
    reader = await LiveReader.open(live, "no-such-story")
    messages, close = await reader.until_closed()
    assert messages == []
    assert close.code == 4404
    response = await api.http.get("/api/stories/no-such-story/live/sse")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# -- resuming ----------------------------------------------------------------------------


async def test_a_reconnect_within_the_ring_gets_exactly_the_missed_events_from_memory(
    api: Api, live: LiveServer
) -> None:
    slug = "ring-resume"
    await api.open_story(slug)
    for n in range(3):
        await api.post(slug, f"<p>Update {n}.</p>")
    steady = await LiveReader.open(live, slug)
    assert [m["version"] for m in await steady.until_live()] == [4, 4]
    leaving = await LiveReader.open(live, slug)
    assert [m["type"] for m in await leaving.until_live()] == ["snapshot", "live"]
    await leaving.close()

    a = await api.post(slug, "<p>Parliament convenes at 16:00.</p>")
    await api.correct(slug, a["id"], "<p>Parliament convenes at 17:00.</p>", "New time.")
    await api.flag(slug, a["id"], pinned=True)
    b = await api.post(slug, "<p>Former president released.</p>")
    await api.retract(slug, b["id"], "Not confirmed.")
    missed = [await steady.next() for _ in range(5)]
    assert versions_of(missed) == [5, 6, 7, 8, 9]
    before = await api.metrics()

    back = await LiveReader.open(live, "ring-resume", since="4")
    resumed = await back.until_live()
    # The frames the steady reader got, except that none shows text taken back since:
    # the post of ``a`` carries its corrected body, that of ``b`` its tombstone.
    assert versions_of(resumed[:-1]) == [5, 6, 7, 8, 9]
    assert [m["event"] for m in resumed[:-1]] == [m["event"] for m in missed]
    assert back.texts[1:3] == steady.texts[-4:-2]  # the correction and the pin
    assert back.texts[4] == steady.texts[-1]  # the retraction
    assert resumed[0]["data"]["update"] == {
        **missed[0]["data"]["update"],
        "body": "<p>Parliament convenes at 17:00.</p>",
    }
    retracted = missed[4]["data"]["update"]
    assert resumed[3]["data"]["update"] == {
        **missed[3]["data"]["update"],
        **{name: retracted[name] for name in ("title", "body", "status", "retraction")},
    }
    assert resumed[-1] == {"type": "live", "version": 9}
    current = await LiveReader.open(live, slug, since="9")
    assert await current.until_live() == [{"type": "live", "version": 9}]

    after = await api.metrics()
    assert after[JOINS] == before[JOINS] + 2  # the counters did move on...
    assert after[BACKLOG_READS] == before[BACKLOG_READS]  # ...but no store read
    assert after[SNAPSHOT_READS] == before[SNAPSHOT_READS]  # and no view read

    c = await api.post(slug, "<p>Curfew from 22:00.</p>")
    for reader in (steady, back, current):
        check_update_event(await reader.next(), 10, "update.posted", c)
        await reader.close()


async def post_many(api: Api, slug: str, count: int, workers: int = 8) -> dict[int, str]:
    """Post ``count`` updates through ``workers`` concurrent clients: version → update id."""
    posted: dict[int, str] = {}
    numbers = iter(range(count))

    async def worker() -> None:
        for n in numbers:
            update = await api.post(slug, f"<p>Bulletin {n}.</p>")
            posted[update["story_version"]] = update["id"]

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), 60)
    return posted


async def test_a_reconnect_older_than_the_ring_reads_the_missed_events_from_the_store(
    api: Api, live: LiveServer
) -> None:
    slug = "store-resume"
    await api.open_story(slug)
    posted = await post_many(api, slug, RING_SIZE + 76)
    newest = 1 + RING_SIZE + 76
    assert sorted(posted) == list(range(2, newest + 1))
    before = await api.metrics()

    reader = await LiveReader.open(live, slug, since="1")
    messages = await reader.until_live()
    assert versions_of(messages) == list(range(2, newest + 1))
    assert messages[-1] == {"type": "live", "version": newest}
    for message in messages[:-1]:
        update = check_event(message, message["version"], "update.posted")["update"]
        assert update["id"] == posted[message["version"]]
    after = await api.metrics()
    assert after[BACKLOG_READS] == before[BACKLOG_READS] + 1
    assert after[SNAPSHOT_READS] == before[SNAPSHOT_READS]

    # The ring's edge: it holds the newest RING_SIZE frames, no more.
    oldest_in_ring = newest - RING_SIZE + 1
    edge = await LiveReader.open(live, slug, since=str(oldest_in_ring - 1))
    assert versions_of(await edge.until_live()) == list(range(oldest_in_ring, newest + 1))
    assert (await api.metrics())[BACKLOG_READS] == after[BACKLOG_READS]
    beyond = await LiveReader.open(live, slug, since=str(oldest_in_ring - 2))
    assert versions_of(await beyond.until_live()) == list(range(oldest_in_ring - 1, newest + 1))
    assert (await api.metrics())[BACKLOG_READS] == after[BACKLOG_READS] + 1
    assert edge.texts[:-1] == beyond.texts[1:-1] == reader.texts[-RING_SIZE - 1 : -1]
    for each in (reader, edge, beyond):
        await each.close()


async def test_a_restarted_server_resumes_readers_exactly_from_the_store(
    own_api: Api, server: LiveServer
) -> None:
    slug = "restart"
    await own_api.open_story(slug)
    for n in range(4):
        await own_api.post(slug, f"<p>Before restart {n}.</p>")
    first = await LiveReader.open(server, slug, since="0")
    before_restart = await first.until_live()
    assert versions_of(before_restart) == [1, 2, 3, 4, 5]
    await first.close()

    await asyncio.to_thread(server.stop)
    await asyncio.to_thread(server.start)  # the same file, a new process: its ring is empty
    assert (await own_api.metrics())[BACKLOG_READS] == 0
    late = [await own_api.post(slug, f"<p>After restart {n}.</p>") for n in range(2)]

    resumed = await LiveReader.open(server, slug, since="2")
    messages = await resumed.until_live()
    assert versions_of(messages) == [3, 4, 5, 6, 7]
    assert messages[-1] == {"type": "live", "version": 7}
    # Rebuilt from the store, events 3..5 are what the first process streamed live.
    assert messages[:3] == before_restart[2:5]
    for message, answered in zip(messages[3:5], late, strict=True):
        check_update_event(message, answered["story_version"], "update.posted", answered)
    assert (await own_api.metrics())[BACKLOG_READS] == 1

    everything = await LiveReader.open(server, slug, since="0")
    messages = await everything.until_live()
    assert versions_of(messages) == [1, 2, 3, 4, 5, 6, 7]
    opened = check_event(messages[0], 1, "story.opened")
    assert opened["story"]["slug"] == slug
    assert opened["story"]["version"] == 1

    # What this process has seen since it started (6, 7) is in its ring again.
    from_ring = await LiveReader.open(server, slug, since="5")
    assert versions_of(await from_ring.until_live()) == [6, 7]
    assert (await own_api.metrics())[BACKLOG_READS] == 2
    for reader in (resumed, everything, from_ring):
        await reader.close()


@pytest.mark.parametrize(
    "since",
    ["4", "1000", "x", "-1", "1.5", "9" * 30, "²"],
    ids=["next", "far-beyond", "word", "negative", "fraction", "huge", "superscript"],
)
async def test_a_cursor_beyond_the_story_or_malformed_gets_a_reset_snapshot(
    api: Api, live: LiveServer, since: str
) -> None:
    slug = f"reset-{uuid4().hex[:12]}"
    await api.open_story(slug)
    for n in range(2):
        await api.post(slug, f"<p>Update {n}.</p>")
    story = await api.story(slug)
    assert story["version"] == 3
    reader = await LiveReader.open(live, slug, since=since)
    snapshot, went_live = await reader.until_live()
    assert snapshot == {"type": "snapshot", "version": 3, "story": story, "reset": True}
    assert went_live == {"type": "live", "version": 3}
    posted = await api.post(slug, "<p>And on it goes.</p>")
    check_update_event(await reader.next(), 4, "update.posted", posted)
    await reader.close()


# -- Server-Sent Events ------------------------------------------------------------------


async def test_sse_carries_the_same_messages_with_versions_as_ids_and_resumes(
    api: Api, live: LiveServer
) -> None:
    slug = "sse"
    await api.open_story(slug)
    for n in range(2):
        await api.post(slug, f"<p>Update {n}.</p>")
    ws = await LiveReader.open(live, slug)
    await ws.until_live()
    path = f"/api/stories/{slug}/live/sse"
    async with api.http.stream("GET", path) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        sse = SseReader(response.aiter_lines())
        snapshot, went_live = await sse.until_live()
        assert (snapshot.id, snapshot.data) == ("3", ws.texts[0])
        assert (went_live.id, went_live.data) == (None, ws.texts[1])

        a = await api.post(slug, "<p>Parliament convenes.</p>")
        await api.correct(slug, a["id"], "<p>Parliament convenes at 16:00.</p>", "Time.")
        await api.flag(slug, a["id"], key_event=True)
        for version in (4, 5, 6):
            message = await sse.next()
            assert message is not None
            assert message.id == str(version)
            assert (await ws.next())["version"] == version
            assert message.data == ws.texts[-1]
    await ws.close()

    async def resume(headers: dict[str, str], params: dict[str, str]) -> list[SseMessage]:
        async with api.http.stream("GET", path, headers=headers, params=params) as response:
            assert response.status_code == 200
            return await SseReader(response.aiter_lines()).until_live()

    events = dict(zip((4, 5, 6), ws.texts[2:5], strict=True))
    resumed = await resume({"Last-Event-ID": "3"}, {})
    assert [(m.id, m.data) for m in resumed[1:-1]] == [(str(v), events[v]) for v in (5, 6)]
    # Sent late, the post shows the body as corrected since, not the one taken back.
    posted = orjson.loads(events[4])
    posted["data"]["update"]["body"] = "<p>Parliament convenes at 16:00.</p>"
    assert (resumed[0].id, resumed[0].json()) == ("4", posted)
    assert resumed[-1].json() == {"type": "live", "version": 6}
    resumed = await resume({}, {"since": "4"})
    assert [m.id for m in resumed] == ["5", "6", None]
    # The browser's Last-Event-ID wins over a stale ?since in the URL.
    resumed = await resume({"Last-Event-ID": "5"}, {"since": "1"})
    assert [(m.id, m.data) for m in resumed[:-1]] == [("6", events[6])]
    resumed = await resume({"Last-Event-ID": "nonsense"}, {})
    assert [m.id for m in resumed] == ["6", None]
    assert resumed[0].json()["reset"] is True


# -- closed stories, shutdown ------------------------------------------------------------


async def test_a_closed_story_still_streams_corrections_and_retractions(
    api: Api, live: LiveServer
) -> None:
    slug = "closed-story"
    await api.open_story(slug)
    posted = await api.post(slug, "<p>Turnout was 60%.</p>")
    await api.close(slug)
    reader = await LiveReader.open(live, slug)
    snapshot, _ = await reader.until_live()
    assert snapshot["version"] == 3
    assert snapshot["story"]["status"] == "closed"
    corrected = await api.correct(slug, posted["id"], "<p>Turnout was 59.6%.</p>", "Final count.")
    check_update_event(await reader.next(), 4, "update.corrected", corrected)
    retracted = await api.retract(slug, posted["id"], "Figures withdrawn by the commission.")
    check_update_event(await reader.next(), 5, "update.retracted", retracted)
    assert (await api.story(slug))["status"] == "closed"
    await reader.close()


async def test_shutdown_closes_readers_with_1001_and_they_resume_on_a_new_server(
    own_api: Api,
    server: LiveServer,
    e2e_database_url: str,
    tmp_path: Path,
    extra_servers: list[LiveServer],
) -> None:
    slug = "shutdown"
    await own_api.open_story(slug)
    for n in range(2):
        await own_api.post(slug, f"<p>Before shutdown {n}.</p>")
    fresh = await LiveReader.open(server, slug)
    resuming = await LiveReader.open(server, slug, since="1")
    assert [m["type"] for m in await fresh.until_live()] == ["snapshot", "live"]
    assert versions_of(await resuming.until_live()) == [2, 3]

    stopping = asyncio.ensure_future(asyncio.to_thread(server.stop))
    for reader in (fresh, resuming):
        messages, close = await reader.until_closed(seconds=20)
        assert messages == []
        assert (close.code, close.reason) == (1001, "server shutting down")
    await asyncio.wait_for(stopping, 30)

    successor = LiveServer(e2e_database_url, tmp_path / "successor.log")
    extra_servers.append(successor)
    await asyncio.to_thread(successor.start)
    async with httpx.AsyncClient(base_url=successor.base_url, timeout=30) as http:
        api = Api(http, own_api.tokens)
        late = [await api.post(slug, f"<p>After shutdown {n}.</p>") for n in range(2)]
        for _ in (fresh, resuming):  # each saw version 3 last
            back = await LiveReader.open(successor, slug, since="3")
            messages = await back.until_live()
            assert versions_of(messages) == [4, 5]
            for message, answered in zip(messages[:-1], late, strict=True):
                check_update_event(message, answered["story_version"], "update.posted", answered)
            assert messages[-1] == {"type": "live", "version": 5}
            await back.close()


# -- limits ------------------------------------------------------------------------------


async def test_a_reader_that_never_reads_is_closed_as_slow_and_the_others_get_everything(
    api: Api, live: LiveServer
) -> None:
    slug = "slow-reader"
    await api.open_story(slug)
    before = await api.metrics()
    # A reader with the smallest buffers we can give it, that will not read.
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: no scaling
    sock.setblocking(False)
    await asyncio.wait_for(
        asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", live.port)), RECV_TIMEOUT
    )
    sleeper = await LiveReader.open(live, slug, sock=sock, max_queue=1)
    # The normal reader drains its socket as fast as frames come (no client-side bound),
    # so only a starved test process could make the server think it slow.
    normal = await LiveReader.open(live, slug, max_queue=None)
    assert [m["type"] for m in await normal.until_live()] == ["snapshot", "live"]

    received: list[Doc] = []
    wanted: list[int] = []  # the version the normal reader must reach, once known
    caught_up = asyncio.Event()

    async def read_all() -> None:
        while True:
            received.append(await normal.next(seconds=60))
            if wanted and received[-1]["version"] >= wanted[0]:
                caught_up.set()

    reading = asyncio.ensure_future(read_all())
    body = body_of(19_900, seed=1)
    posts = 0
    limit = 2_000  # enough for the reader's buffer and the sockets' between it and us
    try:
        while (await api.metrics())[SLOW_READERS] == before[SLOW_READERS]:
            assert posts < limit, f"{posts} posts and the slow reader is still not noticed"
            batch = [api.post(slug, body) for _ in range(25)]
            await asyncio.wait_for(asyncio.gather(*batch), 60)
            posts += len(batch)
        # It took a full buffer, not a hiccup: the server's bound on what waits for one
        # reader (frames queued while catching up, bytes in its socket once live).
        assert posts * len(body) > SLOW_READER_BYTES
        # What the stalled reader cost the server when it was dropped: within the bound
        # (one frame always fits, so at most the bound itself). Before the bound counted
        # bytes, about 2 MiB waited in its socket's write buffer.
        held = (await api.metrics())[SLOW_READER_PENDING]
        print(f"\nbytes held for the stalled reader when dropped: {held:,.0f}")
        assert 0 < held <= SLOW_READER_BYTES
        last = await api.post(slug, "<p>One more after the slow reader was dropped.</p>")
        newest = last["story_version"]
        assert newest == posts + 2
        wanted.append(newest)
        if received and received[-1]["version"] >= newest:
            caught_up.set()
        await asyncio.wait_for(caught_up.wait(), 30)
    finally:
        reading.cancel()
    assert versions_of(received) == list(range(2, newest + 1))
    assert (await api.metrics())[SLOW_READERS] == before[SLOW_READERS] + 1
    # The server lets go of the sleeper without waiting for it to read: only the
    # normal reader is still connected.
    deadline = asyncio.get_running_loop().time() + 30
    while (await api.metrics())[READERS] != 1:
        assert asyncio.get_running_loop().time() < deadline, "the slow reader is still held"
        await asyncio.sleep(0.1)  # polling a gauge with a deadline, not timing an outcome

    # The sleeper wakes up: what it was sent is contiguous, then the server's goodbye.
    messages, close = await sleeper.until_closed(seconds=30)
    assert [m["type"] for m in messages[:2]] == ["snapshot", "live"]
    assert versions_of(messages) == list(range(2, 2 + len(messages) - 2))
    assert len(messages) - 2 < newest - 1  # it was cut off before the end
    assert (close.code, close.reason) == (1013, "slow consumer")
    await normal.close()


async def test_an_inbound_message_over_4_kib_closes_the_socket_with_1009(
    api: Api, live: LiveServer
) -> None:
    slug = "too-chatty"
    await api.open_story(slug)
    reader = await LiveReader.open(live, slug)
    await reader.until_live()
    await reader.ws.send("hello")  # small messages are ignored; the stream goes on
    posted = await api.post(slug, "<p>Still here.</p>")
    check_update_event(await reader.next(), 2, "update.posted", posted)
    await reader.ws.send("x" * 5_000)
    messages, close = await reader.until_closed()
    assert messages == []
    assert close.code == 1009


async def test_a_client_offering_compression_gets_none(api: Api, live: LiveServer) -> None:
    slug = "no-deflate"
    await api.open_story(slug)
    ws = await connect(
        live.ws_url + live_path(slug, None), proxy=None, compression="deflate",
        open_timeout=RECV_TIMEOUT,
    )  # fmt: skip
    try:
        assert ws.request is not None
        assert "permessage-deflate" in (ws.request.headers.get("Sec-WebSocket-Extensions") or "")
        assert ws.response is not None
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        first = orjson.loads(await asyncio.wait_for(ws.recv(), RECV_TIMEOUT))
        assert first["type"] == "snapshot"
    finally:
        await ws.close()
