"""Fixtures for integration tests: liveblog processes on the store a suite names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from liveblog.newsroom import Newsroom
from tests.helpers import issue_token, open_newsroom
from tests.integration.processes import Processes


@pytest.fixture
def newsroom() -> Iterator[Newsroom]:
    """The application on an in-memory store (a suite on a real one overrides this)."""
    room = open_newsroom("memory://")
    try:
        yield room
    finally:
        room.close()


@pytest.fixture
def processes(database_url: str) -> Iterator[Processes]:
    """Processes on ``database_url`` (each suite's backend), all closed at the end."""
    made = Processes(database_url)
    try:
        yield made
    finally:
        made.close_all()


@pytest.fixture
def contributor(database_url: str) -> str:
    """A contributor's token on ``database_url`` (each suite's backend)."""
    return issue_token(database_url, "Cleo Stringer", "contributor")
