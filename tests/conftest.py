"""Fixtures shared by every test: database URLs for each backend.

PostgreSQL tests run against the server named by ``LIVEBLOG_TEST_POSTGRES_URL``, each in a
schema of its own that is dropped afterwards. Without that variable they are skipped with
a message that says how to run them; with it set to a server that cannot be reached they
fail, so a broken CI database is never mistaken for a green run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from liveblog.settings import sqlite_path
from tests.databases import libpq_url, redacted, with_schema

POSTGRES_URL_ENV = "LIVEBLOG_TEST_POSTGRES_URL"
POSTGRES_SKIP_MESSAGE = (
    "PostgreSQL tests need LIVEBLOG_TEST_POSTGRES_URL, "
    "e.g. postgresql://postgres@127.0.0.1:5432/test"
)
MEMORY_URL = "memory://"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A safety net: whatever uses PostgreSQL carries the ``postgres`` marker."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "postgres_url" in fixtures and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The base URL of the test PostgreSQL server; checked once per session."""
    url = os.environ.get(POSTGRES_URL_ENV, "").strip()
    if not url:
        pytest.skip(POSTGRES_SKIP_MESSAGE)
    problem = None
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problem = str(exc).strip()
    if problem is not None:
        # A failure, not a skip: a CI job that meant to test PostgreSQL must not go green.
        pytest.fail(
            f"{POSTGRES_URL_ENV}={redacted(url)} is set but PostgreSQL cannot be reached "
            f"there ({problem}). Start the server, or unset {POSTGRES_URL_ENV} to skip "
            "the PostgreSQL tests.",
            pytrace=False,
        )
    return url


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> Iterator[str]:
    """A URL whose ``schema`` is new and empty; the schema is dropped afterwards."""
    schema = f"lb_test_{uuid.uuid4().hex[:16]}"
    conninfo = libpq_url(postgres_url)
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield with_schema(postgres_url, schema)
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A real SQLite file in the test's own directory (``sqlite:////abs/path`` form)."""
    path = tmp_path / "liveblog.sqlite3"
    url = f"sqlite:///{path}"
    assert sqlite_path(url) == path  # tmp_path is absolute, so the URL has four slashes
    return url
