"""Fixtures for end-to-end tests: a real server on a loopback port, and its people's tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import LiveServer, SharedServer
from tests.helpers import Api, Tokens, issue_tokens


@pytest.fixture
def e2e_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'e2e.sqlite3'}"


@pytest.fixture
def tokens(e2e_database_url: str) -> Tokens:
    return issue_tokens(e2e_database_url)


@pytest.fixture
def server(e2e_database_url: str, tokens: Tokens, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(e2e_database_url, tmp_path / "server.log").start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


@pytest.fixture
async def own_api(server: LiveServer, tokens: Tokens) -> AsyncIterator[Api]:
    """The API of this test's own server."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30, trust_env=False) as http:
        yield Api(http, tokens)


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    folder = tmp_path_factory.mktemp("shared")
    url = f"sqlite:///{folder / 'e2e.sqlite3'}"
    tokens = issue_tokens(url)
    live = LiveServer(url, folder / "server.log").start()
    yield SharedServer(live, tokens)
    live.stop()


@pytest.fixture
async def api(shared_server: SharedServer) -> AsyncIterator[Api]:
    """The API of the module's shared server."""
    base = shared_server.server.base_url
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as http:
        yield Api(http, shared_server.tokens)


@pytest.fixture
def live(shared_server: SharedServer) -> LiveServer:
    return shared_server.server


@pytest.fixture
def two_servers(
    fresh_postgres_url: str, tmp_path: Path
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two server processes on one PostgreSQL schema."""
    first = LiveServer(fresh_postgres_url, tmp_path / "first.log").start()
    try:
        second = LiveServer(fresh_postgres_url, tmp_path / "second.log").start()
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()
