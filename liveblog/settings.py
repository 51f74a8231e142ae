"""Environment → settings → the eventsourcing library's environment."""

from __future__ import annotations

import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from eventsourcing.utils import Environment, EnvType

DEFAULT_DATABASE_URL = "sqlite:///./var/liveblog.sqlite3"
# Writes per token: far above a busy reporter (a post every few seconds), far below a
# script gone wrong. ``LIVEBLOG_WRITE_RATE=off`` turns the limit off.
DEFAULT_WRITE_RATE = "60/min"
DEFAULT_WRITE_BURST = 20
_PER = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0,
        "h": 3600.0, "hour": 3600.0}  # fmt: skip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

LOG_FORMATS = ("json", "text")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")

DEFAULT_PUBLIC_CACHE_CONTROL = "public, max-age=1, stale-while-revalidate=10"

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
    # A live reader further behind than this many events gets a reset snapshot instead
    # of a backlog read from the store (DESIGN §5, §7): one read never holds more.
    max_backlog: int = 5_000
    # Every database call on a request path: past this, 503 with Retry-After, and the
    # thread doing it lets go (see liveblog/deadline.py, liveblog/postgres_store.py).
    db_deadline_seconds: float = DEFAULT_DB_DEADLINE_SECONDS
    extra_env: dict[str, str] = field(default_factory=dict)
    # What one anonymous client may hold (DESIGN §7); see docs/deploy.md.
    # Open connections per client address (HTTP, WebSocket, SSE); 0: no limit. Generous,
    # since many readers share one NAT or corporate address.
    max_connections_per_address: int = 200
    # Peers whose X-Forwarded-For is believed (a reverse proxy's addresses or networks).
    trusted_proxies: tuple[Network, ...] = ()
    # A request's headers must be complete this long after its first byte (or after the
    # connection opened): slowloris clients are closed.
    header_timeout_seconds: float = 10.0
    # An idle keep-alive connection is closed after this long.
    keep_alive_seconds: int = 5
    # A live reader is dropped (1013) once this much would wait for it, unsent.
    slow_reader_bytes: int = 256 * 1024
    # Writes a second per token, after a burst of ``write_burst``; None: no limit.
    write_rate: float | None = 1.0  # DEFAULT_WRITE_RATE
    write_burst: int = DEFAULT_WRITE_BURST
    # The log's shape for ``liveblog serve``: one JSON object a line, or plain text.
    log_format: str = "json"
    # Log a line for every story GET answered from the hub's cache too (see web/access.py).
    access_log_cached: bool = False
    # How often each server looks for scheduled drafts that fell due (publishes them
    # within about this long of their time).
    scheduler_turn_seconds: float = 0.5
    # Sites (scheme://host[:port]) that may embed the reader page and call the public
    # reads and live streams from the browser; empty: no other site, and no Origin check.
    allowed_origins: tuple[str, ...] = ()
    # What public GETs (pages, feeds, story reads) tell caches, a CDN in front above all.
    public_cache_control: str = DEFAULT_PUBLIC_CACHE_CONTROL
    # The address readers reach the server at (https://live.example.org), for canonical
    # links, feeds and embeds; None: the address each request came to.
    public_url: str | None = None
    # Who publishes the stories (search engines' publisher, feeds' author).
    publisher_name: str = "liveblog"

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        log_format = (env.get("LIVEBLOG_LOG_FORMAT") or "json").strip().lower()
        if log_format not in LOG_FORMATS:
            msg = f"LIVEBLOG_LOG_FORMAT must be json or text, not {log_format!r}"
            raise SettingsError(msg)
        settings = cls(
            database_url=env.get("LIVEBLOG_DATABASE_URL") or DEFAULT_DATABASE_URL,
            write_rate=parse_rate(env.get("LIVEBLOG_WRITE_RATE") or DEFAULT_WRITE_RATE),
            write_burst=parse_burst(env.get("LIVEBLOG_WRITE_BURST") or str(DEFAULT_WRITE_BURST)),
            log_format=log_format,
            access_log_cached=_flag(env, "LIVEBLOG_ACCESS_LOG_CACHED"),
            db_deadline_seconds=db_deadline(env.get(DB_DEADLINE_ENV)),
        )
        return replace(settings, **limits_from_environ(env))

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
            env.update(postgres_env(self.database_url, self.db_deadline_seconds))
        env.update(self.extra_env)
        return env


