"""Through the real server: one story the views cannot take stops alone and shows in
``/readyz`` and ``/metrics``; text recorded before the newsroom-text rule is served and
rebuilt on each backend (``liveblog rebuild`` is run as an operator runs it)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from liveblog.bootstrap import build
from liveblog.settings import Settings, sqlite_path
from tests.e2e.live_client import LiveReader, check_update_event
from tests.e2e.server import LiveServer, run_cli
from tests.helpers import EDITOR, Api, Tokens, bearer, issue_token
from tests.old_text import write_old_text

ATTENTION = "liveblog_feed_stories_needing_attention"


@pytest.fixture
async def api(server: LiveServer, tokens: Tokens) -> AsyncIterator[Api]:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False) as http:
        yield Api(http, tokens)


def take_sequence_one(database_url: str, story_id: str) -> None:
    """As ``tests.integration.test_unprojectable.take_sequence_one``, from outside the
    server's process: the views will refuse the story's first update."""
    with sqlite3.connect(sqlite_path(database_url)) as db:
        db.execute(
            "INSERT INTO liveblog_timeline (story_id, update_id, sequence, pinned, key_event,"
            " status, revision, title, published_at, doc) VALUES (?, ?, 1, 0, 0, 'published',"
            " 1, 'squatter', '2026-01-01T00:00:00Z', '{}')",
            (story_id, "00000000-0000-4000-8000-000000000001"),
        )


async def test_a_story_the_views_refuse_shows_in_readyz_and_metrics_and_stops_alone(
    api: Api, server: LiveServer, e2e_database_url: str
) -> None:
    await api.open_story("healthy")
    stuck = await api.open_story("stuck")
    ready = (await api.http.get("/readyz")).json()
    assert ready == {"status": "ready", "stories_needing_attention": []}
    assert (await api.metrics())[ATTENTION] == 0
    take_sequence_one(e2e_database_url, stuck["id"])
    healthy_reader = await LiveReader.open(server, "healthy")
    stuck_reader = await LiveReader.open(server, "stuck")
    await healthy_reader.until_live()
    await stuck_reader.until_live()
    frames = (await api.metrics())["liveblog_live_frames_total"]

    # The post is recorded (201, from the events) though the views cannot show it.
    posted = await api.post("stuck", "<p>Recorded, not projected.</p>")
    assert posted["story_version"] == 2
    await api.wait_for_metric(ATTENTION, 1)
    ready_answer = await api.http.get("/readyz")
    assert ready_answer.status_code == 200
    (entry,) = ready_answer.json()["stories_needing_attention"]
    assert entry["story_id"] == stuck["id"]
    assert entry["error"] == "IntegrityError"
    assert isinstance(entry["position"], int)
    assert entry["position"] > 0

    # The other story goes on, to the API and to its live readers.
    for number in range(3):
        update = await api.post("healthy", f"<p>Still live, {number}.</p>")
        check_update_event(await healthy_reader.next(), 2 + number, "update.posted", update)
    assert (await api.story("healthy"))["version"] == 4
    # The stuck story's readers see it as it was, without a hole: no frame came.
    assert (await api.story("stuck"))["version"] == 1
    # Further writes to it are refused, recording nothing: readers would not see them
    # (a retraction answered 200 would leave the text public).
    base = "/api/stories/stuck/updates"
    refused = [
        await api.http.post(base, json={"body": "<p>Not recorded.</p>"},
                            headers=bearer(api.tokens.reporter)),
        await api.http.post(f"{base}/{posted['id']}/retraction", json={"reason": "Wrong."},
                            headers=bearer(api.tokens.editor)),
    ]  # fmt: skip
    for answer in refused:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"]["code"] == "story_needs_attention"
        assert "retry-after" in answer.headers
    update = await api.post("healthy", "<p>Last.</p>")
    check_update_event(await healthy_reader.next(), 5, "update.posted", update)
    # Frames are published in log order: all before the healthy story's last one are
    # counted now, and none of them was the stuck story's.
    assert (await api.metrics())["liveblog_live_frames_total"] == frames + 4
    assert (await api.metrics())[ATTENTION] == 1
    await healthy_reader.close()
    await stuck_reader.close()

    # The operator's fix: stop, rebuild (which drops the squatting row), start again.
    server.stop()
    run_cli(e2e_database_url, "rebuild")
    server.start()
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as http:
        ready = (await http.get("/readyz")).json()
        assert ready["stories_needing_attention"] == []
        story = (await http.get("/api/stories/stuck")).json()
        assert story["version"] == 2  # the refused writes recorded nothing
        assert [u["body"] for u in story["updates"]] == ["<p>Recorded, not projected.</p>"]
        assert story["updates"][0]["status"] == "published"


# -- text recorded before the rule, served and rebuilt ---------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.sqlite3'}"
        return
    request.applymarker(pytest.mark.postgres)
    yield request.getfixturevalue("fresh_postgres_url")


def test_text_recorded_before_the_rule_is_served_and_rebuilt(
    any_database_url: str, tmp_path: Path
) -> None:
    parts = build(Settings(database_url=any_database_url), start_feed=False)
    try:
        opened = parts.newsroom.open_story(slug="old", title="Old", summary="", actor=EDITOR)
        update_id = write_old_text(parts.newsroom, opened.story_id)
    finally:
        parts.close()
    token = issue_token(any_database_url, "Erin Editor", "editor")

    server = LiveServer(any_database_url, tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assert http.get("/readyz").json()["stories_needing_attention"] == []
            story = http.get("/api/stories/old").json()
            assert (story["title"], story["version"]) == ("Old\ufffdtitle", 4)
            (update,) = story["updates"]
            assert update["id"] == str(update_id)
            assert update["body"] == "<p>Nul\ufffdagain</p>"
            assert update["corrections"][0]["note"] == "Nul\ufffdnote"
            assert story["key_events"][0]["title"] == "Nul\ufffdtitle"
            revisions = http.get(
                f"/api/stories/old/updates/{update_id}/revisions", headers=bearer(token)
            ).json()["revisions"]
            assert [r["body"] for r in revisions] == [
                "<p>Nul\ufffdbody</p>",
                "<p>Nul\ufffdagain</p>",
            ]
            # New posts to the story go on as ever.
            posted = http.post(
                "/api/stories/old/updates", json={"body": "<p>New.</p>"},
                headers=bearer(token),
            )  # fmt: skip
            assert posted.status_code == 201, posted.text
            assert http.get("/api/stories/old").json()["version"] == 5
            before = http.get("/api/stories/old").json()
    finally:
        server.stop()

    run_cli(any_database_url, "rebuild")
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assert http.get("/api/stories/old").json() == before
    finally:
        server.stop()
