"""The command line as an operator uses it: tokens, the demo seed, serve --demo."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from liveblog.tokens import REVOCATION_SECONDS
from tests.e2e.server import LiveServer, create_token, free_port, liveblog_command, run_cli
from tests.helpers import bearer

TOKEN_LINE = re.compile(r"^lb_[A-Za-z0-9_-]{30,}$")
ROLES = ("editor", "reporter", "admin")


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
    # The first address printed is the reader page, and it is one.
    first_url = re.search(r"(http://\S+/\S+)", text)
    assert first_url is not None
    assert first_url.group(1) == f"{base}/stories/kyrgyzstan-election-protests"
    page = httpx.get(first_url.group(1), headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "Kyrgyzstan election protests</h1>" in page.text
    editor = re.search(r"editor token:\s+(\S+)", text)
    reporter = re.search(r"reporter token:\s+(\S+)", text)
    assert editor is not None
    assert reporter is not None
    story = httpx.get(f"{base}/api/stories/kyrgyzstan-election-protests").json()
    assert len(story["updates"]) >= 10
    edited = httpx.patch(
        f"{base}/api/stories/kyrgyzstan-election-protests",
        json={"summary": "Checked by the test"},
        headers=bearer(editor.group(1)),
    )
    assert edited.status_code == 200
    posted = httpx.post(
        f"{base}/api/stories/kyrgyzstan-election-protests/updates",
        json={"body": "<p>From the reporter token</p>"},
        headers=bearer(reporter.group(1)),
    )
    assert posted.status_code == 201


def test_tokens_are_kept_out_of_the_public_story_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    run_cli(url, "demo")
    token = run_cli(url, "token", "create", "--name", "Erin", "--role", "editor").split()[-1]
    with sqlite3.connect(tmp_path / "db.sqlite3") as db:
        story_topics = {row[0] for row in db.execute("SELECT DISTINCT topic FROM stored_events")}
        credential_topics = [
            row[0] for row in db.execute("SELECT topic FROM credentials_events ORDER BY rowid")
        ]
    assert all(topic.startswith("liveblog.domain:Story.") for topic in story_topics)
    assert credential_topics == [
        "liveblog.people:Person.Registered",
        "liveblog.tokens:ApiToken.Issued",
        "liveblog.people:AdminAction.Recorded",  # the audit trail's: who issued it
    ]
    assert token.encode() not in database_bytes(tmp_path)


def test_token_create_list_and_revoke_through_the_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    made = run_cli(
        url, "token", "create", "--name", "Aida Reporter", "--role", "reporter",
        "--expires", "12h", "--label", "phone",
    )  # fmt: skip
    token = made.rstrip("\n").splitlines()[-1]
    assert TOKEN_LINE.match(token), made
    assert "expires 20" in made
    other = run_cli(url, "token", "create", "--name", "aida reporter", "--role", "reporter")
    assert made.split(", person ")[1].split(";")[0] == other.split(", person ")[1].split(";")[0]

    listing = run_cli(url, "token", "list")
    assert token not in listing
    assert hashlib.sha256(token.encode()).hexdigest() not in listing
    rows = listing.strip().splitlines()[1:]
    assert len(rows) == 2
    phone = next(row for row in rows if "phone" in row)
    assert f"...{token[-4:]}" in phone
    assert phone.endswith("active")
    people = run_cli(url, "person", "list").strip().splitlines()
    assert len(people) == 2  # the header, and Aida once
    assert "Aida Reporter" in people[1]

    revoked = run_cli(url, "token", "revoke", phone.split()[0])
    assert "revoked" in revoked
    assert run_cli(url, "token", "list", "--person", "Aida Reporter").count("revoked") == 1


def test_a_token_revoked_by_the_cli_is_refused_by_a_running_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    token = create_token(url, "Aida Reporter", "reporter")
    server = LiveServer(url, tmp_path / "server.log").start()
    try:
        me = httpx.get(f"{server.base_url}/api/me", headers=bearer(token))
        assert me.status_code == 200  # checked, so now trusted by the server
        (row,) = run_cli(url, "token", "list").strip().splitlines()[1:]
        run_cli(url, "token", "revoke", row.split()[0])
        deadline = time.monotonic() + REVOCATION_SECONDS + 5
        while me.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)  # polling an outcome with no signal to wait on, bounded above
            me = httpx.get(f"{server.base_url}/api/me", headers=bearer(token))
        assert me.status_code == 401
    finally:
        server.stop()


def test_person_deactivate_refuses_the_persons_tokens(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    run_cli(url, "token", "create", "--name", "Aida Reporter", "--role", "reporter")
    (row,) = run_cli(url, "person", "list").strip().splitlines()[1:]

    said = run_cli(url, "person", "deactivate", row.split()[0])

    assert "deactivated" in said
    assert run_cli(url, "person", "list").strip().splitlines()[1].split()[-3] == "no"
    assert run_cli(url, "token", "list").strip().endswith("inactive")
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": url}
    refused = subprocess.run(
        liveblog_command("token", "create", "--name", "Aida Reporter", "--role", "reporter"),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 1
    assert "deactivated" in refused.stderr
    unknown = subprocess.run(
        liveblog_command("person", "deactivate", "Nobody Here"),
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode == 1
    assert "no person 'Nobody Here'" in unknown.stderr
    assert "Traceback" not in unknown.stderr


def start_demo(url: str) -> tuple[subprocess.Popen[str], str, str]:
    """``liveblog serve --demo`` on ``url``, once it serves; its process, URL and banner."""
    port = free_port()
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": url}
    process = subprocess.Popen(
        liveblog_command("serve", "--demo", "--port", str(port)),
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Application startup complete" in line:
            break
    return process, f"http://127.0.0.1:{port}", "".join(lines)


def test_serve_demo_keeps_its_people_across_restarts_and_prints_fresh_tokens(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    banners = []
    for _ in range(2):
        process, base, banner = start_demo(url)
        banners.append(banner)
        if len(banners) == 1:
            process.terminate()
            process.wait(timeout=15)
    try:
        first, tokens = (
            dict(re.findall(rf"({'|'.join(ROLES)}) token:\s+(\S+)", text)) for text in banners
        )
        assert set(first) == set(tokens) == set(ROLES)
        assert all(first[role] != tokens[role] for role in ROLES)  # fresh on every start
        assert "expires" in banners[1]

        def as_(role: str) -> dict[str, str]:
            return bearer(tokens[role])

        me = httpx.get(f"{base}/api/me", headers=as_("reporter")).json()
        story = httpx.get(f"{base}/api/stories/kyrgyzstan-election-protests").json()
        hers = [u for u in story["updates"] if u["author"]["id"] == me["id"]]
        assert hers  # the seeded posts are the reporter's, by her stable id
        corrected = httpx.post(
            f"{base}/api/stories/kyrgyzstan-election-protests/updates/{hers[0]['id']}/corrections",
            json={"body": "<p>Checked again by the reporter.</p>", "note": "Rechecked."},
            headers=as_("reporter"),
        )
        assert corrected.status_code == 200, corrected.text  # her own post, after a restart
        people = httpx.get(f"{base}/api/people", headers=as_("admin")).json()["people"]
        assert sorted((p["name"], p["role"]) for p in people) == [
            ("Aida Reporter", "reporter"), ("Dana Admin", "admin"), ("Sam Editor", "editor"),
        ]  # fmt: skip
        demo_tokens = httpx.get(f"{base}/api/tokens", headers=as_("admin")).json()["tokens"]
        assert len(demo_tokens) == 6
        assert all(t["label"] == "demo" and t["expires_at"] for t in demo_tokens)
    finally:
        process.terminate()
        process.wait(timeout=15)
