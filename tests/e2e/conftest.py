"""Fixtures for end-to-end tests: a real server on a loopback port, tokens from the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.e2e.server import LiveServer, create_token


@dataclass(frozen=True)
class Tokens:
    editor: str
    reporter: str
    other_reporter: str

    @staticmethod
    def header(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def e2e_database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'e2e.sqlite3'}"


@pytest.fixture
def tokens(e2e_database_url: str) -> Tokens:
    return Tokens(
        editor=create_token(e2e_database_url, "Erin Editor", "editor"),
        reporter=create_token(e2e_database_url, "Rashid Reporter", "reporter"),
        other_reporter=create_token(e2e_database_url, "Olga Reporter", "reporter"),
    )


@pytest.fixture
def server(e2e_database_url: str, tokens: Tokens, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(e2e_database_url, tmp_path / "server.log").start()
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=10) as http:
        yield http


@dataclass(frozen=True)
class SharedServer:
    """One server and its tokens for a whole module of tests that change nothing."""

    server: LiveServer
    tokens: Tokens


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedServer]:
    folder = tmp_path_factory.mktemp("shared")
    url = f"sqlite:///{folder / 'e2e.sqlite3'}"
    tokens = Tokens(
        editor=create_token(url, "Erin Editor", "editor"),
        reporter=create_token(url, "Rashid Reporter", "reporter"),
        other_reporter=create_token(url, "Olga Reporter", "reporter"),
    )
    live = LiveServer(url, folder / "server.log").start()
    yield SharedServer(live, tokens)
    live.stop()
