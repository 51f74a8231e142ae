"""The README's API tour runs as written, in order, against a fresh server: every
``curl`` in it must answer 2xx (the block runs under ``set -euo pipefail`` with curl
failing on an error status), and the story ends as the tour says."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import LiveServer
from tests.helpers import bearer, issue_token

README = Path(__file__).resolve().parents[2] / "README.md"
INTRO = "The tour below runs as written"
# Every curl fails on an HTTP error status (printing the body), and on a hang.
STRICT = 'set -euo pipefail\ncurl() { command curl --fail-with-body --max-time 30 "$@"; }\n'


def tour() -> str:
    """The ``sh`` block that follows the tour's introduction in the README."""
    text = README.read_text()
    after = text[text.index(INTRO) :]
    found = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert found is not None, "no sh block after the tour's introduction"
    return found.group(1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    database_url = f"sqlite:///{tmp_path / 'tour.sqlite3'}"
    tokens = {
        "LB_EDITOR_TOKEN": issue_token(database_url, "Sam Editor", "editor"),
        "LB_REPORTER_TOKEN": issue_token(database_url, "Aida Reporter", "reporter"),
        "LB_ADMIN_TOKEN": issue_token(database_url, "Dana Admin", "admin"),
    }
    live = LiveServer(database_url, tmp_path / "server.log").start()
    yield live, tokens
    live.stop()


def test_the_readme_tour_runs_as_written(server: tuple[LiveServer, dict[str, str]]) -> None:
    live, tokens = server
    env = {**os.environ, **tokens, "LB_URL": live.base_url}
    done = subprocess.run(
        ["bash", "-c", STRICT + tour()], env=env, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr}\n--- output ---\n{done.stdout[-3000:]}"
    # The preview's answer: the iframe it would drop, with the hint.
    assert '"element":"iframe","hint":"use media for embeds"' in done.stdout

    with httpx.Client(base_url=live.base_url, timeout=30) as http:
        story = http.get("/api/stories/bishkek-protests").json()
        assert story["title"] == "Kyrgyzstan: election results annulled"
        # Newest first: the photo, the stringer's draft (published), the first update.
        photo, approved, update = story["updates"]
        assert [m["type"] for m in photo["media"]] == ["image", "embed"]
        assert (photo["media"][0]["credit"], photo["media"][1]["provider"]) == (
            "Aida Reporter", "youtube",
        )  # fmt: skip
        assert (update["title"], update["status"], update["pinned"]) == (
            "Crowds gather", "published", True,
        )  # fmt: skip
        assert (approved["title"], approved["body"], approved["media"]) == (
            "Tents on the square", "<p>Tents going up by the hundred.</p>", [],
        )  # fmt: skip
        assert (approved["author"]["name"], approved["approved_by"]["name"]) == (
            "Cleo Stringer", "Sam Editor",
        )  # fmt: skip
        drafts = http.get("/api/stories/bishkek-protests/drafts",
                          headers=bearer(tokens["LB_EDITOR_TOKEN"])).json()["drafts"]  # fmt: skip
        assert sorted(d["status"] for d in drafts) == ["draft", "published"]
        revisions = http.get(
            f"/api/stories/bishkek-protests/updates/{update['id']}/revisions",
            headers=bearer(tokens["LB_EDITOR_TOKEN"]),
        ).json()["revisions"]
        assert [r["kind"] for r in revisions] == [
            "posted", "corrected", "corrected", "reverted", "retracted", "reinstated",
        ]  # fmt: skip
        listed = http.get("/api/tokens", headers=bearer(tokens["LB_ADMIN_TOKEN"])).json()
        phone = [t for t in listed["tokens"] if t.get("label") == "phone"]
        assert len(phone) == 1
        assert phone[0]["status"] == "revoked"
