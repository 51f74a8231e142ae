"""What an operator sees of a running server: access log lines, request ids, /metrics.

A real ``liveblog serve`` in a subprocess (its standard error goes to a file the tests
read) and a real HTTP client.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server import LiveServer, run_cli
from tests.helpers import auth, issue_token, open_story, post

TIMEOUT = 10.0
GENERATED_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]+$")


def token_and_person(database_url: str, name: str, role: str) -> tuple[str, str]:
    """A new token and the id of its person, as ``liveblog token create`` prints them."""
    output = run_cli(database_url, "token", "create", "--name", name, "--role", role)
    found = re.search(r", person (\S+);", output)
    assert found is not None, output
    return output.strip().splitlines()[-1], found.group(1)


def access_lines(server: LiveServer) -> list[dict[str, Any]]:
    lines = []
    for raw in server.log_path.read_text().splitlines():
        if raw.startswith("{"):
            line = json.loads(raw)
            if line["logger"] == "liveblog.access":
                lines.append(line)
    return lines


def access_line_for(server: LiveServer, request_id: str) -> dict[str, Any]:
    """The access line of the request with this id, once the server has written it."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        found = [line for line in access_lines(server) if line["request_id"] == request_id]
        if found:
            assert len(found) == 1, found
            return found[0]
        assert time.monotonic() < deadline, f"no access line for {request_id}"
        time.sleep(0.05)  # polling the log until a deadline, not a fixed wait


def metric_values(client: httpx.Client) -> dict[str, float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    values: dict[str, float] = {}
    for line in response.text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("operable")


@pytest.fixture(scope="module")
def database_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'db.sqlite3'}"


@pytest.fixture(scope="module")
def editor(database_url: str) -> tuple[str, str]:
    return token_and_person(database_url, "Erin Editor", "editor")


@pytest.fixture(scope="module")
def server(database_url: str, editor: tuple[str, str], folder: Path) -> Iterator[LiveServer]:
    live = LiveServer(database_url, folder / "server.log").start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as http:
        yield http


def test_a_write_is_logged_as_one_json_line_with_the_person_and_no_secret(
    server: LiveServer, client: httpx.Client, editor: tuple[str, str]
) -> None:
    token, person = editor
    body = "Secret-looking body text 7f3a"
    response = client.post(
        "/api/stories",
        json={"slug": "logged-write", "title": body},
        headers={**auth(token), "X-Request-ID": "write-1"},
    )
    assert response.status_code == 201
    assert response.headers["x-request-id"] == "write-1"
    line = access_line_for(server, "write-1")
    assert line["method"] == "POST"
    assert line["path"] == "/api/stories"
    assert line["route"] == "/api/stories"
    assert line["status"] == 201
    assert line["person"] == person
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0
    assert line["level"] == "info"
    log = server.log_path.read_text()
    assert token not in log
    assert token[:12] not in log  # not even a prefix of it
    assert body not in log
    assert "authorization" not in log.lower()


def test_a_read_is_logged_without_a_person_and_with_its_route_template(
    server: LiveServer, client: httpx.Client
) -> None:
    response = client.get("/api/stories/no-such-story", headers={"X-Request-ID": "read-1"})
    assert response.status_code == 404
    line = access_line_for(server, "read-1")
    assert line["path"] == "/api/stories/no-such-story"
    assert line["route"] == "/api/stories/{story}"
    assert line["status"] == 404
    assert "person" not in line


def test_a_refused_token_is_logged_without_a_person(
    server: LiveServer, client: httpx.Client
) -> None:
    response = client.post(
        "/api/stories",
        json={"slug": "x", "title": "x"},
        headers={**auth("lb_not_a_real_token_at_all_0000000000"), "X-Request-ID": "bad-token"},
    )
    assert response.status_code == 401
    line = access_line_for(server, "bad-token")
    assert line["status"] == 401
    assert "person" not in line
    assert "lb_not_a_real_token" not in server.log_path.read_text()


@pytest.mark.parametrize(
    "sent",
    [None, "", "has space", 'quote"d', "x" * 65, "naïve", "<script>"],
    ids=["none", "empty", "space", "quote", "too-long", "non-ascii", "markup"],
)
def test_a_request_id_is_made_when_none_or_no_sane_one_is_sent(
    server: LiveServer, client: httpx.Client, sent: str | None
) -> None:
    headers = {} if sent is None else {b"X-Request-ID": sent.encode()}
    response = client.get("/healthz", headers=headers)
    assert response.status_code == 200
    made = response.headers["x-request-id"]
    assert GENERATED_ID.match(made), made
    assert access_line_for(server, made)["path"] == "/healthz"


def test_a_sane_request_id_is_kept_at_the_longest_allowed(
    server: LiveServer, client: httpx.Client
) -> None:
    sent = "A.b_c:d-" + "9" * 56  # 64 characters
    response = client.get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["x-request-id"] == sent
    assert access_line_for(server, sent)["status"] == 200