def limits_from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """The connection limits and deadlines that the environment sets (unset: defaults)."""
    limits: dict[str, Any] = {}
    number_vars: list[tuple[str, str, type[int] | type[float], float]] = [
        ("LIVEBLOG_MAX_CONNECTIONS_PER_ADDRESS", "max_connections_per_address", int, 0),
        ("LIVEBLOG_HEADER_TIMEOUT_SECONDS", "header_timeout_seconds", float, 0.1),
        ("LIVEBLOG_KEEP_ALIVE_SECONDS", "keep_alive_seconds", int, 1),
        ("LIVEBLOG_SLOW_READER_BYTES", "slow_reader_bytes", int, 1024),
        ("LIVEBLOG_MAX_BACKLOG", "max_backlog", int, 1),
        ("LIVEBLOG_SCHEDULER_SECONDS", "scheduler_turn_seconds", float, 0.05),
    ]
    for name, setting, kind, least in number_vars:
        raw = env.get(name, "").strip()
        if not raw:
            continue
        try:
            value = kind(raw)
        except ValueError:
            value = None
        # NaN is not >= anything, so "not >=" refuses it too.
        if value is None or not value >= least or not math.isfinite(value):
            msg = f"{name} must be a {kind.__name__} of at least {least}, not {raw!r}"
            raise SettingsError(msg)
        limits[setting] = value
    proxies = env.get("LIVEBLOG_TRUSTED_PROXIES", "").strip()
    if proxies:
        limits["trusted_proxies"] = parse_networks(proxies, "LIVEBLOG_TRUSTED_PROXIES")
    return limits | public_from_environ(env)


def public_from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    """What the environment says of the public face: origins, caching, address, publisher."""
    public: dict[str, Any] = {}
    origins = env.get("LIVEBLOG_ALLOWED_ORIGINS", "").strip()
    if origins:
        public["allowed_origins"] = parse_origins(origins)
    cache_control = env.get("LIVEBLOG_PUBLIC_CACHE_CONTROL", "").strip()
    if cache_control:
        if not cache_control.isascii() or not cache_control.isprintable():
            msg = "LIVEBLOG_PUBLIC_CACHE_CONTROL must be printable ASCII (a Cache-Control value)"
            raise SettingsError(msg)
        public["public_cache_control"] = cache_control
    public_url = env.get("LIVEBLOG_PUBLIC_URL", "").strip()
    if public_url:
        public["public_url"] = parse_origins(public_url, "LIVEBLOG_PUBLIC_URL", path_ok=True)[0]
    publisher = env.get("LIVEBLOG_PUBLISHER_NAME", "").strip()
    if publisher:
        public["publisher_name"] = publisher
    return public


def parse_origins(
    raw: str, name: str = "LIVEBLOG_ALLOWED_ORIGINS", *, path_ok: bool = False
) -> tuple[str, ...]:
    """``https://news.example, http://localhost:8080`` → the origins, as browsers send
    them in ``Origin`` (lower-case scheme and host, no trailing slash, no path)."""
    origins = []
    for part in raw.split(","):
        item = part.strip().rstrip("/")
        if not item:
            continue
        parts = urlsplit(item)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in ("http", "https") or not parts.hostname or port == -1
            or parts.query or parts.fragment or parts.username
            or (parts.path and not path_ok)
        ):  # fmt: skip
            msg = f"{name}: {item!r} is not an origin like https://news.example (scheme and host)"
            raise SettingsError(msg)
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        host = host if port is None else f"{host}:{port}"
        origins.append(f"{parts.scheme}://{host}{parts.path if path_ok else ''}")
    return tuple(origins)


def parse_networks(raw: str, name: str) -> tuple[Network, ...]:
    """``10.0.0.5, 192.168.0.0/16, ::1`` → networks (a bare address is a /32 or /128)."""
    networks = []
    for part in raw.split(","):
        item = part.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            msg = f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8)"
            raise SettingsError(msg) from None
    return tuple(networks)


def parse_rate(raw: str) -> float | None:
    """``60/min``, ``2/s`` or ``1000/h`` as writes a second; ``off`` as no limit."""
    text = raw.strip().lower()
    if text in ("off", "none"):
        return None
    count, _, unit = text.partition("/")
    per = _PER.get(unit.strip())
    try:
        value = float(count)
    except ValueError:
        value = -1.0
    if per is None or not 0 < value < 1e9:
        msg = f"LIVEBLOG_WRITE_RATE must look like 60/min, 2/s or 1000/h (or off), not {raw!r}"
        raise SettingsError(msg)
    return value / per


def parse_burst(raw: str) -> int:
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 1_000_000:
        msg = f"LIVEBLOG_WRITE_BURST must be a whole number from 1 to 1000000, not {raw!r}"
        raise SettingsError(msg)
    return int(raw)


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
    try:
        port = parts.port or 5432
    except ValueError as error:  # not a number, or out of range
        msg = f"the port in the postgresql URL is not valid: {error}"
        raise SettingsError(msg) from error
    env = {
        # The library's store, with every connection bounded by the deadline.
        "PERSISTENCE_MODULE": "liveblog.postgres_store:PostgresFactory",
        DB_DEADLINE_ENV: repr(deadline),
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(port),
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
