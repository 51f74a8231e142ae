"""Two server processes on one PostgreSQL schema: each reads what the other wrote."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.e2e.server import LiveServer
from tests.helpers import auth, issue_token, open_story, post

pytestmark = pytest.mark.postgres


@dataclass(frozen=True)
class Pair:
    first: httpx.Client
    second: httpx.Client
    editor: str
    reporter: str


@pytest.fixture
def pair(fresh_postgres_url: str, two_servers: tuple[LiveServer, LiveServer]) -> Iterator[Pair]:
    editor = issue_token(fresh_postgres_url, "Erin Editor", "editor")
    reporter = issue_token(fresh_postgres_url, "Rashid Reporter", "reporter")
    first, second = two_servers
    with (
        httpx.Client(base_url=first.base_url, timeout=10) as a,
        httpx.Client(base_url=second.base_url, timeout=10) as b,
    ):
        yield Pair(a, b, editor, reporter)


def read_at_least(client: httpx.Client, slug: str, version: int) -> dict[str, Any]:
    response = client.get(f"/api/stories/{slug}", params={"min_version": str(version)})
    assert response.status_code == 200, response.text
    story: dict[str, Any] = response.json()
    assert story["version"] >= version
    return story


def test_a_post_through_one_process_is_readable_through_the_other(pair: Pair) -> None:
    opened = open_story(pair.first, pair.editor, "storm", "Storm landfall")
    assert read_at_least(pair.second, "storm", opened["version"])["id"] == opened["id"]
    writers = [(pair.first, pair.second), (pair.second, pair.first)] * 5
    posted: list[str] = []
    for n, (writer, reader) in enumerate(writers):
        update = post(writer, pair.reporter, "storm", f"<p>gust {n}</p>")
        posted.append(update["id"])
        seen = read_at_least(reader, "storm", update["story_version"])
        assert seen["updates"][0]["id"] == update["id"]
        assert seen["updates"][0]["body"] == f"<p>gust {n}</p>"
        assert seen["updates"][0]["author"]["name"] == "Rashid Reporter"
        page = reader.get(
            "/api/stories/storm/updates", params={"min_version": str(update["story_version"])}
        )
        assert page.status_code == 200
        assert [u["id"] for u in page.json()["updates"]] == posted[::-1]
        # Once a version has been readable, plain reads (no min_version) never go back.
        plain = reader.get("/api/stories/storm")
        assert plain.status_code == 200
        assert plain.json()["version"] >= update["story_version"]
        assert plain.json()["updates"][0]["id"] == update["id"]
    both = [read_at_least(c, "storm", 11) for c in (pair.first, pair.second)]
    assert both[0] == both[1]
    assert both[0]["version"] == 11
    lists = [c.get("/api/stories").json()["stories"] for c in (pair.first, pair.second)]
    assert lists[0] == lists[1]
    assert [(s["slug"], s["update_count"]) for s in lists[0]] == [("storm", 10)]


def test_concurrent_corrections_through_both_processes_give_one_200_and_one_409(
    pair: Pair,
) -> None:
    open_story(pair.first, pair.editor, "landfall", "Storm landfall")

    def correct(client: httpx.Client, update_id: str, body: str, start: threading.Barrier) -> Any:
        start.wait(timeout=10)
        return client.post(
            f"/api/stories/landfall/updates/{update_id}/corrections",
            json={"body": body, "note": "Updated."},
            headers=auth(pair.editor, **{"If-Match": '"r1"'}),
        )

    for round_ in range(4):
        writer = pair.first if round_ % 2 == 0 else pair.second
        update = post(writer, pair.reporter, "landfall", f"<p>round {round_}</p>")
        start = threading.Barrier(2)
        bodies = (f"<p>round {round_} via first</p>", f"<p>round {round_} via second</p>")
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [
                pool.submit(correct, client, update["id"], body, start)
                for client, body in zip((pair.first, pair.second), bodies, strict=True)
            ]
            responses: list[httpx.Response] = [f.result() for f in futures]
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
        won = next(r for r in responses if r.status_code == 200).json()
        lost = next(r for r in responses if r.status_code == 409).json()
        assert lost["error"]["code"] == "conflict"
        assert won["revision"] == 2
        assert won["body"] in bodies
        for client in (pair.first, pair.second):
            story = read_at_least(client, "landfall", won["story_version"])
            shown = next(u for u in story["updates"] if u["id"] == update["id"])
            assert shown["revision"] == 2
            assert shown["body"] == won["body"]
            assert len(shown["corrections"]) == 1
            history = client.get(
                f"/api/stories/landfall/updates/{update['id']}/revisions",
                headers=auth(pair.editor),
            ).json()["revisions"]
            assert [r["body"] for r in history] == [f"<p>round {round_}</p>", won["body"]]
    final = read_at_least(pair.second, "landfall", 9)
    assert final["version"] == 9  # opened, then a post and one correction per round
