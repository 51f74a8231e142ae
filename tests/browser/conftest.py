"""Browser tests: Playwright for Python driving Debian's Chromium, never a downloaded one.

The browser is named by ``LIVEBLOG_TEST_BROWSER`` (``.ci/run`` installs ``chromium`` and
sets it to /usr/bin/chromium). Without it these tests are skipped with a message that
says how to run them; with it set to a browser that cannot be started they fail, so a
broken CI browser is never mistaken for a green run (as for PostgreSQL).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from liveblog.demo import DEMO_SLUG
from tests.e2e.server import LiveServer, run_cli
from tests.helpers import Tokens, issue_tokens

BROWSER_ENV = "LIVEBLOG_TEST_BROWSER"
BROWSER_SKIP_MESSAGE = (
    "browser tests need LIVEBLOG_TEST_BROWSER, the path of a Chromium "
    "(e.g. /usr/bin/chromium: apt-get install chromium)"
)
# Screenshots and other artifacts of the browser tests (var/ is not committed).
ARTIFACTS = Path(os.environ.get("LIVEBLOG_TEST_ARTIFACTS", "var/test-artifacts"))


# Per module, not per session: sync Playwright runs an event loop of its own until it
# stops, and an asyncio test that the same worker runs after a browser module while that
# loop is alive fails ("Cannot run the event loop while another loop is running").
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = os.environ.get(BROWSER_ENV, "").strip()
    if not path:
        pytest.skip(BROWSER_SKIP_MESSAGE)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        pytest.fail(f"{BROWSER_ENV} is set but playwright is not installed: {missing}")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{BROWSER_ENV}={path} is set but is not an executable", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


def demo_server(folder: Path, database_url: str | None = None,
                **env: str) -> tuple[LiveServer, Tokens]:  # fmt: skip
    """A started server holding the demo story (and the usual tokens)."""
    url = database_url or f"sqlite:///{folder / 'browser.sqlite3'}"
    run_cli(url, "demo")
    tokens = issue_tokens(url)
    return LiveServer(url, folder / "server.log", env=env).start(), tokens


@dataclass(frozen=True)
class Demo:
    """A server holding the demo story, its people's tokens, and the story's page."""

    server: LiveServer
    tokens: Tokens
    url: str


@pytest.fixture
def demo(tmp_path: Path, browser: Any) -> Iterator[Demo]:
    server, tokens = demo_server(tmp_path)
    yield Demo(server, tokens, f"{server.base_url}/stories/{DEMO_SLUG}")
    server.stop()
