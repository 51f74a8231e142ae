"""``GET /newsroom``, the console's shell (liveblog/web/console.py): its policy lets it
reach this server only and never be framed, it is kept by no cache, it holds no data,
and every module it loads (and every module they import) is one the server serves, at
its hashed URL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from liveblog.web.assets import ASSETS
from liveblog.web.console import CONSOLE_POLICY
from tests.helpers import Api
from tests.integration.in_process import in_process_api

IMPORT = re.compile(r'from "(/static/[0-9a-f]+/([\w.-]+\.js))"')


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with in_process_api(f"sqlite:///{tmp_path / 'console.sqlite3'}") as api:
        yield api


async def test_the_console_is_a_private_shell_that_reaches_this_server_only(api: Api) -> None:
    answer = await api.http.get("/newsroom", headers={"Accept": "text/html"})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    policy = answer.headers["content-security-policy"]
    assert policy == CONSOLE_POLICY
    assert "connect-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert 'type="password"' in answer.text  # the pasted token is not shown on screen
    assert 'for="token-input"' in answer.text
    assert ASSETS["newsroom.js"].url in answer.text
    assert ASSETS["newsroom.css"].url in answer.text


async def test_an_unknown_query_parameter_is_an_html_422_for_a_browser(api: Api) -> None:
    answer = await api.http.get("/newsroom?token=x", headers={"Accept": "text/html"})
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("text/html")


async def test_every_module_the_console_imports_is_served(api: Api) -> None:
    pending, seen = ["newsroom.js"], set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name in ASSETS, f"{name} is imported but not served"
        answer = await api.http.get(ASSETS[name].url)
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/javascript")
        # Each import names its module's current, immutable URL (assets.py rewrites them).
        for url, imported in IMPORT.findall(answer.text):
            assert url == ASSETS[imported].url
            pending.append(imported)
        assert 'from "./' not in answer.text
    assert {"live.js", "newsroom-api.js", "newsroom-outbox.js", "stream.js"} <= seen
