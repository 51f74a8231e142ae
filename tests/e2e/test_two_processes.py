"""Two server processes on one PostgreSQL: idempotency holds across them."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.server import LiveServer
from tests.helpers import bearer, issue_token

pytestmark = pytest.mark.postgres


def test_the_same_idempotency_key_through_two_processes_records_one_update(
    two_servers: tuple[LiveServer, LiveServer], fresh_postgres_url: str
) -> None:
    first, second = two_servers
    editor = issue_token(fresh_postgres_url, "Erin Editor", "editor")
    reporter = issue_token(fresh_postgres_url, "Rashid Reporter", "reporter")
    created = httpx.post(
        f"{first.base_url}/api/stories",
        json={"slug": "two-processes", "title": "Two processes"},
        headers=bearer(editor),
    )
    assert created.status_code == 201

    def post_through(server: LiveServer, attempt: int) -> httpx.Response:
        return httpx.post(
            f"{server.base_url}/api/stories/two-processes/updates",
            json={"body": "<p>Parliament convenes at 16:00</p>"},
            headers=bearer(reporter, **{"Idempotency-Key": "once"}),
            timeout=10,
        )

    servers = [first, second] * 4
    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        responses = list(pool.map(post_through, servers, range(len(servers))))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    for server in (first, second):
        story = httpx.get(f"{server.base_url}/api/stories/two-processes?min_version=2").json()
        assert story["version"] == 2
        assert len(story["updates"]) == 1
