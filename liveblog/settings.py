"""Environment → settings → the eventsourcing library's environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.utils import Environment, EnvType

DEFAULT_DATABASE_URL = "sqlite:///./var/liveblog.sqlite3"


class SettingsError(ValueError):
    """The environment names something liveblog cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Aggregates kept in memory per process; each is brought up to date from the store
    # before use ("fast-forward"), so several processes can share one database.
    aggregate_cache_size: int = 500
    # A live reader further behind than this many events gets a reset snapshot instead
    # of a backlog read from the store (DESIGN §5, §7): one read never holds more.
    max_backlog: int = 5_000
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("LIVEBLOG_DATABASE_URL") or DEFAULT_DATABASE_URL,
            max_backlog=positive_int(env, "LIVEBLOG_MAX_BACKLOG", cls.max_backlog),
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
            env.update(postgres_env(self.database_url))
        env.update(self.extra_env)
        return env


def positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    """A whole number of at least 1 from the environment, or ``default`` when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) < 1 or len(raw) > 12:
        msg = f"{name} must be a whole number of at least 1, not {raw!r}"
        raise SettingsError(msg)
    return int(raw)


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


def postgres_env(url: str) -> dict[str, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        msg = "a postgresql URL needs a database name: postgresql://user@host:5432/db"
        raise SettingsError(msg)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
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