def test_every_answer_carries_a_request_id_the_cached_fast_path_too(
    server: LiveServer, client: httpx.Client, editor: tuple[str, str]
) -> None:
    token, _ = editor
    open_story(client, token, "ided-story")
    post(client, token, "ided-story", "<p>one</p>")
    cached = client.get("/api/stories/ided-story?min_version=2")  # renders and caches it
    tag = cached.headers["etag"]
    answers = [
        client.get("/api/stories/ided-story"),  # the fast path, 200
        client.get("/api/stories/ided-story", headers={"If-None-Match": tag}),  # fast, 304
        client.get("/api/stories/ided-story", headers={"X-Request-ID": "fast-1"}),
        client.get("/nowhere"),  # unmatched
        client.delete("/api/stories/ided-story"),  # 405
        client.get("/metrics"),
    ]
    assert [a.status_code for a in answers] == [200, 304, 200, 404, 405, 200]
    ids = [a.headers["x-request-id"] for a in answers]
    assert ids[2] == "fast-1"
    assert all(GENERATED_ID.match(i) for i in ids[:2] + ids[3:]), ids
    assert len(set(ids)) == len(ids)


def test_the_cached_fast_path_is_counted_but_not_logged_by_default(
    server: LiveServer, client: httpx.Client, editor: tuple[str, str]
) -> None:
    token, _ = editor
    open_story(client, token, "counted-story")
    post(client, token, "counted-story", "<p>one</p>")
    tag = client.get("/api/stories/counted-story?min_version=2").headers["etag"]
    before = metric_values(client)
    for _ in range(3):
        assert client.get("/api/stories/counted-story").status_code == 200
    answer = client.get("/api/stories/counted-story", headers={"If-None-Match": tag})
    assert answer.status_code == 304
    after = metric_values(client)
    ok, not_modified = (
        'liveblog_http_ready_answers_total{status="200"}',
        'liveblog_http_ready_answers_total{status="304"}',
    )
    assert after[ok] - before[ok] == 3
    assert after[not_modified] - before[not_modified] == 1
    # Written once the /metrics request after it is logged (lines are in order).
    access_line_for(server, client.get("/healthz").headers["x-request-id"])
    assert not any(
        line["request_id"] == answer.headers["x-request-id"] for line in access_lines(server)
    )


def test_metrics_count_requests_errors_and_latency_by_route_template(
    client: httpx.Client, editor: tuple[str, str]
) -> None:
    token, _ = editor
    open_story(client, token, "metered-story")
    before = metric_values(client)
    for slug in ("metered-story", "unknown-a", "unknown-b"):
        client.get(f"/api/stories/{slug}/updates")
    client.get("/no/such/path/9d1c")
    after = metric_values(client)

    def grew(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    route = 'route="/api/stories/{story}/updates"'
    assert grew(f'liveblog_http_requests_total{{method="GET",{route},status_class="2xx"}}') == 1
    assert grew(f'liveblog_http_requests_total{{method="GET",{route},status_class="4xx"}}') == 2
    assert grew(f'liveblog_http_errors_total{{{route},status_class="4xx"}}') == 2
    assert grew(f'liveblog_http_request_duration_seconds_count{{method="GET",{route}}}') == 3
    assert (
        grew(f'liveblog_http_request_duration_seconds_bucket{{le="+Inf",method="GET",{route}}}')
        == 3
    )
    assert grew('liveblog_http_errors_total{route="unmatched",status_class="4xx"}') == 1
    # The raw paths a client chose are no label values.
    text = client.get("/metrics").text
    assert "unknown-a" not in text
    assert "9d1c" not in text


def test_metrics_keep_every_live_stat_name(client: httpx.Client) -> None:
    values = metric_values(client)
    for name in (
        "liveblog_feed_position",
        "liveblog_feed_reconnects_total",
        "liveblog_live_readers",
        "liveblog_live_joins_total",
        "liveblog_live_frames_total",
        "liveblog_live_slow_readers_total",
        "liveblog_live_store_backlog_reads_total",
        "liveblog_live_snapshot_view_reads_total",
    ):
        assert name in values, name


def test_cached_answers_are_logged_when_asked_and_text_logs_when_asked(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    token = issue_token(url, "Erin Editor", "editor")
    live = LiveServer(
        url,
        tmp_path / "server.log",
        env={"LIVEBLOG_ACCESS_LOG_CACHED": "1", "LIVEBLOG_LOG_FORMAT": "text"},
    ).start()
    try:
        with httpx.Client(base_url=live.base_url, timeout=TIMEOUT) as client:
            open_story(client, token, "logged-cached")
            client.get("/api/stories/logged-cached?min_version=1")  # renders and caches it
            fast = client.get("/api/stories/logged-cached", headers={"X-Request-ID": "c-1"})
            assert fast.status_code == 200
            ready = metric_values(client)['liveblog_http_ready_answers_total{status="200"}']
            assert ready >= 1  # it was the fast path
        deadline = time.monotonic() + TIMEOUT
        while "request_id=c-1" not in live.log_path.read_text():
            assert time.monotonic() < deadline, live.log_path.read_text()
            time.sleep(0.05)  # polling the log until a deadline, not a fixed wait
        line = next(x for x in live.log_path.read_text().splitlines() if "request_id=c-1" in x)
        assert "liveblog.access" in line
        assert "route=/api/stories/{story}" in line
        assert not line.startswith("{")
    finally:
        live.stop()
