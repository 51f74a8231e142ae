"""Moving from SQLite to PostgreSQL, as the README tells an operator to: a story written
through the HTTP API on a SQLite server is exported with ``liveblog export``, imported
into an empty PostgreSQL store with ``liveblog import``, and a server started there
answers every read of it with the very same bytes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from liveblog.settings import Settings
from liveblog.tokens import Credentials
from tests.e2e.server import LiveServer, liveblog_command, run_cli
from tests.helpers import Tokens, bearer, issue_token, open_newsroom

SLUG = "moving-house"
README = Path(__file__).resolve().parents[2] / "README.md"
PAGE = 3  # updates per page: the story has several pages of them


def cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIVEBLOG_DATABASE_URL": database_url}
    return subprocess.run(
        liveblog_command(*args), env=env, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    document: dict[str, Any] = response.json()
    return document


def seed(http: httpx.Client, tokens: Tokens) -> None:
    """A story through every kind of change an editor makes, over HTTP."""
    editor, reporter = bearer(tokens.editor), bearer(tokens.reporter)
    story = f"/api/stories/{SLUG}"
    ok(http.post("/api/stories", json={"slug": SLUG, "title": "Moving", "summary": "S"},
                 headers=editor), 201)  # fmt: skip
    ids = []
    for n in range(8):
        body = {"title": f"Post {n}", "body": f"<p>Post <b>{n}</b></p>", "key_event": n == 2}
        author = editor if body["key_event"] else reporter  # key events are for editors
        ids.append(ok(http.post(f"{story}/updates", json=body, headers=author), 201)["id"])
    first, second, third = ids[:3]
    retitled = {"title": "Post 0, retitled", "body": "<p>Post zero</p>", "note": "fix"}
    ok(http.post(f"{story}/updates/{first}/corrections", json=retitled, headers=editor))
    ok(http.post(f"{story}/updates/{first}/corrections", headers=editor,
                 json={"revert_to": 1, "note": "as it was"}))  # fmt: skip
    ok(http.post(f"{story}/updates/{second}/retraction", json={"reason": "wrong"},
                 headers=editor))  # fmt: skip
    ok(http.post(f"{story}/updates/{second}/reinstatement", json={"reason": "right after all"},
                 headers=editor))  # fmt: skip
    ok(http.post(f"{story}/updates/{third}/retraction", json={"reason": "gone"}, headers=editor))
    ok(http.patch(f"{story}/updates/{first}", json={"pinned": True}, headers=editor))
    ok(http.patch(f"{story}/updates/{ids[4]}", json={"key_event": True}, headers=editor))
    ok(http.patch(story, json={"title": "Moving house", "summary": "Edited"}, headers=editor))
    # Drafts: one published by an editor (an approved update), one waiting, one scheduled.
    drafts = f"{story}/drafts"
    approved = ok(http.post(drafts, json={"title": "Draft", "body": "<p>d</p>"},
                            headers=reporter), 201)  # fmt: skip
    ok(http.post(f"{drafts}/{approved['id']}/publish", headers=editor))
    ok(http.post(drafts, json={"body": "<p>waiting</p>"}, headers=reporter), 201)
    ok(http.post(drafts, json={"body": "<p>later</p>", "publish_at": "2099-01-01T00:00:00Z"},
                 headers=reporter), 201)  # fmt: skip
    ok(http.post(f"{story}/close", headers=editor))


def answers(base_url: str, editor: str) -> list[tuple[str, bytes]]:
    """Every read of the story, paged to the end: path and body bytes."""
    story = f"/api/stories/{SLUG}"
    read: list[tuple[str, bytes]] = []
    with httpx.Client(base_url=base_url, timeout=30) as http:

        def get(path: str, **headers: str) -> bytes:
            response = http.get(path, headers=headers)
            assert response.status_code == 200, (path, response.text)
            read.append((path, response.content))
            return response.content

        get(story)
        get("/api/stories")
        update_ids: list[str] = []
        path: str | None = f"{story}/updates?limit={PAGE}"
        while path is not None:
            page = orjson.loads(get(path))
            update_ids += [update["id"] for update in page["updates"]]
            path = page["next"] and f"{story}/updates?limit={PAGE}&before={page['next']}"
        assert len(update_ids) == 9
        for update_id in update_ids:
            get(f"{story}/updates/{update_id}/revisions", **bearer(editor))
        for update_id in update_ids:
            get(f"{story}/updates/{update_id}")
        drafts = orjson.loads(get(f"{story}/drafts", **bearer(editor)))["drafts"]
        assert sorted(d["status"] for d in drafts) == ["draft", "published", "scheduled"]
        for draft in drafts:
            get(f"{story}/drafts/{draft['id']}", **bearer(editor))
        after: int | None = 0
        while after is not None:
            after = orjson.loads(get(f"{story}/events?limit=5&after={after}", **bearer(editor)))[
                "next"
            ]
    return read


def exported_story(base_url: str, editor: str) -> list[bytes]:
    response = httpx.get(f"{base_url}/api/stories/{SLUG}/export", headers=bearer(editor))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    assert response.headers["cache-control"] == "private, no-store"
    return response.content.splitlines()


@pytest.fixture
def postgres_server(fresh_postgres_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A server on the PostgreSQL store, started by the test once the import is done."""
    live = LiveServer(fresh_postgres_url, tmp_path / "postgres.log")
    yield live
    live.stop()


