"""The start-up probe: is ``LIVEBLOG_DATABASE_URL`` a store liveblog can open, right now?

Without it a bad URL showed as a traceback from deep inside the library, or, for a
PostgreSQL server that does not answer, as a connection pool's 5 s timeout on the first
request. The command line runs this first and turns a ``StartupError`` into one line,
``liveblog: error: ...``, and an exit code: 2 for configuration that cannot work as
written (unknown scheme, missing directory or database, refused credentials), 1 for a
store that may work later (refused connection, timeout).
"""

from __future__ import annotations

import sqlite3

import psycopg

from liveblog.settings import DEFAULT_DATABASE_URL, Settings, SettingsError, sqlite_path

EXIT_BAD_CONFIG = 2
EXIT_UNREACHABLE = 1
# libpq's shortest connect timeout (it treats 1 as 2): a probe must be quick, not patient.
PROBE_CONNECT_SECONDS = 2

# What libpq says when the server answered and refused the configuration, not the network.
_CONFIG_REFUSALS = (
    "does not exist",
    "password authentication failed",
    "no pg_hba.conf entry",
    "authentication failed",
    "password is required",
    "invalid connection option",
    "invalid port",
    "invalid integer value",
)


class StartupError(Exception):
    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_store(settings: Settings) -> None:
    """Raise ``StartupError`` unless the store can be opened; quick in every case."""
    try:
        backend = settings.backend
        if backend == "sqlite":
            _check_sqlite(settings.database_url)
        elif backend == "postgresql":
            _check_postgres(settings)
    except SettingsError as error:
        raise StartupError(str(error), EXIT_BAD_CONFIG) from error


def _check_sqlite(url: str) -> None:
    path = sqlite_path(url)
    directory = path.parent
    # Only the default store's directory (./var) is made on first use: for any other URL a
    # missing directory is far more likely a typo than a wish for a new, empty store.
    if url != DEFAULT_DATABASE_URL and not directory.is_dir():
        msg = (
            f"the SQLite file's directory {str(directory)!r} does not exist or is not a directory"
        )
        raise StartupError(msg, EXIT_BAD_CONFIG)
    if path.is_dir():
        raise StartupError(f"{str(path)!r} is a directory, not a SQLite file", EXIT_BAD_CONFIG)
    if url == DEFAULT_DATABASE_URL:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            msg = f"cannot create the SQLite file's directory {str(directory)!r}: {error.strerror}"
            raise StartupError(msg, EXIT_BAD_CONFIG) from error
    try:
        connection = sqlite3.connect(path, timeout=1)
        try:
            connection.execute("PRAGMA schema_version").fetchone()  # reads the file's header
        finally:
            connection.close()
    except sqlite3.Error as error:
        msg = f"cannot open the SQLite file {str(path)!r}: {error}"
        raise StartupError(msg, EXIT_BAD_CONFIG) from error


def _check_postgres(settings: Settings) -> None:
    env = settings.eventsourcing_env()
    where = f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}/{env['POSTGRES_DBNAME']}"
    try:
        with psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"],
            connect_timeout=PROBE_CONNECT_SECONDS,
            autocommit=True,
        ) as connection:
            schema = env.get("POSTGRES_SCHEMA", "").strip() or "public"
            found = connection.execute(
                "SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)
            ).fetchone()
    except psycopg.Error as error:
        reason = one_line(str(error))
        code = (
            EXIT_BAD_CONFIG
            if any(refusal in reason for refusal in _CONFIG_REFUSALS)
            else EXIT_UNREACHABLE
        )
        raise StartupError(f"cannot connect to PostgreSQL at {where}: {reason}", code) from error
    if found is None:
        msg = f"the PostgreSQL schema {schema!r} does not exist in {where}"
        raise StartupError(msg, EXIT_BAD_CONFIG)


def one_line(text: str) -> str:
    """libpq's messages span lines (``DETAIL:``, ``HINT:``); an error line must not."""
    return " ".join(text.split())
