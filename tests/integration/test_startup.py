"""Start-up: the server answers reads only once its views hold what the log held.

A restarted server's feed folds whatever the log gained since the views last
committed. A read in that window used to answer 404 for a story the log already had
(seen once in CI, right after ``liveblog serve --demo`` printed its banner).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from liveblog.demo import DEMO_SLUG, seed_demo
from liveblog.feed import Feed
from liveblog.newsroom import Newsroom
from liveblog.settings import Settings
from liveblog.web.app import create_app
from liveblog.web.server import server_config
from tests.e2e.server import free_port


def test_reads_wait_for_the_views_to_catch_up_with_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'startup.sqlite3'}")
    with Newsroom(env=settings.eventsourcing_env()) as newsroom:
        seed_demo(newsroom)  # in the log; no feed has written the views

    real_process = Feed._process

    def slow_process(self: Feed, batch: list[Any]) -> None:
        time.sleep(0.5)  # a feed with much to fold
        real_process(self, batch)

    monkeypatch.setattr(Feed, "_process", slow_process)
    # uvicorn in a thread of this process (the slowed feed is this process's), on a
    # loopback port; a read as soon as it says it has started.
    port = free_port()
    server = uvicorn.Server(
        server_config(
            create_app(settings), host="127.0.0.1", port=port, ws="websockets", log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "the server stopped while starting"
            assert time.monotonic() < deadline, "the server did not start within 30 s"
            time.sleep(0.01)
        answer = httpx.get(f"http://127.0.0.1:{port}/api/stories/{DEMO_SLUG}", timeout=10)
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    assert answer.status_code == 200
    assert len(answer.json()["updates"]) >= 10