def test_a_story_moved_from_sqlite_to_postgresql_reads_the_same_bytes(
    *,
    server: LiveServer, tokens: Tokens, e2e_database_url: str, fresh_postgres_url: str,
    postgres_server: LiveServer, tmp_path: Path,
) -> None:  # fmt: skip
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        seed(http, tokens)
    export = tmp_path / "liveblog.ndjson"
    run_cli(e2e_database_url, "export", "--output", str(export))  # while it serves

    imported = cli(fresh_postgres_url, "import", str(export))

    assert imported.returncode == 0, imported.stderr
    assert "3 people, 1 story (" in imported.stdout
    assert "liveblog token create" in imported.stdout  # tokens are issued anew
    postgres_server.start()
    editor_there = issue_token(fresh_postgres_url, "Erin Editor", "editor")
    before = answers(server.base_url, tokens.editor)
    after = answers(postgres_server.base_url, editor_there)
    assert [path for path, _ in after] == [path for path, _ in before]
    for (path, here), (_, there) in zip(before, after, strict=True):
        assert there == here, path
    # The export of the story, from either server: the same but for the header's time.
    assert (
        exported_story(postgres_server.base_url, editor_there)[1:]
        == exported_story(server.base_url, tokens.editor)[1:]
    )


def test_the_demo_story_round_trips(tmp_path: Path, fresh_postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'demo.sqlite3'}"
    run_cli(sqlite_url, "demo")
    first, second = tmp_path / "first.ndjson", tmp_path / "second.ndjson"
    run_cli(sqlite_url, "export", "--output", str(first))

    run_cli(fresh_postgres_url, "import", str(first))
    run_cli(fresh_postgres_url, "export", "--output", str(second))

    assert second.read_bytes().splitlines()[1:] == first.read_bytes().splitlines()[1:]
    with open_newsroom(fresh_postgres_url) as newsroom:
        story = newsroom.get_story(newsroom.resolve_story_id("kyrgyzstan-election-protests"))
    assert story.version == len(first.read_bytes().splitlines()) - 2


