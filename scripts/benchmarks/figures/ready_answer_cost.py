"""What the access log and the request metrics add to the cached-GET fast path, in-process.

``LiveblogApp.ready_answer`` is ``cached_story_answer`` plus ``AccessLog.ready`` (a dict
increment, the request id, a header list). This times both, interleaved in rounds, for a
request without and with an ``X-Request-ID``, and prints nanoseconds per call. It is a
few seconds of one core; it starts no server and opens no socket.

    .venv/bin/python -m scripts.benchmarks.figures.ready_answer_cost
"""

from __future__ import annotations

import asyncio
import statistics
import timeit
from typing import Any

from liveblog.domain import story_id_for_slug
from liveblog.live.hub import Hub
from liveblog.settings import Settings
from liveblog.web.app import LiveblogApp, create_app
from liveblog.web.story_answer import cached_story_answer

SLUG = "osh-floods"
BODY = b'{"id":"x","version":3}' * 700  # about the demo story's 15.8 KB
SENT_ID = (b"x-request-id", b"abc-123")
CALLS = 100_000
ROUNDS = 5
BROWSER_HEADERS = [
    (b"host", b"127.0.0.1:8000"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/140.0"),
    (b"accept", b"application/json"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"connection", b"keep-alive"),
]


async def cached_hub() -> Hub:
    hub = Hub()
    hub.bind(asyncio.get_running_loop())

    async def load() -> tuple[int, bytes]:
        return 3, BODY

    await hub.snapshot(story_id_for_slug(SLUG), load)
    return hub


def scope(*extra: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": f"/api/stories/{SLUG}", "root_path": "",
            "query_string": b"", "headers": [*BROWSER_HEADERS, *extra]}  # fmt: skip


def per_call_ns(function: Any) -> float:
    return min(timeit.repeat(function, number=CALLS, repeat=3)) / CALLS * 1e9


def before_change(app: LiveblogApp, request: dict[str, Any]) -> object:
    """``LiveblogApp.ready_answer`` as it was before the access log: the same checks."""
    if request["type"] != "http" or request["method"] != "GET" or request["query_string"]:
        return None
    hub = getattr(app.state, "hub", None)
    return None if hub is None else cached_story_answer(hub, request)


def main() -> None:
    hub = asyncio.run(cached_hub())
    app = create_app(Settings(database_url="memory://"))
    assert isinstance(app, LiveblogApp)
    app.state.hub = hub
    access = app.access
    assert access is not None  # create_app made it
    requests = [("no X-Request-ID", scope()), ("with X-Request-ID", scope(SENT_ID))]
    for label, request in requests:
        assert app.ready_answer(request) is not None
        before, after, alone = [], [], []
        for _ in range(ROUNDS):
            before.append(per_call_ns(lambda r=request: before_change(app, r)))
            after.append(per_call_ns(lambda r=request: app.ready_answer(r)))
            alone.append(per_call_ns(lambda r=request: access.ready(r, 200, [])))
        b, a = statistics.median(before), statistics.median(after)
        print(
            f"{label:18}  before {b:6.0f} ns   after {a:6.0f} ns   added {a - b:5.0f} ns"
            f"   (AccessLog.ready alone {statistics.median(alone):5.0f} ns)"
        )


if __name__ == "__main__":
    main()
