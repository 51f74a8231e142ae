"""The command line as an operator uses it: tokens, the demo seed, serve --demo."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import free_port, liveblog_command, run_cli

TOKEN_LINE = re.compile(r"^lb_[A-Za-z0-9_-]{30,}$")


def database_bytes(folder: Path) -> bytes:
    """Everything SQLite wrote: the file and its write-ahead log."""
    return b"".join(path.read_bytes() for path in sorted(folder.glob("db.sqlite3*")))


def test_token_create_prints_the_token_alone_on_its_last_line_and_stores_only_a_hash(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    output = run_cli(url, "token", "create", "--name", "Aida Reporter", "--role", "reporter")
    token = output.rstrip("\n").splitlines()[-1]
    assert TOKEN_LINE.match(token), output
    stored = database_bytes(tmp_path)
    assert token.encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored


def test_token_create_refuses_an_unknown_role(tmp_path: Path) -> None:
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    done = subprocess.run(
        liveblog_command("token", "create", "--name", "x", "--role", "owner"),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_demo_seeds_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    first = run_cli(url, "demo")
    second = run_cli(url, "demo")
    version = re.search(r"at version (\d+)", first)
    assert version is not None
    assert f"at version {version.group(1)}" in second


@pytest.fixture
def demo_server(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """``liveblog serve --demo`` as ./scripts/run starts it; yields its URL and its output."""
    port = free_port()
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    process = subprocess.Popen(
        liveblog_command("serve", "--demo", "--port", str(port)),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:  # the server prints its banner, then uvicorn logs
            lines.append(line.rstrip("\n"))
            if "Application startup complete" in line:
                break
        yield f"http://127.0.0.1:{port}", lines
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_serve_demo_seeds_the_story_and_prints_working_tokens(
    demo_server: tuple[str, list[str]],
) -> None:
    base, lines = demo_server
    text = "\n".join(lines)
    assert f"{base}/api/stories" in text
    editor = re.search(r"editor token:\s+(\S+)", text)
    reporter = re.search(r"reporter token:\s+(\S+)", text)
    assert editor is not None
    assert reporter is not None
    story = httpx.get(f"{base}/api/stories/kyrgyzstan-election-protests").json()
    assert len(story["updates"]) >= 10
    edited = httpx.patch(
        f"{base}/api/stories/kyrgyzstan-election-protests",
        json={"summary": "Checked by the test"},
        headers={"Authorization": f"Bearer {editor.group(1)}"},
    )
    assert edited.status_code == 200
    posted = httpx.post(
        f"{base}/api/stories/kyrgyzstan-election-protests/updates",
        json={"body": "<p>From the reporter token</p>"},
        headers={"Authorization": f"Bearer {reporter.group(1)}"},
    )
    assert posted.status_code == 201


def test_tokens_are_kept_out_of_the_public_story_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    run_cli(url, "demo")
    token = run_cli(url, "token", "create", "--name", "Erin", "--role", "editor").split()[-1]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        story_topics = {row[0] for row in db.execute("SELECT DISTINCT topic FROM stored_events")}
        token_rows = db.execute("SELECT COUNT(*) FROM credentials_events").fetchone()[0]
    assert all(topic.startswith("liveblog.domain:Story.") for topic in story_topics)
    assert token_rows == 1
    assert token.encode() not in database_bytes(tmp_path)