def test_a_broken_file_is_refused_by_line_with_exit_code_2_and_no_traceback(
    tmp_path: Path,
) -> None:
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    target = f"sqlite:///{tmp_path / 'target.sqlite3'}"
    run_cli(source, "demo")
    lines = run_cli(source, "export").encode().splitlines()
    del lines[3]  # the demo story's version 3
    broken = tmp_path / "broken.ndjson"
    broken.write_bytes(b"\n".join(lines) + b"\n")

    refused = cli(target, "import", str(broken))

    assert refused.returncode == 2
    assert refused.stderr.startswith(f"liveblog: error: {broken}: line 4: story ")
    assert "version 4 where 3 was due" in refused.stderr
    assert "Traceback" not in refused.stderr
    with open_newsroom(target) as newsroom:
        assert newsroom.story_ids() == []


def test_a_store_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    target = f"sqlite:///{tmp_path / 'target.sqlite3'}"
    run_cli(source, "demo")
    export = tmp_path / "demo.ndjson"
    run_cli(source, "export", "--output", str(export))
    with Credentials(env=Settings(database_url=target).eventsourcing_env()) as credentials:
        credentials.issue(name="Early Bird", role="admin")

    refused = cli(target, "import", str(export))

    assert refused.returncode == 1
    assert "not empty: it holds people or tokens" in refused.stderr
    with open_newsroom(target) as newsroom:
        assert newsroom.story_ids() == []


def test_only_editors_export_a_story_and_an_unknown_one_is_named(
    server: LiveServer, tokens: Tokens, client: httpx.Client
) -> None:
    ok(client.post("/api/stories", json={"slug": SLUG, "title": "T"},
                   headers=bearer(tokens.editor)), 201)  # fmt: skip
    path = f"/api/stories/{SLUG}/export"

    assert client.get(path).status_code == 401
    assert client.get(path, headers=bearer(tokens.reporter)).status_code == 403
    missing = client.get("/api/stories/no-such-story/export", headers=bearer(tokens.editor))
    assert missing.status_code == 404
    assert "'no-such-story'" in missing.json()["error"]["message"]
    unknown = client.get(f"{path}?story=1", headers=bearer(tokens.editor))
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "unknown_parameter"
    lines = [orjson.loads(line) for line in exported_story(server.base_url, tokens.editor)]
    assert lines[0]["format"] == "liveblog-export"
    assert [line["kind"] for line in lines[1:]] == ["story_event", "end"]
    assert lines[-1] == {"kind": "end", "records": 1}


def test_the_readme_moves_a_store_as_written(tmp_path: Path, fresh_postgres_url: str) -> None:
    """The README's block, run by bash in a fresh directory, with its two stores set to
    a SQLite file holding the demo story and an empty PostgreSQL schema."""
    text = README.read_text()
    section = text[text.index("### Moving from SQLite to PostgreSQL") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None
    old_store = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    run_cli(old_store, "demo")
    block = re.sub(r"(?m)^OLD_STORE=.*$", f"OLD_STORE='{old_store}'", found.group(1))
    block = re.sub(r"(?m)^NEW_STORE=.*$", f"NEW_STORE='{fresh_postgres_url}'", block)
    # ``liveblog`` is this interpreter's, running this checkout's code.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "PATH": path, "PYTHONPATH": str(README.parent)}

    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block], cwd=tmp_path, capture_output=True,
        text=True, timeout=120, check=False, env=env,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("lb_")  # the new token
    with open_newsroom(fresh_postgres_url) as newsroom:
        assert len(newsroom.story_ids()) == 1


def test_a_served_store_is_not_imported_into_and_an_unknown_story_not_exported(
    server: LiveServer, e2e_database_url: str, tmp_path: Path
) -> None:
    export = tmp_path / "empty.ndjson"
    export.write_bytes(
        b'{"format": "liveblog-export", "version": 1}\n{"kind": "end", "records": 0}\n'
    )

    refused = cli(e2e_database_url, "import", str(export))
    unknown = cli(e2e_database_url, "export", "--story", "no-such-story")

    assert refused.returncode == 1
    assert refused.stderr == (
        "liveblog: a server is serving the target store: stop it, import, then start it\n"
    )
    assert unknown.returncode == 1
    assert unknown.stderr == "liveblog: no story 'no-such-story'\n"
    assert unknown.stdout == ""
