"""``liveblog rebuild`` refuses while a server serves the same store; ``--force`` overrides.

A real ``liveblog serve`` in a subprocess and the real command line, on a SQLite file
(a lock file beside it) and on a PostgreSQL schema (an advisory lock keyed by it).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from liveblog.settings import Settings
from liveblog.store_lock import hold_rebuilding, hold_serving
from tests.databases import with_schema
from tests.e2e.server import LiveServer, free_port, liveblog_command
from tests.helpers import issue_token, open_story

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("fresh_postgres_url"))


def cli(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        liveblog_command(*args),
        env={**os.environ, "LIVEBLOG_DATABASE_URL": url},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_rebuild_refuses_while_a_server_serves_and_runs_with_force_or_after(
    database_url: str, tmp_path: Path
) -> None:
    editor = issue_token(database_url, "Erin Editor", "editor")
    server = LiveServer(database_url, tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            open_story(client, editor, "locked-story")
        refused = cli(database_url, "rebuild")
        assert refused.returncode == 1, refused.stderr
        assert "Traceback" not in refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1, refused.stderr
        assert lines[0].startswith("liveblog: error: a server is serving this store")
        assert "--force" in lines[0]
        assert "rebuilt" not in refused.stdout

        forced = cli(database_url, "rebuild", "--force")
        assert forced.returncode == 0, forced.stderr
        assert "liveblog: warning: a server is serving this store" in forced.stderr
        assert "rebuilt story_list, timeline, revisions" in forced.stdout
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/api/stories/locked-story").status_code == 200
    finally:
        server.stop()
    after = cli(database_url, "rebuild")
    assert after.returncode == 0, after.stderr
    assert "rebuilt" in after.stdout


def test_a_killed_server_leaves_no_lock_behind(database_url: str, tmp_path: Path) -> None:
    issue_token(database_url, "Erin Editor", "editor")
    server = LiveServer(database_url, tmp_path / "server.log").start()
    server.kill()  # SIGKILL: no shutdown code runs; the OS or PostgreSQL drops the lock
    done = cli(database_url, "rebuild")
    assert done.returncode == 0, done.stderr


def test_a_server_refuses_to_start_while_a_rebuild_holds_the_store(
    database_url: str, tmp_path: Path
) -> None:
    issue_token(database_url, "Erin Editor", "editor")  # the store exists
    rebuilding = hold_rebuilding(Settings(database_url=database_url))
    try:
        done = subprocess.run(
            liveblog_command("serve", "--port", str(free_port())),
            env={**os.environ, "LIVEBLOG_DATABASE_URL": database_url},
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        rebuilding.release()
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [lines[0]], done.stderr
    assert lines[0].startswith("liveblog: error: a rebuild is running on this store")


def test_servers_share_the_store_and_other_stores_are_not_locked(
    database_url: str, tmp_path: Path
) -> None:
    """Two serving holds coexist; a rebuild of another store (file, schema) is not held up."""
    settings = Settings(database_url=database_url)
    issue_token(database_url, "Erin Editor", "editor")  # the store exists
    first, second = hold_serving(settings), hold_serving(settings)
    try:
        if database_url.startswith("sqlite"):
            other_url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
        else:
            # An advisory lock needs no schema to exist: a name no other test uses.
            other_url = with_schema(database_url, f"{tmp_path.name}_other")
        other = hold_rebuilding(Settings(database_url=other_url))
        other.release()
    finally:
        first.release()
        second.release()
    hold_rebuilding(settings).release()  # free again once both servers let go
