"""Environment → settings → the eventsourcing library's environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.utils import Environment, EnvType

DEFAULT_DATABASE_URL = "sqlite:///./var/liveblog.sqlite3"
LOG_FORMATS = ("json", "text")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


class SettingsError(ValueError):
    """The environment names something liveblog cannot use."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Aggregates kept in memory per process; each is brought up to date from the store
    # before use ("fast-forward"), so several processes can share one database.
    aggregate_cache_size: int = 500
    extra_env: dict[str, str] = field(default_factory=dict)
    # The log's shape for ``liveblog serve``: one JSON object a line, or plain text.
    log_format: str = "json"
    # Log a line for every story GET answered from the hub's cache too (see web/access.py).
    access_log_cached: bool = False

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        log_format = (env.get("LIVEBLOG_LOG_FORMAT") or "json").strip().lower()
        if log_format not in LOG_FORMATS:
            msg = f"LIVEBLOG_LOG_FORMAT must be json or text, not {log_format!r}"
            raise SettingsError(msg)
        return cls(
            database_url=env.get("LIVEBLOG_DATABASE_URL") or DEFAULT_DATABASE_URL,
            log_format=log_format,
            access_log_cached=_flag(env, "LIVEBLOG_ACCESS_LOG_CACHED"),
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
            # Only the default store's directory (./var) is made: any other URL names a
            # directory that exists (``liveblog.startup`` says so at start-up if not).
            if self.database_url == DEFAULT_DATABASE_URL:
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


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    msg = f"{name} must be 1 or 0 (or true/false, yes/no, on/off), not {raw!r}"
    raise SettingsError(msg)


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
    try:
        port = parts.port or 5432
    except ValueError as error:  # not a number, or out of range
        msg = f"the port in the postgresql URL is not valid: {error}"
        raise SettingsError(msg) from error
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port),
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
