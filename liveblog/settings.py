"""Environment → settings → the eventsourcing library's environment."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.utils import Environment, EnvType

DEFAULT_DATABASE_URL = "sqlite:///./var/liveblog.sqlite3"
# How long a request waits for any one database call before it answers 503.
DEFAULT_DB_DEADLINE_SECONDS = 5.0
MAX_DB_DEADLINE_SECONDS = 120.0
DB_DEADLINE_ENV = "LIVEBLOG_DB_DEADLINE_SECONDS"


class SettingsError(ValueError):
    """The environment names something liveblog cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Aggregates kept in memory per process; each is brought up to date from the store
    # before use ("fast-forward"), so several processes can share one database.
    aggregate_cache_size: int = 500
    # Every database call on a request path: past this, 503 with Retry-After, and the
    # thread doing it lets go (see liveblog/deadline.py, liveblog/postgres_store.py).
    db_deadline_seconds: float = DEFAULT_DB_DEADLINE_SECONDS
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("LIVEBLOG_DATABASE_URL") or DEFAULT_DATABASE_URL,
            db_deadline_seconds=db_deadline(env.get(DB_DEADLINE_ENV)),
        )

    @property
    def backend(self) -> str:
        scheme = urlsplit(self.database_url).scheme
        if scheme in ("postgres", "postgresql"):
            return "postgresql"
        if scheme in ("sqlite", "memory"):
            return scheme
        msg = f"LIVEBLOG_DATABASE_URL must start with sqlite:/// or postgresql://, not {scheme!r}"
        raise SettingsError(msg)

    def eventsourcing_env(self) -> dict[str, str]:
        """The env that configures the library's persistence for every application."""
        env = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.aggregate_cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "y",
            # The Newsroom hands out cached aggregates under its own per-story lock and
            # evicts one a failed command changed, so the library need not copy them.
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        }
        backend = self.backend
        if backend == "memory":
            env["PERSISTENCE_MODULE"] = "eventsourcing.popo"
        elif backend == "sqlite":
            path = sqlite_path(self.database_url)
            path.parent.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="liveblog.sqlite_store:SQLiteFactory",
                SQLITE_DBNAME=str(path),
                SQLITE_LOCK_TIMEOUT="10",
            )
        else:
            env.update(postgres_env(self.database_url, self.db_deadline_seconds))
        env.update(self.extra_env)
        return env


def sqlite_path(url: str) -> Path:
    """The file of a sqlite URL: ``sqlite:///var/x.db`` is relative, ``sqlite:////x.db`` not."""
    parts = urlsplit(url)
    raw = unquote(parts.netloc + parts.path)
    if raw.startswith("/"):
        raw = raw[1:]
    if not raw:
        msg = "a sqlite URL needs a file path: sqlite:///path/to/file.db"
        raise SettingsError(msg)
    return Path(raw)


def db_deadline(raw: str | None) -> float:
    """``LIVEBLOG_DB_DEADLINE_SECONDS``: seconds, more than 0 and at most 120."""
    if raw is None or not raw.strip():
        return DEFAULT_DB_DEADLINE_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_DB_DEADLINE_SECONDS:  # also refuses nan and inf
        msg = f"{DB_DEADLINE_ENV} must be a number of seconds above 0 and at most 120, not {raw!r}"
        raise SettingsError(msg)
    return seconds


def postgres_env(url: str, deadline: float = DEFAULT_DB_DEADLINE_SECONDS) -> dict[str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        msg = "a postgresql URL needs a database name: postgresql://user@host:5432/db"
        raise SettingsError(msg)
    env = {
        # The library's store, with every connection bounded by the deadline.
        "PERSISTENCE_MODULE": "liveblog.postgres_store:PostgresFactory",
        DB_DEADLINE_ENV: repr(deadline),
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        # How long a thread waits for a pooled connection (whole seconds, for the library).
        "POSTGRES_CONNECT_TIMEOUT": str(max(1, math.ceil(deadline))),
        # Waiting for the events table's lock (held by a writer the network cut off, until
        # the server's idle_in_transaction_session_timeout ends its session) is bounded too.
        "POSTGRES_LOCK_TIMEOUT": str(max(1, math.ceil(deadline))),
        "POSTGRES_POOL_SIZE": "10",
        "POSTGRES_MAX_OVERFLOW": "10",
        # With database functions on, a subscriber can skip a concurrently committed
        # event and tracking rows can be dropped (DESIGN §6): keep them off.
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
    }
    if "schema" in query:
        env["POSTGRES_SCHEMA"] = query["schema"][0]
    return env


def environment_from_settings(
    name: str, env: EnvType | None, *, snapshotting: bool
) -> Environment:
    """An application's library environment made from our settings alone.

    The library would also read the process environment, where a stray variable (say
    ``NEWSROOM_POSTGRES_ENABLE_DB_FUNCTIONS=y``) could turn on what DESIGN §6 forbids.
    ``Settings`` has already read the variables that liveblog honours.
    """
    values = {"IS_SNAPSHOTTING_ENABLED": "y"} if snapshotting else {}
    values.update(env or {})
    return Environment(name, values)
